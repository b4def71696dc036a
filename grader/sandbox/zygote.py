"""The fork server: one process that has imported torch, forking a walled-in child per run.

Run as `python -I zygote.py SOCKET_FD` by the grader (sandbox/forkserver.py), with the small
fixed environment children get. It imports numpy, torch and child.py once (about 2 s of CPU),
then for each request on SOCKET_FD forks a child, which is born in the zygote's cgroup (the
grader made it), becomes pid 1 of new PID, mount, network, IPC and UTS namespaces, gets a
fresh tmpfs as its root holding read-only binds of the system and Python folders, the private
copy of the submission at /submission, an empty /tmp and /proc, becomes a uid of its own (no
capabilities, no_new_privs), gets the seccomp filter (seccomp.py), and only then runs
child.main.

Like child.py, this file imports nothing of the grader, and the zygote never runs student
code: every child starts from the same pristine, pre-loaded state, holding no ground truth.
A request is one JSON message with four file descriptors (request on stdin, printed output,
answer channel, status pipe). The zygote writes `child PID` (the process group to kill) then
`exit CODE` to the status pipe: the grader reads it as it would a child's exit code.
"""

from __future__ import annotations

import contextlib
import ctypes
import importlib.util
import io
import json
import os
import selectors
import signal
import socket
import sys
from pathlib import Path
from typing import Any

CLONE_NEWNS, CLONE_NEWUTS, CLONE_NEWIPC = 0x00020000, 0x04000000, 0x08000000
CLONE_NEWPID, CLONE_NEWNET = 0x20000000, 0x40000000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 1, 2, 4, 8
MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE = 32, 4096, 16384, 1 << 18
MNT_DETACH = 2
PR_SET_PDEATHSIG, PR_SET_NO_NEW_PRIVS = 1, 38
MADV_HUGEPAGE, MADV_COLLAPSE = 14, 25
HUGE_PAGE = 2 * 2**20
SYS_PIVOT_ROOT = {"x86_64": 155, "aarch64": 41}
DEVICES = ("null", "zero", "random", "urandom")
FIRST_UID = 100_000  # a child runs as FIRST_UID + 512 × zygote pid + its number: none alike

_libc = ctypes.CDLL(None, use_errno=True)


