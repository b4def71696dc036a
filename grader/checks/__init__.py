"""The five checks, one module each; every check turns a `Context` into a `CheckResult`.

A check never raises for anything a student did: a missing file, a crash or a wrong shape is
a `fail` or `error` with a message that names it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from grader.assignment import Assignment
from grader.compare import TensorComparison
from grader.dat import Blocks
from grader.notebook import Notebook
from grader.result import CheckResult, Status, TensorTable
from grader.sandbox.run import Outcome, packed
from grader.truth import GroundTruth
from reference import Array

DETAILED_TABLES = 4  # per check, tensors shown entry by entry; the rest get one line each
NAMES = {
    "network-architecture": "Network architecture",
    "autograd-gradients": "Your network under autograd",
    "backprop-gradients": "Your backprop",
    "no-autograd": "Backprop without autograd",
    "dat-files": "The .dat files",
    "graph-explanation": "The autograd graph explained",
}


@dataclass(frozen=True)
class Call:
    """One gradient the student's code computes: a seed and an SGD step, the parameters and
    data point it is taken at, and the reference's answer."""

    seed: int
    step: int
    published: bool
    weights: list[Array]
    biases: list[Array]
    x: Array
    y: Array
    expected: Blocks  # W1, b1, ... (step-prefixed for multi-step assignments)

    def request(self) -> dict[str, Any]:
        """The call as the child receives it: every array packed as float64 bytes."""
        return {
            "weights": [packed(w) for w in self.weights],
            "biases": [packed(b) for b in self.biases],
            "x": packed(self.x),
            "y": packed(self.y),
        }

    @property
    def where(self) -> str:
        seed = "the published inputs" if self.published else f"hidden seed {self.seed}"
        return f"{seed}, step {self.step}" if self.multi_step else seed

    @property
    def multi_step(self) -> bool:
        return any(name.startswith("step") for name in self.expected)


@dataclass(frozen=True)
class Context:
    """Everything the checks need: the assignment, the submission, the truth, the child's run."""

    assignment: Assignment
    folder: Path
    truths: list[GroundTruth]  # published seed first, then the hidden seeds
    calls: list[Call]
    outcome: Outcome
    notebook: Notebook | None = None  # the notebook run, when the submission is one


def result(
    context: Context,
    check_id: str,
    status: Status,
    message: str,
    details: list[str] | None = None,
    tables: list[TensorTable] | None = None,
) -> CheckResult:
    """A CheckResult with the assignment's points: all of them for a pass, none otherwise."""
    points = float(getattr(context.assignment.points, check_id.replace("-", "_")))
    return CheckResult(
        id=check_id,
        name=NAMES[check_id],
        status=status,
        score=points if status == "pass" else 0.0,
        max_score=points,
        message=message,
        details=details or [],
        tables=tables or [],
    )


def stage_failure(context: Context, stage: str) -> str | None:
    """Why a stage of the child gave no usable answer, or None if it did."""
    answer = context.outcome.stages.get(stage)
    if answer is None:
        return context.outcome.failure(stage)
    if not answer.get("ok"):
        return str(answer.get("error", "failed without a message"))
    return None


def tensor_tables(
    comparisons: list[TensorComparison], actual: Blocks, expected: Blocks
) -> list[TensorTable]:
    """The report's view of compared tensors: entry by entry for the first few that disagree."""
    tables, detailed = [], 0
    for comparison in comparisons:
        detail = not comparison.agree and detailed < DETAILED_TABLES
        detailed += detail
        tables.append(tensor_table(comparison, actual, expected, detail))
    return tables


def tensor_table(
    comparison: TensorComparison, actual: Blocks, expected: Blocks, detail: bool = True
) -> TensorTable:
    """The report's view of one compared tensor; entry by entry if `detail` and it disagrees."""
    want = expected[comparison.name]
    got = actual.get(comparison.name)
    if comparison.agree or not detail:
        return TensorTable(
            name=comparison.name,
            shape=list(want.shape),
            agree=comparison.agree,
            max_relative_error=comparison.max_relative_error,
            note=comparison.reason,
        )
    same_shape = got is not None and got.shape == want.shape
    rel = comparison.relative_error
    return TensorTable(
        name=comparison.name,
        shape=list(want.shape),
        expected=want.ravel().tolist(),
        actual=got.ravel().tolist() if same_shape and got is not None else None,
        actual_shape=list(got.shape) if got is not None else None,
        relative_error=rel.ravel().tolist() if rel is not None else None,
        agree=comparison.agree,
        max_relative_error=comparison.max_relative_error,
        note=comparison.reason,
    )


def describe_disagreement(comparison: TensorComparison, actual: Blocks, expected: Blocks) -> str:
    """`W3: 12 of 441 entries differ ...; worst [4, 7]: reference 0.0123, yours 0.0246`."""
    text = f"{comparison.name}: {comparison.reason}"
    index = comparison.worst_index
    got = actual.get(comparison.name)
    if index is not None and got is not None and got.shape == expected[comparison.name].shape:
        want = expected[comparison.name]
        text += f"; worst entry {list(index)}: reference {want[index]:.8g}, yours {got[index]:.8g}"
    return text
