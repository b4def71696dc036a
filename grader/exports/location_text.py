"""The words every output uses for a `Location`, written once: the report, index.html, the
GitHub payload and annotation, JUnit and Gradescope all say where a mistake is the same way.

A location is student-derived text (file names and code come from the submission): these
functions only build words; each output escapes them by its own rules.
"""

from __future__ import annotations

from grader.result import Location


def place(location: Location) -> str:
    """`backprop.py, line 18`, `backprop.py, lines 18-20`, `hw1.ipynb, cell 3, line 4`."""
    lines = (
        f"lines {location.line}-{location.end_line}"
        if location.end_line is not None and location.end_line > location.line
        else f"line {location.line}"
    )
    cell = f", cell {location.cell}" if location.cell is not None else ""
    return f"{location.file}{cell}, {lines}"


def short(location: Location) -> str:
    """The form for a table cell: `backprop.py:18`, `hw1.ipynb:3:4` (cell, then line)."""
    cell = f":{location.cell}" if location.cell is not None else ""
    return f"{location.file}{cell}:{location.line}"


def when(location: Location) -> str:
    """Which run of a loop it was, in words: `in layer 3, the 2nd time the line ran`, or ""."""
    parts = []
    if location.layer is not None:
        parts.append(f"layer {location.layer}")
    if location.iteration is not None:
        parts.append(f"the {_ordinal(location.iteration)} time the line ran")
    return ("in " + ", ".join(parts)) if parts else ""


def failure_text(location: Location) -> str:
    """`at backprop.py, line 18 (in layer 3): SENTENCE`, the line JUnit and Gradescope add."""
    loop = when(location)
    return f"at {place(location)}{f' ({loop})' if loop else ''}: {location.sentence}"


def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"
