"""The worker the student's code runs in: it holds nothing of the grader's channel, what it
sends is bounded data, and its death is its keeper's."""

from __future__ import annotations

import ctypes
import errno
import faulthandler
import importlib.util
import json
import os
import signal
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import grader.sandbox

spec = importlib.util.spec_from_file_location(
    "grade_worker", Path(grader.sandbox.__file__).with_name("worker.py")
)
assert spec is not None and spec.loader is not None
worker = importlib.util.module_from_spec(spec)
spec.loader.exec_module(worker)


LIMIT = 1 << 20  # bytes in a line


def run(work: Callable[[int], None]) -> tuple[list[dict[str, Any]], Any]:
    """Run `work(channel)` in a worker of this process, `channel` a pipe standing for the
    grader's; the worker's lines and the worker."""
    read_end, channel = os.pipe()
    try:
        started = worker.Worker(channel, lambda: work(channel), LIMIT)
        return list(started.lines()), started
    finally:
        os.close(read_end)
        os.close(channel)


def test_the_worker_holds_nothing_of_the_channel() -> None:
    """In the worker, the channel's descriptor number is the pipe back to its keeper, and
    stdin reads nothing."""

    def work(channel: int) -> None:
        line = {"stage": "s", "inode": os.fstat(channel).st_ino, "stdin": os.read(0, 10).hex()}
        os.write(channel, json.dumps(line).encode() + b"\n")

    read_end, channel = os.pipe()
    mine = os.fstat(channel).st_ino
    started = worker.Worker(channel, lambda: work(channel), LIMIT)
    lines = list(started.lines())
    os.close(read_end)
    os.close(channel)
    assert len(lines) == 1 and lines[0]["stdin"] == ""
    assert lines[0]["inode"] != mine
    assert started.ended_well()


def test_only_well_formed_lines_come_back() -> None:
    """Lines that are not JSON objects with a stage, or are nested too deep, are dropped."""

    def work(channel: int) -> None:
        for line in [b"[" * 100_000, b"not json", b'{"no": "stage"}', b'{"stage": "s", "a": 1}']:
            os.write(channel, line + b"\n")

    lines, _ = run(work)
    assert lines == [{"stage": "s", "a": 1}]


def test_a_line_over_the_limit_is_dropped_and_the_next_one_read() -> None:
    """A line longer than the limit (here 60 MB, written in pieces) is skipped as it comes, and
    the lines after it come back whole."""

    def work(channel: int) -> None:
        os.write(channel, b'{"stage": "s", "doing": "')
        for _ in range(1000):
            os.write(channel, b"x" * 60_000)
        os.write(channel, b'"}\n{"stage": "s", "after": 1}\n')

    lines, started = run(work)
    assert lines == [{"stage": "s", "after": 1}]
    assert started.ended_well()


@pytest.mark.parametrize(("how", "code"), [("segfault", -signal.SIGSEGV), ("exit 3", 3)])
def test_the_keeper_ends_as_its_worker_did(how: str, code: int) -> None:
    """A keeper (here a forked process, not pid 1) dies of the signal its worker died of, and
    exits with the code its worker exited with."""

    def work(channel: int) -> None:
        if how == "segfault":
            faulthandler.disable()  # pytest's: its dump is not the point here
            os.kill(os.getpid(), signal.SIGSEGV)
        os._exit(3)

    pid = os.fork()
    if pid == 0:
        _, started = run(work)
        started.end_like_it()
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == code


def test_the_worker_starts_no_program_and_its_keeper_still_can() -> None:
    """execve straight through libc in the worker: EPERM (its seccomp filter), the worker goes
    on; the keeper (this process) still starts programs."""

    def work(channel: int) -> None:
        libc = ctypes.CDLL(None, use_errno=True)
        argv = (ctypes.c_char_p * 2)(b"true", None)
        result = libc.execve(b"/bin/true", argv, None)
        line = {"stage": "s", "result": result, "errno": ctypes.get_errno()}
        os.write(channel, json.dumps(line).encode() + b"\n")

    lines, started = run(work)
    assert lines == [{"stage": "s", "result": -1, "errno": errno.EPERM}]
    assert started.ended_well()
    assert subprocess.run(["true"]).returncode == 0
