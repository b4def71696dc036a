"""The significant-figure rule: a readable table, then the proof over 1,000 seeds per network."""

from __future__ import annotations

import functools
import math
from collections.abc import Callable

import numpy as np
import pytest
import torch
from pages import DOCS, section

from grader.api import GroundTruth, ground_truth
from grader.assignment import load_assignment
from grader.compare import FLOOR, agreeing_figures, compare, compare_all, tolerance

NAN, INF = math.nan, math.inf

# (id, actual, expected, agree at 5 significant figures)
TABLE = [
    ("equal", [1.2345678], [1.2345678], True),
    ("zeros", [0.0, 0.0], [0.0, 0.0], True),
    ("signed-zeros", [-0.0, 0.0], [0.0, -0.0], True),
    ("all-zero-vs-tiny", [0.0, 1e-30], [0.0, 0.0], False),
    ("one-unit-in-5th-figure", [1.0001], [1.0], True),
    ("two-units-in-5th-figure", [1.0002], [1.0], False),
    ("half-unit-printed-5-figures", [1.2346], [1.23455], True),
    ("4th-figure-differs", [1.235], [1.234], False),
    ("printed-4-figures", [0.1235], [0.123456], False),
    ("sign-flip", [-1.0], [1.0], False),
    ("sign-flip-small", [-1e-7, 1.0], [1e-7, 1.0], True),  # below the floor: 2e-7 ≤ 1e-4 × 0.1
    ("sign-flip-at-floor", [-0.1, 1.0], [0.1, 1.0], False),
    ("factor-2", [2.0, 4.0], [1.0, 2.0], False),
    ("tiny-magnitudes", [1.00001e-300], [1e-300], True),
    ("tiny-magnitudes-wrong", [1.001e-300], [1e-300], False),
    ("huge-magnitudes", [1.00001e300], [1e300], True),
    ("huge-magnitudes-wrong", [1.001e300], [1e300], False),
    ("small-entry-noise-under-floor", [1.0, 1.000005e-3], [1.0, 1.0e-3], True),
    ("small-entry-beyond-floor", [1.0, 1.2e-3], [1.0, 1.0e-3], False),
    ("negative-values", [-3.14159], [-3.14160], True),
    ("nan-actual", [NAN], [1.0], False),
    ("nan-both", [NAN], [NAN], False),
    ("inf-actual", [INF], [1.0], False),
    ("inf-both", [INF], [INF], False),
    ("matrix", [[1.0, 2.0], [3.0, 4.00001]], [[1.0, 2.0], [3.0, 4.0]], True),
    ("transposed-matrix", [[1.0, 3.0], [2.0, 4.0]], [[1.0, 2.0], [3.0, 4.0]], False),
    ("shape-mismatch", [[1.0, 2.0]], [1.0, 2.0], False),
    ("empty", np.zeros((0, 3)), np.zeros((0, 3)), True),
]


@pytest.mark.parametrize(
    ("actual", "expected", "agree"), [t[1:] for t in TABLE], ids=[t[0] for t in TABLE]
)
def test_rule_table(actual: object, expected: object, agree: bool) -> None:
    """Each row's verdict at 5 significant figures, in both directions (the rule is symmetric)."""
    assert compare(actual, expected, 5).agree is agree  # type: ignore[arg-type]
    assert compare(expected, actual, 5).agree is agree  # type: ignore[arg-type]


def test_shape_mismatch_says_both_shapes() -> None:
    """A shape mismatch is a verdict with a reason, not an exception."""
    result = compare(np.zeros((10, 21)), np.zeros((21, 10)))
    assert not result.agree
    assert result.reason == "shape (10, 21) differs from expected (21, 10)"
    assert result.relative_error is None


def test_reports_worst_entry_and_figures() -> None:
    """The comparison keeps the per-entry errors, the worst entry and the figures of agreement."""
    result = compare([[1.0, 2.0], [3.0, 4.004]], [[1.0, 2.0], [3.0, 4.0]])
    assert result.worst_index == (1, 1) and result.n_disagree == 1
    assert result.max_relative_error == pytest.approx(0.004 / 4.004)
    assert result.figures == 4  # 9.99e-4 relative: within one unit of the 4th figure
    assert "1 of 4 entries" in result.reason


@pytest.mark.parametrize(
    ("relative", "figures"), [(0.0, 17), (1e-4, 5), (1.1e-4, 4), (0.5, 1), (2.0, 0), (INF, 0)]
)
def test_agreeing_figures(relative: float, figures: int) -> None:
    """n figures agree when the relative difference is at most 10^(1-n)."""
    assert agreeing_figures(relative) == figures


@pytest.mark.parametrize("sig_figs", [2, 3, 5, 8, 15])
def test_tolerance_follows_sig_figs(sig_figs: int) -> None:
    """One unit in the n-th figure, relative to the larger value: 10^(1-n), either side of it."""
    tol = tolerance(sig_figs)
    assert compare([1 - tol * 0.99], [1.0], sig_figs).agree
    assert not compare([1 - tol * 1.01], [1.0], sig_figs).agree


def test_compare_all_names_missing_and_unexpected() -> None:
    """Tensors are matched by name; missing and unexpected names make the set disagree."""
    result = compare_all({"W1": [1.0], "W9": [0.0]}, {"W1": [1.0], "b1": [2.0]})
    assert not result.agree
    assert result.missing == ["b1"] and result.unexpected == ["W9"]
    assert [t.name for t in result.tensors] == ["W1"] and result.tensors[0].agree


