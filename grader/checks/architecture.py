"""network-architecture: the student's network has the assignment's Linear layers, in order and
of the right shapes, each followed by the right activation.

The trace read here comes from the sandbox's replay of the network (grader/sandbox/replay.py):
only the layers the output depends on, and between them what the network computes (`relu`
for any way of writing max(z, 0), nothing for values passed on unchanged), else the names of
the operations it uses."""

from __future__ import annotations

import itertools
from typing import Any

from grader.checks import Context, result, stage_failure
from grader.result import CheckResult

CHECK = "network-architecture"
ACTIVATIONS = {"relu": "relu", "relu_": "relu", "sigmoid": "sigmoid", "sigmoid_": "sigmoid"}
ACTIVATIONS |= {"tanh": "tanh", "tanh_": "tanh"}
# operations that change no value: reshaping, copying, dtype moves
NEUTRAL = {"view", "reshape", "flatten", "squeeze", "unsqueeze", "contiguous", "clone", "detach"}
NEUTRAL |= {"float", "double", "to", "type", "cpu", "dropout", "identity"}


def check(context: Context) -> CheckResult:
    failure = stage_failure(context, "network")
    if failure is not None:
        return result(context, CHECK, "error", f"could not build and run the network: {failure}")
    answer = context.outcome.stages["network"]
    source = answer.get("global")
    contract = context.assignment.contract
    graded = (
        f" (graded the notebook's global `{source}`: it defines no {contract.network_function}())"
        if source
        else ""
    )
    problem = first_difference(context, answer.get("trace", []), answer.get("output_shape"))
    if problem:
        return result(context, CHECK, "fail", problem + graded)
    sizes = context.assignment.network.sizes
    return result(
        context,
        CHECK,
        "pass",
        f"{len(sizes) - 1} Linear layers ({'-'.join(map(str, sizes))}), each followed by the "
        "right activation" + graded,
    )


def layers(trace: list[dict[str, Any]]) -> list[tuple[dict[str, Any], list[str]]]:
    """Group the traced operations: each Linear with the operations applied after it."""
    grouped: list[tuple[dict[str, Any], list[str]]] = []
    for event in trace if isinstance(trace, list) else []:
        if not isinstance(event, dict):
            continue  # not what the child sends: ignored
        if event.get("op") == "linear":
            grouped.append((event, []))
        elif grouped and event.get("op") not in NEUTRAL:
            grouped[-1][1].append(ACTIVATIONS.get(str(event.get("op")), str(event.get("op"))))
    return grouped


def first_difference(context: Context, trace: list[dict[str, Any]], output: Any) -> str | None:
    """The first way the traced network differs from the assignment's, in words; None if none."""
    net = context.assignment.network
    sizes = net.sizes
    found = layers(trace)
    for number, ((event, after), (n_in, n_out)) in enumerate(
        zip(found, itertools.pairwise(sizes), strict=False), start=1
    ):
        shape = f"{event.get('in')}→{event.get('out')}"
        if (event.get("in"), event.get("out")) != (n_in, n_out):
            return f"Linear {number} is {shape}, expected {n_in}→{n_out}"
        if not event.get("bias"):
            return f"Linear {number} ({shape}) has no bias; the assignment's layers all have one"
        last = number == len(sizes) - 1
        wanted = net.output_activation if last else net.activation
        expected = [] if wanted == "linear" else [wanted]
        if after != expected:
            where = "the output Linear" if last else f"Linear {number}"
            if not after:
                return f"no activation after {where} ({shape}); expected {wanted}"
            if not expected:
                return f"{', '.join(after)} after {where} ({shape}); expected none (linear output)"
            return f"{', '.join(after)} after {where} ({shape}); expected {wanted}"
    if len(found) != len(sizes) - 1:
        shapes = ", ".join(f"{e.get('in')}→{e.get('out')}" for e, _ in found)
        return (
            f"the network applies {len(found)} Linear layers ({shapes or 'none'}); "
            f"expected {len(sizes) - 1} ({'-'.join(map(str, sizes))})"
        )
    if isinstance(output, list) and _count(output) != net.output_dim:
        return f"the network's output has shape {tuple(output)}; expected {net.output_dim} value(s)"
    return None


def _count(shape: list[Any]) -> int:
    total = 1
    for dim in shape:
        total *= int(dim)
    return total
