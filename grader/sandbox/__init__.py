"""Run a student's code in its own process, in a private copy of their folder, with a timeout.

The parent sends the request (parameters and data points) as JSON, the child
(`grader.sandbox.child`) answers with one JSON line per stage, and everything that comes
back is data to validate: the child never decides a grade.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

DEFAULT_TIMEOUT = 60.0
STAGES = {
    "network": "importing, building and running the network",
    "autograd": "running autograd on the network",
    "backprop": "importing and running backprop",
}
OUTPUT_KEPT = 64 * 1024  # bytes of the student's printed output kept for the report
ISOLATION = "own process, private temporary copy of the folder, wall-clock timeout"

_PASSED_ENV = ("PATH", "LANG", "OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")
_SKIPPED = shutil.ignore_patterns("__pycache__", ".git", "*.pyc")


@dataclass(frozen=True)
class Outcome:
    """What a run of the child produced: its stage lines, how it ended, what it printed."""

    stages: dict[str, dict[str, Any]]
    ending: Literal["finished", "timeout", "crashed"]
    returncode: int | None
    output: str
    seconds: float
    timeout: float
    notes: list[str] = field(default_factory=list)

    def failure(self, stage: str) -> str:
        """Why `stage` has no result, in words ("timed out after 60 s while ...")."""
        during = f" while {STAGES.get(stage, stage)}" if stage in self.started else ""
        return self._ending() + during

    @property
    def started(self) -> set[str]:
        """Stages the child began but did not finish."""
        return {name for name, line in self.stages.items() if "ok" not in line}

    def _ending(self) -> str:
        if self.ending == "timeout":
            return f"the student's code timed out after {self.timeout:g} s"
        code = self.returncode
        if code is not None and code < 0:
            try:
                name = signal.Signals(-code).name
            except ValueError:
                name = f"signal {-code}"
            described = {"SIGSEGV": "segmentation fault", "SIGKILL": "killed", "SIGABRT": "abort"}
            extra = f" ({described[name]})" if name in described else ""
            return f"the student's code crashed with signal {-code}{extra}"
        return f"the student's code stopped early (exit code {code})"


def run_student(folder: Path, request: dict[str, Any], timeout: float = DEFAULT_TIMEOUT) -> Outcome:
    """Run the child on a private copy of `folder` and collect its stage lines."""
    with tempfile.TemporaryDirectory(prefix="grade-") as tmp:
        work = Path(tmp) / "submission"
        shutil.copytree(folder, work, symlinks=True, ignore=_skip_links_and_caches)
        results, printed = Path(tmp) / "results.jsonl", Path(tmp) / "output.txt"
        env = {k: os.environ[k] for k in _PASSED_ENV if k in os.environ}
        env |= {"HOME": tmp, "PYTHONHASHSEED": "0", "PYTHONDONTWRITEBYTECODE": "1"}
        env |= {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
        start = time.monotonic()
        with results.open("wb") as channel, printed.open("wb") as output:
            child = subprocess.Popen(
                [sys.executable, "-I", "-m", "grader.sandbox.child", str(channel.fileno())],
                cwd=work,
                stdin=subprocess.PIPE,
                stdout=output,
                stderr=subprocess.STDOUT,
                pass_fds=(channel.fileno(),),
                env=env,
                start_new_session=True,
            )
            ending: Literal["finished", "timeout", "crashed"] = "finished"
            try:
                child.communicate(json.dumps(request).encode(), timeout=timeout)
            except subprocess.TimeoutExpired:
                ending = "timeout"
                _kill_group(child)
        if ending == "finished" and child.returncode != 0:
            ending = "crashed"
        stages, notes = _read_stages(results)
        return Outcome(
            stages=stages,
            ending=ending,
            returncode=child.returncode,
            output=_read_output(printed),
            seconds=time.monotonic() - start,
            timeout=timeout,
            notes=notes,
        )


def _skip_links_and_caches(folder: str, names: list[str]) -> set[str]:
    """copytree's ignore: caches, .git, and every symbolic link (no path out of the copy)."""
    links = {name for name in names if os.path.islink(os.path.join(folder, name))}
    return links | set(_SKIPPED(folder, names))


def _kill_group(child: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(child.pid, signal.SIGKILL)
    child.wait()


def _read_stages(path: Path) -> tuple[dict[str, dict[str, Any]], list[str]]:
    stages: dict[str, dict[str, Any]] = {}
    notes: list[str] = []
    for number, line in enumerate(path.read_bytes().splitlines(), start=1):
        try:
            message = json.loads(line)
            stage = message["stage"]
        except (ValueError, TypeError, KeyError):
            notes.append(f"line {number} of the child's answer is not a stage result; ignored")
            continue
        if isinstance(stage, str) and isinstance(message, dict):
            stages[stage] = message
    return stages, notes


def _read_output(path: Path) -> str:
    size = path.stat().st_size
    with path.open("rb") as file:
        if size <= OUTPUT_KEPT:
            data = file.read()
        else:
            head = file.read(OUTPUT_KEPT // 2)
            file.seek(size - OUTPUT_KEPT // 2)
            cut = size - OUTPUT_KEPT
            data = head + f"\n[... {cut:,} bytes cut ...]\n".encode() + file.read()
    return data.decode("utf-8", errors="replace")
