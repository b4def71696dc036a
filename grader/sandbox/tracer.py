"""A line tracer for the student's backprop: what each line of their own files stored.

`Tracer(folder).run(function, args)` calls `function(*args)` under sys.settrace and records,
for every frame whose code is a file of the submission (a module, or a notebook cell compiled
as `"<folder>/hw1.ipynb, cell 3"`), the numbers each line stored: after a line ran, the locals
that hold a new object or whose contents changed in place, items of local lists, tuples and
dicts (to depth 2), and attributes of `self` and their items. The parent matches these against
the reference's intermediates to name the line where the mistake is made (grader.locate).

The values are the student's objects, so reading them must not run the student's code: only
exact types are read (Python numbers, numpy arrays and scalars, torch tensors recognised by
their type's name, lists, tuples and dicts through their base class's own methods, `self`'s
`__dict__` through object.__getattribute__), and a value whose reading raises anyway is left
out. Bounds on events, numbers, lines and seconds make a pathological loop give up cleanly:
the trace is then empty and says why.

Loaded beside child.py inside the sandbox: standard library and numpy only, nothing of the
grader.
"""

from __future__ import annotations

import base64
import os
import sys
import time
import zlib
from collections.abc import Callable
from types import CodeType, FrameType
from typing import Any

import numpy as np

Json = dict[str, Any]
MAX_EVENTS = 10_000
MAX_FLOATS = 200_000  # in all the values recorded
MAX_LINES = 200_000  # line events of the student's frames
MAX_SECONDS = 2.0
MAX_VALUE = 100_000  # floats in one value; a larger one is not recorded
MAX_BYTES = 3 * 2**20  # of the answer, about: well under the channel's line limit (child.py)
MAX_ITEMS = 256  # read from one list, tuple or dict: a longer one's further items are not
MAX_NAME = 200  # characters of a name; a longer one (a long dict key) is not recorded
DEPTH = 2  # items of items: cache['z'][2], self.zs[2]
TENSOR_TYPES = {("torch", "Tensor"), ("torch.nn.parameter", "Parameter")}

# What a value is known by between two lines: its object's id and a fingerprint of its contents.
Seen = tuple[int, Any]


class _GaveUp(BaseException):
    """Raised into the student's code to stop it when a bound is reached: a BaseException, so
    that `except Exception` in their code lets it through."""


