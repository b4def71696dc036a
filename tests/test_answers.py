"""What the child may send, stage by stage: the schemas of sandbox/answers.py."""

from __future__ import annotations

import base64
from typing import Any

import numpy as np
import pytest

from grader.sandbox.answers import Malformed, validated
from grader.sandbox.run import packed


def test_packed_arrays_come_back_as_arrays_nan_and_inf_kept() -> None:
    """An answer's packed array is read as float64 with its shape; NaN and inf survive."""
    values = np.array([[1.5, np.nan], [-np.inf, 2e-300]])
    answer = validated(
        "autograd", {"ok": True, "results": [{"dW": [packed(values)], "db": [None]}]}
    )
    array = answer["results"][0]["dW"][0]
    assert isinstance(array, np.ndarray) and array.shape == (2, 2)
    np.testing.assert_array_equal(array, values)


@pytest.mark.parametrize(
    ("array", "problem"),
    [
        ({"f8": base64.b64encode(b"\0" * 8).decode(), "shape": [2]}, "holds 8 bytes"),
        ({"f8": "not base64!", "shape": [0]}, "is not base64"),
        ({"f8": "", "shape": [-1]}, "shape.0: Input should be greater than or equal to 0"),
        ({"f8": "", "shape": "[]"}, "shape: Input should be a valid list"),
        ({"f8": 1, "shape": []}, "f8: Input should be a valid string"),
        ({"f8": "", "shape": [True]}, "shape.0: Input should be a valid integer"),
    ],
)
def test_a_packing_that_does_not_add_up_is_a_malformed_answer(array: Any, problem: str) -> None:
    """A forged or broken packing is not an array: the answer holding it is malformed."""
    answer = {"ok": True, "results": [{"dW": [array], "db": []}], "autograd_attempts": []}
    with pytest.raises(Malformed, match=problem):
        validated("backprop", answer)


@pytest.mark.parametrize(
    ("stage", "message", "problem"),
    [
        ("graph", {"ok": True, "nodes": [{"type": "SumBackward0"}], "edges": []}, "nodes.0.id"),
        ("graph", {"ok": True, "nodes": [], "edges": [[0, 1, 2]]}, "edges.0: List should have"),
        ("network", {"ok": True, "trace": [1, 2, 3], "output_shape": [1]}, "trace.0: Input"),
        ("network", {"ok": True, "trace": [{"op": "linear"}], "output_shape": [1]}, "linear"),
        ("backprop", {"ok": True, "results": "all correct", "autograd_attempts": []}, "results"),
        ("autograd", {"ok": True, "results": [{"dW": 1, "db": []}]}, "results.0.gradients.dW"),
        ("autograd", {"ok": "yes", "results": []}, "ok is neither true nor false"),
        ("backprop", {"ok": False, "error": ["x"]}, "error: Input should be a valid string"),
        ("network", {"doing": 7}, "doing: Input should be a valid string"),
        ("network", {"ok": True, "trace": [{"op": "relu"}] * 20_000, "output_shape": [1]}, "10000"),
    ],
)
def test_a_message_that_does_not_fit_its_stage_is_malformed(
    stage: str, message: dict[str, Any], problem: str
) -> None:
    """Each stage's answer has a schema; what does not fit is refused, saying where."""
    with pytest.raises(Malformed, match=problem):
        validated(stage, message)


def test_strings_are_cleaned_at_the_boundary() -> None:
    """A lone surrogate (a student's exception message) is written out as text, every string is
    cut to a length, and keys no schema names are dropped."""
    failure = validated("backprop", {"ok": False, "error": "ValueError: \udc80" + "x" * 9000})
    assert failure["error"].startswith("ValueError: \\udc80x")
    assert len(failure["error"]) == 4000
    failure["error"].encode("utf-8")  # what the reports do
    progress = validated("network", {"doing": "calling \ud800", "sneaky": 1})
    assert progress == {"doing": "calling \\ud800"}


def test_control_characters_are_written_out_but_a_messages_lines_kept() -> None:
    """An exception message holding terminal escapes reaches the reports as text (`\\x1b`),
    its lines and tabs kept; a name or a progress line keeps no newline either."""
    failure = validated("backprop", {"ok": False, "error": "Error: \x1b]0;pwned\x07\n\tline 2"})
    assert failure["error"] == "Error: \\x1b]0;pwned\\x07\n\tline 2"
    progress = validated("backprop", {"doing": "calling\n[2:9] fake\x1b[2J"})
    assert progress == {"doing": "calling\\n[2:9] fake\\x1b[2J"}


def test_backprop_may_say_where_its_function_was_defined() -> None:
    """The place of the function the child called (file, first line) passes cleaned, like any
    name; a line that is not a count makes the answer malformed."""
    answer = {"ok": True, "results": [], "autograd_attempts": []}
    place = {"function_file": "hw1.ipynb, cell 3\x1b", "function_line": 4}
    found = validated("backprop", answer | place)
    assert (found["function_file"], found["function_line"]) == ("hw1.ipynb, cell 3\\x1b", 4)
    with pytest.raises(Malformed, match="function_line: Input should be greater than"):
        validated("backprop", answer | place | {"function_line": -1})


def _traced(shape: list[int], **event: Any) -> dict[str, Any]:
    value = packed(np.zeros(shape))
    return (
        {"e": "set", "frame": 1, "file": "backprop.py", "line": 3, "name": "delta"}
        | event
        | {"value": value}
    )


@pytest.mark.parametrize(
    ("events", "problem"),
    [
        pytest.param([_traced([3], e="sett")], "does not match any of the expected tags",
                     id="unknown-kind"),
        pytest.param([{"e": "call", "frame": 1, "file": "b.py", "line": 1}], "function",
                     id="call-without-function"),
        pytest.param([_traced([100_001])], "over 100,000 floats", id="value-too-big"),
        pytest.param([_traced([100_000])] * 3, "300,000 floats, over 200,000",
                     id="values-too-many"),
        pytest.param([_traced([1])] * 10_001, "10000", id="events-too-many"),
        pytest.param([_traced([2]) | {"value": {"f8": "", "shape": [2]}}], "holds 0 bytes",
                     id="value-forged"),
    ],
)  # fmt: skip
def test_a_trace_past_the_tracers_bounds_is_malformed(
    events: list[dict[str, Any]], problem: str
) -> None:
    """The trace answer holds no more than the tracer records: a hostile child cannot send
    more, or something else, through it."""
    with pytest.raises(Malformed, match=problem):
        validated("trace", {"ok": True, "events": events, "gave_up": None})


def test_a_trace_keeps_its_values_packed_and_cleans_its_names() -> None:
    """Values stay packed as Tracer.run gives them; names and files are cleaned strings."""
    event = _traced([2, 1], name="\ud800" * 300, file="\x1b[31mb.py")
    answer = validated("trace", {"ok": True, "events": [event], "gave_up": None})
    (back,) = answer["events"]
    assert back["value"] == packed(np.zeros((2, 1)))
    assert back["name"] == ("\\ud800" * 300)[:200]  # written out, cut to 200 characters
    assert back["file"] == "\\x1b[31mb.py"
