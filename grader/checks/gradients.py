"""autograd-gradients and backprop-gradients: the student's gradients against the reference,
on the published inputs and on hidden seeds, at every SGD step."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from grader.checks import (
    Call,
    Context,
    describe_disagreement,
    result,
    stage_failure,
    tensor_tables,
)
from grader.compare import Comparison, compare_all, compare_each
from grader.dat import Blocks
from grader.diagnose import diagnose, first_failing
from grader.result import CheckResult, Diagnosis, Status, TensorTable


def check_autograd(context: Context) -> CheckResult:
    """The reference's parameters in the student's network, forward, torch autograd."""
    check = "autograd-gradients"
    network_failure = stage_failure(context, "network")
    if network_failure is not None:
        return result(context, check, "error", f"could not run your network: {network_failure}")
    failure = stage_failure(context, "autograd")
    if failure is not None:
        return result(context, check, "error", f"autograd on your network failed: {failure}")
    answers = context.outcome.stages["autograd"].get("results")
    return _judge(context, check, answers, "your network under autograd")


def check_backprop(context: Context) -> CheckResult:
    """The student's backprop() on every call."""
    check = "backprop-gradients"
    failure = stage_failure(context, "backprop")
    if failure is not None:
        return result(context, check, "error", f"could not run backprop: {failure}")
    answers = context.outcome.stages["backprop"].get("results")
    return _judge(context, check, answers, "backprop")


def _judge(context: Context, check: str, answers: Any, who: str) -> CheckResult:
    calls = context.calls
    if not isinstance(answers, list) or len(answers) != len(calls):
        return result(context, check, "error", f"{who} gave no answer for every data point")
    sig_figs = context.assignment.significant_figures
    actuals, stop = _usable(calls, answers, who)
    comparisons = compare_each(
        [(actual, call.expected) for call, actual in zip(calls, actuals, strict=False)], sig_figs
    )
    tables: list[TensorTable] = []
    details: list[str] = []
    first_failure: str | None = None
    diagnoses: list[Diagnosis] = []
    starts: str | None = None
    for index, (call, actual, comparison) in enumerate(
        zip(calls, actuals, comparisons, strict=False)
    ):
        if call.published:
            tables += tensor_tables(comparison.tensors, actual, call.expected)
        details.append(_summary(call, comparison))
        if not comparison.agree and first_failure is None:
            starts = first_failing([t.name for t in comparison.tensors if not t.agree])
            first_failure = _first_failure(call, comparison, actual, starts)
            if check == "backprop-gradients" and stop is None:
                own = _own_autograd(context, index, call)
                diagnoses = diagnose(
                    context.assignment, call.expected, actual, call.weights, call.biases,
                    call.x, call.y, own, comparison,
                )  # fmt: skip
    if stop is not None:
        status, message = stop
        return result(
            context, check, status, message, details, tables if status == "error" else None
        )
    if (
        first_failure is not None
        and check == "backprop-gradients"
        and comparisons[0].agree  # right on the published inputs: read from the globals?
        and _all_the_same(actuals)
    ):
        diagnoses = [_ignores_its_arguments(calls), *diagnoses]
    if first_failure is not None:
        message = f"{diagnoses[0].message}. {first_failure}" if diagnoses else first_failure
        found = result(context, check, "fail", message, details, tables)
        return found.model_copy(update={"diagnoses": diagnoses, "first_failing": starts})
    hidden = len({c.seed for c in calls if not c.published})
    n = len(calls[0].expected)
    where = "the published inputs" + (f" and on {hidden} hidden seeds" if hidden else "")
    steps = " at every step" if calls[0].multi_step else ""
    message = f"all {n} gradients agree to {sig_figs} significant figures on {where}{steps}"
    return result(context, check, "pass", message, details, tables)


@dataclass(frozen=True)
class Wrong:
    """The first call backprop answered with wrong gradients (not an error): the student's
    gradients there, and the tensor where the error starts. Where the line tracer looks."""

    call: Call
    actual: Blocks
    start: str


def first_wrong(context: Context) -> Wrong | None:
    """The first call whose gradients backprop got wrong, if one is (None when every call
    agrees, or backprop failed to answer before any call went wrong)."""
    answers = context.outcome.stages.get("backprop", {}).get("results")
    if not isinstance(answers, list) or len(answers) != len(context.calls):
        return None
    actuals, _ = _usable(context.calls, answers, "backprop")
    sig_figs = context.assignment.significant_figures
    for call, actual in zip(context.calls, actuals, strict=False):
        comparison = compare_all(actual, call.expected, sig_figs)
        start = first_failing([t.name for t in comparison.tensors if not t.agree])
        if start is not None:
            return Wrong(call, actual, start)
    return None