class Tracer:
    """Records what the lines of the files under `folder` stored while one function runs."""

    def __init__(self, folder: str) -> None:
        self.prefix = os.path.abspath(folder) + os.sep
        self.events: list[Json] = []
        self.gave_up: str | None = None
        self.floats = 0
        self.lines = 0
        self.size = 0
        self.deadline = 0.0
        self.frames: dict[FrameType, _Frame] = {}
        self.activations = 0
        self.files: dict[CodeType, str | None] = {}  # code → its file in the submission, or None

    def run(
        self, function: Callable[..., Any], args: tuple[Any, ...]
    ) -> tuple[Any, Any, list[Json], str | None]:
        """`function(*args)` traced: what it returned (None if it raised), the exception it
        raised (or None), the events, and why the trace gave up (None if it did not; then the
        events are [])."""
        returned, error = None, None
        self.deadline = time.monotonic() + MAX_SECONDS
        previous = sys.gettrace()
        sys.settrace(self._call)
        try:
            returned = function(*args)
        except _GaveUp:
            pass
        except BaseException as raised:  # SystemExit too: the student's, reported as data
            error = raised
        finally:
            sys.settrace(previous)
            self.frames.clear()
        if self.gave_up is not None:
            return None, error, [], self.gave_up
        return returned, error, self.events, None

    # --- sys.settrace's callbacks -------------------------------------------------------------

    def _call(self, frame: FrameType, event: str, arg: Any) -> Any:
        """The global trace function: a frame begins. Traced line by line if it is the
        student's."""
        if event != "call" or self.gave_up is not None:
            return None
        code = frame.f_code
        file = self.files.get(code, "")
        if file == "":
            name = code.co_filename
            file = name[len(self.prefix) :] if name.startswith(self.prefix) else None
            self.files[code] = file if file is None or len(file) <= MAX_NAME else None
        if file is None:
            return None
        try:
            self._begin(frame, file)
        except _GaveUp:
            raise
        except RecursionError:
            self._give_up("the student's code recursed too deep to trace")
        except Exception as error:  # a bug of the tracer's: the trace is lost, not the run
            self._give_up(f"the tracer failed ({type(error).__name__}: {str(error)[:100]})")
        return self._local

    def _local(self, frame: FrameType, event: str, arg: Any) -> Any:
        """The local trace function of a student's frame: a line is about to run, or the
        frame returns."""
        if self.gave_up is not None:
            return None
        try:
            if event == "line":
                self.lines += 1
                if self.lines > MAX_LINES:
                    self._give_up(f"the student's code ran more than {MAX_LINES:,} lines")
                if time.monotonic() > self.deadline:
                    self._give_up(f"tracing took more than {MAX_SECONDS:g} s")
                self._line(frame)
            elif event == "return":
                self._return(frame, arg)
        except _GaveUp:
            raise
        except RecursionError:
            self._give_up("the student's code recursed too deep to trace")
        except Exception as error:
            self._give_up(f"the tracer failed ({type(error).__name__}: {str(error)[:100]})")
        return self._local

    # --- what each event records --------------------------------------------------------------

    def _begin(self, frame: FrameType, file: str) -> None:
        self.activations += 1
        state = _Frame(self.activations, file, frame.f_code.co_firstlineno)
        self.frames[frame] = state
        self._add({"e": "call", "frame": state.number, "file": file, "line": state.line,
                   "function": frame.f_code.co_name[:MAX_NAME]})  # fmt: skip
        state.seen = self._changes(state, _locals(frame), {})

    def _line(self, frame: FrameType) -> None:
        state = self.frames.get(frame)
        if state is None:
            return
        state.seen = self._changes(state, _locals(frame), state.seen)
        state.line = frame.f_lineno

    def _return(self, frame: FrameType, value: Any) -> None:
        state = self.frames.pop(frame, None)
        if state is None:
            return
        self._changes(state, _locals(frame), state.seen)
        state.line = frame.f_lineno
        returned: dict[str, Any] = {}
        _flatten("return", value, 0, returned)
        for name, item in returned.items():
            packed = self._value(item)
            if packed is not None:
                event: Json = {"e": "return", "frame": state.number, "file": state.file,
                               "line": state.line}  # fmt: skip
                if name != "return":
                    event["name"] = name
                self._add(event | {"value": packed})

    def _changes(
        self, state: _Frame, names: dict[str, Any], seen: dict[str, Seen]
    ) -> dict[str, Seen]:
        """Send a `set` event for every name whose value is new or changed since `seen`; what
        is seen now."""
        now: dict[str, Seen] = {}
        for name, value in names.items():
            mark = _mark(value)
            if mark is None:
                continue
            now[name] = mark
            if seen.get(name) != mark:
                packed = self._value(value)
                if packed is not None:
                    self._add({"e": "set", "frame": state.number, "file": state.file,
                               "line": state.line, "name": name, "value": packed})  # fmt: skip
        return now

    def _value(self, value: Any) -> Json | None:
        """A value as the parent reads it (float64 bytes in base64, and its shape), counted
        against the bounds; None if it is too big or cannot be read."""
        array = _as_array(value)
        if array is None:
            return None
        self.floats += array.size
        if self.floats > MAX_FLOATS:
            self._give_up(f"the values recorded passed {MAX_FLOATS:,} numbers")
        data = base64.b64encode(np.ascontiguousarray(array, dtype="<f8").tobytes()).decode()
        return {"f8": data, "shape": list(array.shape)}

    def _add(self, event: Json) -> None:
        self.events.append(event)
        value = event.get("value")
        self.size += (
            120
            + len(event["file"])
            + len(event.get("name", ""))
            + (len(value["f8"]) if value else 0)
        )
        if len(self.events) > MAX_EVENTS:
            self._give_up(f"the trace passed {MAX_EVENTS:,} events")
        if self.size > MAX_BYTES:
            self._give_up(f"the trace passed {MAX_BYTES // 2**20} MiB")

    def _give_up(self, why: str) -> None:
        """Stop: the events go, the reason stays, and the student's code is stopped."""
        self.gave_up = why
        self.events = []
        sys.settrace(None)
        raise _GaveUp(why)


class _Frame:
    """What is known of one activation of a student's frame."""

    __slots__ = ("file", "line", "number", "seen")

    def __init__(self, number: int, file: str, line: int) -> None:
        self.number = number
        self.file = file
        self.line = line  # the line that last began; the def's at the call
        self.seen: dict[str, Seen] = {}


