"""The grader's side of the fork server (zygote.py): start it once, ask it for children.

`import torch` costs about 2 s of CPU; grading a student costs a few milliseconds. So each
grading process starts one zygote that has imported torch and forks a child per run, instead
of a fresh interpreter per run. A `Forked` child offers what the watchdog needs of a
`subprocess.Popen`: `stdout`, `pid` (its process group), `poll()`, `wait()`, `returncode`.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
from dataclasses import dataclass, field
from multiprocessing import util
from pathlib import Path
from typing import IO, Any

ZYGOTE = Path(__file__).with_name("zygote.py")


class ForkServerError(RuntimeError):
    """The zygote could not be started, or stopped answering."""


@dataclass
class Forked:
    """A child forked by the zygote, seen through the status pipe the zygote writes to."""

    status: int
    stdout: IO[bytes]
    returncode: int | None = None
    failure: str | None = None
    _pid: int | None = None
    _pending: bytes = b""
    _ended: bool = field(default=False)

    @property
    def pid(self) -> int | None:
        """The child's pid, which is also its process group (None until it is known)."""
        if self._pid is None:
            self._read(block=False)
        return self._pid

    def _read(self, block: bool) -> None:
        if self._ended:
            return
        os.set_blocking(self.status, block)
        while not self._ended:
            try:
                data = os.read(self.status, 4096)
            except BlockingIOError:
                return
            if not data:
                self._ended = True
                os.close(self.status)
                if self.returncode is None:
                    self.returncode = -signal.SIGKILL  # the zygote died without telling
                return
            self._pending += data
            *lines, self._pending = self._pending.split(b"\n")
            for line in lines:
                word, _, value = line.decode().partition(" ")
                if word == "child":
                    self._pid = int(value)
                elif word == "exit":
                    self.returncode = int(value)
                elif word == "failed":
                    self.failure = value

    def poll(self) -> int | None:
        self._read(block=False)
        return self.returncode

    def wait(self) -> int:
        self._read(block=True)
        assert self.returncode is not None
        return self.returncode


class ForkServer:
    """One zygote per grading process; started on first use, restarted if it died."""

    _lock = threading.Lock()
    _server: ForkServer | None = None

    def __init__(self, environment: dict[str, str]) -> None:
        self.owner = os.getpid()
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self.errors = tempfile.TemporaryFile()  # noqa: SIM115 (kept open for the zygote's life)
        self.process = subprocess.Popen(
            [sys.executable, "-I", str(ZYGOTE), str(theirs.fileno())],
            stdin=subprocess.DEVNULL,
            stdout=self.errors,
            stderr=self.errors,
            pass_fds=(theirs.fileno(),),
            env=environment,
            start_new_session=True,
        )
        theirs.close()
        self.socket = ours
        self.cgroup: Any = None  # the zygote's cgroup, set by isolation; removed in close()
        self.tried_cgroup = False
        self.ready = False  # it says so once torch is imported: see _wait_ready

    def _wait_ready(self) -> None:
        if self.ready:
            return
        if self.socket.recv(64) != b"ready\n":
            self.process.wait()
            self.errors.seek(0)
            said = self.errors.read().decode(errors="replace").strip().splitlines()
            raise ForkServerError(
                "the fork server did not start: " + (said[-1] if said else "no message")
            )
        self.ready = True

    @classmethod
    def shared(cls, environment: dict[str, str]) -> ForkServer:
        """This process's zygote (a worker forked from another grader process gets its own)."""
        with cls._lock:
            server = cls._server
            if server is None or server.owner != os.getpid() or server.process.poll() is not None:
                server = cls._server = cls(environment)
                util.Finalize(server, server.close, exitpriority=10)  # at exit, workers too
            return server

    @classmethod
    def discard(cls) -> None:
        """Close this process's zygote, if it started one; the next `shared` starts anew."""
        with cls._lock:
            server, cls._server = cls._server, None
        if server is not None and server.owner == os.getpid():
            server.process.kill()  # now: it may still be importing torch
            server.close()

    def spawn(self, spec: dict[str, Any], stdin: IO[bytes], channel: int) -> Forked:
        """Fork a child for `spec`, reading `stdin`, answering on `channel` (a pipe's end)."""
        self._wait_ready()
        output_read, output_write = os.pipe()
        status_read, status_write = os.pipe()
        try:
            fds = [stdin.fileno(), output_write, channel, status_write]
            socket.send_fds(self.socket, [json.dumps(spec).encode()], fds)
        except OSError as error:
            os.close(output_read)
            os.close(status_read)
            raise ForkServerError(f"the fork server stopped answering: {error}") from error
        finally:
            os.close(output_write)
            os.close(status_write)
        return Forked(status=status_read, stdout=os.fdopen(output_read, "rb", buffering=0))

    def close(self) -> None:
        """Stop the zygote (it exits when its socket closes) and remove its cgroup."""
        self.socket.close()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=5)
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        if self.cgroup is not None:
            self.cgroup.remove()
