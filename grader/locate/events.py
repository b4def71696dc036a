"""Reading the trace: the values the student's lines stored, decoded, in the order they ran.

The tracer (grader/sandbox/tracer.py) sends each value as float64 bytes in base64 with its
shape; here they become arrays again, and questions about the moment a line ran ("what did
`delta` hold just before line 20 ran the third time?") are answered from the list.
"""

from __future__ import annotations

import base64
import bisect
from dataclasses import dataclass
from typing import Any

import numpy as np

from reference import Array


@dataclass(frozen=True)
class Event:
    """One thing the trace saw: a frame began (`call`), a name was stored (`set`), or a frame
    returned a value (`return`, `name` like `return[0][3]` for an item of a returned tuple)."""

    index: int  # its position in the timeline
    kind: str
    frame: int
    file: str
    line: int
    name: str
    value: Array | None


def decode(value: Any) -> Array | None:
    """A packed value as an array; None if it is not one."""
    try:
        raw = base64.b64decode(value["f8"], validate=True)
        shape = [int(n) for n in value["shape"]]
        return np.frombuffer(raw, dtype="<f8").reshape(shape).astype(np.float64)
    except (KeyError, TypeError, ValueError):
        return None


class Timeline:
    """The events of one trace, with the lookups the walk needs."""

    def __init__(self, raw: list[dict[str, Any]]) -> None:
        self.events: list[Event] = []
        for item in raw:
            event = _event(len(self.events), item)
            if event is not None:
                self.events.append(event)
        self.def_lines = {e.frame: e.line for e in self.events if e.kind == "call"}
        self.sets: dict[tuple[int, str], list[int]] = {}  # (frame, name) → positions, in order
        for event in self.events:
            if event.kind == "set":
                self.sets.setdefault((event.frame, event.name), []).append(event.index)

    def first_holding(self, value: Array) -> Event | None:
        """The first event whose value is exactly `value` (any shape with the same numbers in
        order: a bias may come back as (n, 1) and be read as (n,))."""
        flat = value.ravel()
        for event in self.events:
            v = event.value
            if v is not None and v.size == flat.size and np.array_equal(v.ravel(), flat):
                return event
        return None

    def group_start(self, event: Event) -> int:
        """Where the events of the run of `event`'s line begin: what that line read was
        stored before this position."""
        position = event.index
        while position > 0:
            before = self.events[position - 1]
            if before.kind != "set" or before.frame != event.frame or before.line != event.line:
                break
            position -= 1
        return position

    def latest(self, frame: int, name: str, before: int) -> Event | None:
        """The last `set` of `name` in `frame` before position `before`."""
        positions = self.sets.get((frame, name), [])
        at = bisect.bisect_left(positions, before)
        return self.events[positions[at - 1]] if at else None

    def items_of(self, frame: int, base: str, before: int) -> list[Event]:
        """The last `set` of `base` and of each of its items (`base[3]`, `base['W']`) in
        `frame` before position `before`."""
        found = [
            self.latest(frame, name, before)
            for (f, name) in self.sets
            if f == frame and (name == base or name.startswith(base + "["))
        ]
        return sorted((e for e in found if e is not None), key=lambda e: e.index)

    def produced_by_helper(self, event: Event) -> Event | None:
        """The `return` of another frame that handed `event`'s value to its line, if the value
        was made by a helper the line called."""
        if event.value is None:
            return None
        start = self.group_start(event)
        for other in reversed(self.events[:start]):
            if other.frame == event.frame and other.kind == "set":
                break
            if (
                other.kind == "return"
                and other.frame != event.frame
                and other.value is not None
                and other.value.size == event.value.size
                and np.array_equal(other.value.ravel(), event.value.ravel())
            ):
                return other
        return None

    def passed_in(self, event: Event) -> Event | None:
        """For an argument (a `set` at its def line): the caller's stored value it came from."""
        if event.value is None or self.def_lines.get(event.frame) != event.line:
            return None
        for other in reversed(self.events[: event.index]):
            if (
                other.frame != event.frame
                and other.kind == "set"
                and other.value is not None
                and other.value.size == event.value.size
                and np.array_equal(other.value.ravel(), event.value.ravel())
            ):
                return other
        return None

    def runs_of(self, event: Event) -> tuple[int, int]:
        """Which run of its line `event` came from (from 1), and how many runs there were."""
        runs, which, previous = 0, 0, -2
        for position, other in enumerate(self.events):
            if other.file == event.file and other.line == event.line and other.kind != "call":
                if position != previous + 1 or other.frame != self.events[previous].frame:
                    runs += 1
                previous = position
                if other is event:
                    which = runs
        return which, runs


def _event(position: int, item: Any) -> Event | None:
    """One event of the trace as an Event; None if it is not one (the parent trusts nothing
    the child sent)."""
    if not isinstance(item, dict):
        return None
    try:
        kind = str(item.get("e", ""))
        return Event(
            index=position,
            kind=kind,
            frame=int(item.get("frame", 0)),
            file=str(item.get("file", "")),
            line=int(item.get("line", 0)),
            name=str(item.get("name", "return" if kind == "return" else "")),
            value=decode(item["value"]) if "value" in item else None,
        )
    except (TypeError, ValueError):
        return None