# --- the proof: correct float32 always passes, the classic bugs always fail ---------------------

Grads = tuple[list[np.ndarray], list[np.ndarray]]
_F32 = {
    "relu": (lambda z: np.maximum(z, 0), lambda z, a: (z > 0).astype(np.float32)),
    "sigmoid": (lambda z: 1 / (1 + np.exp(-z)), lambda z, a: a * (1 - a)),
    "linear": (lambda z: z, lambda z, a: np.ones_like(z)),
}


def numpy_float32_backprop(weights, biases, x, y, hidden, mistake=None):  # type: ignore[no-untyped-def]
    """A student's from-scratch backprop in float32, with one optional classic mistake."""
    ws = [w.astype(np.float32) for w in weights]
    a, zs, acts = x.astype(np.float32), [], [x.astype(np.float32)]
    for layer, (w, b) in enumerate(zip(ws, biases, strict=True)):
        z = w @ a + b.astype(np.float32)
        a = _F32["linear" if layer == len(ws) - 1 else hidden][0](z)
        zs.append(z)
        acts.append(a)
    grad = (1 if mistake == "missing-factor-2" else 2) * (a - y.astype(np.float32))
    dW, db = [None] * len(ws), [None] * len(ws)
    for layer in reversed(range(len(ws))):
        act = "linear" if layer == len(ws) - 1 else hidden
        if mistake == "missing-activation-derivative":
            delta = grad
        else:
            delta = grad * _F32[act][1](zs[layer], acts[layer + 1])
        dW[layer], db[layer] = np.outer(delta, acts[layer]), delta
        grad = ws[layer].T @ delta
    if mistake == "transposed-weight-grads":
        dW = [g.T for g in dW]
    if mistake == "sign-flip":
        dW, db = [-g for g in dW], [-g for g in db]
    if mistake == "layers-reversed":
        dW, db = dW[::-1], db[::-1]
    return dW, db


def torch_float32_autograd(weights, biases, x, y, hidden, mistake=None):  # type: ignore[no-untyped-def]
    """What a student's torch_autograd.dat holds: autograd on a float32 network."""
    ws = [torch.tensor(w, dtype=torch.float32, requires_grad=True) for w in weights]
    bs = [torch.tensor(b, dtype=torch.float32, requires_grad=True) for b in biases]
    a = torch.tensor(x, dtype=torch.float32)
    act = {"relu": torch.relu, "sigmoid": torch.sigmoid}[hidden]
    for layer, (w, b) in enumerate(zip(ws, bs, strict=True)):
        a = w @ a + b if layer == len(ws) - 1 else act(w @ a + b)
    ((a - torch.tensor(y, dtype=torch.float32)) ** 2).sum().backward()
    return [w.grad.numpy() for w in ws], [b.grad.numpy() for b in bs]  # type: ignore[union-attr]


MISTAKES = [
    "transposed-weight-grads",
    "missing-factor-2",
    "sign-flip",
    "missing-activation-derivative",
    "layers-reversed",
]
SEEDS = range(1000)


@functools.cache
def _truth(name: str, seed: int) -> GroundTruth:
    return ground_truth(load_assignment(name), seed)


def _verdicts(name: str, student: Callable[..., Grads], mistake: str | None) -> list[bool]:
    assignment = load_assignment(name)
    hidden = assignment.network.activation
    verdicts = []
    for seed in SEEDS:
        truth = _truth(name, seed)
        inputs = truth.inputs
        dW, db = student(inputs.weights, inputs.biases, inputs.x, inputs.y, hidden, mistake)
        ref = truth.steps[0]
        expected = {
            f"{k}{i}": v for k, vs in (("W", ref.dW), ("b", ref.db)) for i, v in enumerate(vs)
        }
        actual = {f"{k}{i}": v for k, vs in (("W", dW), ("b", db)) for i, v in enumerate(vs)}
        verdicts.append(compare_all(actual, expected, assignment.significant_figures).agree)
    return verdicts


@pytest.mark.parametrize("name", ["bs6207-a1", "sigmoid-d2"])
@pytest.mark.parametrize(
    "student", [numpy_float32_backprop, torch_float32_autograd], ids=["numpy", "torch"]
)
def test_correct_float32_passes_every_seed(name: str, student: Callable[..., Grads]) -> None:
    """A correct float32 solution, numpy or torch autograd, agrees on all 1,000 seeds."""
    verdicts = _verdicts(name, student, None)
    failed = [seed for seed, ok in zip(SEEDS, verdicts, strict=True) if not ok]
    assert failed == []


@pytest.mark.parametrize("mistake", MISTAKES)
@pytest.mark.parametrize("name", ["bs6207-a1", "sigmoid-d2"])
def test_classic_mistake_fails_every_seed(name: str, mistake: str) -> None:
    """Each classic backprop mistake disagrees on every one of 1,000 seeds."""
    verdicts = _verdicts(name, numpy_float32_backprop, mistake)
    passed = [seed for seed, ok in zip(SEEDS, verdicts, strict=True) if ok]
    assert passed == []


def test_floor_is_what_the_docs_say() -> None:
    """docs/numerics.md gives the rule with FLOOR = 0.1 and one unit in the 5th figure."""
    rule = section(DOCS / "numerics.md", "The comparison rule")
    assert "|a − b| ≤ 10^(1−n) · max(|a|, |b|, 0.1 · M)" in rule
    assert "10⁻⁴ relative for n = 5" in rule
    assert FLOOR == 0.1 and tolerance(5) == 1e-4
