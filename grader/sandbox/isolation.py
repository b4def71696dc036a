"""How a child process is started and walled in, using what this machine offers.

- As root where namespaces work (CI, a grading server, Docker with the right capabilities):
  the fork server (zygote.py) forks each child from a process that has imported torch, in new
  PID, mount, network, IPC and UTS namespaces, under a uid of its own without capabilities.
- Otherwise bubblewrap (`bwrap`), where installed and working: a fresh interpreter per child
  in the same namespaces (bubblewrap needs no root, but cannot start from a pre-loaded parent).
- Otherwise the fork server without namespaces: no network or file-system isolation.
In the first two, the file system is the system's directories and Python's, read-only, plus
the private copy of the submission at /submission and an empty /tmp. Other students' folders,
the reports, the grader and the reference do not exist in there; nor does the network.
- cgroup v1 `pids` and `memory` controllers, where writable (Linux, as root): a hard cap on
  processes and threads and on the memory of the whole process tree, and a way to kill every
  process the student started, even one that left its process group.
- Always: its own process and session, rlimits set by the child before student code runs
  (address space, file size, core dumps, open files, processes), a wall-clock watchdog.
"""

from __future__ import annotations

import contextlib
import functools
import importlib.util
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Literal

from grader.sandbox import seccomp
from grader.sandbox.forkserver import ZYGOTE, Forked, ForkServer

Mode = Literal["namespaces", "bubblewrap", "none"]
CHILD = Path(__file__).with_name("child.py")
# what child.py loads beside itself
BESIDE_CHILD = ("replay.py", "worker.py", "seccomp.py", "cells.py", "tracer.py")
CGROUPS = Path("/sys/fs/cgroup")
INSIDE = {"submission": "/submission", "child": "/grade/child.py"}
_SYSTEM = ("/usr", "/lib", "/lib64", "/lib32", "/bin", "/sbin", "/etc")


@functools.cache
def bwrap_works() -> bool:
    """Whether bubblewrap can make a sandbox here (installed, and namespaces allowed)."""
    if shutil.which("bwrap") is None:
        return False
    probe = ["bwrap", "--unshare-all", "--ro-bind", "/", "/", "--proc", "/proc", "true"]
    try:
        return subprocess.run(probe, capture_output=True, timeout=30).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


@functools.cache  # found once per process: about 0.3 ms a child otherwise
def _python_roots() -> tuple[str, ...]:
    """Folders the child's Python needs: the interpreter and where numpy and torch live."""
    roots = {sys.prefix, sys.base_prefix, sys.exec_prefix}
    for package in ("numpy", "torch"):
        spec = importlib.util.find_spec(package)
        if spec is not None and spec.origin:
            roots.add(str(Path(spec.origin).parent.parent))
    return tuple(sorted(roots))


@functools.cache
def _masked() -> tuple[str, ...]:
    """The grader's own packages, if installed inside a folder the child can see."""
    masked = []
    for package in ("grader", "reference"):
        spec = importlib.util.find_spec(package)
        if spec is not None and spec.origin:
            folder = Path(spec.origin).parent
            if any(folder.is_relative_to(root) for root in _python_roots()):
                masked.append(str(folder))
    return tuple(masked)


@functools.cache
def mode() -> Mode:
    """How children are walled in here: see the module's docstring."""
    if os.geteuid() == 0 and _namespaces_work():
        return "namespaces"
    return "bubblewrap" if bwrap_works() else "none"


def _namespaces_work() -> bool:
    """Whether the fork server can wall a child in here (tried once, on an empty folder)."""
    with tempfile.TemporaryDirectory(prefix="grade-probe-") as tmp:
        (Path(tmp) / "work").mkdir()
        probe = spec(Path(tmp) / "work", "probe", isolate=True)
        try:
            done = subprocess.run(
                [sys.executable, "-I", str(ZYGOTE), "--probe", json.dumps(probe)],
                env=environment(),
                capture_output=True,
                timeout=60,
            )
        except (OSError, subprocess.TimeoutExpired):
            return False
    return done.returncode == 0


