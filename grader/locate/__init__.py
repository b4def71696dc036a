"""Point at the line: the statement of the student's backprop where the first wrong value was
formed, from a line trace of one call (grader/sandbox/tracer.py) and the reference's
intermediates for that call.

    events.py         the trace, decoded; what each name held at each moment
    intermediates.py  the reference's values for the call, and their classic wrong variants
    code.py           the statement at a line and the names it reads
    walk.py           from the first wrong output gradient back to the line that formed it
    words.py          the sentence

A correct submission never gets a location, and neither does one whose trail is lost: a wrong
line is worse than none.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import numpy as np

from grader.assignment import Assignment
from grader.checks import Call
from grader.compare import compare
from grader.dat import Blocks
from grader.diagnose import layer_of
from grader.locate.code import excerpt, statement_at
from grader.locate.events import Event, Timeline
from grader.locate.intermediates import Intermediates, Match
from grader.locate.walk import Found, walk
from grader.locate.words import misplaced_sentence, sentence
from grader.result import Diagnosis, Location

_CELL = re.compile(r"^(?P<file>.+), cell (?P<cell>\d+)$")
_INDEX = re.compile(r"\[(\d+)\]$")


def locate(
    assignment: Assignment,
    call: Call,
    actual: Blocks,
    start: str,
    diagnoses: list[Diagnosis],
    events: list[dict[str, Any]],
    source: Callable[[str], str | None],
) -> Location | None:
    """The line where the wrong value of `start` (e.g. W11) was formed, or None."""
    try:
        return _locate(assignment, call, actual, start, diagnoses, events, source)
    except (ValueError, TypeError, KeyError, IndexError, RecursionError):
        return None  # a trace or a source this did not foresee: the diagnosis stands alone


def _locate(
    assignment: Assignment,
    call: Call,
    actual: Blocks,
    start: str,
    diagnoses: list[Diagnosis],
    events: list[dict[str, Any]],
    source: Callable[[str], str | None],
) -> Location | None:
    if any(d.kind == "forward" for d in diagnoses):
        return None  # a backward pass right for the student's own network: no line of it is
        # wrong, the network check names what is
    got = actual.get(start)
    layer = layer_of(start)
    if got is None or not layer:
        return None
    kind = "dW" if start.split(".")[-1].startswith("W") else "db"
    timeline = Timeline(events)
    known = Intermediates(assignment, call)
    got = np.asarray(got, dtype=np.float64)
    want = call.expected.get(start)
    if want is None or compare(got, want, assignment.significant_figures).agree:
        return None  # it is right: nothing to point at
    matches = known.matches(got)
    if Match(kind, layer) in matches:  # the right numbers in another layout
        if got.ndim != 2 or got.shape != want.T.shape:
            return None
        matches = [Match(kind, layer, "transposed")]
    first = timeline.first_holding(got)
    if first is None:
        return None
    elsewhere = [  # a right gradient in another's place: another layer's, or dL/db for dL/dW
        m for m in matches
        if m.correct and m.what in ("dW", "db") and (m.what, m.layer) != (kind, layer)
    ]  # fmt: skip
    if elsewhere:
        return _misplaced(timeline, first, elsewhere[0], kind, layer, diagnoses, source)
    wrong = next(
        (m for m in matches if not m.correct and m.what == kind and m.layer == layer), None
    )
    wrong = wrong or next((m for m in matches if not m.correct), None)
    first = timeline.produced_by_helper(first) or first
    found = walk(timeline, known, first, wrong, source)
    if found is None or (found.wrong is None and not _sure(found)):
        return None
    activation = (
        known.activations[found.wrong.layer - 1] if found.wrong and found.wrong.layer else ""
    )
    words = sentence(
        found.statement.code, _shown(found), found.wrong, activation, diagnoses, found.across
    )
    return _location(
        timeline, found.event, found, words, found.wrong.layer if found.wrong else layer, source
    )


MODULES = {"np", "numpy", "torch", "math", "F", "nn", "self"}  # names that hold no data


def _sure(found: Found) -> bool:
    """A line whose value matches nothing is named only when everything it read is known to
    be right: a name the trace has no value of (a global, a value too big to record) might
    be the wrong one."""
    return bool(found.reads) and all(name in MODULES for name in found.unknown)


def _shown(found: Found) -> str:
    name = found.name
    return "the returned value" if name.startswith("return") else name


def _misplaced(
    timeline: Timeline,
    first: Event,
    match: Match,
    kind: str,
    layer: int,
    diagnoses: list[Diagnosis],
    source: Callable[[str], str | None],
) -> Location | None:
    """A right gradient in the wrong place: the line that put layer l's gradient at another
    layer's index, or the return that reordered them (reversed layers); the return that
    gave dL/db where dL/dW belongs (swapped). None when no such line is seen: the value
    itself is right, so no line that formed it is the mistake."""
    value = first.value
    assert value is not None
    holding = [
        e for e in timeline.events
        if e.value is not None and e.value.size == value.size
        and np.array_equal(e.value.ravel(), value.ravel())
    ]  # fmt: skip
    if match.what == kind:  # the first to hold it at another layer's index
        culprit = next(
            (e for e in holding if (m := _INDEX.search(e.name)) and int(m[1]) != match.layer - 1),
            None,
        )
    else:  # the return that handed it back in the other's slot of (dW, db)
        slot = f"return[{('dW', 'db').index(kind)}]"
        culprit = next((e for e in holding if e.name.startswith(slot)), None)
    if culprit is None:
        return None
    text = source(culprit.file)
    statement = statement_at(text, culprit.line) if text is not None else None
    if statement is None:
        return None
    name = "the returned value" if culprit.name.startswith("return") else culprit.name
    words = misplaced_sentence(statement.code, name, match, kind, diagnoses)
    found = Found(culprit, statement, culprit.name, match, [])
    return _location(timeline, culprit, found, words, layer, source)


def _location(
    timeline: Timeline,
    event: Event,
    found: Found,
    words: str,
    layer: int,
    source: Callable[[str], str | None],
) -> Location:
    statement = found.statement
    text = source(event.file) or ""
    first, lines = excerpt(text, statement.line, statement.end_line)
    which, runs = timeline.runs_of(event)
    cell = _CELL.match(event.file)
    return Location(
        file=cell["file"] if cell else event.file,
        cell=int(cell["cell"]) if cell else None,
        line=statement.line,
        end_line=statement.end_line if statement.end_line != statement.line else None,
        source=statement.code,
        sentence=words,
        layer=layer or None,
        iteration=which if runs > 1 else None,
        excerpt_start=first,
        excerpt=lines,
    )
