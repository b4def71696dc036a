"""Grading a class: in parallel, resumable, one finished student at a time.

Each submission is keyed by a content hash (its files, its folder name, the assignment, the
grader's own code and the versions of Python, torch and numpy). A student whose result.json
carries the same key is not graded again (`force` regrades), and costs a few milliseconds: the
fork server, torch and the grading modules are loaded only once a student needs grading.

A student's report.html is written before result.json, and each file atomically, so a batch
killed at any moment leaves every finished result whole and marks no unfinished one as
finished: a rerun grades the rest.

With `jobs` > 1, worker processes grade students side by side; each starts its own fork
server (sandbox/zygote.py), so torch is imported once per worker, not once per student.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import hashlib
import json
import multiprocessing
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from grader import files
from grader.assignment import Assignment
from grader.errors import GradeError
from grader.files import write_atomic
from grader.result import GradeResult
from grader.sandbox import isolation
from grader.versions import versions

SOURCES = (Path(__file__).parent, Path(__file__).parent.parent / "reference")
PR_SET_PDEATHSIG = 1  # linux/prctl.h


@dataclass(frozen=True)
class Progress:
    """One finished student, for a progress display."""

    result: GradeResult
    done: int
    total: int
    reused: bool


def default_jobs() -> int:
    """The cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def grade_class(
    folders: Sequence[Path],
    assignment: Assignment,
    reports: Path,
    jobs: int = 1,
    force: bool = False,
    on_progress: Callable[[Progress], None] = lambda progress: None,
) -> list[GradeResult]:
    """Grade `folders` (submission folders) into `reports`, `jobs` at a time; results by name.

    Finished results of unchanged submissions are reused unless `force`. On KeyboardInterrupt
    the workers are stopped and the interrupt goes on: what finished is on disk already.
    """
    if reports.exists() and not reports.is_dir():
        raise GradeError(f"{reports}: exists and is not a folder; give --reports a folder")
    if jobs < 1:
        raise GradeError(f"--jobs {jobs}: give 1 or more processes")
    keys = {folder: _key(folder, assignment) for folder in folders}
    results: dict[str, GradeResult] = {}
    todo: list[Path] = []
    for folder in folders:
        name = files.student_name(folder)
        cached = (
            None if force or not keys[folder] else finished_result(reports / name, keys[folder])
        )
        if cached is None:
            todo.append(folder)
        else:
            results[name] = cached
            on_progress(Progress(cached, len(results), len(folders), reused=True))
    try:
        for result in _grade_all(todo, keys, assignment, reports, jobs):
            results[result.student] = result
            on_progress(Progress(result, len(results), len(folders), reused=False))
    finally:
        if todo and hasattr(os, "sync"):
            os.sync()  # each student's files were written atomically, not yet durably
    return [results[name] for name in sorted(results)]


def _key(folder: Path, assignment: Assignment) -> str:
    """The submission's key; "" (matching no finished result) if it cannot be computed: then
    grading it says why, and the class goes on."""
    try:
        return submission_key(folder, assignment)
    except Exception:
        return ""


def grade_one(
    folder: Path, assignment: Assignment, reports: Path, key: str | None = None
) -> GradeResult:
    """Grade one submission; write reports/<student>/report.html, then result.json.

    Whatever goes wrong grading it or writing its files, the student gets a result (every check
    `error`, saying what happened, and no key: a rerun grades it again) and the class goes on.
    """
    from grader import grading  # not at the top: see _prepare

    try:
        result = grading.grade_submission(folder, assignment)
        result = result.model_copy(
            update={"submission_key": submission_key(folder, assignment) if key is None else key}
        )
    except Exception as error:
        result = grading.failed(folder, assignment, error, "grade this submission")
    try:
        _write(result, reports)
    except Exception as error:
        result = grading.failed(folder, assignment, error, "write this student's report")
        with contextlib.suppress(Exception):  # the folder itself may be what cannot be written
            _write(result, reports)
    return result


def _write(result: GradeResult, reports: Path) -> None:
    from grader.report import write_report  # not at the top: see _prepare

    out = reports / result.student
    out.mkdir(parents=True, exist_ok=True)
    write_report(result, out, durable=False)  # grade_class syncs once, at the end
    data = (result.model_dump_json(indent=2) + "\n").encode()
    write_atomic(out / "result.json", data, durable=False)


def finished_result(out: Path, key: str) -> GradeResult | None:
    """The result in `out` if it is whole and was graded from the same content, else None.
    (A power cut mid-batch can leave a file empty or cut short: then it is not whole.)"""
    try:
        result = GradeResult.read(out)
        report = (out / "report.html").stat().st_size
    except (OSError, ValueError):  # ValidationError among them
        return None
    if result.submission_key != key or not report:
        return None
    return result


