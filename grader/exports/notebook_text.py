"""A notebook's run in a few plain lines, for the places a student never sees report.html.

On Gradescope the student reads results.json's overview, and in GitHub Classroom the job's
summary and the reporter's log: neither shows the report's Notebook section. `lines(run)` says
the same in short, once, and each export lays it out (`text(run)` as plain text; github.py as
Markdown, escaped): what happened to the notebook (or why it was not used), the global graded
as the network, the notes worth no points, each cell that raised (where, the error, how the
cell begins, and a Colab or Windows line on it), and how many IPython-only lines and imports of
packages not installed here did not run, the first few named.

However large the notebook (2,000 cells that all fail, errors of 2,000 characters, a name of
any length), the text stays short: every line is cut to MAX_LINE characters on one line, each
list to a few items and a count of the rest.
"""

from __future__ import annotations

from dataclasses import dataclass

from grader.printable import printable
from grader.report.notebook_view import NETWORK_WHY, NOTE_LABELS
from grader.result import CellNote, CellRun, NotebookRun

MAX_LINE = 240  # characters of one line: an error may be 2,000, a cell's name any length
MAX_FAILED = 5  # failed cells shown, the rest counted
MAX_CELL_NOTES = 2  # Colab and Windows lines shown under one failed cell
MAX_NOTES = 5  # notes worth no points shown
MAX_NAMED = 5  # IPython-only lines and missing imports named
IPYTHON = ("magic", "cell-magic", "shell", "help")  # CellNote kinds that are IPython only
ELSEWHERE = ("colab", "windows-path")  # lines that run only on the student's machine


@dataclass(frozen=True)
class Line:
    """One line of the summary: a sentence (depth 0), an item of the list it heads (1), or
    a line under an item (2)."""

    text: str
    depth: int = 0


def one_line(text: str, limit: int = MAX_LINE) -> str:
    """`text` (a student's error, code or file name) on one line of at most `limit`
    characters: whitespace runs become one space, control characters are written out."""
    flat = printable(" ".join(text.split()))
    return flat if len(flat) <= limit else flat[: limit - 1].rstrip() + "…"


def _more(shown: int, total: int, what: str) -> list[Line]:
    """`… and 1,995 more failed cells`, when some were left out."""
    rest = total - shown
    return [Line(f"… and {rest:,} more {what}", 1)] if rest > 0 else []


def _place(cell: int, note: CellNote) -> str:
    return one_line(f"cell {cell}, line {note.line}: {note.code}")


def _failed(cells: list[CellRun]) -> list[Line]:
    """The first failed cells, each with its Colab and Windows lines (the failing line's
    among them whatever the cap: it says why the cell failed)."""
    failed = [c for c in cells if c.status == "failed"]
    if not failed:
        return []
    lines = [Line("Cells that raised an error (the next cell still ran):")]
    for cell in failed[:MAX_FAILED]:
        where = f"cell {cell.cell}" + (f", line {cell.line}" if cell.line is not None else "")
        lines.append(Line(one_line(f"{where}: {cell.error or 'an error'}"), 1))
        lines.append(Line(one_line(f"the cell begins: {cell.first_line}"), 2))
        elsewhere = [n for n in cell.notes if n.kind in ELSEWHERE]
        failing_first = sorted(elsewhere, key=lambda n: n.line != cell.line)
        for note in sorted(failing_first[:MAX_CELL_NOTES], key=lambda n: n.line):
            text = f"line {note.line} ({NOTE_LABELS[note.kind]}): {note.code} — {note.message}"
            lines.append(Line(one_line(text), 2))
    return lines + _more(MAX_FAILED, len(failed), "failed cells")


def _ipython(cells: list[CellRun]) -> list[Line]:
    """How many IPython-only lines (and %%-cells) did not run, the first few named."""
    found = [(c.cell, n) for c in cells for n in c.notes if n.kind in IPYTHON]
    if not found:
        return []
    lines = [
        Line(
            f"{len(found):,} IPython-only line{'s' * (len(found) != 1)} not run here (%magic, "
            "!shell, x?; a %%bash-like cell is skipped whole):"
        )
    ]
    for cell, note in found[:MAX_NAMED]:
        whole = " (the whole cell)" if note.kind == "cell-magic" else ""
        lines.append(Line(_place(cell, note) + whole, 1))
    return lines + _more(MAX_NAMED, len(found), "lines")


def _missing(cells: list[CellRun]) -> list[Line]:
    """Imports of packages not installed here, the first few named: Colab's own too, but in
    a cell that failed (its Colab lines are said with it)."""
    found = [
        (c.cell, n)
        for c in cells
        for n in c.notes
        if n.kind == "missing-import" or (n.kind in ELSEWHERE and c.status != "failed")
    ]
    if not found:
        return []
    lines = [
        Line(
            f"{len(found):,} import{'s' * (len(found) != 1)} of packages not installed here "
            "(the rest of each cell ran):"
        )
    ]
    for cell, note in found[:MAX_NAMED]:
        label = f" ({NOTE_LABELS[note.kind]})" if note.kind in ELSEWHERE else ""
        lines.append(Line(one_line(f"cell {cell}, line {note.line}: {note.code}{label}"), 1))
    return lines + _more(MAX_NAMED, len(found), "imports")


def lines(run: NotebookRun) -> list[Line]:
    """The summary of `run`, a few dozen lines at most whatever the notebook."""
    if not run.used:
        head = "Notebook" if run.file in run.message else f"Notebook {run.file}"
        return [Line(one_line(f"{head} not graded: {run.message}", 3 * MAX_LINE))]
    summary = [Line(one_line(f"Notebook {run.file}: {run.message}", 2 * MAX_LINE))]
    if run.network:
        global_ = one_line(run.network, 80)
        summary.append(
            Line(f"The network graded is the notebook's global `{global_}`: {NETWORK_WHY}")
        )
    if run.notes:
        summary.append(Line("Notes, worth no points:"))
        summary += [Line(one_line(note), 1) for note in run.notes[:MAX_NOTES]]
        summary += _more(MAX_NOTES, len(run.notes), "notes")
    return summary + _failed(run.cells) + _ipython(run.cells) + _missing(run.cells)


def text(run: NotebookRun) -> str:
    """The summary as plain text: a list's items after `- `, lines under an item indented."""
    indent = {0: "", 1: "- ", 2: "    "}
    return "\n".join(indent[line.depth] + line.text for line in lines(run))
