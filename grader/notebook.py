"""Notebook submissions: which notebook a folder hands in, its cells read with nbformat, and
what the sandbox's run of them means for the report.

A submission holds the contract's modules, or one notebook (`*.ipynb`), or both: then the
modules are graded and the notebook is named as not used. The notebook is read here, in the
grader, as data: bounded in size, parsed as JSON, its stored outputs dropped, and refused only
when it cannot be run; what nbformat's validation (the Jupyter project's) finds wrong beyond
that is noted, as Jupyter opens such a notebook with a warning. What runs in the sandbox is
each code cell's source with the lines only IPython understands (`%magic`, `!shell`, `x?`)
put out of the way and listed; the sandbox (sandbox/cells.py) runs the cells top to bottom in
one namespace, recording errors cell by cell, and takes the contract's functions from it.
"""

from __future__ import annotations

import ast
import io
import json
import os
import re
import tokenize
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from grader import files
from grader.assignment import Assignment, Contract, Limits
from grader.compare import compare
from grader.dat import Blocks
from grader.dat_match import MAX_BYTES, match_blocks, printed_blocks
from grader.errors import DatFormatError
from grader.result import CellNote, CellRun, NotebookRun
from grader.sandbox.run import Outcome

SUFFIX = ".ipynb"
MAX_IDENTICAL = 16 * 2**20  # bytes of notebooks compared to tell copies of one notebook
MAX_CELLS = 2000  # code cells run; real notebooks of this homework have under 60
MAX_SHOWN = 10_000  # characters of a cell's code kept in result.json for the report
MAX_SHOWN_IN_ALL = 2**20  # characters of code kept for all the cells together
MAX_CELL_NOTES = 20  # lines not run that are listed for one cell; the rest are counted
MAX_NOTES = 200  # for the whole notebook: past these, a cell's notes are one line
# Cell magics whose body is Python and runs once (timed, captured); any other (%%bash,
# %%html, %%writefile, ...) is not Python and the cell is skipped.
PYTHON_CELL_MAGICS = frozenset({"time", "timeit", "capture", "prun"})
_MAGIC = re.compile(r"\s*%")
# `!pip install x`, `files = !ls`, and IPython's automagic `pip install x`
_SHELL = re.compile(r"\s*!|\s*[\w.]+\s*=\s*[!%]|\s*(pip|conda)\s+install\s")
_HELP = re.compile(r"\s*(\?{1,2}[\w.]+|[\w.]+\?{1,2})\s*")
_COLAB = re.compile(r"google\.colab|drive\.mount|/content/|files\.(upload|download)\(")
_WINDOWS = re.compile(r"""["'][A-Za-z]:[\\/]""")
_RUNNING = re.compile(r"; cell (\d+) was running: ")  # sandbox/cells.py's progress, in a failure


class NotebookError(Exception):
    """A notebook that cannot be run; the message names it and says what to do."""


@dataclass(frozen=True)
class Cell:
    """A code cell: its position among all the notebook's cells (from 1), its source as
    written, the code that runs (IPython-only lines put out of the way, line numbers kept)
    and the lines that do not run."""

    number: int
    source: str
    code: str
    notes: tuple[CellNote, ...]
    skipped: bool  # a cell magic whose body is not Python: nothing of it runs

    @property
    def first_line(self) -> str:
        return first_line(self.source)


@dataclass(frozen=True)
class Notebook:
    """A notebook read and ready to run."""

    file: str
    cells: tuple[Cell, ...]
    invalid: str = ""  # what nbformat's validation found, in a notebook run all the same

    @property
    def shown(self) -> str:
        """Its name as messages and the report give it (bytes that are not UTF-8 escaped)."""
        return files.shown(self.file)

    def request(self, assignment: Assignment) -> dict[str, Any]:
        """What the sandbox needs to run it: each runnable cell's code, the .dat files it may
        write, and the network's input and output sizes (to find a network among globals)."""
        contract, sizes = assignment.contract, assignment.network.sizes
        return {
            "file": self.shown,  # the name in every message, as the report shows it
            "cells": [{"cell": c.number, "code": c.code} for c in self.cells if not c.skipped],
            "dat_files": [contract.torch_dat, contract.my_dat],
            "seconds": assignment.limits.notebook_seconds,
            "sizes": [sizes[0], sizes[-1]],
        }


@dataclass(frozen=True)
class Handed:
    """What a submission folder hands in: the contract's module files it holds, and its
    notebooks (the one the assignment names, or every `*.ipynb` at its top)."""

    modules: list[str]
    notebooks: list[str]