def submission_key(folder: Path, assignment: Assignment) -> str:
    """sha256 of what grading depends on: the files graded, the student's name (it picks the
    hidden seeds), the assignment and the grader's own code. Read as the private copy is
    (grader.files): links, FIFOs and devices count by their name and kind, never read; file
    contents past the size limit count by their size (such a submission is not run)."""
    digest = hashlib.sha256(_grader_fingerprint().encode())
    digest.update(assignment.model_dump_json().encode())
    digest.update(files.student_name(folder).encode())
    budget = assignment.limits.submission_mib * 2**20
    try:
        for entry in files.walk(folder):
            digest.update(b"\0%s\0%s\0" % (os.fsencode(entry.path), entry.kind.encode()))
            if entry.kind == "file":
                digest.update(str(entry.stat.st_size).encode())
                budget -= entry.stat.st_size
                if budget >= 0:
                    _hash_file(digest, entry)
    except files.SubmissionError as error:  # grading will say so; the key only has to differ
        digest.update(str(error).encode())
    return digest.hexdigest()


def _hash_file(digest: Any, entry: files.Entry) -> None:
    try:
        fd = files.open_entry(entry)
    except files.NotAFile as error:
        digest.update(str(error).encode())
        return
    with os.fdopen(fd, "rb") as file:
        while chunk := file.read(1 << 20):
            digest.update(chunk)


@functools.cache
def _grader_fingerprint() -> str:
    """A hash of the grader's source files (each by its path, size and bytes) and the versions
    grading runs under (Python, grade, torch, numpy): new code or a new torch regrades all."""
    digest = hashlib.sha256(json.dumps(versions(), sort_keys=True).encode())
    for source in SOURCES:
        for path in sorted(source.rglob("*")):
            if path.suffix in {".py", ".toml", ".j2"} and "__pycache__" not in path.parts:
                data = path.read_bytes()
                name = path.relative_to(source.parent).as_posix()
                digest.update(b"\0%s\0%d\0%s" % (name.encode(), len(data), data))
    return digest.hexdigest()


def _grade_all(
    folders: list[Path],
    keys: dict[Path, str],
    assignment: Assignment,
    reports: Path,
    jobs: int,
) -> Iterator[GradeResult]:
    """Results as they finish: in this process for one job, else in a pool of workers."""
    if not folders:
        return  # every student unchanged: no fork server, no torch, no grading modules
    here = jobs == 1 or len(folders) == 1
    _prepare(here)
    if here:
        for folder in folders:
            yield grade_one(folder, assignment, reports, keys[folder])
        return
    isolation.stop_fork_server()  # each worker starts its own; this process needs none
    context = multiprocessing.get_context("fork")  # workers inherit the loaded grader
    tasks = [(folder, keys[folder]) for folder in folders]
    pool = context.Pool(min(jobs, len(folders)), _worker_start, (assignment, reports, os.getpid()))
    try:
        yield from pool.imap_unordered(_worker_grade, tasks, chunksize=1)
        pool.close()
    except BaseException:
        pool.terminate()  # SIGTERM: each worker cleans up its child, cgroup and private copy
        raise
    finally:
        pool.join()


def _prepare(here: bool) -> None:
    """Make ready to grade, once a student needs it: a rerun of an unchanged class does none
    of this. If grading happens `here`, in this process, start its fork server, whose zygote
    imports torch (about 2 s of CPU) on another core; else find how children are walled in (a
    probe process), which forked workers inherit. Meanwhile another thread imports the grading
    modules and the report's templates (about 0.3 s). The fork server is started from this
    thread: the zygote ends when the thread that started it does (sandbox/zygote.py)."""
    loading = threading.Thread(target=_quietly, args=(_load_grading,), daemon=True)
    loading.start()
    if here:
        isolation.prestart()
    else:
        isolation.mode()
    loading.join()  # workers are forked from one thread only


def _load_grading() -> None:
    from grader import grading  # noqa: F401 (imported beside the zygote's torch)
    from grader.report import jinja

    jinja.warm()


def _quietly(work: Callable[[], None]) -> None:
    """`work()`; if it fails, so will grading the first student, where it becomes a result."""
    with contextlib.suppress(Exception):
        work()


_WORKER: dict[str, Any] = {}


def _worker_start(assignment: Assignment, reports: Path, parent: int) -> None:
    """In each worker: Ctrl-C is the parent's to handle; SIGTERM unwinds (cleanups run), and
    comes when the parent process ends, however it ends (even SIGKILL)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, lambda number, frame: sys.exit(128 + number))
    _die_with(parent)
    _WORKER.update(assignment=assignment, reports=reports)
    isolation.prestart()


def _die_with(parent: int) -> None:
    """SIGTERM to this process when the thread that forked it ends (Linux), and now if
    `parent` has already ended. (The pool forks from its main thread, except for a worker
    replacing one that died, which its handler thread forks: that one is told to stop when the
    handler thread ends, after the last task.)"""
    if sys.platform == "linux":
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(PR_SET_PDEATHSIG, ctypes.c_ulong(signal.SIGTERM), 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl PR_SET_PDEATHSIG")
    if os.getppid() != parent:  # it ended before the prctl: no signal is coming
        sys.exit(128 + signal.SIGTERM)


def _worker_grade(task: tuple[Path, str]) -> GradeResult:
    folder, key = task
    return grade_one(folder, _WORKER["assignment"], _WORKER["reports"], key)
