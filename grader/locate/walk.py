"""The walk back from the first wrong output gradient to the line that formed it.

Start at the event that first held the student's wrong value; at its line, read what each
name it reads held just before it ran. An input that carries the same mistake (the same
scale, transpose, missing derivative) or matches nothing correct is followed to the line
that stored it, into a helper's frame when a helper returned it; when every input is a
correct intermediate (or an index, a constant, an argument), the line is the mistake. A line
that only renames a value right as something else (`delta = upstream`, upstream being dL/da)
is the mistake too: it put that value where another belonged.
"""

from __future__ import annotations

import ast
from collections.abc import Callable
from dataclasses import dataclass

from grader.locate.code import Read, Statement, statement_at
from grader.locate.events import Event, Timeline
from grader.locate.intermediates import Intermediates, Match

MAX_STEPS = 50


@dataclass(frozen=True)
class Found:
    """The line where the walk stopped, the value it formed there and what that matched."""

    event: Event
    statement: Statement
    name: str  # the name the line stored the wrong value in
    wrong: Match | None  # the wrong intermediate it matched, None if it matched none
    reads: list[tuple[str, Match]]  # what the line read, and the correct value each was
    across: tuple[int, int] | None = None  # the lines that built the value in place, if several
    unknown: tuple[str, ...] = ()  # names it read that the trace holds no value of


def walk(
    timeline: Timeline,
    known: Intermediates,
    start: Event,
    wrong: Match | None,
    source: Callable[[str], str | None],
) -> Found | None:
    """Follow the wrong value back from `start`; None when the trail is lost."""
    event = start
    for _ in range(MAX_STEPS):
        text = source(event.file)
        statement = statement_at(text, event.line) if text is not None else None
        if statement is None:
            return None
        inputs, unknown = _inputs(timeline, event, statement)
        suspect: tuple[int, Event, Match | None] | None = None
        correct: list[tuple[str, Match]] = []
        for name, value in inputs:
            if value.value is None:
                continue
            matches = known.matches(value.value)
            good = [m for m in matches if m.correct]
            carried = [  # the same mistake, unless the value is also right as that thing (zeros)
                m
                for m in matches
                if wrong is not None
                and m.variant == wrong.variant
                and Match(m.what, m.layer) not in matches
            ]
            match: Match | None
            # a value right as one thing (dL/da) that the line only renames into another's
            # place (`delta = upstream`): the renaming is the mistake, not the line before
            renamed = bool(good) and statement.renames
            if wrong is not None and not wrong.correct and carried and not renamed:
                rank, match = 0, carried[0]
            elif not good and not _neutral(timeline, value, known.lr):
                rank, match = 1, next(iter(matches), None)
            else:
                if good:
                    correct.append((name, good[0]))
                continue
            if suspect is None or rank < suspect[0]:
                suspect = (rank, value, match)
        in_place = statement.in_place == event.name
        if suspect is None or (in_place and suspect[0] == 1 and suspect[1].name == event.name):
            # the line is the mistake; a value built piece by piece (`g[i] = ...`, `g *= m`),
            # whose part before this line is no intermediate, is named where it was completed,
            # with the lines that built it
            across = _built(timeline, event, source) if in_place else None
            return Found(event, statement, event.name, wrong, correct, across, unknown)
        _, event, wrong = suspect
        event = timeline.produced_by_helper(event) or timeline.passed_in(event) or event
    return None


def _built(
    timeline: Timeline, event: Event, source: Callable[[str], str | None]
) -> tuple[int, int] | None:
    """The first and last lines of the statements that built `event`'s value in place, back
    to the statement that made it afresh."""
    lines = {event.line}
    text = source(event.file) or ""
    position = timeline.group_start(event)
    while True:
        before = timeline.latest(event.frame, event.name, position)
        if before is None or before.line == timeline.def_lines.get(event.frame):
            break
        lines.add(before.line)
        statement = statement_at(text, before.line)
        if statement is None or statement.in_place != event.name:
            break
        position = timeline.group_start(before)
    return (min(lines), max(lines)) if len(lines) > 1 else None


def _inputs(
    timeline: Timeline, event: Event, statement: Statement
) -> tuple[list[tuple[str, Event]], tuple[str, ...]]:
    """What each name the statement reads held just before its line ran (at `event`), and
    the names the trace has no value of (a module, a function, a global, a value too big)."""
    before = timeline.group_start(event)
    found: list[tuple[str, Event]] = []
    unknown: list[str] = []
    for read in statement.reads:
        index = _index(timeline, event.frame, before, read)
        if index is not None:
            item = timeline.latest(event.frame, f"{read.base}[{index}]", before)
            if item is not None:
                found.append((f"{read.base}[{index}]", item))
                continue
        whole = timeline.latest(event.frame, read.base, before)
        if whole is not None:
            found.append((read.base, whole))
        else:
            items = timeline.items_of(event.frame, read.base, before)
            found += [(e.name, e) for e in items]
            if not items:
                unknown.append(read.base)
    return found, tuple(unknown)


def _index(timeline: Timeline, frame: int, before: int, read: Read) -> str | None:
    """The subscript of a read as the trace names it (`3`, `'W3'`), when it can be known:
    a constant, a traced int, either plus or minus a constant, or a negative constant."""
    node = read.index
    if node is None:
        return None
    value = _int(timeline, frame, before, node)
    if value is not None:
        if value < 0:
            items = timeline.items_of(frame, read.base, before)
            value += len([e for e in items if e.name.count("[") == read.base.count("[") + 1])
        return str(value)
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return repr(node.value)
    return None


def _int(timeline: Timeline, frame: int, before: int, node: ast.expr) -> int | None:
    if isinstance(node, ast.Constant) and type(node.value) is int:
        return node.value
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        inner = _int(timeline, frame, before, node.operand)
        return -inner if inner is not None else None
    if isinstance(node, ast.Name):
        event = timeline.latest(frame, node.id, before)
        if event is not None and event.value is not None and event.value.size == 1:
            number = float(event.value.reshape(-1)[0])
            return int(number) if number.is_integer() else None
        return None
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add | ast.Sub):
        left = _int(timeline, frame, before, node.left)
        right = _int(timeline, frame, before, node.right)
        if left is None or right is None:
            return None
        return left + right if isinstance(node.op, ast.Add) else left - right
    return None


def _neutral(timeline: Timeline, event: Event, lr: float) -> bool:
    """A value that is no intermediate and no suspect: an integer (a counter, an index), a
    number passed as an argument or equal to the learning rate or ½. (An array of zeros is
    no exception: a mask that is never on makes one.)"""
    value = event.value
    assert value is not None
    if value.size == 1:
        number = float(value.reshape(-1)[0])
        return (
            number.is_integer()
            or number in (lr, 0.5)
            or timeline.def_lines.get(event.frame) == event.line
        )
    return False