def handed_in(folder: Path, contract: Contract) -> Handed:
    """The contract's modules and the notebooks found in `folder`."""
    modules = [
        path for paths in module_files(contract) for path in paths if os.path.lexists(folder / path)
    ]
    if contract.notebook is not None:
        named = os.path.lexists(folder / contract.notebook)
        return Handed(modules, [contract.notebook] if named else [])
    try:
        names = sorted(entry.name for entry in os.scandir(folder) if _is_notebook(entry.name))
    except OSError:
        names = []  # grading says why the folder cannot be read
    return Handed(modules, names)


def module_files(contract: Contract) -> list[tuple[str, str]]:
    """The contract's modules, each as the file and the package that would be imported."""
    modules = dict.fromkeys((contract.network_module, contract.backprop_module))
    return [(f"{m.replace('.', '/')}.py", f"{m.replace('.', '/')}/__init__.py") for m in modules]


def _is_notebook(name: str) -> bool:
    return name.endswith(SUFFIX) and not name.startswith(".")


def choose(
    handed: Handed, folder: Path, contract: Contract
) -> tuple[str | None, NotebookRun | None]:
    """The notebook to run (None: grade the modules), and what the report says about the
    notebooks when none is run or when the choice itself is the problem."""
    shown = ", ".join(files.shown(name) for name in handed.notebooks)
    if handed.modules and handed.notebooks:
        modules = " and ".join(handed.modules)
        lacking = [
            file
            for file, package in module_files(contract)
            if file not in handed.modules and package not in handed.modules
        ]
        message = (
            f"{shown} {'was' if len(handed.notebooks) == 1 else 'were'} not used: {modules} "
            f"{'is' if len(handed.modules) == 1 else 'are'} graded (a submission's modules win "
            "over a notebook)"
        )
        if lacking:
            message += f"; hand in {' and '.join(lacking)} too, or only the notebook"
        return None, NotebookRun(file=shown, used=False, message=message)
    if len(handed.notebooks) > 1 and not _identical(folder, handed.notebooks):
        message = (
            f"found {shown}: hand in one notebook (or your TA names the one to grade: "
            '[contract] notebook = "..." in the assignment)'
        )
        return None, NotebookRun(file=shown, used=False, message=message)
    return (handed.notebooks[0] if handed.notebooks else None), None


def _identical(folder: Path, names: list[str]) -> bool:
    """Whether the notebooks hold the same bytes (a download saved twice: `hw1 (1).ipynb`)."""
    try:
        first, *rest = (files.read(folder, name, MAX_IDENTICAL + 1) for name in names)
    except files.NotAFile:
        return False
    return len(first) <= MAX_IDENTICAL and all(data == first for data in rest)


def read(folder: Path, name: str, limits: Limits) -> Notebook:
    """The notebook `name` of `folder`, read, validated and split into runnable cells; raises
    NotebookError saying what is wrong with it and what to do."""
    shown = files.shown(name)
    limit = limits.notebook_mib * 2**20
    try:
        data = files.read(folder, name, limit + 1)
    except files.NotAFile as error:
        raise NotebookError(str(error)) from None
    if len(data) > limit:
        raise NotebookError(
            f"{shown} is larger than {limits.notebook_mib} MiB (limits.notebook_mib), so it was "
            "not read: clear its outputs (Edit → Clear All Outputs) and save it again"
        )
    if not data.strip():
        raise NotebookError(f"{shown} is empty ({len(data)} bytes): save the notebook and hand "
                            "it in again")  # fmt: skip
    sources, invalid = _parsed(data, shown)
    cells = [_cell(number, source) for number, source in sources if source.strip()]
    if not cells:
        raise NotebookError(f"{shown} has no code cells: hand in the notebook with your code")
    if len(cells) > MAX_CELLS:
        raise NotebookError(f"{shown} has {len(cells):,} code cells; grade runs at most "
                            f"{MAX_CELLS:,}")  # fmt: skip
    return Notebook(file=name, cells=tuple(cells), invalid=invalid)


