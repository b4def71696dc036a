"""A notebook handed in, as the report shows it: how each code cell ran, and the code around
any line of the notebook that a message points at.

The sandbox compiles each cell under the name `<notebook>, cell N`, so every traceback, frame
and message that the grader builds from one names a place as `hw1.ipynb, cell 3, line 4`.
`places` finds those places in a text and `excerpt` cuts the lines around one from the cell's
source that the result keeps (`CellRun.source`); the notebook section uses them under a failed
cell, and the check cards under their messages and details. A place whose cell or line the
result does not hold (a cell cut short, a line a student's own message made up) gets no code.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from grader.result import CellRun, NotebookRun

CONTEXT = 3  # lines shown either side of the line pointed at
MAX_LINE = 300  # characters of a line shown: a cell may be one line of thousands
MAX_PLACES = 3  # excerpts under one text
_NEWLINE = re.compile(r"\r\n|\r|\n")  # the line ends Python's compiler counts, as tracebacks do

STATUS_CSS = {"ran": "pass", "failed": "fail", "not run": "error", "skipped": "skip"}
NOTE_LABELS = {
    "magic": "IPython only",
    "cell-magic": "IPython only",
    "shell": "IPython only",
    "help": "IPython only",
    "missing-import": "not installed here",
    "colab": "Colab only",
    "windows-path": "Windows path",
}


@dataclass(frozen=True)
class CodeLine:
    """One line of a cell: its number in the cell, its text, whether it is the one meant."""

    number: str
    text: str
    hit: bool


@dataclass(frozen=True)
class Excerpt:
    """The lines of a cell around one line: `hw1.ipynb, cell 8, line 4` and its neighbours."""

    file: str
    cell: str
    line: str
    anchor: str  # the cell's row in the notebook section
    lines: tuple[CodeLine, ...]


@dataclass(frozen=True)
class NoteView:
    """A line of a cell that did not run as written."""

    line: str
    label: str  # IPython only, not installed here, Colab only, Windows path
    code: str
    message: str


@dataclass(frozen=True)
class CellView:
    """One code cell's row, and what it says under it."""

    number: str
    anchor: str
    first_line: str
    status: str  # ran, failed, skipped, not run
    css: str  # the badge's colour: pass, fail, error, skip
    notes: tuple[NoteView, ...]
    error: str
    line: str  # of the error, when known
    code: Excerpt | None  # around the failing line
    frames: tuple[str, ...]  # the student's frames of the error, outermost first, when the
    # error went through a function (one frame is the failing line itself)
    deepest: Excerpt | None  # the innermost frame's code, when it is not the failing line


# Why a global was graded as the network, after its name: the report and the exports say it so.
NETWORK_WHY = (
    "it defines no network function, so the one network of the assignment's sizes that its "
    "cells leave was graded."
)


@dataclass(frozen=True)
class NotebookView:
    """The notebook section: which file, what happened to it, and its cells."""

    file: str
    used: bool
    message: str
    headline: str  # the header's line: how many cells failed
    network: str  # the global graded as the network, if one was
    network_why: str
    notes: tuple[str, ...]  # worth no points
    cells: tuple[CellView, ...]


def cell_anchor(cell: int) -> str:
    return f"notebook-cell-{cell}"


def places(run: NotebookRun | None, text: str) -> list[tuple[int, int]]:
    """The (cell, line) places of `run`'s notebook that `text` names, in order, each once, at
    most MAX_PLACES; none when no notebook was run."""
    if run is None or not run.used:
        return []
    pattern = re.escape(run.file) + r", cell (\d{1,9}), line (\d{1,9})\b"
    found = dict.fromkeys((int(m[1]), int(m[2])) for m in re.finditer(pattern, text))
    return list(found)[:MAX_PLACES]


def excerpt(run: NotebookRun | None, cell: int, line: int | None) -> Excerpt | None:
    """The code of `cell` around `line`, the line marked; None when the result does not hold
    that cell or that line."""
    if run is None or line is None:
        return None
    source = next((c.source for c in run.cells if c.cell == cell), "")
    lines = _lines(source)
    if not 0 < line <= len(lines):
        return None
    first, last = max(1, line - CONTEXT), min(len(lines), line + CONTEXT)
    shown = code_lines(lines[first - 1 : last], first, range(line, line + 1))
    return Excerpt(run.file, str(cell), str(line), cell_anchor(cell), shown)


def excerpts(run: NotebookRun | None, text: str, seen: set[tuple[int, int]]) -> tuple[Excerpt, ...]:
    """The code around each place `text` names that is not in `seen` (which it joins): a
    check's message and details show each place once, under the first that names it."""
    found = []
    for place in places(run, text):
        if place in seen:
            continue
        seen.add(place)
        code = excerpt(run, *place)
        if code is not None:
            found.append(code)
    return tuple(found)


def code_lines(lines: list[str], first: int, hit: range) -> tuple[CodeLine, ...]:
    """`lines` numbered from `first`, those in `hit` marked: the rows of any code excerpt."""
    return tuple(CodeLine(str(n), _cut(text), n in hit) for n, text in enumerate(lines, first))


def _lines(source: str) -> list[str]:
    """The lines of a cell as Python numbers them: a last newline ends a line, none follows."""
    lines = _NEWLINE.split(source)
    return lines[:-1] if lines[-1] == "" else lines


def _cut(line: str) -> str:
    return line if len(line) <= MAX_LINE else line[: MAX_LINE - 1] + "…"


def _cell_view(run: NotebookRun, cell: CellRun) -> CellView:
    code = excerpt(run, cell.cell, cell.line) if cell.error else None
    innermost = places(run, cell.frames[-1]) if cell.frames else []
    deepest = None
    if innermost and innermost[0] != (cell.cell, cell.line):
        deepest = excerpt(run, *innermost[0])
    return CellView(
        number=str(cell.cell),
        anchor=cell_anchor(cell.cell),
        first_line=cell.first_line,
        status=cell.status,
        css=STATUS_CSS[cell.status],
        notes=tuple(
            NoteView(str(n.line), NOTE_LABELS[n.kind], n.code, n.message) for n in cell.notes
        ),
        error=cell.error,
        line="" if cell.line is None else str(cell.line),
        code=code,
        frames=tuple(cell.frames) if len(cell.frames) > 1 else (),
        deepest=deepest,
    )


def _headline(run: NotebookRun) -> str:
    """`of 8 code cells, 3 failed`, `no code cell failed`, or `not graded`."""
    if not run.used:
        return "not graded"
    n = len(run.cells)
    counts = {s: sum(c.status == s for c in run.cells) for s in ("failed", "not run")}
    said = ", ".join(f"{k} {s}" for s, k in counts.items() if k)
    return f"of {n} code cell{'s' * (n != 1)}, {said}" if said else "no code cell failed"


def notebook_view(run: NotebookRun | None) -> NotebookView | None:
    """The notebook section, when a notebook was handed in; a notebook that was not used shows
    only its name and why."""
    if run is None:
        return None
    return NotebookView(
        file=run.file,
        used=run.used,
        message=run.message,
        headline=_headline(run),
        network=run.network if run.used else "",
        network_why=NETWORK_WHY,
        notes=tuple(run.notes) if run.used else (),
        cells=tuple(_cell_view(run, c) for c in run.cells) if run.used else (),
    )
