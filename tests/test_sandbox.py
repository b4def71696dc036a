"""The sandbox's parts that need no student process: output capping, oversized folders,
reading the channel, and the seccomp filters of machines other than this one."""

from __future__ import annotations

import errno
import io
import os
import struct
import time
from pathlib import Path

import numpy as np
import pytest

from grader.assignment import Limits
from grader.sandbox import child, run, seccomp
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


def filtered(program: bytes, arch: int, number: int, first_argument: int = 0) -> int:
    """What a classic BPF seccomp program returns for one call: an interpreter of the four
    instructions the filter uses (load a word, jump if equal / at least / any bit, return)."""
    data = struct.pack("<iIQ6Q", number, arch, 0, first_argument, 0, 0, 0, 0, 0)
    instructions = [struct.unpack_from("=HBBI", program, at) for at in range(0, len(program), 8)]
    at, accumulator = 0, 0
    while True:
        code, if_true, if_false, k = instructions[at]
        if code == 0x06:
            return k
        if code == 0x20:
            accumulator = struct.unpack_from("<I", data, k)[0]
            at += 1
            continue
        test = {0x15: accumulator == k, 0x35: accumulator >= k, 0x45: accumulator & k != 0}
        at += 1 + (if_true if test[code] else if_false)


REFUSED, NO_SUCH_CALL = 0x00050000 | errno.EPERM, 0x00050000 | errno.ENOSYS
ALLOWED = 0x7FFF0000


@pytest.mark.parametrize("machine", ["x86_64", "aarch64"])
def test_each_machines_filter_refuses_what_it_should(machine: str) -> None:
    """Run by an interpreter (only one machine's filter can run here): every refused number is
    refused, clone3 is no such call, clone only with a namespace flag, personality but to ask
    or reset, every call through another ABI; read, write, mmap, futex, clone are allowed."""
    program = seccomp.program(machine)
    assert program is not None
    column = seccomp.MACHINES[machine]
    arch = seccomp.AUDIT_ARCH[column]
    for name, numbers in seccomp.REFUSED.items():
        if numbers[column] is not None:
            assert filtered(program, arch, numbers[column]) == REFUSED, name
    ordinary = {"x86_64": (0, 1, 9, 202, 39), "aarch64": (63, 64, 222, 98, 172)}[machine]
    for number in ordinary:  # read, write, mmap, futex, getpid
        assert filtered(program, arch, number) == ALLOWED, number
    assert filtered(program, arch, seccomp.CLONE3[column]) == NO_SUCH_CALL
    clone, personality = seccomp.CLONE[column], seccomp.PERSONALITY[column]
    assert filtered(program, arch, clone, 0x01200011) == ALLOWED  # what fork() passes
    assert filtered(program, arch, clone, 0x003D0F00) == ALLOWED  # what a thread passes
    assert filtered(program, arch, clone, 0x10000000 | 17) == REFUSED  # CLONE_NEWUSER
    assert filtered(program, arch, personality, 0xFFFFFFFF) == ALLOWED
    assert filtered(program, arch, personality, 0) == ALLOWED
    assert filtered(program, arch, personality, 0x0040000) == REFUSED  # ADDR_NO_RANDOMIZE
    assert filtered(program, 0x40000003, 20) == REFUSED  # through another ABI: i386's getpid
    if machine == "x86_64":
        assert filtered(program, arch, 0x40000000 | 39) == REFUSED  # x32's getpid


@pytest.mark.parametrize("machine", ["x86_64", "aarch64"])
def test_each_machines_worker_filter_refuses_starting_a_program(machine: str) -> None:
    """The worker's filter refuses execve and execveat, and every call through another ABI;
    read, write, mmap, futex, getpid, clone and clone3 are left to the first filter."""
    program = seccomp.no_programs(machine)
    assert program is not None
    column = seccomp.MACHINES[machine]
    arch = seccomp.AUDIT_ARCH[column]
    for name, numbers in seccomp.NO_PROGRAMS.items():
        assert filtered(program, arch, numbers[column]) == REFUSED, name
    ordinary = {"x86_64": (0, 1, 9, 202, 39, 56, 435), "aarch64": (63, 64, 222, 98, 172, 220, 435)}
    for number in ordinary[machine]:
        assert filtered(program, arch, number) == ALLOWED, number
    assert filtered(program, 0x40000003, 11) == REFUSED  # i386's execve
    if machine == "x86_64":
        assert filtered(program, arch, 0x40000000 | 520) == REFUSED  # x32's execve


def test_no_filter_where_the_numbers_are_unknown() -> None:
    """On a machine that is neither x86_64 nor aarch64 there is no filter to install."""
    assert seccomp.program("riscv64") is None
    assert seccomp.no_programs("riscv64") is None


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


def test_private_copies_a_killed_grader_left_are_removed(tmp_path: Path) -> None:
    """A private copy untouched for longer than any run (its grader was killed with -9) is
    removed, however deep; a recent one, in use by another grader, and other names are kept."""
    stale, recent, other = tmp_path / "grade-stale", tmp_path / "grade-recent", tmp_path / "mine"
    for folder in (stale, recent, other):
        (folder / "work" / "d").mkdir(parents=True)
    old = time.time() - run.STALE_SECONDS - 60
    for folder in (stale, other):
        os.utime(folder, (old, old))
    run._remove_stale_copies.__wrapped__(str(tmp_path))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["grade-recent", "mine"]
