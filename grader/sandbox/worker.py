"""The process the student's code runs in, apart from the one that answers the grader.

The child the grader starts (call it the keeper) never runs student code: it holds the answer
channel and the request. It forks a worker for the student's code, which swaps the channel for
a pipe back to the keeper (same descriptor number: nothing of the grader's stays open in it),
runs the student's code and writes its lines to that pipe. The keeper reads them, each line
bounded in size, and decides what reaches the grader: a line of the worker's is data, never an
answer taken on trust. The keeper is not dumpable, so the worker, though it runs under the same
uid, can neither trace it nor read its memory or descriptors through /proc.

When the worker dies, the keeper dies the same way (the same signal, or where it cannot, being
pid 1 of its namespace, exit code 128 + the signal; the same exit code otherwise), so that the
grader reports the death as it would the student's own process's.

The worker starts no program: before the student's code runs it stacks seccomp.py's
`no_programs` filter on its own (execve and execveat refused, EPERM), so that autograd in a
fresh interpreter is out of the student's reach whatever route they take; the keeper, which
runs none of their code, is left as it was.

Like child.py, this file imports nothing of the grader: it runs inside the sandbox; it loads
seccomp.py by path from beside itself, once, at import (in the fork server, before any walls).
"""

from __future__ import annotations

import contextlib
import ctypes
import importlib.util
import json
import os
import select
import signal
import sys
from collections.abc import Callable, Iterator
from typing import Any, NoReturn

import orjson

PR_SET_DUMPABLE, PR_SET_NO_NEW_PRIVS = 4, 38
_libc = ctypes.CDLL(None, use_errno=True)


def _load_seccomp() -> Any:
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "seccomp.py")
    spec = importlib.util.spec_from_file_location("grade_seccomp", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


seccomp = _load_seccomp()
seccomp.prepared(seccomp.no_programs)  # made here once: each worker only installs it


def keep_to_itself() -> None:
    """Make this process's memory and descriptors out of reach of its own uid's processes;
    OSError if it cannot (then it must not run student code beside the grader's channel)."""
    if _libc.prctl(PR_SET_DUMPABLE, ctypes.c_ulong(0), 0, 0, 0) != 0:
        error = ctypes.get_errno()
        raise OSError(error, f"prctl(PR_SET_DUMPABLE, 0): {os.strerror(error)}")


class Worker:
    """A forked process running `work` with `channel` (a descriptor) turned into a pipe back;
    its lines longer than `limit` bytes are dropped unread."""

    def __init__(self, channel: int, work: Callable[[], None], limit: int) -> None:
        read_end, write_end = os.pipe()
        pid = os.fork()
        if pid == 0:
            _run(channel, read_end, write_end, work)
        os.close(write_end)
        self.pid, self.fd, self.limit = pid, read_end, limit
        self.status: int | None = None

    def lines(self) -> Iterator[dict[str, Any]]:
        """Each well-formed line the worker sends (a JSON object with a string `stage`) until it
        ends; then it is reaped. A line over the limit is skipped as it comes, never held."""
        pending, dropping = bytearray(), False
        try:
            while True:
                ready, _, _ = select.select([self.fd], [], [], 0.5 if self.status is None else 0)
                if not ready:
                    if self.status is not None:
                        break  # ended, and what it sent is read: processes it left may hold on
                    pid, status = os.waitpid(self.pid, os.WNOHANG)
                    self.status = status if pid else None
                    continue
                data = os.read(self.fd, 65536)
                if not data:
                    break
                *complete, rest = data.split(b"\n")
                for piece in complete:
                    if not dropping:
                        message = _parsed(bytes(pending + piece))
                        if message is not None:
                            yield message
                    pending.clear()
                    dropping = False
                if not dropping:
                    pending += rest
                    if len(pending) > self.limit:
                        pending.clear()
                        dropping = True
        finally:
            os.close(self.fd)
            if self.status is None:
                self.status = os.waitpid(self.pid, 0)[1]

    def ended_well(self) -> bool:
        """Whether the worker exited by itself with code 0."""
        return self.status is not None and os.waitstatus_to_exitcode(self.status) == 0

    def end_like_it(self) -> NoReturn:
        """End this process the way the worker ended."""
        assert self.status is not None
        code = os.waitstatus_to_exitcode(self.status)
        _flush()
        if code < 0:
            with contextlib.suppress(OSError, ValueError):
                signal.signal(-code, signal.SIG_DFL)
                os.kill(os.getpid(), -code)  # ignored by pid 1 of a PID namespace: then
            code = 128 - code  # the shell's way, which bubblewrap uses too
        os._exit(code)


def _run(channel: int, read_end: int, write_end: int, work: Callable[[], None]) -> NoReturn:
    """The worker: the channel replaced by the pipe, stdin by nothing, no program to be
    started; `work`, then exit."""
    code = 0
    try:
        os.close(read_end)
        os.dup2(write_end, channel)  # the keeper's channel gone from this process
        os.close(write_end)
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.close(null)
        _libc.prctl(PR_SET_DUMPABLE, ctypes.c_ulong(1), 0, 0, 0)  # its own /proc as before
        _libc.prctl(PR_SET_NO_NEW_PRIVS, ctypes.c_ulong(1), 0, 0, 0)  # set already when walled
        seccomp.install(seccomp.no_programs)  # OSError: exit 70, no student code run
        work()
    except BaseException:  # the work reports the student's errors itself: this one is ours
        code = 70
    _flush()
    os._exit(code)  # no atexit handlers, no lingering threads of the student's: done


def _flush() -> None:
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()


def _parsed(line: bytes) -> dict[str, Any] | None:
    """A line as a JSON object with a string `stage`, or None."""
    try:
        message = orjson.loads(line)
    except orjson.JSONDecodeError:
        try:
            message = json.loads(line)  # an escaped lone surrogate, which orjson refuses
        except (ValueError, RecursionError):
            return None
    if not isinstance(message, dict) or not isinstance(message.get("stage"), str):
        return None
    return message
