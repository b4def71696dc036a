"""What each stage of the child may send: one schema per kind of message, checked on arrival.

The student's code runs in the child and can write anything to the channel, so every line is
hostile data. A message that does not fit its stage's schema is not an answer: the parent
notes it as malformed and waits for a valid one. What passes is well-formed for the checks:
strings cleaned (a lone surrogate escaped as text, so every report can encode it) and cut to a
length, lists capped, packed arrays ({"f8": base64 float64 bytes, "shape": [...]}) unpacked
into NumPy arrays whose size adds up. Keys the schemas do not name are dropped.
"""

from __future__ import annotations

import base64
import functools
import math
from typing import Annotated, Any, Literal, NotRequired

import numpy as np
from pydantic import AfterValidator, Discriminator, Field, Tag, TypeAdapter, ValidationError
from typing_extensions import TypedDict  # pydantic needs this one before Python 3.12

from grader.printable import printable

MAX_ITEMS = 10_000  # in any list: calls, trace events, graph nodes and edges
MAX_DIMS = 8
MAX_VALUE = 100_000  # floats in one traced value: tracer.py's MAX_VALUE
MAX_TRACED = 200_000  # floats in all the traced values: tracer.py's MAX_FLOATS


def clean(text: str, limit: int = 4000, keep: str = "\n\t") -> str:
    """`text` with lone surrogates and control characters but those in `keep` written out
    (`\\udc80`, `\\x1b`), cut to `limit` characters: what every report and terminal can show."""
    return printable(text, keep)[:limit]


Name = Annotated[str, AfterValidator(functools.partial(clean, limit=200, keep=""))]
Message = Annotated[str, AfterValidator(clean)]
Count = Annotated[int, Field(ge=0)]
Shape = Annotated[list[Count], Field(max_length=MAX_DIMS)]
Items = Field(max_length=MAX_ITEMS)


class Packed(TypedDict):
    f8: str
    shape: Shape


def _unpack(value: Packed) -> np.ndarray[Any, Any]:
    try:
        raw = base64.b64decode(value["f8"], validate=True)
    except ValueError:  # binascii.Error among them
        raise ValueError("an array's f8 is not base64") from None
    if len(raw) != 8 * math.prod(value["shape"]):
        raise ValueError(f"an array of shape {value['shape']} holds {len(raw)} bytes")
    return np.frombuffer(raw, dtype="<f8").reshape(value["shape"])


Array = Annotated[Packed, AfterValidator(_unpack)]


class Progress(TypedDict):
    doing: Name


class Failure(TypedDict):
    ok: Literal[False]
    error: Message


# One traced operation; a Linear layer's carries its sizes and parameter names.
TraceEvent = TypedDict(
    "TraceEvent",
    {
        "op": Name,
        "in": NotRequired[Count],
        "out": NotRequired[Count],
        "weight": NotRequired[Name],
        "bias": NotRequired[Name | None],
    },
)


def _linear_whole(event: TraceEvent) -> TraceEvent:
    if event["op"] == "linear" and not {"in", "out", "weight", "bias"} <= event.keys():
        raise ValueError("a linear event needs in, out, weight and bias")
    return event


# The architecture; "global" names a notebook's network taken from a global variable.
Network = TypedDict(
    "Network",
    {
        "ok": Literal[True],
        "trace": Annotated[list[Annotated[TraceEvent, AfterValidator(_linear_whole)]], Items],
        "output_shape": Shape,
        "global": NotRequired[Name],
    },
)


class Gradients(TypedDict):
    dW: Annotated[list[Array | None], Items]
    db: Annotated[list[Array | None], Items]


class CallError(TypedDict):
    error: Message
    autograd: NotRequired[bool]


# Each call's answer: the gradients, or why there are none.
CallAnswer = Annotated[
    Annotated[Gradients, Tag("gradients")] | Annotated[CallError, Tag("error")],
    Discriminator(
        lambda value: "error" if isinstance(value, dict) and "error" in value else "gradients"
    ),
]


class Autograd(TypedDict):
    ok: Literal[True]
    results: Annotated[list[CallAnswer], Items]


class Backprop(TypedDict):
    ok: Literal[True]
    results: Annotated[list[CallAnswer], Items]
    autograd_attempts: Annotated[list[Name], Items]
    module_file: NotRequired[Name]  # the file that ran as the backprop module ("" if unknown)
    # where the function called was defined: its file (or `hw1.ipynb, cell 3`) and first line
    function_file: NotRequired[Name]
    function_line: NotRequired[Count]


class Node(TypedDict):
    id: int
    type: Name
    parameter: NotRequired[Name]
    shape: NotRequired[Shape]


class Graph(TypedDict):
    ok: Literal[True]
    nodes: Annotated[list[Node], Items]
    edges: Annotated[list[Annotated[list[int], Field(min_length=2, max_length=2)]], Items]