@contextlib.contextmanager
def child_cgroup(processes: int, memory_bytes: int) -> Iterator[Cgroup | None]:
    """The group the next child runs in, capped; every process in it but the zygote is killed
    after. With the fork server, its zygote's group (the child is born in it); with
    bubblewrap, a group of the child's own."""
    if mode() == "bubblewrap":
        with Cgroup.create(processes, memory_bytes) as group:
            yield group
        return
    group = _fork_server().cgroup
    if group is not None and not group.limit(processes, memory_bytes):
        group = None
    try:
        yield group
    finally:
        if group is not None:
            group.kill_all()


def _fork_server() -> ForkServer:
    """This process's fork server, its zygote in a cgroup of its own where cgroups work."""
    server = ForkServer.shared(environment())
    if server.cgroup is None and not server.tried_cgroup:
        server.tried_cgroup = True
        group = Cgroup.make()
        if group is not None:
            group.spared = server.process.pid
            try:
                group.enter(server.process.pid)
            except OSError:
                group.remove()
            else:
                server.cgroup = group
            with contextlib.suppress(OSError):  # needs CAP_SYS_RESOURCE; the child is the
                # larger process at the memory cap anyway, so the killer picks it regardless
                Path(f"/proc/{server.process.pid}/oom_score_adj").write_text("-1000")
    return server


def start(
    work: Path, stdin: IO[bytes], channel: int, groups: str, cgroup: Cgroup | None
) -> subprocess.Popen[bytes] | Forked:
    """Start the child that runs `groups` (comma-separated, in order) on `work` (the private
    copy), as isolated as we can."""
    if mode() == "bubblewrap":
        syscall_filter = _holding(seccomp.program())  # for bubblewrap to install
        try:
            return subprocess.Popen(
                _bwrap_command(work, channel, groups, syscall_filter),
                cwd=work,
                stdin=stdin,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                pass_fds=(channel,) if syscall_filter is None else (channel, syscall_filter),
                env=environment(),
                start_new_session=True,
                preexec_fn=cgroup.enter if cgroup else None,
            )
        finally:
            if syscall_filter is not None:
                os.close(syscall_filter)
    return _fork_server().spawn(spec(work, groups), stdin, channel)


def prestart() -> None:
    """Start this process's fork server now (it imports torch while other work goes on)."""
    if mode() != "bubblewrap":
        _fork_server()


def stop_fork_server() -> None:
    """Stop this process's fork server, if it has one (before forking workers that need their
    own: one zygote less importing torch on the cores they grade on)."""
    ForkServer.discard()


def spec(work: Path, groups: str, isolate: bool | None = None) -> dict[str, object]:
    """What the fork server needs to wall in a child running `groups` on `work`."""
    root = work.with_name(work.name + "-root")  # an empty folder the new root is mounted on
    root.mkdir(exist_ok=True)
    return {
        "groups": groups,
        "work": str(work),
        "isolate": mode() == "namespaces" if isolate is None else isolate,
        "root": str(root),
        "inside": INSIDE["submission"],
        "read_only": [f for f in [*_SYSTEM, *_python_roots()] if os.path.exists(f)],
        "masked": list(_masked()),
    }


def scratch() -> str | None:
    """Where private copies go: memory (/dev/shm) when the walled child's writes there count
    against its cgroup's memory cap, which saves a disk file system's work on every copy and
    delete; else the system's temporary folder (None)."""
    shm = "/dev/shm"
    if mode() == "namespaces" and Cgroup.available() and _writable(Path(shm)):
        return shm
    return None


def _holding(data: bytes | None) -> int | None:
    """The reading end of a pipe that holds `data` and nothing more (None for None)."""
    if data is None:
        return None
    read, write = os.pipe()
    os.write(write, data)  # far less than a pipe holds
    os.close(write)
    return read