def _load(name: str) -> Any:
    """A module of this folder (child.py, seccomp.py), loaded by path: none of the grader."""
    spec = importlib.util.spec_from_file_location(
        "grade_" + name.removesuffix(".py"), Path(__file__).with_name(name)
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


SECCOMP = _load("seccomp.py")  # its filter made here once, installed in each child
SECCOMP.prepared()


class IsolationError(OSError):
    """A namespace or mount call failed: this machine cannot wall children in this way."""


def _check(result: int, what: str) -> None:
    if result != 0:
        error = ctypes.get_errno()
        raise IsolationError(error, f"{what}: {os.strerror(error)}")


def _mount(source: str | None, target: str, kind: str | None, flags: int, data: str = "") -> None:
    _check(
        _libc.mount(
            source.encode() if source else None,
            target.encode(),
            kind.encode() if kind else None,
            ctypes.c_ulong(flags),
            data.encode() if data else None,
        ),
        f"mount {target}",
    )


def _bind(source: str, target: str, writable: bool = False) -> None:
    """Bind `source` at `target`, read-only unless `writable`; never setuid, never devices."""
    if os.path.isdir(source):
        os.makedirs(target, exist_ok=True)
    else:
        os.makedirs(os.path.dirname(target), exist_ok=True)
        open(target, "a").close()
    _mount(source, target, None, MS_BIND | MS_REC)
    flags = MS_REMOUNT | MS_BIND | MS_NOSUID | (0 if writable else MS_RDONLY)
    if not source.startswith("/dev/"):
        flags |= MS_NODEV
    _mount(None, target, None, flags)


def _prctl(option: int, value: int) -> None:
    _check(_libc.prctl(option, ctypes.c_ulong(value), 0, 0, 0), f"prctl {option}")


def build_root(spec: dict[str, Any]) -> None:
    """In a new mount namespace, make the tmpfs at spec['root'] the whole file system."""
    root = spec["root"]
    _mount(None, "/", None, MS_REC | MS_PRIVATE)  # nothing we do here reaches the host
    _mount("tmpfs", root, "tmpfs", MS_NOSUID | MS_NODEV, "size=1m,mode=755")
    os.makedirs(root + "/tmp")  # /tmp first: a Python under /tmp (a CI checkout) goes on top
    _mount("tmpfs", root + "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, "size=64m,mode=1777")
    for folder in spec["read_only"]:
        _bind(folder, root + folder)
    for folder in spec["masked"]:
        _mount("tmpfs", root + folder, "tmpfs", MS_NOSUID | MS_NODEV | MS_RDONLY, "size=4k")
    for device in DEVICES:
        _bind(f"/dev/{device}", f"{root}/dev/{device}", writable=True)
    _bind(spec["work"], root + spec["inside"], writable=True)
    os.makedirs(root + "/proc")
    os.chdir(root)
    number = SYS_PIVOT_ROOT.get(os.uname().machine)
    if number is None:
        raise IsolationError(0, f"pivot_root: unknown machine {os.uname().machine}")
    _check(_libc.syscall(number, b".", b"."), "pivot_root")  # the old root sits on top of "."
    _check(_libc.umount2(b".", MNT_DETACH), "umount the old root")
    os.chdir("/")
    _mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
    _mount(None, "/", None, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV)


def _drop_privileges(uid: int, folder: str) -> None:
    """Become `uid`, owner of `folder` (the submission), with no capabilities left. The walk
    keeps a stack of open folders, one per level, each name relative to its folder: no
    recursion, no long paths, no link followed (the copy holds none anyway)."""
    flags = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
    with contextlib.suppress(OSError):
        os.lchown(folder, uid, uid)
    todo: list[tuple[int, list[str]]] = []  # open folders, and their folders not yet visited
    at = os.open(folder, flags)
    while at >= 0:
        folders = []
        with os.scandir(at) as entries:
            for entry in entries:
                with contextlib.suppress(OSError):
                    os.chown(entry.name, uid, uid, dir_fd=at, follow_symlinks=False)
                    if entry.is_dir(follow_symlinks=False):
                        folders.append(entry.name)
        todo.append((at, folders))
        at = -1
        while todo and at < 0:  # the next folder to visit, closing those done
            parent, names = todo[-1]
            if not names:
                os.close(parent)
                todo.pop()
                continue
            with contextlib.suppress(OSError):
                at = os.open(names.pop(), flags, dir_fd=parent)
    os.setgroups([])
    os.setresgid(uid, uid, uid)
    os.setresuid(uid, uid, uid)


class Zygote:
    """Forks children and reports how each ended; never runs student code itself."""

    def __init__(self, child: Any) -> None:
        self.child = child  # child.py, loaded: what a forked child runs
        self.own_pids = os.open("/proc/self/ns/pid", os.O_RDONLY)
        self.running: dict[int, int] = {}  # pid → its status pipe
        self.count = 0

    def start(self, spec: dict[str, Any], fds: list[int]) -> None:
        """Fork a child for `spec` (fds: stdin, output, channel, status); report its pid."""
        stdin, output, channel, status = fds
        try:
            if spec["isolate"]:  # the next child is pid 1 of a PID namespace of its own
                _check(_libc.unshare(CLONE_NEWPID), "unshare")
            self.count += 1
            uid = FIRST_UID + os.getpid() * 512 + self.count % 512  # no two alike at once
            pid = os.fork()
            if pid == 0:
                _child(spec, stdin, output, channel, uid, self.child)
            if spec["isolate"]:  # back to the zygote's own: that namespace ends with the child
                _check(_libc.setns(self.own_pids, CLONE_NEWPID), "setns")
            os.write(status, f"child {pid}\n".encode())
            self.running[pid] = status
        except OSError as error:
            os.write(status, f"failed {error}\n".encode())
            os.close(status)
        finally:
            for fd in (stdin, output, channel):
                os.close(fd)

    def reap(self) -> None:
        """Report the exit status of every child that has ended."""
        while self.running:
            try:
                pid, wait_status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            status = self.running.pop(pid, None)
            if status is not None:
                with contextlib.suppress(OSError):  # the grader stopped listening
                    os.write(status, f"exit {os.waitstatus_to_exitcode(wait_status)}\n".encode())
                os.close(status)

    def serve(self, server: socket.socket) -> int:
        """Start a child per request until the grader closes the socket."""
        wake_read, wake_write = os.pipe()
        for fd in (wake_read, wake_write):
            os.set_blocking(fd, False)
        signal.set_wakeup_fd(wake_write)
        signal.signal(signal.SIGCHLD, lambda number, frame: None)  # wakes the select below
        selector = selectors.DefaultSelector()
        selector.register(server, selectors.EVENT_READ)
        selector.register(wake_read, selectors.EVENT_READ)
        server.sendall(b"ready\n")
        while True:
            for key, _ in selector.select():
                if key.fileobj is server:
                    message, fds, _, _ = socket.recv_fds(server, 1 << 20, 4)
                    if not message:
                        return 0
                    self.start(json.loads(message), fds)
                else:
                    with contextlib.suppress(BlockingIOError):
                        os.read(wake_read, 4096)
            self.reap()


def _child(
    spec: dict[str, Any], stdin: int, output: int, channel: int, uid: int, child: Any
) -> None:
    """The forked child: walled in, then the student's stages. Never returns."""
    code = 0
    try:
        _prctl(PR_SET_PDEATHSIG, signal.SIGKILL)  # the zygote gone, the child goes too
        os.setsid()  # a session and group of its own, for the grader to kill
        channel = os.dup(channel)  # above 0, 1 and 2, whatever they are
        os.dup2(stdin, 0)
        os.dup2(output, 1)
        os.dup2(output, 2)
        _close_all_but(0, 1, 2, channel)  # the zygote's socket above all: no more forks
        Path("/proc/self/oom_score_adj").write_text("0")  # the zygote's -1000 is not the child's
        if spec["isolate"]:
            _check(
                _libc.unshare(CLONE_NEWNS | CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWUTS), "unshare"
            )
            build_root(spec)
            os.chdir(spec["inside"])
            _drop_privileges(uid, spec["inside"])
        else:
            os.chdir(spec["work"])
        _prctl(PR_SET_NO_NEW_PRIVS, 1)
        SECCOMP.install()  # from here on, the kernel calls no student needs are refused
        if spec["groups"] == "probe":
            os._exit(0)
        sys.stdout = io.TextIOWrapper(io.FileIO(1, "w", closefd=False), write_through=True)
        sys.stderr = io.TextIOWrapper(io.FileIO(2, "w", closefd=False), write_through=True)
        sys.stdin = io.TextIOWrapper(io.FileIO(0, "r", closefd=False))
        signal.set_wakeup_fd(-1)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        code = child.main(["child.py", str(channel), spec["groups"]])
    except BaseException as error:  # the process ends here, whatever happened
        with contextlib.suppress(Exception):
            os.write(2, f"grade: the sandbox could not start: {error}\n".encode())
        code = 71
    os._exit(code)


def _close_all_but(*keep: int) -> None:
    """Close every file descriptor not in `keep`."""
    previous = -1
    for fd in sorted(keep):
        if fd > previous + 1:  # never an empty range: Python 3.11 turns it into "close all"
            os.closerange(previous + 1, fd)
        previous = fd
    os.closerange(previous + 1, 1 << 16)


def _preload() -> Any:
    """Import what every child uses, so that no child pays for it."""
    import difflib  # noqa: F401
    import inspect  # noqa: F401
    import traceback  # noqa: F401

    import numpy  # noqa: F401
    import orjson  # noqa: F401
    import torch
    import torch.autograd.functional
    import torch.func
    import torch.overrides

    torch.set_num_threads(1)
    child = _load("child.py")
    _huge_pages()
    return child


def _huge_pages() -> None:
    """Back the zygote's heap with 2 MiB pages where the kernel can (Linux 6.1 and later).

    A fork copies one page-table entry per 4 KiB page of private memory, and an exit frees
    them: after `import torch`, about 150 MiB, 5 ms of kernel time per child. With huge pages a
    fork copies one entry per 2 MiB; a child writing to one still copies only 4 KiB of it.
    Where the kernel cannot, nothing changes but the speed.
    """
    if not sys.platform.startswith("linux"):
        return
    with open("/proc/self/maps") as maps:
        regions = [line.split() for line in maps]
    for region in regions:
        if region[1][1::2] != "wp" or (len(region) > 5 and region[5] != "[heap]"):
            continue  # only private, writable, anonymous memory (and the brk heap)
        start, end = (int(address, 16) for address in region[0].split("-"))
        start = -(-start // HUGE_PAGE) * HUGE_PAGE
        end = end // HUGE_PAGE * HUGE_PAGE
        if end > start:
            _libc.madvise(ctypes.c_void_p(start), ctypes.c_size_t(end - start), MADV_HUGEPAGE)
            _libc.madvise(ctypes.c_void_p(start), ctypes.c_size_t(end - start), MADV_COLLAPSE)


def probe(spec: dict[str, Any]) -> int:
    """Wall a child in as for grading, and end it there: 0 if every step worked."""
    zygote = Zygote(child=None)
    status_read, status_write = os.pipe()
    zygote.start(spec, [os.open(os.devnull, os.O_RDONLY), os.dup(2), os.dup(2), status_write])
    os.close(status_read)
    if not zygote.running:
        return 1
    _, wait_status = os.waitpid(next(iter(zygote.running)), 0)
    return os.waitstatus_to_exitcode(wait_status)


def main(argv: list[str]) -> int:
    if argv[1] == "--probe":
        return probe(json.loads(argv[2]))
    server = socket.socket(fileno=int(argv[1]))
    _prctl(PR_SET_PDEATHSIG, signal.SIGKILL)  # the grader gone, the zygote goes too
    code = Zygote(_preload()).serve(server)
    os._exit(code)  # nothing to clean up: an orderly shutdown of torch takes most of a second


if __name__ == "__main__":
    sys.exit(main(sys.argv))