# --- reading the student's values without running their code ----------------------------------


def _locals(frame: FrameType) -> dict[str, Any]:
    """The frame's locals and `self`'s attributes, with their items to depth 2, by name:
    `delta`, `dW[3]`, `grads['W3']`, `cache['z'][2]`, `self.delta`, `self.zs[2]`."""
    names: dict[str, Any] = {}
    for name, value in dict.items(frame.f_locals):
        if type(name) is str:
            _flatten(name, value, 0, names)
    self = dict.get(frame.f_locals, "self")
    if self is not None:
        try:
            attributes = object.__getattribute__(self, "__dict__")
        except Exception:  # no __dict__ (slots), or a property that raises
            attributes = None
        if issubclass(type(attributes), dict):
            for name, value in list(dict.items(attributes))[:MAX_ITEMS]:
                if type(name) is str:
                    _flatten(f"self.{name}", value, 0, names)
    return names


def _flatten(name: str, value: Any, depth: int, into: dict[str, Any]) -> None:
    """`value` under `name` into `into`, and the items of a list, tuple or dict under
    `name[i]`, `name['key']`, to depth 2."""
    if len(name) > MAX_NAME:
        return
    kind = type(value)  # never isinstance: it asks the value its __class__, the student's code
    if issubclass(kind, list | tuple):
        if depth < DEPTH:
            items = list.__iter__(value) if issubclass(kind, list) else tuple.__iter__(value)
            for index, item in zip(range(MAX_ITEMS), items, strict=False):
                _flatten(f"{name}[{index}]", item, depth + 1, into)
        return
    if issubclass(kind, dict):
        if depth < DEPTH:
            for key, item in list(dict.items(value))[:MAX_ITEMS]:
                if type(key) is str or type(key) is int:
                    _flatten(f"{name}[{key!r}]", item, depth + 1, into)
        return
    into[name] = value


def _mark(value: Any) -> Seen | None:
    """What tells a value apart from what it was: its id and a fingerprint of its contents;
    None for what is not a number or cannot be read."""
    kind = type(value)
    if kind is float or kind is int or kind is bool:
        return id(value), value
    try:
        if issubclass(kind, np.ndarray):
            array = _plain(value)
            if array.size > MAX_VALUE or array.dtype.kind not in "biuf":
                return None
            return id(value), (array.shape, array.dtype.str, _checksum(array))
        if issubclass(kind, np.generic) and kind.__module__ == "numpy":
            return (id(value), value.item()) if value.dtype.kind in "biuf" else None
        if (kind.__module__, kind.__name__) in TENSOR_TYPES:
            if value.numel() > MAX_VALUE or value.is_complex():
                return None
            data = value.detach()
            return id(value), (value._version, data.data_ptr(), _checksum(_tensor_array(data)))
    except Exception:  # a value whose reading raises is not recorded
        return None
    return None


def _plain(array: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    """An array as a plain ndarray: a subclass's properties (`size`, `dtype`) are its code."""
    return array if type(array) is np.ndarray else np.ndarray.view(array, np.ndarray)


def _checksum(array: np.ndarray[Any, Any]) -> int:
    """A cheap fingerprint of an array's contents."""
    if not array.flags.c_contiguous:
        array = np.ascontiguousarray(array)
    return zlib.crc32(array.reshape(-1).view(np.uint8).data)


def _tensor_array(tensor: Any) -> np.ndarray[Any, Any]:
    """A detached CPU tensor's numbers as numpy, without importing torch."""
    tensor = tensor.cpu()
    try:
        return np.asarray(tensor.numpy())
    except (TypeError, RuntimeError):  # bfloat16, float16 on some builds
        return np.asarray(tensor.double().numpy())


def _as_array(value: Any) -> np.ndarray[Any, np.dtype[np.float64]] | None:
    """The value's numbers in float64 (a copy), or None if it is too big or cannot be read."""
    try:
        kind = type(value)
        if (kind.__module__, kind.__name__) in TENSOR_TYPES:
            array = _tensor_array(value.detach())
        elif issubclass(kind, np.ndarray):
            array = _plain(value)
        else:  # a Python or numpy number (_mark let nothing else through)
            array = np.asarray(value)
        if array.dtype.kind not in "biuf" or array.size > MAX_VALUE:
            return None
        return np.array(array, dtype=np.float64)
    except Exception:  # an int too big for a float among them
        return None