def _bwrap_command(work: Path, channel: int, groups: str, syscall_filter: int | None) -> list[str]:
    """The bubblewrap command line that runs child.py on `work`, under the seccomp program
    that file descriptor `syscall_filter` holds (if not None)."""
    python = [sys.executable, "-I"]
    # --cap-drop ALL: run as root, bubblewrap would otherwise leave the child every capability
    sandbox = ["bwrap", "--unshare-all", "--die-with-parent", "--new-session", "--cap-drop", "ALL"]
    if syscall_filter is not None:
        sandbox += ["--seccomp", str(syscall_filter)]
    # /tmp first: a Python installed under /tmp (a CI checkout) is bound on top of it
    sandbox += ["--tmpfs", "/tmp", "--proc", "/proc", "--dev", "/dev"]
    for folder in [*_SYSTEM, *_python_roots()]:
        if os.path.exists(folder):
            sandbox += ["--ro-bind", folder, folder]
    for folder in _masked():
        sandbox += ["--tmpfs", folder]
    sandbox += ["--bind", str(work), INSIDE["submission"], "--ro-bind", str(CHILD), INSIDE["child"]]
    for name in BESIDE_CHILD:
        sandbox += ["--ro-bind", str(CHILD.with_name(name)), f"/grade/{name}"]
    sandbox += ["--chdir", INSIDE["submission"]]
    return [*sandbox, *python, INSIDE["child"], str(channel), groups]


def description() -> str:
    """The isolation in force, in words, for result.json and the report."""
    parts = ["own process"]
    if mode() == "namespaces":
        parts.append(
            "namespaces of its own under its own uid (no network; only a private copy of the "
            "submission)"
        )
    elif mode() == "bubblewrap":
        parts.append("bubblewrap sandbox (no network; only a private copy of the submission)")
    else:
        parts.append(
            "private copy of the submission (not root, no bubblewrap: network not isolated)"
        )
    if seccomp.program() is not None:
        parts.append(
            "seccomp filter refusing namespaces, tracing and kernel calls no student needs"
        )
    if Cgroup.available():
        parts.append("cgroup limits on processes and memory")
    parts.append("rlimits and a wall-clock watchdog")
    return "; ".join(parts)