class MissingImport(TypedDict):
    line: Count
    module: Name


class CellAnswer(TypedDict):
    cell: Count
    error: NotRequired[Message]
    line: NotRequired[Count]
    frames: NotRequired[Annotated[list[Name], Field(max_length=50)]]
    missing: NotRequired[Annotated[list[MissingImport], Items]]
    stopped: NotRequired[bool]  # the notebook's time ran out in this cell


class Written(TypedDict):
    file: Name
    text: Annotated[str, Field(max_length=2**20)]


class Notebook(TypedDict):
    ok: Literal[True]
    cells: Annotated[list[CellAnswer], Items]
    written: Annotated[list[Written], Field(max_length=2)]


def _traced(value: Packed) -> Packed:
    """A traced value no bigger than the tracer records (checked before it is decoded), whose
    bytes fit its shape. Kept packed, as the tracer gives it in-process (tracer.py): the
    locator reads one format of event, from either."""
    if math.prod(value["shape"]) > MAX_VALUE:
        raise ValueError(f"a traced value of shape {value['shape']} is over {MAX_VALUE:,} floats")
    _unpack(value)
    return value


TracedValue = Annotated[Packed, AfterValidator(_traced)]


class TraceCall(TypedDict):
    """A frame of the student's code began: its file (`hw1.ipynb, cell 3` for a cell) and
    the def's line."""

    e: Literal["call"]
    frame: Count
    file: Name
    line: Count
    function: Name


class TraceSet(TypedDict):
    """After `line` of `frame` ran, `name` held a new or changed value."""

    e: Literal["set"]
    frame: Count
    file: Name
    line: Count
    name: Name
    value: TracedValue


class TraceReturn(TypedDict):
    """The frame returned a value; `name` (`return[0][3]`) for an item of what it returned."""

    e: Literal["return"]
    frame: Count
    file: Name
    line: Count
    name: NotRequired[Name]
    value: TracedValue


TracedEvent = Annotated[
    Annotated[TraceCall, Tag("call")]
    | Annotated[TraceSet, Tag("set")]
    | Annotated[TraceReturn, Tag("return")],
    Discriminator(lambda value: value.get("e") if isinstance(value, dict) else None),
]


def _traced_floats(answer: dict[str, Any]) -> dict[str, Any]:
    """A trace whose values, unpacked, hold no more floats in all than the tracer records."""
    events = answer["events"]
    total = sum(math.prod(event["value"]["shape"]) for event in events if event["e"] != "call")
    if total > MAX_TRACED:
        raise ValueError(f"the traced values hold {total:,} floats, over {MAX_TRACED:,}")
    return answer


class Trace(TypedDict):
    """The line trace of backprop (tracer.py): events, or why it gave up (then none). Values
    stay packed ({"f8", "shape"}), as Tracer.run gives them."""

    ok: Literal[True]
    events: Annotated[list[TracedEvent], Items]
    gave_up: Name | None


ANSWERS: dict[str, TypeAdapter[Any]] = {
    "notebook": TypeAdapter(Notebook),
    "network": TypeAdapter(Network),
    "autograd": TypeAdapter(Autograd),
    "graph": TypeAdapter(Graph),
    "backprop": TypeAdapter(Backprop),
    "trace": TypeAdapter(Annotated[Trace, AfterValidator(_traced_floats)]),
}
PROGRESS: TypeAdapter[Progress] = TypeAdapter(Progress)
FAILURE: TypeAdapter[Failure] = TypeAdapter(Failure)


class Malformed(ValueError):
    """A message that does not fit its stage's schema; the text says where and how."""


def validated(stage: str, message: dict[str, Any]) -> dict[str, Any]:
    """`message` (one line from the child, for `stage`) as its schema makes it, without the
    stage's name: progress ({doing}), a failure ({ok: false, error}) or the stage's answer.
    Raises Malformed."""
    body = {key: value for key, value in message.items() if key != "stage"}
    if "ok" not in body:
        adapter: TypeAdapter[Any] = PROGRESS
    elif body["ok"] is True:
        adapter = ANSWERS[stage]
    elif body["ok"] is False:
        adapter = FAILURE
    else:
        raise Malformed("ok is neither true nor false")
    try:
        return dict(adapter.validate_python(body, strict=True))
    except ValidationError as error:
        raise Malformed(_first_problem(error)) from None


def _first_problem(error: ValidationError) -> str:
    """`trace.0: Input should be a valid dictionary (and 2 more problems)`; no input quoted."""
    problems = error.errors(include_url=False, include_context=False, include_input=False)
    first = problems[0]
    where = ".".join(str(part) for part in first["loc"])
    more = len(problems) - 1
    text = f"{where or 'the answer'}: {first['msg']}"
    return clean(text + (f" (and {more} more problem{'s' * (more > 1)})" if more else ""), 300)
