"""The seccomp filter: kernel calls a student's code has no use for are refused.

Every child gets it after its walls are built and `no_new_privs` is set, before student code
runs: the zygote installs it in each forked child (zygote.py), bubblewrap from the same program
(`bwrap --seccomp`). It binds the student's code, its threads and everything it starts, and
nothing can remove it. Refused, with EPERM:

- what a nested user namespace would give (root's powers inside it, and with them kernel code
  only root reached before): `unshare`, `setns`, `clone` with a namespace flag, and mounting;
- reading, writing or tracing another process (`ptrace`, `process_vm_readv`/`writev`, ...);
- the kernel's largest interfaces, where most of its exploitable bugs have been: bpf,
  perf_event_open, userfaultfd, io_uring, the key store;
- the machine's own business: kexec, modules, reboot, swap, the clock, the kernel log;
- `personality` but to ask for it or reset it; on x86_64 the x32 ABI, and on any machine every
  call made through another ABI (i386's `int 0x80`), whose numbers mean other calls.

`clone3` gets ENOSYS: its flags lie in memory, out of a filter's reach, and glibc then falls
back to `clone`, whose flags it can read. Only x86_64 and aarch64 have a filter (their numbers
are below); elsewhere `program()` is None and children run without one.

A second, smaller filter (`no_programs()`), stacked on the first in the worker only (worker.py),
refuses `execve` and `execveat` with EPERM: the student's code starts no program, so autograd
in a fresh interpreter is out of its reach, by whatever route (subprocess, os.exec*, ctypes).
The keeper, and bubblewrap's launch of Python, still exec.

Like child.py and zygote.py, this file imports nothing of the grader: the zygote loads it by path.
"""

from __future__ import annotations

import ctypes
import errno
import functools
import os
import struct
from collections.abc import Callable

MACHINES = {"x86_64": 0, "aarch64": 1}  # the column of each in the tables below
AUDIT_ARCH = (0xC000003E, 0xC00000B7)  # what the kernel says a call came through
X32_BIT = 0x40000000  # x86_64's x32 ABI: the same numbers, this bit set
CLONE, CLONE3, PERSONALITY = (56, 220), (435, 435), (135, 92)
CLONE_NAMESPACES = 0x7E020000  # CLONE_NEWNS, NEWCGROUP, NEWUTS, NEWIPC, NEWUSER, NEWPID, NEWNET
PERSONALITY_ALLOWED = (0, 0xFFFFFFFF)  # Linux's own, and the query

REFUSED = {  # name: (x86_64, aarch64), None where the machine has no such call
    # namespaces and mounts
    "unshare": (272, 97),
    "setns": (308, 268),
    "mount": (165, 40),
    "umount2": (166, 39),
    "pivot_root": (155, 41),
    "chroot": (161, 51),
    "open_tree": (428, 428),
    "move_mount": (429, 429),
    "fsopen": (430, 430),
    "fsconfig": (431, 431),
    "fsmount": (432, 432),
    "fspick": (433, 433),
    "mount_setattr": (442, 442),
    # other processes
    "ptrace": (101, 117),
    "process_vm_readv": (310, 270),
    "process_vm_writev": (311, 271),
    "kcmp": (312, 272),
    "pidfd_getfd": (438, 438),
    # the kernel's largest interfaces
    "bpf": (321, 280),
    "perf_event_open": (298, 241),
    "userfaultfd": (323, 282),
    "io_uring_setup": (425, 425),
    "io_uring_enter": (426, 426),
    "io_uring_register": (427, 427),
    "add_key": (248, 217),
    "request_key": (249, 218),
    "keyctl": (250, 219),
    # the machine
    "kexec_load": (246, 104),
    "kexec_file_load": (320, 294),
    "init_module": (175, 105),
    "finit_module": (313, 273),
    "delete_module": (176, 106),
    "reboot": (169, 142),
    "swapon": (167, 224),
    "swapoff": (168, 225),
    "acct": (163, 89),
    "quotactl": (179, 60),
    "syslog": (103, 116),
    "settimeofday": (164, 170),
    "clock_settime": (227, 112),
    "clock_adjtime": (305, 266),
    "open_by_handle_at": (304, 265),
    # x86's ports, segments and a.out libraries
    "iopl": (172, None),
    "ioperm": (173, None),
    "modify_ldt": (154, None),
    "uselib": (134, None),
}

NO_PROGRAMS = {"execve": (59, 221), "execveat": (322, 281)}  # refused in the worker

# Classic BPF over struct seccomp_data: nr at 0, arch at 4, args from 16 (low half first).
NR, ARCH, ARG0 = 0, 4, 16
LOAD, RETURN = 0x20, 0x06  # BPF_LD|BPF_W|BPF_ABS, BPF_RET|BPF_K
JEQ, JGE, JSET = 0x15, 0x35, 0x45  # BPF_JMP|BPF_K with each test
ALLOW, ERRNO = 0x7FFF0000, 0x00050000
PR_SET_SECCOMP, SECCOMP_MODE_FILTER = 22, 2

