"""The sandbox's walls, tried from inside by a student's code (the probes_its_walls fixture)."""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import socket
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import classroom
import pytest

from grader import grading
from grader.assignment import load_assignment
from grader.sandbox import isolation, seccomp

pytestmark = pytest.mark.skipif(
    isolation.mode() == "none", reason="no sandbox here (not root, no bubblewrap)"
)


def torch_folder() -> str:
    spec = importlib.util.find_spec("torch")
    assert spec is not None and spec.origin is not None
    return spec.origin


@pytest.fixture(scope="module")
def listening() -> Iterator[socket.socket]:
    """A TCP port the grader's side listens on, on the loopback interface."""
    server = socket.create_server(("127.0.0.1", 0))
    yield server
    server.close()


# Every way of walling in that works here: as root the fork server's namespaces, and
# bubblewrap where installed (what a TA's laptop uses), forced in turn.
SANDBOXES = [
    name
    for name, works in (
        ("namespaces", isolation.mode() == "namespaces"),
        ("bubblewrap", isolation.bwrap_works()),
    )
    if works
]


@pytest.fixture(scope="module", params=SANDBOXES)
def walls(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    listening: socket.socket,
) -> dict[str, Any]:
    """What the probing student found, graded like any student in each sandbox."""
    folder = classroom.make_submission("probes_its_walls", tmp_path_factory.mktemp("class"))
    port = listening.getsockname()[1]
    grader = str(classroom.ROOT / "grader")
    (folder / "walls.json").write_text(json.dumps({"port": port, "grader": grader}))
    found, isolation_text = found_by(folder, request.param, "WALLS ")
    return found | {"sandbox": request.param, "isolation": isolation_text}


def found_by(folder: Path, sandbox: str, prefix: str) -> tuple[dict[str, Any], str]:
    """Grade the probing student in `sandbox` (full marks all the same): the JSON line it
    printed after `prefix`, and the isolation result.json names."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(isolation, "mode", lambda: sandbox)
        result = grading.grade_submission(folder, load_assignment("bs6207-a1"))
    assert result.score == result.max_score, [c.message for c in result.checks]
    line = next(line for line in result.output.splitlines() if line.startswith(prefix))
    return json.loads(line.removeprefix(prefix)), result.isolation


def test_only_system_python_and_the_submission_are_visible(walls: dict[str, Any]) -> None:
    """The file system holds the system's folders, Python's and /submission: not the grader."""
    system = {"bin", "dev", "etc", "lib", "lib32", "lib64", "proc", "sbin", "tmp", "usr"}
    python = {Path(folder).parts[1] for folder in (sys.prefix, sys.base_prefix, torch_folder())}
    inside = {"submission"} | ({"grade"} if walls["sandbox"] == "bubblewrap" else set())
    assert "submission" in walls["root"]
    assert set(walls["root"]) <= system | python | inside  # bubblewrap's /grade: child.py
    assert walls["grader_visible"] is False


def test_no_network_not_even_the_graders_loopback(walls: dict[str, Any]) -> None:
    """A port the grader listens on, on 127.0.0.1, cannot be reached from inside."""
    assert walls["connect_to_grader"] != "done"


def test_no_privileges_and_read_only_system(walls: dict[str, Any]) -> None:
    """No capabilities; /usr read-only; only its own copy of the submission is writable."""
    assert int(walls["capabilities"], 16) == 0
    assert walls["write_usr"] in {"OSError", "PermissionError"}
    assert walls["write_submission"] == "done"


def test_no_other_process_is_visible(walls: dict[str, Any]) -> None:
    """A PID namespace of its own: the grader, the zygote and classmates are not there (only
    the child that answers the grader, the worker the student's code runs in and, with
    bubblewrap, its init)."""
    assert len(walls["processes"]) <= (3 if walls["sandbox"] == "bubblewrap" else 2), walls[
        "processes"
    ]


def test_environment_is_the_small_fixed_one(walls: dict[str, Any]) -> None:
    """Nothing of the grader's environment leaks in."""
    assert set(walls["environment"]) <= set(isolation.environment()) | {"LC_CTYPE", "PWD"}


def test_runs_under_a_uid_of_its_own(walls: dict[str, Any]) -> None:
    """In the fork server's namespaces, not root and not a uid any other process has."""
    if walls["sandbox"] != "namespaces":
        pytest.skip("bubblewrap keeps the uid and drops every capability instead")
    assert walls["uid"] >= 100_000


def test_the_result_says_which_sandbox(walls: dict[str, Any]) -> None:
    """result.json and the report name the sandbox the student's code ran in."""
    assert walls["sandbox"] in walls["isolation"]


@pytest.fixture(scope="module", params=[*SANDBOXES, "none"])
def kernel(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Any]:
    """What came of each kernel call the probes_the_kernel student made, in each sandbox that
    works here and without one (its calls harm nothing even unwalled)."""
    folder = classroom.make_submission("probes_the_kernel", tmp_path_factory.mktemp("class"))
    found, isolation_text = found_by(folder, request.param, "KERNEL ")
    return found | {"isolation": isolation_text}


# What the seccomp filter answers each call the student tries: clone3 "no such call", so that
# glibc falls back to clone, whose flags the filter can read.
REFUSED = dict.fromkeys(
    (
        *("unshare_user", "clone_user", "clone_uts", "setns", "mount", "ptrace_traceme"),
        *("ptrace_attach", "process_vm_readv", "process_vm_writev", "bpf", "perf_event_open"),
        *("add_key", "keyctl", "userfaultfd", "io_uring_setup", "kexec_load", "init_module"),
        *("settimeofday", "personality_change", "x32_getpid", "i386_unshare_user"),
        *("execve", "execveat"),
    ),
    "EPERM",
) | {"clone3": "ENOSYS"}
ONLY_X86_64 = {"x32_getpid", "i386_unshare_user"}  # other ABIs of the same machine


