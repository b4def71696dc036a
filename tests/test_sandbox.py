"""The sandbox's parts that need no student process: output capping and oversized folders."""

from __future__ import annotations

from pathlib import Path

from grader.assignment import Limits
from grader.sandbox import STAGES, Output, run_student


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
