"""graph-explanation: the student's graph.md or graph.txt explains every node of the autograd
graph of their loss (the homework's Q2), accepting old and new torch names of each node."""

from __future__ import annotations

from pathlib import Path

from grader import autograd_graph
from grader.checks import Context, result, stage_failure
from grader.result import CheckResult

CHECK = "graph-explanation"
FILES = ("graph.md", "graph.txt")
MAX_BYTES = 1024 * 1024


def explanation_file(folder: Path) -> Path | None:
    """The student's explanation of the graph, if they wrote one."""
    return next((folder / name for name in FILES if (folder / name).is_file()), None)


def check(context: Context) -> CheckResult:
    failure = stage_failure(context, "graph")
    if failure is not None:
        return result(context, CHECK, "error", f"could not draw your autograd graph: {failure}")
    drawn = autograd_graph.from_answer(context.outcome.stages["graph"])
    if drawn is None or not drawn.nodes:
        return result(context, CHECK, "error", "your network's loss has no autograd graph")
    types = drawn.types
    path = explanation_file(context.folder)
    if path is None:
        return result(
            context, CHECK, "fail",
            f"no {' or '.join(FILES)}: explain each node of your autograd graph there "
            f"({len(types)} kinds: {', '.join(types)}; the report draws the graph)",
        )  # fmt: skip
    text = path.read_bytes()[:MAX_BYTES].decode("utf-8", errors="replace")
    missing = autograd_graph.unexplained(text, types)
    if missing:
        return result(
            context, CHECK, "fail",
            f"{path.name} does not explain {', '.join(missing)}; every kind of node in the "
            "graph needs its explanation (TBackward and TBackward0 both count)",
        )  # fmt: skip
    return result(
        context, CHECK, "pass",
        f"{path.name} explains all {len(types)} kinds of node in the graph: {', '.join(types)}",
    )  # fmt: skip
