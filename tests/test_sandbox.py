"""The sandbox's parts that need no student process: output capping, oversized folders and
reading packed arrays."""

from __future__ import annotations

import base64
import io
from pathlib import Path

import numpy as np
import pytest

from grader.assignment import Limits
from grader.sandbox import child
from grader.sandbox.run import STAGES, Output, _record, _unpacked, packed, run_student


def test_output_keeps_head_and_tail_and_marks_the_cut() -> None:
    """Past the cap, the first and last halves are kept and the cut is counted."""
    output = Output(cap=10)
    for chunk in (b"abc", b"defgh", b"ijklmnop", b"qrst"):
        output.add(chunk)
    assert output.text() == "abcde\n[... 10 bytes of output cut ...]\npqrst"
    assert output.total == 20


def test_output_under_the_cap_is_whole() -> None:
    """Output within the cap comes back unchanged."""
    output = Output(cap=100)
    output.add("héllo\n".encode())
    assert output.text() == "héllo\n"


def test_oversized_folder_is_refused_without_running(tmp_path: Path) -> None:
    """A folder over `submission_mib` is an answer for every stage, and nothing runs."""
    (tmp_path / "data.bin").write_bytes(b"\0" * (2 * 2**20))
    outcome = run_student(tmp_path, {"calls": []}, Limits(submission_mib=1))
    assert outcome.stages == {}
    assert outcome.failures == dict.fromkeys(STAGES, "the submission folder holds more than 1 MiB")


def test_packed_arrays_come_back_as_arrays_nan_and_inf_kept() -> None:
    """An answer's packed array is read as float64 with its shape; NaN and inf survive."""
    values = np.array([[1.5, np.nan], [-np.inf, 2e-300]])
    packed = {"f8": base64.b64encode(values.astype("<f8").tobytes()).decode(), "shape": [2, 2]}
    array = _unpacked(packed)
    assert isinstance(array, np.ndarray) and array.shape == (2, 2)
    np.testing.assert_array_equal(array, values)


@pytest.mark.parametrize(
    "packed",
    [
        {"f8": base64.b64encode(b"\0" * 8).decode(), "shape": [2]},  # too few bytes
        {"f8": "not base64!", "shape": [0]},
        {"f8": "", "shape": [-1]},
        {"f8": "", "shape": "[]"},
        {"f8": 1, "shape": []},
        {"f8": "", "shape": [], "extra": 1},
    ],
)
def test_a_packing_that_does_not_add_up_stays_as_it_came(packed: dict[str, object]) -> None:
    """A forged or broken packing is not an array: the checks then say it is not numbers."""
    assert _unpacked(packed) == packed


def test_a_string_orjson_refuses_still_crosses_the_pipe(monkeypatch: pytest.MonkeyPatch) -> None:
    """A lone surrogate (a student may name a class so) is escaped by the child and read back."""
    channel = io.BytesIO()
    monkeypatch.setattr(child.RUN, "channel", channel)
    child.RUN.send("network", {"doing": "calling \ud800"})
    answers: dict[str, dict[str, object]] = {}
    assert _record(channel.getvalue().rstrip(b"\n"), answers)
    assert answers["network"]["doing"] == "calling \ud800"


def test_a_line_nested_too_deep_is_ignored() -> None:
    """The student's code can write anything to its answer pipe; no line stops the grader."""
    answers: dict[str, dict[str, object]] = {}
    for depth in (900, 100_000):  # for our walk, then for either parser
        assert not _record(b"[" * depth + b"]" * depth, answers)
        nested = b"[" * depth + b'"x"' + b"]" * depth
        assert not _record(b'{"stage": "network", "doing": ' + nested + b"}", answers)
    assert answers == {}


def test_packed_round_trips_every_float64() -> None:
    """What the grader packs for a child reads back bit for bit, NaN, -0.0 and subnormals too."""
    values = np.array([[0.1, -0.0, np.nan], [5e-324, -np.inf, 1 / 3]])
    back = _unpacked(packed(values))
    assert back.shape == values.shape
    assert back.tobytes() == values.tobytes()