@pytest.mark.skipif(seccomp.program() is None, reason="no seccomp filter on this architecture")
@pytest.mark.parametrize("call", REFUSED)
def test_kernel_calls_no_student_needs_are_refused(kernel: dict[str, str], call: str) -> None:
    """A nested user namespace, tracing or reading another process, bpf, perf, keys,
    userfaultfd, io_uring, kexec, modules, the clock, personality flags, the x32 and i386 ABIs,
    and in the worker a program started (execve, execveat: autograd in a fresh interpreter):
    refused by the seccomp filters, made straight through syscall() from the student's code."""
    if call in ONLY_X86_64 and os.uname().machine != "x86_64":
        pytest.skip("an ABI of x86_64 only")
    assert kernel[call] == REFUSED[call]


@pytest.mark.skipif(seccomp.program() is None, reason="no seccomp filter on this architecture")
def test_under_the_filter_threads_forks_and_ordinary_calls_work(kernel: dict[str, str]) -> None:
    """The filter is in force (Seccomp: 2) and result.json says so, yet threads (clone3
    refused, clone then used), forks, getpid and asking for the personality work, and the
    student gets full marks."""
    assert kernel["seccomp"] == "2"
    assert "seccomp filter" in kernel["isolation"]
    assert kernel["thread"] == kernel["fork"] == kernel["getpid"] == "done"
    assert kernel["personality_query"] == "done"


def test_without_a_sandbox_grading_still_works_and_says_so(tmp_path: Path) -> None:
    """Neither root nor bubblewrap: the fork server runs children unwalled, the grades are the
    same, and the result says the network was not isolated."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(isolation, "mode", lambda: "none")
        result = grading.grade_submission(
            classroom.EXAMPLES / "correct", load_assignment("bs6207-a1")
        )
    assert result.score == result.max_score, [c.message for c in result.checks]
    assert "network not isolated" in result.isolation


@pytest.mark.skipif(isolation.mode() == "bubblewrap", reason="bubblewrap needs no fork server")
def test_a_killed_fork_server_is_started_anew(tmp_path: Path) -> None:
    """If the zygote is killed between students, the next student is graded by a new one."""
    assignment = load_assignment("bs6207-a1")
    folder = classroom.make_submission("returns_none", tmp_path)
    server = isolation._fork_server()
    server._wait_ready()
    os.kill(server.process.pid, signal.SIGKILL)
    server.process.wait()
    result = grading.grade_submission(classroom.EXAMPLES / "correct", assignment)
    assert result.score == result.max_score
    assert isolation._fork_server().process.pid != server.process.pid
    assert grading.grade_submission(folder, assignment).score < result.max_score


@pytest.mark.skipif(isolation.mode() != "namespaces", reason="walls built by the fork server")
def test_a_sandbox_that_cannot_be_built_is_the_graders_failure_not_the_students(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """When the walls cannot be built (here: a read-only folder that does not exist), no
    student code ran: the message blames the grader and asks for the TA."""
    real_spec = isolation.spec

    def broken(work: Path, group: str, isolate: bool | None = None) -> dict[str, object]:
        built = real_spec(work, group, isolate)
        built["read_only"] = ["/nonexistent-grade-folder"]
        return built

    monkeypatch.setattr(isolation, "spec", broken)
    result = grading.grade_submission(classroom.EXAMPLES / "correct", load_assignment("bs6207-a1"))
    check = next(c for c in result.checks if c.id == "network-architecture")
    assert check.status == "error"
    assert "the grader's sandbox failed to start" in check.message
    assert "show this to your TA" in check.message
    assert "grade: the sandbox could not start" in result.output


@pytest.mark.parametrize("sandbox", SANDBOXES)
def test_answers_forged_through_frames_or_proc_reach_no_grader(
    sandbox: str, tmp_path: Path
) -> None:
    """In every sandbox, a network.py that writes forged answers to the channel it finds in
    the child's frames and to every descriptor of its parent it can open through /proc gets
    no point for the network it does not have: the process holding the grader's channel runs
    no student code and is out of its reach."""
    folder = classroom.make_submission("forges_network_answers_through_frames", tmp_path)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(isolation, "mode", lambda: sandbox)
        result = grading.grade_submission(folder, load_assignment("bs6207-a1"))
    checks = {check.id: check.status for check in result.checks}
    assert checks["network-architecture"] == checks["autograd-gradients"] == "error"
    assert result.score == 6


@pytest.mark.parametrize("sandbox", SANDBOXES)
def test_a_worker_killed_by_a_signal_is_reported_as_that_signal(
    sandbox: str, tmp_path: Path
) -> None:
    """In every sandbox, the student's code dying of a segfault in the worker is reported as
    that (the child holding the grader's channel ends the same way), and the network, run in a
    fresh child, is still graded."""
    folder = classroom.make_submission("segfault_in_backprop", tmp_path)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(isolation, "mode", lambda: sandbox)
        result = grading.grade_submission(folder, load_assignment("bs6207-a1"))
    checks = {check.id: check for check in result.checks}
    assert checks["backprop-gradients"].message.startswith(
        "could not run backprop: crashed with signal 11 (segmentation fault) while calling "
        "backprop() on data point 1"
    )
    assert checks["network-architecture"].status == checks["autograd-gradients"].status == "pass"
