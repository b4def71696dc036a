"""Run a student's code outside the grader's process, walled in, with limits, and collect data.

Student code runs in one child process per student, its groups of stages in order: `backprop`
first (the backprop module's function on every call, autograd switched off), then `network`
(import and build the network, run autograd on it, walk its graph). Backprop goes first so
that no gradient autograd computed for the grader is lying in the process while the student's
own backprop runs. A child that dies (a crash, a timeout, the memory cap) takes only the group
it was in: the groups it never began run in a fresh child, on a fresh copy, so a student whose
backprop segfaults still has the network graded, as if each group had a process of its own.
When the gradients were wrong, the grader asks for one more group, `trace`, alone: backprop
on the first wrong call under a line tracer, to name the line of the mistake.

A child sends JSON lines: what it is doing before each step, then each stage's result. Every
line is hostile data with a size and a schema (answers.py): a line too long is dropped unread,
a malformed answer is noted, and the first valid answer of a stage stands; the children never
decide a grade. A watchdog kills a child that goes `call_seconds` without a sign of progress,
or whose stage runs past its ceiling however much progress it shows; the printed output is
drained as it comes and kept capped.
"""

from __future__ import annotations

import base64
import contextlib
import functools
import json
import math
import os
import re
import selectors
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from grader import files
from grader.assignment import Limits
from grader.sandbox import isolation
from grader.sandbox.answers import Malformed, validated
from grader.sandbox.forkserver import Forked, ForkServerError

GROUPS = {
    "backprop": ("backprop",),
    "network": ("network", "autograd", "graph"),
    "trace": ("trace",),
}
GRADING = ("backprop", "network")  # the groups of a grading run, in order; `trace` is asked apart
STAGES = {
    "notebook": "running the notebook's cells",
    "network": "importing, building and running the network",
    "autograd": "running autograd on the network",
    "graph": "walking the autograd graph of the loss",
    "backprop": "importing and running backprop",
    "trace": "tracing backprop line by line",
}
MEMORY_SLACK = 768 * 2**20  # what Python, numpy and torch take before the student's code runs
# Bytes in one line from the child, beyond twice the request's size (an answer's gradients are
# as big as the request's parameters): bs6207-a1's largest, 4 seeds' gradients, is 190 KB.
MAX_ANSWER = 4 * 2**20
MAX_FILES = 10_000
NOTEBOOK_GRACE = 5.0  # seconds past notebook_seconds before a notebook that goes on is killed


