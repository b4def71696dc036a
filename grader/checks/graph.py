"""graph-explanation: the student's graph.md or graph.txt explains every node of the autograd
graph of their loss (the homework's Q2), accepting old and new torch names of each node."""

from __future__ import annotations

import os
from pathlib import Path

from grader import autograd_graph, files
from grader.checks import Context, result, stage_failure
from grader.result import CheckResult

CHECK = "graph-explanation"
FILES = ("graph.md", "graph.txt")
MAX_BYTES = 1024 * 1024


def explanation_file(folder: Path) -> Path | None:
    """The student's explanation of the graph, if they wrote one (a link or a FIFO too: the
    check says it was not read)."""
    return next((folder / name for name in FILES if os.path.lexists(folder / name)), None)


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
    try:
        text = files.read_text(context.folder, path.name, MAX_BYTES)
    except files.NotAFile as error:
        return result(
            context, CHECK, "fail", f"{error}; explain each node of your autograd graph there"
        )
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