def _parsed(data: bytes, shown: str) -> tuple[list[tuple[int, str]], str]:
    """The code cells of the nbformat 4 notebook in `data` (their positions among all cells,
    from 1, and their sources), and what nbformat's validation says of it ("" if nothing);
    NotebookError if it cannot be run. Each way of not being a notebook is said as itself; a
    notebook that breaks the format where it does not matter to running it (an output or a
    key missing or extra, as some editors write) is run, as Jupyter would open it."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise NotebookError(f"{shown} is not UTF-8 text (byte {error.start}): it is not a "
                            "notebook saved by Jupyter") from None  # fmt: skip
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as error:
        raise NotebookError(
            f"{shown} is not valid JSON (line {error.lineno}, column {error.colno}: "
            f"{error.msg}): it is not a notebook Jupyter can open; save it again"
        ) from None
    except RecursionError:
        raise NotebookError(f"{shown} is JSON nested too deep: not a notebook") from None
    major = raw.get("nbformat") if isinstance(raw, dict) else None
    if not isinstance(major, int) or isinstance(major, bool):
        what = "an object without nbformat" if isinstance(raw, dict) else type(raw).__name__
        raise NotebookError(f"{shown} is JSON but not a notebook ({what})")
    if major != 4:
        when = "an old Jupyter" if major < 4 else "a Jupyter newer than grade knows"
        raise NotebookError(
            f"{shown} is nbformat {major}, written by {when}; grade reads nbformat 4: open it "
            "in Jupyter or Colab and save it again"
        )
    cells = raw.get("cells")
    if not isinstance(cells, list):
        raise NotebookError(f"{shown} is not a valid notebook: it has no list of cells")
    sources = []
    for number, cell in enumerate(cells, start=1):
        source = cell.get("source", "") if isinstance(cell, dict) else None
        if isinstance(source, list) and all(isinstance(line, str) for line in source):
            source = "".join(source)
        if not isinstance(source, str):
            raise NotebookError(
                f"{shown} is not a valid notebook: cell {number}'s source is "
                f"{type(source).__name__}, not text; open it in Jupyter and save it again"
            )
        if isinstance(cell, dict) and cell.get("cell_type") == "code":
            sources.append((number, source))
        if isinstance(cell, dict) and "outputs" in cell:
            cell["outputs"] = []  # ignored: not run, not validated
    return sources, _validation(raw)


def _validation(raw: dict[str, Any]) -> str:
    """What nbformat's validation finds wrong in a notebook that can be run anyway (a key
    an editor left out or added), in words; "" if nothing. Jupyter opens such notebooks."""
    import nbformat  # here: its import (50 ms, jsonschema) is for notebooks, not every `grade`

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # cell ids missing from notebooks before nbformat 4.5
        try:
            nbformat.validate(nbformat.from_dict(raw))
        except nbformat.ValidationError as error:
            return _invalid(error)
    return ""


def _invalid(error: Exception) -> str:
    """`cell 2's source: 5 is not valid under any of the given schemas`: where, counting cells
    from 1 as the report does, and what."""
    path = [str(part) for part in getattr(error, "absolute_path", [])]
    where = ".".join(path)
    if len(path) >= 2 and path[0] == "cells" and path[1].isdigit():
        where = f"cell {int(path[1]) + 1}" + (f"'s {'.'.join(path[2:])}" if path[2:] else "")
    message = str(getattr(error, "message", error)).splitlines()[0][:300]
    return f"{where}: {message}" if where else message


def _cell(number: int, source: str) -> Cell:
    """A code cell, its IPython-only lines put out of the way when it is not plain Python."""
    try:
        ast.parse(source)
        return Cell(number, source, source, (), skipped=False)
    except (SyntaxError, ValueError):
        pass
    lines = source.split("\n")
    starts = _statement_starts(source)
    notes: list[CellNote] = []
    first = next(i for i, line in enumerate(lines) if line.strip())
    if lines[first].lstrip().startswith("%%"):
        magic = lines[first].strip()[2:].split(maxsplit=1)[0] if lines[first].strip()[2:] else ""
        if magic not in PYTHON_CELL_MAGICS:
            message = f"not run: %%{magic} makes the cell something other than Python (IPython)"
            note = CellNote(line=first + 1, kind="cell-magic", code=lines[first], message=message)
            return Cell(number, source, "", (note,), skipped=True)
        notes.append(_note(first + 1, "magic", lines[first], "not run (IPython only); the cell's "
                           "code below it ran once"))  # fmt: skip
        lines[first] = ""
    more = 0
    for index, line in enumerate(lines):
        kind = _ipython_kind(line) if index != first or not notes else None
        if kind is None or (starts is not None and index + 1 not in starts):
            continue  # not IPython's: inside a string or brackets, or a continued line
        indent, statement = line[: len(line) - len(line.lstrip())], _timed(line)
        lines[index] = indent + (statement or "pass")
        if len(notes) >= MAX_CELL_NOTES:
            more += 1  # counted, not kept: a cell may hold a million `!` lines
            continue
        what = {"magic": "a magic", "shell": "a shell command", "help": "IPython help"}[kind]
        message = f"not run: {what} (IPython only)"
        if statement:
            message = "the statement ran once, untimed (IPython's timing magic is not run)"
        notes.append(_note(index + 1, kind, line, message))
    if more:
        message = f"and {more:,} more IPython-only lines of this cell, not run"
        notes.append(_note(notes[-1].line, notes[-1].kind, "", message))
    return Cell(number, source, "\n".join(lines), tuple(notes), skipped=False)


def _timed(line: str) -> str:
    """The statement of a `%time f()` or `%timeit f()` line (IPython runs it), else ""."""
    words = line.strip().split(maxsplit=1)
    if len(words) == 2 and words[0] in ("%time", "%timeit") and not words[1].startswith("-"):
        return words[1]
    return ""


def _statement_starts(source: str) -> set[int] | None:
    """The lines (from 1) on which a statement starts, as Python's tokenizer reads the cell
    (IPython's `!` and `?` come through it as error tokens); None if it cannot be read."""
    starts: set[int] = set()
    depth, expect = 0, True
    try:
        for token in tokenize.generate_tokens(io.StringIO(source).readline):
            if token.type == tokenize.NEWLINE:
                expect = True
            elif token.type in _LAYOUT:
                continue
            else:
                if expect and depth == 0:
                    starts.add(token.start[0])
                    expect = False
                if token.type == tokenize.OP:
                    depth += (token.string in "([{") - (token.string in ")]}")
    except (tokenize.TokenError, SyntaxError):  # IndentationError among them
        return None
    return starts


_LAYOUT = {tokenize.NL, tokenize.COMMENT, tokenize.INDENT, tokenize.DEDENT, tokenize.ENDMARKER}


def _ipython_kind(line: str) -> str | None:
    if _SHELL.match(line):
        return "shell"
    if _MAGIC.match(line):
        return "magic"
    if _HELP.fullmatch(line):
        return "help"
    return None


def _note(line: int, kind: str, code: str, message: str) -> CellNote:
    return CellNote(line=line, kind=kind, code=code.strip()[:200], message=message)


def first_line(source: str) -> str:
    """A cell's first line of code, to find it by (cut to 80 characters)."""
    line = next((line.strip() for line in source.splitlines() if line.strip()), "")
    return line if len(line) <= 80 else line[:79] + "…"


# --- after the run -------------------------------------------------------------------------


def run_view(notebook: Notebook, outcome: Outcome, notes: list[str]) -> NotebookRun:
    """The report's account of the notebook's run: each cell ran, failed (and why), was
    skipped, or was never reached (when the run ended before the last cell); the global
    graded as the network, if one was; `notes` from running it, worth no points."""
    answer = outcome.stages.get("notebook")
    failure = outcome.failures.get("notebook")
    reported = {c["cell"]: c for c in (answer or {}).get("cells", [])}
    running = _RUNNING.search(failure or "")
    stopped = int(running.group(1)) if answer is None and running else None
    if stopped is not None:  # the run ended there: the cell the grader's watchdog stopped
        reported[stopped] = {"error": (failure or "").split("; cell ")[0]}
    elif answer is not None:  # or the cell the notebook's own time ran out in
        stopped = next((n for n, c in reported.items() if c.get("stopped")), None)
    cells = []
    room, shown = MAX_NOTES, MAX_SHOWN_IN_ALL  # notes and code kept, for the whole notebook
    for cell in notebook.cells:
        got = reported.get(cell.number, {})
        status = "skipped" if cell.skipped else "failed" if got.get("error") else "ran"
        ended = answer is None or stopped is not None
        if ended and not cell.skipped and cell.number > (stopped or 0):
            status = "not run"
        cell_notes = [*cell.notes, *_missing(cell, got.get("missing", []))]
        error = str(got.get("error", ""))
        line = got.get("line")
        machine = _machine_only(cell, line, error) if error else None
        if machine is not None:
            cell_notes.append(machine)
        cell_notes = sorted(cell_notes, key=lambda n: n.line)
        if len(cell_notes) > room:
            cell_notes = [*cell_notes[:room], _more(cell_notes[room:])]
        room = max(0, room - len(cell_notes))
        source = cell.source[: min(MAX_SHOWN, shown)]
        shown -= len(source)
        cells.append(
            CellRun(
                cell=cell.number,
                first_line=cell.first_line,
                status=status,
                error=error,
                line=line if isinstance(line, int) else None,
                frames=[str(f) for f in got.get("frames", [])],
                notes=cell_notes,
                source=source,
            )
        )
    counts = {s: sum(c.status == s for c in cells) for s in ("ran", "failed", "skipped", "not run")}
    summary = ", ".join(f"{n} {s}" for s, n in counts.items() if n)
    message = f"{len(cells)} code cell{'s' * (len(cells) != 1)} run top to bottom: {summary}"
    if failure:
        message += f"; the run stopped ({failure}), so what the cells before it raised is not known"
    elif stopped is not None:
        first = next(c.first_line for c in cells if c.cell == stopped)
        message += f"; its time ran out in cell {stopped} ({first}): the cells after it did not run"
    if notebook.invalid:
        notes = [
            f"{notebook.shown} does not follow the notebook format exactly ({notebook.invalid}, "
            "says nbformat's validation); it was run all the same, as Jupyter would open it",
            *notes,
        ]
    return NotebookRun(
        file=notebook.shown,
        used=True,
        message=message,
        cells=cells,
        network=str(outcome.stages.get("network", {}).get("global", "")),
        notes=notes,
    )


def _more(notes: list[CellNote]) -> CellNote:
    """One note standing for `notes`, past what the report lists."""
    return _note(notes[0].line, notes[0].kind, "", f"and {len(notes):,} more lines of this cell "
                 "that did not run as written (the notebook's list is full)")  # fmt: skip


def _missing(cell: Cell, missing: list[dict[str, Any]]) -> list[CellNote]:
    """Imports of packages not installed here: Colab's own named as such."""
    notes = []
    lines = cell.source.split("\n")
    for item in missing:
        line, module = int(item.get("line", 0)), str(item.get("module", ""))
        code = lines[line - 1] if 0 < line <= len(lines) else ""
        if module.split(".")[0] == "google" or _COLAB.search(code):
            notes.append(_note(line, "colab", code, f"{module} exists only on Google Colab; "
                               "the rest of the cell ran"))  # fmt: skip
        else:
            notes.append(_note(line, "missing-import", code, f"{module} is not installed "
                               "here; the rest of the cell ran"))  # fmt: skip
    return notes


def _machine_only(cell: Cell, line: Any, error: str) -> CellNote | None:
    """The failing line, if it only runs on the student's machine: Colab, or a Windows path
    (on the line, or in the error: a path built from a variable set elsewhere)."""
    lines = cell.source.split("\n")
    if not isinstance(line, int) or not 0 < line <= len(lines):
        return None
    code = lines[line - 1]
    if _COLAB.search(code) or _COLAB.search(error):
        return _note(line, "colab", code, "runs only on Google Colab; grading went on")
    if _WINDOWS.search(code) or _WINDOWS.search(error):
        return _note(line, "windows-path", code, "a path on the student's own computer; "
                     "grading went on")  # fmt: skip
    return None


def failed_view(name: str, problem: str) -> NotebookRun:
    """The account of a notebook that could not be read or run at all."""
    return NotebookRun(file=files.shown(name), used=False, message=problem)


def dat_notes(
    folder: Path, outcome: Outcome, expected: Blocks, assignment: Assignment
) -> list[str]:
    """A note for each .dat file that running the notebook wrote with other values than the
    file handed in (which is the one graded): worth no points, a hint at hidden state."""
    notes = []
    for item in outcome.stages.get("notebook", {}).get("written", []):
        name, text = str(item.get("file", "")), str(item.get("text", ""))
        try:
            handed = files.read(folder, name, MAX_BYTES + 1)
        except files.NotAFile:
            notes.append(f"run top to bottom, your notebook writes {name}, which was not handed "
                         "in: hand in the files it writes")  # fmt: skip
            continue
        differs = _differs(handed, text.encode(), folder / name, expected, assignment)
        if differs:
            notes.append(
                f"run top to bottom, your notebook writes a different {name} ({differs}): "
                "unseeded random data, or hidden notebook state? The one handed in is graded"
            )
    return notes


def _differs(
    handed: bytes, written: bytes, path: Path, expected: Blocks, assignment: Assignment
) -> str:
    """How the written file's gradients differ from the handed-in one's, or "" if they agree."""
    sig_figs = assignment.significant_figures
    shapes = {name: values.shape for name, values in expected.items()}
    try:
        old = match_blocks(printed_blocks(handed, path), shapes, sig_figs=sig_figs).blocks
        new = match_blocks(printed_blocks(written, path), shapes, sig_figs=sig_figs).blocks
    except DatFormatError:
        return "" if handed.split() == written.split() else "its text differs"
    differ = [
        name
        for name in expected
        if (name in old) != (name in new)
        or (name in old and not compare(new[name], old[name], sig_figs).agree)
    ]
    if not differ:
        return ""
    more = f" and {len(differ) - 1} more" if len(differ) > 1 else ""
    return f"{differ[0]}{more} differ{'s' * (len(differ) == 1)}"