@dataclass
class Cgroup:
    """A cgroup v1 group in the `pids` and `memory` hierarchies.

    Moving a process into a group costs an RCU grace period (about 10 ms here), so the fork
    server's zygote joins one group once and each child is born in it; `spared` is then the
    zygote, never killed with the child, and never the out-of-memory killer's choice."""

    paths: list[Path]
    spared: int | None = None
    oom_kills: int = 0  # the kernel's count when the caps were last set

    @staticmethod
    def available() -> bool:
        return _writable(CGROUPS / "pids") and _writable(_memory_root())

    @classmethod
    def make(cls) -> Cgroup | None:
        """A new empty group, or None where cgroups cannot be used."""
        if not cls.available():
            return None
        _remove_stale_groups()
        name = f"grade-{uuid.uuid4().hex[:12]}"
        group = cls([CGROUPS / "pids" / name, _memory_root() / name])
        try:
            for path in group.paths:
                path.mkdir()
        except OSError:
            group.remove()
            return None
        return group

    @classmethod
    @contextlib.contextmanager
    def create(cls, processes: int, memory_bytes: int) -> Iterator[Cgroup | None]:
        """A group for one child (or None where cgroups cannot be used), removed after."""
        group = cls.make()
        if group is not None and not group.limit(processes, memory_bytes):
            group.remove()
            group = None
        try:
            yield group
        finally:
            if group is not None:
                group.remove()

    def limit(self, processes: int, memory_bytes: int) -> bool:
        """Set the caps for the next child and clear the memory failure count; False if not."""
        try:
            (self.paths[0] / "pids.max").write_text(str(processes + self._spared_tasks()))
            (self.paths[1] / "memory.limit_in_bytes").write_text(str(memory_bytes))
            with contextlib.suppress(OSError):  # no swap accounting on some kernels
                (self.paths[1] / "memory.memsw.limit_in_bytes").write_text(str(memory_bytes))
            (self.paths[1] / "memory.failcnt").write_text("0")
        except OSError:
            return False
        self.oom_kills = self._oom_kills()
        return True

    def enter(self, pid: int | None = None) -> None:
        """Move `pid` (default: the calling process) into the group."""
        for path in self.paths:
            (path / "cgroup.procs").write_text(str(os.getpid() if pid is None else pid))

    def kill_all(self) -> None:
        """SIGKILL every process still in the group, but the spared one."""
        for _ in range(50):
            pids = [int(p) for p in (self.paths[0] / "cgroup.procs").read_text().split()]
            pids = [pid for pid in pids if pid != self.spared]
            if not pids:
                return
            for pid in pids:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)

    def out_of_memory(self) -> bool:
        """Whether the child reached the memory cap: a charge refused, or a process killed for
        it (files the child wrote to a memory file system, /dev/shm, kill without the first)."""
        try:
            refused = int((self.paths[1] / "memory.failcnt").read_text()) > 0
        except (OSError, ValueError):
            refused = False
        return refused or self._oom_kills() > self.oom_kills

    def _oom_kills(self) -> int:
        """How many processes of the group the out-of-memory killer has killed, ever."""
        try:
            control = (self.paths[1] / "memory.oom_control").read_text()
        except OSError:
            return 0
        return next((int(line.split()[1]) for line in control.splitlines()
                     if line.startswith("oom_kill ")), 0)  # fmt: skip

    def remove(self) -> None:
        self.spared = None
        with contextlib.suppress(OSError):
            self.kill_all()
        for path in self.paths:
            with contextlib.suppress(OSError):
                path.rmdir()

    def _spared_tasks(self) -> int:
        """Threads of the spared process, which the pids cap counts too."""
        if self.spared is None:
            return 0
        try:
            status = Path(f"/proc/{self.spared}/status").read_text()
        except OSError:
            return 0
        return next((int(line.split()[1]) for line in status.splitlines()
                     if line.startswith("Threads:")), 1)  # fmt: skip


STALE_SECONDS = 3600  # far longer than any child may run: such a group's grader was killed


@functools.cache
def _remove_stale_groups() -> None:
    """Remove empty groups left by graders that were killed (-9) mid-run; once per process."""
    now = time.time()
    for hierarchy in (CGROUPS / "pids", _memory_root()):
        for path in hierarchy.glob("grade-*"):
            with contextlib.suppress(OSError):  # in use, or removed by another grader
                if now - path.stat().st_mtime > STALE_SECONDS:
                    path.rmdir()  # only an empty group can be removed


def _memory_root() -> Path:
    """Our own memory cgroup (children are made inside it, never beside it)."""
    try:
        for line in Path("/proc/self/cgroup").read_text().splitlines():
            _, controllers, path = line.split(":", 2)
            if "memory" in controllers.split(","):
                return CGROUPS / "memory" / path.lstrip("/")
    except OSError:
        pass
    return CGROUPS / "memory"


def _writable(path: Path) -> bool:
    return path.is_dir() and os.access(path, os.W_OK)


def environment() -> dict[str, str]:
    """A small, fixed environment: nothing of the grader's leaks in."""
    passed = ("PATH", "LANG", "OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")
    env = {k: os.environ[k] for k in passed if k in os.environ}
    env |= {"HOME": "/tmp", "PYTHONHASHSEED": "0", "PYTHONDONTWRITEBYTECODE": "1"}
    env |= {"PYTHONUNBUFFERED": "1"}  # what was printed before a crash is kept
    env |= {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
    return env
