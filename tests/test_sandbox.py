"""The sandbox's parts that need no student process: output capping, oversized folders and
reading the channel."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest

from grader.assignment import Limits
from grader.sandbox import child
from grader.sandbox.answers import validated
from grader.sandbox.run import STAGES, Output, _Dropped, _Lines, _record, packed, run_student


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


def test_printed_bytes_that_are_not_utf8_come_back_encodable() -> None:
    """What the student's code printed (a lone surrogate encoded, a cut character) is decoded
    with replacements: the reports can always encode it."""
    output = Output(cap=100)
    output.add(b"\xed\xb2\x80 and \xe2\x82")
    assert output.text().encode("utf-8") == "\ufffd\ufffd\ufffd and \ufffd".encode()


def test_oversized_folder_is_refused_without_running(tmp_path: Path) -> None:
    """A folder over `submission_mib` is an answer for every stage, and nothing runs."""
    (tmp_path / "data.bin").write_bytes(b"\0" * (2 * 2**20))
    outcome = run_student(tmp_path, {"calls": []}, Limits(submission_mib=1))
    assert outcome.stages == {}
    assert outcome.failures == dict.fromkeys(STAGES, "the submission folder holds more than 1 MiB")


def test_a_string_orjson_refuses_still_crosses_the_pipe(monkeypatch: pytest.MonkeyPatch) -> None:
    """A lone surrogate (a student may name a class so) is escaped by the child, read back, and
    written out as text (a report can encode it)."""
    channel = io.BytesIO()
    monkeypatch.setattr(child.RUN, "channel", channel)
    child.RUN.send("network", {"doing": "calling \ud800"})
    answers: dict[str, dict[str, object]] = {}
    assert _record(channel.getvalue().rstrip(b"\n"), answers)
    assert answers["network"]["doing"] == "calling \\ud800"


def test_a_line_nested_too_deep_is_ignored() -> None:
    """The student's code can write anything to its answer pipe; no line stops the grader."""
    answers: dict[str, dict[str, object]] = {}
    for depth in (900, 100_000):  # for our walk, then for either parser
        assert not _record(b"[" * depth + b"]" * depth, answers)
        nested = b"[" * depth + b'"x"' + b"]" * depth
        assert not _record(b'{"stage": "network", "doing": ' + nested + b"}", answers)
    assert "doing" not in answers.get("network", {})


def test_packed_round_trips_every_float64() -> None:
    """What the grader packs for a child reads back bit for bit, NaN, -0.0 and subnormals too."""
    values = np.array([[0.1, -0.0, np.nan], [5e-324, -np.inf, 1 / 3]])
    answer = {"ok": True, "results": [{"dW": [packed(values)], "db": []}], "autograd_attempts": []}
    back = validated("backprop", answer)["results"][0]["dW"][0]
    assert back.shape == values.shape
    assert back.tobytes() == values.tobytes()


def test_a_line_over_the_limit_is_dropped_without_being_held() -> None:
    """A line longer than the limit is dropped as it comes (never more than the limit of it is
    held), noted as a malformed answer of the stage it claims, and the next line reads whole."""
    lines = _Lines(limit=1000)
    got = list(lines.feed(b'{"stage": "graph", "ok": true, "nodes": [' + b"1, " * 100))
    for _ in range(1000):
        got += lines.feed(b"1, " * 100)
        assert len(lines.pending) <= 1000
    got += lines.feed(b'1]}\n{"stage": "graph", "doing": "walking"}\n')
    assert [type(line) for line in got] == [_Dropped, bytes]
    answers: dict[str, dict[str, object]] = {}
    assert _record(got[0], answers) is None
    assert answers["graph"] == {"malformed": "a line over 1,000 bytes, dropped unread"}
    assert _record(got[1], answers) == "graph"
    assert answers["graph"]["doing"] == "walking"