_libc = ctypes.CDLL(None, use_errno=True)

Line = tuple[int, int, int | str, int | str] | str  # (code, k, if true, if false), or a label


@functools.cache
def program(machine: str = os.uname().machine) -> bytes | None:
    """The filter for `machine` as bubblewrap and the kernel take it, or None (no filter)."""
    column = MACHINES.get(machine)
    if column is None:
        return None
    lines = _native_only(machine, column)
    lines += [
        (JEQ, CLONE3[column], "no such call", 0),
        (JEQ, CLONE[column], "clone", 0),
        (JEQ, PERSONALITY[column], "personality", 0),
    ]
    refused = [pair[column] for pair in REFUSED.values()]
    lines += [(JEQ, n, "refuse", 0) for n in sorted(n for n in refused if n is not None)]
    lines += [
        (RETURN, ALLOW, 0, 0),
        "clone",
        (LOAD, ARG0, 0, 0),
        (JSET, CLONE_NAMESPACES, "refuse", "allow"),
        "personality",
        (LOAD, ARG0, 0, 0),
        (JEQ, PERSONALITY_ALLOWED[0], "allow", 0),
        (JEQ, PERSONALITY_ALLOWED[1], "allow", "refuse"),
        "refuse",
        (RETURN, ERRNO | errno.EPERM, 0, 0),
        "no such call",
        (RETURN, ERRNO | errno.ENOSYS, 0, 0),
        "allow",
        (RETURN, ALLOW, 0, 0),
    ]
    return _assembled(lines)


@functools.cache
def no_programs(machine: str = os.uname().machine) -> bytes | None:
    """The worker's filter for `machine`, stacked on `program()`'s: no `execve`, no
    `execveat`; or None (no filter)."""
    column = MACHINES.get(machine)
    if column is None:
        return None
    lines = _native_only(machine, column)
    lines += [(JEQ, pair[column], "refuse", 0) for pair in NO_PROGRAMS.values()]
    lines += [(RETURN, ALLOW, 0, 0), "refuse", (RETURN, ERRNO | errno.EPERM, 0, 0)]
    return _assembled(lines)


def _native_only(machine: str, column: int) -> list[Line]:
    """A filter's first lines: a call through another ABI (or x32) jumps to "refuse"; then
    the call's number is loaded."""
    lines: list[Line] = [
        (LOAD, ARCH, 0, 0),
        (JEQ, AUDIT_ARCH[column], 0, "refuse"),
        (LOAD, NR, 0, 0),
    ]
    if machine == "x86_64":
        lines.append((JGE, X32_BIT, "refuse", 0))
    return lines


def _assembled(lines: list[Line]) -> bytes:
    """struct sock_filter[]: each jump to a label turned into how many lines it skips."""
    where: dict[str, int] = {}
    instructions: list[tuple[int, int, int | str, int | str]] = []
    for line in lines:
        if isinstance(line, str):
            where[line] = len(instructions)
        else:
            instructions.append(line)
    assembled = bytearray()
    for at, (code, k, if_true, if_false) in enumerate(instructions):
        jumps = [where[j] - at - 1 if isinstance(j, str) else j for j in (if_true, if_false)]
        assembled += struct.pack("=HBBI", code, *jumps, k)  # a jump over 255 lines: error
    return bytes(assembled)


class _Program(ctypes.Structure):  # struct sock_fprog
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


def prepared(
    made: Callable[[], bytes | None] = program,
) -> tuple[_Program, ctypes.Array[ctypes.c_char]] | None:
    """This machine's filter that `made` makes (`program`, `no_programs`) as the kernel takes
    it, with the memory it points to: made once, in the zygote before it forks, so that a
    child then installs the first in about 0.14 ms, not 0.27."""
    return _prepared(made)


@functools.cache
def _prepared(
    made: Callable[[], bytes | None],
) -> tuple[_Program, ctypes.Array[ctypes.c_char]] | None:
    filter_ = made()
    if filter_ is None:
        return None
    instructions = ctypes.create_string_buffer(filter_, len(filter_))
    return _Program(len(filter_) // 8, ctypes.addressof(instructions)), instructions


def install(made: Callable[[], bytes | None] = program) -> None:
    """Put this machine's filter that `made` makes (`program`, `no_programs`) on the calling
    thread (a forked child has no other) and all it starts, for good, on top of any it has;
    nothing where there is none. After `no_new_privs`, else OSError."""
    ready = prepared(made)
    if ready is None:
        return
    if _libc.prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.byref(ready[0]), 0, 0) != 0:
        error = ctypes.get_errno()
        raise OSError(error, f"seccomp: {os.strerror(error)}")
