"""Run a student's code outside the grader's process, walled in, with limits, and collect data.

Student code runs in one child process per student, its groups of stages in order: `backprop`
first (the backprop module's function on every call, autograd switched off), then `network`
(import and build the network, run autograd on it, walk its graph). Backprop goes first so
that no gradient autograd computed for the grader is lying in the process while the student's
own backprop runs. A child that dies (a crash, a timeout, the memory cap) takes only the group
it was in: the groups it never began run in a fresh child, on a fresh copy, so a student whose
backprop segfaults still has the network graded, as if each group had a process of its own.

A child sends JSON lines: what it is doing before each step, then each stage's result; the
first result of a stage stands. Everything that comes back is data to validate: the children
never decide a grade. A watchdog kills a child that goes `call_seconds` without a sign of
progress; the printed output is drained as it comes and kept capped.
"""

from __future__ import annotations

import base64
import contextlib
import json
import math
import os
import selectors
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from grader import files
from grader.assignment import Limits
from grader.sandbox import isolation
from grader.sandbox.forkserver import Forked, ForkServerError

GROUPS = {"backprop": ("backprop",), "network": ("network", "autograd", "graph")}  # in order
STAGES = {
    "network": "importing, building and running the network",
    "autograd": "running autograd on the network",
    "graph": "walking the autograd graph of the loss",
    "backprop": "importing and running backprop",
}
MEMORY_SLACK = 768 * 2**20  # what Python, numpy and torch take before the student's code runs
MAX_ANSWER = 64 * 2**20  # bytes in one answer line: far above any real answer
MAX_FILES = 10_000


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


def run_student(folder: Path, request: dict[str, Any], limits: Limits) -> Outcome:
    """Run the student's code of `folder`, group by group, on a private copy."""
    start = time.monotonic()
    output = Output(cap=limits.output_kib * 1024)
    stages: dict[str, dict[str, Any]] = {}
    failures: dict[str, str] = {}
    left_out: dict[str, str] = {}
    problem = _too_big(folder, limits)
    if problem:
        return Outcome(stages={}, failures=dict.fromkeys(STAGES, problem), output="", seconds=0)
    tmp = tempfile.mkdtemp(prefix="grade-", dir=isolation.scratch())
    try:
        requests = Path(tmp) / "request.json"
        requests.write_bytes(orjson.dumps({**request, "limits": limits.model_dump()}))
        pending = list(GROUPS)
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
                work, requests, pending, limits, output, len(request["calls"])
            )
            began = [g for g in pending if any(name in answers for name in GROUPS[g])]
            ended = pending.index(began[-1]) + 1 if began else 1  # the groups this child took
            for group in pending[:ended]:
                for name in GROUPS[group]:
                    answer = answers.get(name, {})
                    if "ok" in answer:
                        stages[name] = answer
                    elif "doing" in answer:
                        failures[name] = f"{ending} while {answer['doing']}"
                    else:
                        failures[name] = f"{ending} before {STAGES[name]}"
            del pending[:ended]
    finally:  # whatever the student's code made of its copies, however deep
        files.remove_tree(Path(tmp))
    seconds = time.monotonic() - start
    return Outcome(
        stages=stages, failures=failures, output=output.text(), seconds=seconds, left_out=left_out
    )


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
) -> tuple[dict[str, dict[str, Any]], str]:
    """Run one child on `groups` (each makes `calls` calls); its answers by stage, and how it
    ended if it ended badly. A fork server that died (killed from outside) is started anew,
    once; failing again, that is the ending."""
    periods = (calls + 2) * len(groups)  # the watchdog's limit on the whole child
    names = ",".join(groups)
    try:
        return _run_child(work, request, names, limits, output, periods)
    except ForkServerError:
        pass
    try:
        return _run_child(work, request, names, limits, output, periods)
    except ForkServerError as error:
        return {}, f"the grader's sandbox failed to start ({error}); show this to your TA"


def _run_child(
    work: Path, request: Path, groups: str, limits: Limits, output: Output, periods: int
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
            stopped = _watch(child, read_end, answers, limits, output, periods)
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
    periods: int,
) -> str | None:
    """Read answers and output until the child is done; why the watchdog stopped it, if it did.

    The clock restarts at every sign of progress, up to `call_seconds` per call; a child that
    fakes progress still stops at `call_seconds` × `periods` in all.
    """
    assert child.stdout is not None
    selector = selectors.DefaultSelector()
    selector.register(channel, selectors.EVENT_READ, "channel")
    selector.register(child.stdout.fileno(), selectors.EVENT_READ, "output")
    pending = b""
    start = time.monotonic()
    deadline, last = start + limits.call_seconds, start + limits.call_seconds * periods
    try:
        while selector.get_map():
            now = time.monotonic()
            if now >= last:
                return f"ran for more than {last - start:g} s in all"
            if now >= deadline:
                return f"timed out after {limits.call_seconds:g} s"
            exited = child.poll() is not None  # then read what is there, and stop:
            events = selector.select(timeout=0 if exited else min(deadline - now, 0.5))
            if exited and not events:  # processes it left behind may hold the pipes open
                break
            for key, _ in events:
                data = os.read(key.fd, 65536)
                if not data:
                    selector.unregister(key.fd)
                elif key.data == "output":
                    output.add(data)
                else:
                    pending += data
                    *lines, pending = pending.split(b"\n")
                    if len(pending) > MAX_ANSWER:
                        return f"sent an answer line longer than {MAX_ANSWER // 2**20} MiB"
                    for line in lines:
                        if _record(line, answers):
                            deadline = min(time.monotonic() + limits.call_seconds, last)
    finally:
        selector.close()
        os.close(channel)
    return None


def _record(line: bytes, answers: dict[str, dict[str, Any]]) -> bool:
    """Take one answer line; True if it shows progress. Malformed lines are ignored, nested
    too deep for a parser included."""
    try:
        message = _unpacked(_loads(line))
        stage = message["stage"]
    except (ValueError, TypeError, KeyError, RecursionError):
        return False
    if stage not in STAGES or not isinstance(message, dict):
        return False
    current = answers.setdefault(stage, {})
    if "ok" in current:
        return False  # the first result of a stage stands
    if "ok" in message:
        answers[stage] = message
    else:
        current["doing"] = str(message.get("doing", STAGES[stage]))[:200]
    return True


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


def _unpacked(value: Any) -> Any:
    """`value` with every array the child packed ({"f8": base64 float64 bytes, "shape": [...]})
    as a NumPy array; anything else, or a packing that does not add up, as it came."""
    if isinstance(value, list):
        return [_unpacked(item) for item in value]
    if not isinstance(value, dict):
        return value
    if value.keys() != {"f8", "shape"}:
        return {key: _unpacked(item) for key, item in value.items()}
    shape, data = value["shape"], value["f8"]
    if not (isinstance(shape, list) and all(type(n) is int and n >= 0 for n in shape)):
        return value
    if not isinstance(data, str):
        return value
    try:
        raw = base64.b64decode(data, validate=True)
    except ValueError:
        return value
    if len(raw) != 8 * math.prod(shape):
        return value
    return np.frombuffer(raw, dtype="<f8").reshape(shape)


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
    if code is not None and code > 128 and isolation.mode() == "bubblewrap":
        code = 128 - code  # bubblewrap reports a child killed by signal N as exit code 128 + N
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
