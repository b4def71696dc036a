"""Naming the mistake: which classic backprop error turns the reference into the student's answer.

Each candidate is a transformation of the reference (transpose it, scale it, drop an activation
derivative, reverse the layers, ...) tried on the first point where the student's gradients
disagree; a candidate that makes them agree under the one comparison rule is the diagnosis.
Backprop runs from the output to the input, so the error starts at the highest layer that
disagrees and spreads to the layers below it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

import numpy as np

from grader.assignment import Assignment
from grader.compare import Comparison, compare, compare_all
from grader.dat import Blocks
from grader.result import Diagnosis
from reference import Array, forward

_NAME = re.compile(r"^(?:step(\d+)\.)?([Wb])(\d+)$")
_FRACTIONS = {2.0: "2×", 0.5: "½×", -1.0: "−1×", -2.0: "−2×", -0.5: "−½×", 4.0: "4×", 0.25: "¼×"}


def layer_of(name: str) -> int:
    """The layer number of a tensor name: W3 → 3, step1.b2 → 2."""
    match = _NAME.match(name)
    return int(match[3]) if match else 0


def first_failing(disagreeing: list[str]) -> str | None:
    """Where the error starts: the highest layer that disagrees (its W before its b)."""
    if not disagreeing:
        return None
    return max(disagreeing, key=lambda n: (layer_of(n), n.split(".")[-1].startswith("W")))


def diagnose(
    assignment: Assignment,
    expected: Blocks,
    actual: Blocks,
    weights: list[Array],
    biases: list[Array],
    x: Array,
    y: Array,
    own_autograd: Mapping[str, Array] | None = None,
    comparison: Comparison | None = None,
) -> list[Diagnosis]:
    """The mistakes that explain how `actual` differs from `expected` (one data point, one step);
    `comparison` is `compare_all(actual, expected)` if the caller has it already."""
    sig = assignment.significant_figures
    if comparison is None:
        comparison = compare_all(actual, expected, sig)
    bad = [t.name for t in comparison.tensors if not t.agree]
    if comparison.agree or not (bad or comparison.missing):
        return []
    found = _whole_list(assignment, expected, actual)
    if found:
        return found
    start = first_failing(bad)
    assert start is not None
    found = _one_tensor(assignment, start, expected[start], actual[start], weights, biases)
    if not found:
        found = _missing_derivative(assignment, start, expected, actual, weights, biases, x, y)
    if not found and own_autograd is not None and compare_all(actual, own_autograd, sig).agree:
        found = [
            Diagnosis(
                kind="forward",
                message="your backprop agrees with autograd on your own network, so the "
                "backward pass is right for the network you built: the forward pass differs "
                "from the assignment's (see the network-architecture check)",
            )
        ]
    spread = _spread(start, bad, max(layer_of(n) for n in expected))
    return found + ([spread] if spread else [])


def _whole_list(assignment: Assignment, expected: Blocks, actual: Blocks) -> list[Diagnosis]:
    """Mistakes in how the lists are put together: reversed layers, W and b swapped."""
    names = list(expected)
    weights = [n for n in names if n.split(".")[-1].startswith("W")]
    biases = [n for n in names if n.split(".")[-1].startswith("b")]
    sig = assignment.significant_figures

    def agree(mapping: dict[str, str]) -> bool:
        renamed = {e: actual[a] for a, e in mapping.items() if a in actual}
        if len(renamed) < len(mapping):
            return False
        if any(np.shape(renamed[e]) != expected[e].shape for e in mapping.values()):
            return False  # cheap, and the usual answer
        return compare_all(renamed, {e: expected[e] for e in mapping.values()}, sig).agree

    if len(weights) > 1:
        reverse = dict(zip(weights + biases, weights[::-1] + biases[::-1], strict=True))
        if agree(reverse):
            return [
                Diagnosis(
                    kind="reversed",
                    message="your gradients are in reverse order: dW[0] holds the output "
                    "layer's gradient. Return them from the input layer up, W1 first",
                )
            ]
    swapped = dict(zip(weights + biases, biases + weights, strict=True))
    if all(n in actual for n in swapped) and agree(swapped):
        return [
            Diagnosis(
                kind="swapped",
                message="the weight and bias gradients are swapped: return (dW, db), not (db, dW)",
            )
        ]
    return []


def _one_tensor(
    assignment: Assignment,
    name: str,
    want: Array,
    got: Array,
    weights: list[Array],
    biases: list[Array],
) -> list[Diagnosis]:
    """Mistakes visible in one tensor: transposed, scaled, an SGD step instead of a gradient."""
    sig = assignment.significant_figures
    if got.ndim == 2 and got.shape == want.T.shape and compare(got.T, want, sig).agree:
        return [
            Diagnosis(
                kind="transposed",
                tensor=name,
                message=f"{name} is transposed: dL/dW must be in PyTorch's (out, in) layout "
                f"{want.shape}; build it as np.outer(delta, a_prev), not np.outer(a_prev, delta)",
            )
        ]
    if got.shape != want.shape:
        return []
    norm = float(np.dot(want.ravel(), want.ravel()))
    if norm == 0:
        return []
    factor = float(np.dot(got.ravel(), want.ravel())) / norm
    if not compare(got, factor * want, sig).agree or compare(got, want, sig).agree:
        return _sgd_step(assignment, name, want, got, weights, biases)
    if not _usual(assignment, factor):  # W − lr·g is a multiple of g when W is (constant init)
        return _sgd_step(assignment, name, want, got, weights, biases) or [
            _factor(assignment, name, factor)
        ]
    return [_factor(assignment, name, factor)]


def _usual(assignment: Assignment, factor: float) -> bool:
    """A factor a mistake makes: the learning rate, or ±2, ±½, 4, ¼."""
    lr = assignment.training.learning_rate
    return abs(factor - lr) <= 1e-6 * lr or any(
        abs(f - factor) <= 1e-6 * abs(factor) for f in _FRACTIONS
    )


def _factor(assignment: Assignment, name: str, factor: float) -> Diagnosis:
    lr = assignment.training.learning_rate
    if abs(factor - lr) <= 1e-6 * lr:
        return Diagnosis(
            kind="sgd-step",
            tensor=name,
            message=f"{name} is lr × the gradient (lr = {lr:g}): you return the SGD step, "
            "not dL/dW itself",
        )
    rounded = min(_FRACTIONS, key=lambda f: abs(f - factor))
    exact = abs(rounded - factor) <= 1e-6 * abs(factor)
    times = _FRACTIONS[rounded] if exact else f"{factor:.6g}×"
    half = assignment.loss == "half_squared_error"
    if exact and rounded == -1.0:
        dldp = "p − y" if half else "2(p − y)"
        return Diagnosis(
            kind="sign",
            tensor=name,
            message=f"{name} has the opposite sign: dL/dp = {dldp}, not the other way round; "
            "check the sign of your loss derivative",
        )
    if exact and rounded == 0.5 and not half:
        hint = "for L = (p − y)², dL/dp = 2(p − y); your code seems to use (p − y)"
    elif exact and rounded == 2.0 and half:
        hint = "for L = ½Σ(p − y)², dL/dp = p − y; your code seems to use 2(p − y)"
    else:
        hint = "look for a constant in your loss derivative or an extra 1/n"
    return Diagnosis(kind="factor", tensor=name, message=f"{name} is {times} the reference: {hint}")


def _sgd_step(
    assignment: Assignment,
    name: str,
    want: Array,
    got: Array,
    weights: list[Array],
    biases: list[Array],
) -> list[Diagnosis]:
    """The updated parameters W − lr·dL/dW returned instead of the gradient."""
    lr, layer = assignment.training.learning_rate, layer_of(name)
    params = (weights if name.split(".")[-1].startswith("W") else biases)[layer - 1]
    if params.shape == want.shape and compare(got, params - lr * want, 5).agree:
        return [
            Diagnosis(
                kind="updated-weights",
                tensor=name,
                message=f"{name} holds the updated parameters (old − lr × gradient, lr = {lr:g}),"
                " not the gradient: return dL/dW itself",
            )
        ]
    return []


def _missing_derivative(
    assignment: Assignment,
    name: str,
    expected: Blocks,
    actual: Blocks,
    weights: list[Array],
    biases: list[Array],
    x: Array,
    y: Array,
) -> list[Diagnosis]:
    """The activation derivative left out at the layer where the error starts."""
    net = assignment.network
    layer, prefix = layer_of(name), name[: name.rindex(".") + 1] if "." in name else ""
    n = len(weights)
    act = net.output_activation if layer == n else net.activation
    if act == "linear" or layer >= n:
        return []
    trace = forward(
        weights, biases, x, y, hidden=net.activation, output=net.output_activation,
        loss=assignment.loss,
    )  # fmt: skip
    above = expected[f"{prefix}b{layer + 1}"]  # dL/dz of the layer above
    unmasked = weights[layer].T @ above  # dL/da_l: what δ_l is without f'(z_l)
    got_b = actual.get(f"{prefix}b{layer}")
    if got_b is None or not compare(got_b, unmasked, assignment.significant_figures).agree:
        return []
    z = trace.zs[layer - 1]
    off = int(np.count_nonzero(z <= 0))
    where = (
        f"your dL/dz is not zero where z ≤ 0 ({off} of {z.size} units are off); multiply by (z > 0)"
        if act == "relu"
        else f"multiply dL/da by the {act} derivative"
        + (" σ(z)(1 − σ(z))" if act == "sigmoid" else " 1 − tanh²(z)")
    )
    return [
        Diagnosis(
            kind="missing-activation-derivative",
            tensor=name,
            message=f"the {act} derivative is missing at layer {layer}: {where}",
        )
    ]


def _spread(start: str, bad: list[str], layers: int) -> Diagnosis | None:
    """Where the error starts, when layers above it agree and layers below inherit it."""
    layer = layer_of(start)
    below = sorted({layer_of(n) for n in bad if layer_of(n) < layer})
    if layer == layers or not below:
        return None  # nothing above agrees, or nothing spreads: no story to tell
    if len(below) == 1:
        spreads = f"layer {below[0]} below inherits it"
    else:
        shown = f"{below[0]}–{below[-1]}" if len(below) > 2 else f"{below[0]} and {below[1]}"
        spreads = f"layers {shown} below inherit it"
    above = f"layer {layers}" if layer + 1 == layers else f"layers {layer + 1}–{layers}"
    return Diagnosis(
        kind="first-failing-layer",
        tensor=start,
        message=f"the error starts at layer {layer} ({start}): {above} agree, and {spreads} "
        f"through the chain rule. Fix layer {layer} first",
    )