def _all_the_same(actuals: list[Blocks]) -> bool:
    """Whether every call got exactly the same gradients (and there are several calls)."""
    first, *rest = actuals or [{}]
    return bool(rest) and all(
        blocks.keys() == first.keys()
        and all(np.array_equal(blocks[n], first[n], equal_nan=True) for n in first)
        for blocks in rest
    )


def _ignores_its_arguments(calls: list[Call]) -> Diagnosis:
    """The mistake of a backprop whose gradients are right on the published inputs and the
    same whatever else it is given."""
    others = len(calls) - 1
    return Diagnosis(
        kind="ignores-arguments",
        message=(
            f"backprop's gradients are right on the published inputs and exactly the same on "
            f"the {others} other data point{'s' * (others > 1)}: they are not computed from its "
            "arguments (weights, biases, x, y); does it read global variables instead, such as "
            "a notebook's x, y or network?"
        ),
    )


def _usable(
    calls: list[Call], answers: list[Any], who: str
) -> tuple[list[Blocks], tuple[Status, str] | None]:
    """The student's gradients for each call up to the first that has none usable, and then
    the status and message that end the check there (None if every call has them)."""
    actuals: list[Blocks] = []
    for call, answer in zip(calls, answers, strict=True):
        if not isinstance(answer, dict) or "error" in answer:
            error = answer.get("error") if isinstance(answer, dict) else "no answer"
            message = f"{who} failed on {call.where}: {error}"
            if isinstance(answer, dict) and answer.get("autograd"):
                message += " (see the no-autograd check)"
            return actuals, ("error", message)
        actual, problem = gradients_from(answer, call)
        if problem is not None:
            return actuals, ("fail", f"{who} on {call.where}: {problem}")
        actuals.append(actual)
    return actuals, None


def _own_autograd(context: Context, index: int, call: Call) -> Blocks | None:
    """The student's network under autograd at the same call, if it ran."""
    answers = context.outcome.stages.get("autograd", {}).get("results")
    if not isinstance(answers, list) or index >= len(answers):
        return None
    answer = answers[index]
    if not isinstance(answer, dict) or "error" in answer:
        return None
    blocks, problem = gradients_from(answer, call)
    return None if problem else blocks


def gradients_from(answer: dict[str, Any], call: Call) -> tuple[Blocks, str | None]:
    """Name and check the child's (dW, db) for one call; a problem in words if unusable."""
    layers = len(call.expected) // 2
    blocks: Blocks = {}
    names = list(call.expected)
    for key, kind, offset in (("dW", "weight", 0), ("db", "bias", 1)):
        items = answer.get(key)
        if not isinstance(items, list):
            return {}, f"no list of {kind} gradients came back"
        if len(items) != layers:
            return {}, (
                f"returned {len(items)} {kind} gradients; the network has {layers} Linear layers"
            )
        for layer, item in enumerate(items):
            name = names[2 * layer + offset]
            if item is None:
                return {}, f"{name} has no gradient (is the layer used in the forward pass?)"
            try:
                array = np.asarray(item, dtype=np.float64)
            except (TypeError, ValueError):
                return {}, f"{key}[{layer}] is not an array of numbers"
            want = call.expected[name].shape
            if kind == "bias" and array.shape != want and array.size == int(np.prod(want)):
                array = array.reshape(want)  # (1, n) and (n, 1) biases are the same numbers
            blocks[name] = array
    return blocks, None


def _summary(call: Call, comparison: Comparison) -> str:
    bad = [t.name for t in comparison.tensors if not t.agree]
    if not bad:
        return f"{call.where}: all {len(comparison.tensors)} agree"
    return f"{call.where}: {', '.join(bad)} disagree"


def _first_failure(call: Call, comparison: Comparison, actual: Blocks, starts: str | None) -> str:
    """How many gradients disagree, and the one backprop reaches first (the highest layer)."""
    bad = [t for t in comparison.tensors if not t.agree]
    first = next((t for t in bad if t.name == starts), bad[0])
    count = f"{len(bad)} of {len(comparison.tensors)} gradients disagree on {call.where}"
    described = describe_disagreement(first, actual, call.expected)
    return f"{count}; the first from the output is {described}"