@dataclass
class Output:
    """Printed output, kept to a cap: the first and the last half, with the cut marked."""

    cap: int
    head: bytearray = field(default_factory=bytearray)
    tail: bytearray = field(default_factory=bytearray)
    total: int = 0

    def add(self, data: bytes) -> None:
        self.total += len(data)
        room = self.cap // 2 - len(self.head)
        if room > 0:
            self.head += data[:room]
            data = data[room:]
        self.tail += data
        del self.tail[: max(0, len(self.tail) - self.cap // 2)]

    def text(self) -> str:
        cut = self.total - len(self.head) - len(self.tail)
        middle = f"\n[... {cut:,} bytes of output cut ...]\n".encode() if cut else b""
        return bytes(self.head + middle + self.tail).decode("utf-8", errors="replace")


@dataclass(frozen=True)
class Outcome:
    """What the children sent for each stage, why a stage has none, and what they printed."""

    stages: dict[str, dict[str, Any]]
    failures: dict[str, str]
    output: str
    seconds: float
    left_out: dict[str, str] = field(default_factory=dict)  # path → kind: links, FIFOs...

    def failure(self, stage: str) -> str:
        """Why `stage` has no result, in words."""
        return self.failures.get(stage, "the student's code sent no answer")

    @classmethod
    def refused(cls, problem: str) -> Outcome:
        """No student code run, for `problem` (a folder too big, a notebook unreadable)."""
        return cls(stages={}, failures=dict.fromkeys(STAGES, problem), output="", seconds=0)


def run_student(
    folder: Path, request: dict[str, Any], limits: Limits, groups: Sequence[str] = GRADING
) -> Outcome:
    """Run the student's code of `folder`, group by group, on a private copy: the groups of
    grading, or `("trace",)` for the line trace of backprop on the request's one call (the
    first whose gradients were wrong), in a child of its own with the same walls and limits.
    A request with a notebook has each child run its cells first (stage `notebook`); a
    notebook that does not run to its end (a crash, its time limit) ends the run: no group is
    tried again."""
    start = time.monotonic()
    output = Output(cap=limits.output_kib * 1024)
    stages: dict[str, dict[str, Any]] = {}
    failures: dict[str, str] = {}
    left_out: dict[str, str] = {}
    problem = _too_big(folder, limits)
    if problem:
        return Outcome.refused(problem)
    _remove_stale_copies(isolation.scratch())
    tmp = tempfile.mkdtemp(prefix="grade-", dir=isolation.scratch())
    try:
        notebook = "notebook" in request
        requests = Path(tmp) / "request.json"
        requests.write_bytes(orjson.dumps({**request, "limits": limits.model_dump()}))
        pending = list(groups)
        while pending:
            work = Path(tmp) / pending[0]  # a fresh copy for each child
            left_out, problem = _private_copy(folder, work)
            if problem:
                failures |= dict.fromkeys(GROUPS[pending.pop(0)], problem)
                continue
            for group in list(pending):  # a module the copy left out (a link...) is not run
                unused = _not_used(request.get(group), left_out)
                if unused:
                    failures |= dict.fromkeys(GROUPS[group], unused)
                    pending.remove(group)
            if not pending:
                break
            answers, ending = _run_group(
                work, requests, pending, limits, output, len(request["calls"]), notebook
            )
            if notebook and "notebook" not in stages:
                answer = answers.get("notebook", {})
                if answer.get("ok") is not True:
                    failures["notebook"] = (
                        str(answer["error"])
                        if "ok" in answer
                        else _failure("notebook", answer, ending)
                    )
                    stopped = f"the notebook did not run to its end: {failures['notebook']}"
                    for group in pending:
                        failures |= dict.fromkeys(GROUPS[group], stopped)
                    break
                stages["notebook"] = answer
            began = [g for g in pending if any(name in answers for name in GROUPS[g])]
            ended = pending.index(began[-1]) + 1 if began else 1  # the groups this child took
            for group in pending[:ended]:
                for name in GROUPS[group]:
                    answer = answers.get(name, {})
                    if "ok" in answer:
                        stages[name] = answer
                    else:
                        failures[name] = _failure(name, answer, ending)
            del pending[:ended]
    finally:  # whatever the student's code made of its copies, however deep
        files.remove_tree(Path(tmp))
    seconds = time.monotonic() - start
    return Outcome(
        stages=stages, failures=failures, output=output.text(), seconds=seconds, left_out=left_out
    )


def _failure(stage: str, answer: dict[str, Any], ending: str) -> str:
    """Why `stage` has no answer, from what its child sent and how the child ended."""
    if "malformed" in answer:
        malformed = answer["malformed"]
        return f"the student's code sent a malformed {stage} answer ({malformed}); then {ending}"
    if "doing" in answer:  # a notebook's says which cell was running
        return f"{ending}{'; ' if stage == 'notebook' else ' while '}{answer['doing']}"
    return f"{ending} before {STAGES[stage]}"


STALE_SECONDS = 86_400  # a day: far longer than any student's run; such a copy's grader was killed


@functools.cache
def _remove_stale_copies(scratch: str | None) -> None:
    """Remove private copies left by graders killed (-9) mid-run; once per process. A copy in
    use is written to at least once per stage, so one untouched for a day is no one's."""
    now = time.time()
    for path in Path(scratch or tempfile.gettempdir()).glob("grade-*"):
        with contextlib.suppress(OSError):  # removed by another grader meanwhile, or not ours
            if (
                path.is_dir()
                and not path.is_symlink()
                and now - path.stat().st_mtime > STALE_SECONDS
            ):
                files.remove_tree(path)


def _too_big(folder: Path, limits: Limits) -> str | None:
    """Why the folder cannot be graded (too big, too deep, unreadable), or None; only regular
    files count (see grader.files)."""
    size, count, limit = 0, 0, limits.submission_mib * 2**20
    try:
        for entry in files.walk(folder):
            if entry.kind == "file":
                size, count = size + entry.stat.st_size, count + 1
            if size > limit:
                return f"the submission folder holds more than {limits.submission_mib} MiB"
            if count > MAX_FILES:
                return f"the submission folder holds more than {MAX_FILES:,} files"
    except files.SubmissionError as error:
        return str(error)
    return None


def _private_copy(folder: Path, work: Path) -> tuple[dict[str, str], str | None]:
    """Copy the submission's folders and regular files, leaving out caches, links, FIFOs and
    devices; what was left out (path → kind), and a problem in words if it cannot be copied."""
    try:
        return files.copy_tree(folder, work), None
    except files.SubmissionError as error:
        return {}, str(error)
    except OSError as error:
        return {}, f"the submission folder could not be copied ({error.strerror})"


def _not_used(stage: Any, left_out: dict[str, str]) -> str | None:
    """Why the module a group of stages imports was not in the private copy, if it was left
    out (a link, a FIFO...) or sits under a link that was."""
    if not isinstance(stage, dict) or not isinstance(stage.get("module"), str):
        return None
    module = stage["module"].replace(".", "/") + ".py"
    for path, kind in left_out.items():
        if module == path or module.startswith(path + "/"):
            return str(files.NotAFile.of(path, kind, done="used"))
    return None


def _run_group(
    work: Path,
    request: Path,
    groups: list[str],
    limits: Limits,
    output: Output,
    calls: int,
    notebook: bool = False,
) -> tuple[dict[str, dict[str, Any]], str]:
    """Run one child on `groups` (each makes `calls` calls), after the notebook's cells if
    there is one; its answers by stage, and how it ended if it ended badly. A fork server that
    died (killed from outside) is started anew, once; failing again, that is the ending."""
    stages = ["notebook"] * notebook + [stage for group in groups for stage in GROUPS[group]]
    names = ",".join(groups)
    try:
        return _run_child(work, request, names, limits, output, stages, calls)
    except ForkServerError:
        pass
    try:
        return _run_child(work, request, names, limits, output, stages, calls)
    except ForkServerError as error:
        return {}, f"the grader's sandbox failed to start ({error}); show this to your TA"


def _run_child(
    work: Path,
    request: Path,
    groups: str,
    limits: Limits,
    output: Output,
    stages: list[str],
    calls: int,
) -> tuple[dict[str, dict[str, Any]], str]:
    answers: dict[str, dict[str, Any]] = {}
    memory = limits.memory_mib * 2**20 + MEMORY_SLACK
    with isolation.child_cgroup(limits.processes, memory) as cgroup:
        read_end, write_end = os.pipe()
        try:
            with request.open("rb") as stdin:
                child = isolation.start(work, stdin, write_end, groups, cgroup)
        finally:
            os.close(write_end)
        try:
            limit = MAX_ANSWER + 2 * request.stat().st_size
            stopped = _watch(child, read_end, answers, limits, output, stages, calls, limit)
        finally:  # interrupted too (Ctrl-C, a worker told to stop): no child outlives this
            _stop(child, cgroup)
        failure = getattr(child, "failure", None)  # the fork server's, not the student's
        if failure:
            stopped = f"the grader's sandbox failed to start ({failure}); show this to your TA"
        elif not answers and not stopped:  # no student code runs before the child's first word
            stopped = (
                f"the grader's sandbox failed to start ({_ending(child.returncode, limits, None)}"
                "; its message is in the printed output); show this to your TA"
            )
        ending = stopped or _ending(child.returncode, limits, cgroup)
    return answers, ending


def _watch(
    child: subprocess.Popen[bytes] | Forked,
    channel: int,
    answers: dict[str, dict[str, Any]],
    limits: Limits,
    output: Output,
    stages: list[str],
    calls: int,
    limit: int = MAX_ANSWER,
) -> str | None:
    """Read answers and output until the child is done; why the watchdog stopped it, if it did.

    The clock restarts at every sign of progress, up to `call_seconds` per call; however much
    progress a stage shows, it stops at its own ceiling (`_Clock.periods` × `call_seconds` from
    its first word). Stages go forward only, in `stages`' order: progress for one already left
    behind is no progress.
    """
    assert child.stdout is not None
    selector = selectors.DefaultSelector()
    selector.register(channel, selectors.EVENT_READ, "channel")
    selector.register(child.stdout.fileno(), selectors.EVENT_READ, "output")
    lines = _Lines(limit)
    clock = _Clock(limits.call_seconds, calls, stages, limits.notebook_seconds)
    threads = 0  # the child's threads before the student's code ran
    try:
        while selector.get_map():
            now = time.monotonic()
            if now >= clock.deadline:
                return clock.ending() + _threads_started(child, threads)
            exited = child.poll() is not None  # then read what is there, and stop:
            events = selector.select(timeout=0 if exited else min(clock.deadline - now, 0.5))
            if exited and not events:  # processes it left behind may hold the pipes open
                break
            for key, _ in events:
                data = os.read(key.fd, 65536)
                if not data:
                    selector.unregister(key.fd)
                elif key.data == "output":
                    output.add(data)
                else:
                    for line in lines.feed(data):
                        stage = _record(line, answers, stages)
                        if stage and clock.progress(stage) and not threads:
                            threads = _threads(child)  # the child's first word
    finally:
        selector.close()
        os.close(channel)
    return None


@dataclass
class _Clock:
    """The watchdog's clock for one child running `stages` in order, each `call_seconds` per
    call: progress restarts it, up to the ceiling of the stage in progress. A notebook's cells
    share `notebook_seconds`, however long each takes: progress there only says which cell."""

    call_seconds: float
    calls: int
    stages: list[str]
    notebook_seconds: float = 60.0
    current: str | None = None
    ceiling: float = math.inf
    deadline: float = field(init=False)

    def __post_init__(self) -> None:
        self.deadline = time.monotonic() + self.call_seconds

    def progress(self, stage: str) -> bool:
        """A sign of progress in `stage`; False if it is no progress (a stage left behind)."""
        if self.current and self.stages.index(stage) < self.stages.index(self.current):
            return False
        now = time.monotonic()
        if stage != self.current:
            self.current, self.ceiling = stage, now + self.seconds(stage)
        restarted = self.ceiling if stage == "notebook" else now + self.call_seconds
        self.deadline = min(restarted, self.ceiling)
        return True

    def seconds(self, stage: str) -> float:
        """A stage's ceiling in seconds."""
        if stage == "notebook":  # the worker interrupts the cell then; this is for one that
            return self.notebook_seconds + NOTEBOOK_GRACE  # ignores the interruption
        return self.call_seconds * self.periods(stage)

    def periods(self, stage: str) -> int:
        """A stage's ceiling in `call_seconds`: one for each call it makes, and one more (to
        import the student's module and the like)."""
        return (self.calls if stage in {"backprop", "autograd"} else 1) + 1

    def ending(self) -> str:
        """Why the child was stopped at the deadline, in words."""
        if self.current == "notebook":
            return f"your notebook ran past {self.notebook_seconds:g} s (limits.notebook_seconds)"
        if self.current is None or self.deadline < self.ceiling:
            return f"timed out after {self.call_seconds:g} s"
        periods = self.periods(self.current)
        each = f"each of its {periods - 1} calls" if periods > 2 else "its one call"
        return (
            f"the {self.current} stage ran past its limit of {self.call_seconds * periods:g} s "
            f"({self.call_seconds:g} s for {each} and {self.call_seconds:g} s to start)"
        )


def _threads(child: subprocess.Popen[bytes] | Forked) -> int:
    """Threads of the child and every process under it (the worker the student's code runs
    in, and what that started) now; 0 if it cannot be told."""
    total, todo, seen = 0, [child.pid], set[int | None]()
    while todo and len(seen) < 4096:  # the cgroup's process cap is far lower
        pid = todo.pop()
        if pid is None or pid in seen:
            continue
        seen.add(pid)
        try:
            status = Path(f"/proc/{pid}/status").read_text()
            for task in Path(f"/proc/{pid}/task").iterdir():
                todo += [int(n) for n in (task / "children").read_text().split()]
        except (OSError, ValueError):
            continue
        total += next((int(line.split()[1]) for line in status.splitlines()
                       if line.startswith("Threads:")), 0)  # fmt: skip
    return total


def _threads_started(child: subprocess.Popen[bytes] | Forked, before: int) -> str:
    """` (40 threads the student's code started still running)`, or nothing."""
    now = _threads(child)
    if not before or now <= before:
        return ""
    started = now - before
    return f" ({started} thread{'s' * (started > 1)} the student's code started still running)"


@dataclass
class _Lines:
    """The channel's bytes cut into lines. A line longer than `limit` is dropped as it
    comes, never held whole: `feed` gives its first bytes, as `_Dropped`, once."""

    limit: int
    pending: bytearray = field(default_factory=bytearray)
    dropping: bool = False

    def feed(self, data: bytes) -> Iterator[bytes | _Dropped]:
        start = 0
        while True:
            end = data.find(b"\n", start)
            piece = data[start:] if end < 0 else data[start:end]
            if not self.dropping:
                self.pending += piece
                if len(self.pending) > self.limit:
                    yield _Dropped(bytes(self.pending[:100]), self.limit)
                    self.pending.clear()
                    self.dropping = True
            if end < 0:
                return
            if not self.dropping:
                yield bytes(self.pending)
            self.pending.clear()
            self.dropping = False
            start = end + 1


@dataclass(frozen=True)
class _Dropped:
    """A line over the limit: its first bytes, to tell whose answer it claimed to be."""

    head: bytes
    limit: int


_STAGE = re.compile(rb'\s*\{\s*"stage"\s*:\s*"(\w+)"')


def _record(
    line: bytes | _Dropped,
    answers: dict[str, dict[str, Any]],
    stages: Sequence[str] = tuple(STAGES),
) -> str | None:
    """Take one line for the child running `stages`: the stage it shows progress in, or None.

    A valid answer stands if it is the stage's first (answers.validated says what is valid); a
    malformed one, or one too long to read, is noted and the stage waits for a valid one.
    Lines that name no stage of this child are ignored, nested too deep for a parser included.
    """
    if isinstance(line, _Dropped):
        found = _STAGE.match(line.head)
        stage = found.group(1).decode() if found else ""
        if stage in stages and "ok" not in answers.setdefault(stage, {}):
            answers[stage].setdefault(
                "malformed", f"a line over {line.limit:,} bytes, dropped unread"
            )
        return None
    try:
        message = _loads(line)
    except (ValueError, RecursionError):
        return None
    stage = message.get("stage") if isinstance(message, dict) else None
    if not isinstance(stage, str) or stage not in stages:
        return None
    current = answers.setdefault(stage, {})
    if "ok" in current:
        return None  # the first answer of a stage stands
    try:
        body = validated(stage, message)
    except Malformed as problem:
        current.setdefault("malformed", str(problem))
        return None
    if "ok" in body:
        answers[stage] = body
    else:
        current["doing"] = body["doing"]
    return stage


def packed(array: np.ndarray[Any, Any]) -> dict[str, Any]:
    """An array as the children send theirs: float64 bytes in base64, and its shape."""
    data = np.ascontiguousarray(array, dtype="<f8").tobytes()
    return {"f8": base64.b64encode(data).decode("ascii"), "shape": list(array.shape)}


def _loads(line: bytes) -> Any:
    """A line of JSON: by orjson, or by the standard library where orjson refuses (an escaped
    lone surrogate, NaN), which the child's fallback writes."""
    try:
        return orjson.loads(line)
    except orjson.JSONDecodeError:
        return json.loads(line)


def _stop(child: subprocess.Popen[bytes] | Forked, cgroup: isolation.Cgroup | None) -> None:
    """Kill the child's whole process group (and its cgroup) and reap it."""
    if child.pid is not None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(child.pid, signal.SIGKILL)
    if cgroup:
        cgroup.kill_all()
    child.wait()
    if child.stdout:
        child.stdout.close()


def _ending(code: int | None, limits: Limits, cgroup: isolation.Cgroup | None) -> str:
    """How a child that stopped by itself ended, in words."""
    if cgroup is not None and cgroup.out_of_memory():
        return f"stopped: memory limit of {_mib(limits.memory_mib)} reached"
    if code is not None and code > 128:
        code = 128 - code  # a child whose student process was killed by signal N, being pid 1 of
        # its namespace (which cannot kill itself so) or bubblewrap's, exits with 128 + N
    if code is not None and code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = ""
        known = {"SIGSEGV": "segmentation fault", "SIGKILL": "killed", "SIGABRT": "aborted"}
        known |= {"SIGXFSZ": "wrote a file over the size limit", "SIGBUS": "bus error"}
        return f"crashed with signal {-code}" + (f" ({known[name]})" if name in known else "")
    if code == 0:
        return "the student's code ended the process early"
    return f"the student's code exited with code {code}"


def _mib(mib: int) -> str:
    return f"{mib / 1024:g} GiB" if mib % 1024 == 0 else f"{mib} MiB"
