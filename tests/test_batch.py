"""Grading a class: parallel workers agree with one process, reruns reuse finished results,
and an interrupted batch (Ctrl-C or a kill) loses nothing that finished."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import pty
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import termios
import threading
import time
import uuid
from pathlib import Path

import classroom
import pytest

from grader import api, batch
from grader.assignment import load_assignment
from grader.exports.class_outputs import write_class_outputs
from grader.result import GradeResult
from grader.sandbox import isolation

ASSIGNMENT = load_assignment("bs6207-a1")
PRESET = Path(batch.__file__).parent / "assignments" / "bs6207-a1.toml"


def make_class(into: Path, students: dict[str, str]) -> Path:
    """A class folder: each student a copy of an example or a fixture, by name."""
    into.mkdir(parents=True, exist_ok=True)
    for name, behaviour in students.items():
        if (classroom.EXAMPLES / behaviour).is_dir():
            shutil.copytree(classroom.EXAMPLES / behaviour, into / name)
        else:
            classroom.make_submission(behaviour, into).rename(into / name)
    return into


def scores(results: list[GradeResult]) -> dict[str, list[tuple[str, str, float]]]:
    return {r.student: [(c.id, c.status, c.score) for c in r.checks] for r in results}


def test_parallel_workers_grade_as_one_process_does(tmp_path: Path) -> None:
    """--jobs 2 gives every student the same checks and scores as --jobs 1, in name order."""
    students = {"ann": "correct", "bob": "transposed_weight_grads", "cy": "missing_first_relu"}
    folders = sorted(make_class(tmp_path / "class", students).iterdir())
    serial = api.grade_class(folders, ASSIGNMENT, tmp_path / "one", jobs=1)
    parallel = api.grade_class(folders, ASSIGNMENT, tmp_path / "two", jobs=2)
    assert [r.student for r in parallel] == ["ann", "bob", "cy"]
    assert scores(parallel) == scores(serial)
    for name in students:
        assert (tmp_path / "two" / name / "report.html").is_file()


def test_rerun_reuses_unchanged_and_regrades_changed(tmp_path: Path) -> None:
    """A rerun keeps finished results of unchanged submissions, regrades a changed one, and
    regrades all with force; a changed assignment changes every key."""
    folders = sorted(make_class(tmp_path / "class", {"ann": "correct", "bob": "correct"}).iterdir())
    reports = tmp_path / "reports"
    api.grade_class(folders, ASSIGNMENT, reports)
    written = {f.name: (reports / f.name / "result.json").stat().st_mtime_ns for f in folders}

    (folders[1] / "backprop.py").write_text("def backprop(w, b, x, y):\n    return None\n")
    seen: list[api.Progress] = []
    results = api.grade_class(folders, ASSIGNMENT, reports, on_progress=seen.append)
    assert {p.result.student: p.reused for p in seen} == {"ann": True, "bob": False}
    assert (reports / "ann" / "result.json").stat().st_mtime_ns == written["ann"]
    assert results[1].score < results[1].max_score

    seen.clear()
    api.grade_class(folders, ASSIGNMENT, reports, force=True, on_progress=seen.append)
    assert not any(p.reused for p in seen)

    other = ASSIGNMENT.model_copy(update={"seed": ASSIGNMENT.seed + 1})
    assert batch.submission_key(folders[0], other) != batch.submission_key(folders[0], ASSIGNMENT)


def test_a_damaged_result_is_graded_again(tmp_path: Path) -> None:
    """A result.json that does not parse, or without its report.html, or with an empty one (a
    power cut before the files reached the disk), is not taken as done."""
    students = {"ann": "correct", "bob": "correct", "cy": "correct"}
    folders = sorted(make_class(tmp_path / "class", students).iterdir())
    reports = tmp_path / "reports"
    api.grade_class(folders, ASSIGNMENT, reports)
    (reports / "ann" / "result.json").write_text('{"student": "ann", "score": 10')
    (reports / "bob" / "report.html").unlink()
    (reports / "cy" / "report.html").write_bytes(b"")
    seen: list[api.Progress] = []
    api.grade_class(folders, ASSIGNMENT, reports, on_progress=seen.append)
    assert not any(p.reused for p in seen)
    assert GradeResult.model_validate_json((reports / "ann" / "result.json").read_text()).passed


def test_key_covers_content_name_and_ignores_caches(tmp_path: Path) -> None:
    """The key changes with a file's content or the folder's name, not with __pycache__."""
    folder = make_class(tmp_path / "class", {"ann": "correct"}) / "ann"
    key = batch.submission_key(folder, ASSIGNMENT)
    (folder / "__pycache__").mkdir()
    (folder / "__pycache__" / "network.cpython-311.pyc").write_bytes(b"\0")
    assert batch.submission_key(folder, ASSIGNMENT) == key
    (folder / "notes.txt").write_text("x")
    assert batch.submission_key(folder, ASSIGNMENT) != key
    renamed = folder.rename(folder.with_name("ann2"))
    (renamed / "notes.txt").unlink()
    assert batch.submission_key(renamed, ASSIGNMENT) != key


def slow_assignment(tmp_path: Path) -> Path:
    """bs6207-a1 with a 3 s watchdog: the infinite loop holds a worker that long."""
    text = PRESET.read_text() + "\n[limits]\ncall_seconds = 3\nmemory_mib = 512\n"
    path = tmp_path / "slow.toml"
    path.write_text(text)
    return path


def start_grade(*args: str) -> subprocess.Popen[str]:
    grade = Path(sys.executable).with_name("grade")
    return subprocess.Popen(
        [str(grade), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


def finished(reports: Path) -> dict[str, GradeResult]:
    """Every result.json under `reports`, each of which must parse."""
    return {
        path.parent.name: GradeResult.model_validate_json(path.read_text())
        for path in reports.glob("*/result.json")
    }


@pytest.mark.parametrize("how", ["ctrl-c", "kill"])
def test_interrupted_batch_keeps_what_finished_and_a_rerun_finishes(
    tmp_path: Path, how: str
) -> None:
    """Stopped while a student loops, the batch keeps every finished result whole; the same
    command again grades only the rest."""
    students = {"a": "correct", "b": "correct", "c": "infinite_loop", "d": "correct"}
    make_class(tmp_path / "class", students)
    reports = tmp_path / "reports"
    command = [str(tmp_path / "class"), "--assignment", str(slow_assignment(tmp_path))]
    command += ["--reports", str(reports), "--jobs", "1"]
    grade = start_grade(*command)
    assert grade.stdout is not None
    lines = [grade.stdout.readline(), grade.stdout.readline()]  # a and b done; c loops
    assert all(line.startswith(("[1/4] a", "[2/4] b")) for line in lines), lines
    if how == "ctrl-c":
        grade.send_signal(signal.SIGINT)
    else:
        os.killpg(grade.pid, signal.SIGKILL)
    _, errors = grade.communicate(timeout=60)
    if how == "ctrl-c":
        assert grade.returncode == 130
        assert "interrupted: 2 of 4 students graded and kept" in errors
    else:
        assert grade.returncode == -signal.SIGKILL
    assert set(finished(reports)) == {"a", "b"}

    again = start_grade(*command)
    out, _ = again.communicate(timeout=120)
    assert again.returncode == 0
    kept = [line for line in out.splitlines() if line.endswith("(unchanged: kept)")]
    assert [line.split()[1] for line in kept] == ["a", "b"]
    results = finished(reports)
    assert set(results) == {"a", "b", "c", "d"}
    assert results["d"].passed and not results["c"].passed


def test_jobs_must_be_positive(capsys: pytest.CaptureFixture[str]) -> None:
    """--jobs 0 is refused with a message naming the option."""
    from grader.cli import main

    with pytest.raises(SystemExit):
        main(["submissions", "--assignment", "bs6207-a1", "--jobs", "0"])
    assert "--jobs: '0' is not a whole number of processes" in capsys.readouterr().err


def test_progress_lines_when_not_on_a_terminal(tmp_path: Path) -> None:
    """Without a terminal, each finished student is one plain line with [n/N]."""
    make_class(tmp_path / "class", {"ann": "correct", "bob": "correct"})
    grade = start_grade(str(tmp_path / "class"), "--assignment", "bs6207-a1", "--reports",
                        str(tmp_path / "reports"), "--jobs", "2")  # fmt: skip
    out, errors = grade.communicate(timeout=120)
    assert grade.returncode == 0, errors
    assert sorted(line.split()[0] for line in out.splitlines()[:2]) == ["[1/2]", "[2/2]"]
    assert json.loads((tmp_path / "reports" / "ann" / "result.json").read_text())["score"] == 10


def test_bench_prints_a_figure_per_class_size() -> None:
    """`python -m grader.bench` grades a tiny class, as modules and as notebooks, and prints ms
    per student beside the cost of a fresh interpreter, the notebooks' time against the
    modules', and `grade CLASS` run twice, the rerun against the first run (the figures
    themselves are measured, never asserted)."""
    bench = subprocess.run(
        [sys.executable, "-m", "grader.bench", "--students", "2", "--jobs", "1"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert bench.returncode == 0, bench.stderr
    assert "fresh `python -c 'import torch'`:" in bench.stdout
    rows = {line.split()[0]: line.split() for line in bench.stdout.splitlines()
            if line.split()[1:2] == ["2"]}  # fmt: skip
    assert rows["modules"][4].endswith("×")
    assert rows["notebook"][4].endswith("×") and rows["notebook"][6] == "the"  # "1.0× the modules"
    assert rows["command"][4].endswith("×") and rows["rerun"][-2:] == ["first", "run"]
    assert "`grade` on one student, cold:" in bench.stdout and "again, unchanged:" in bench.stdout


def test_progress_bar_on_a_terminal(tmp_path: Path) -> None:
    """With stderr on a terminal, a progress bar counts students there; stdout keeps one line
    per student, without the [n/N] prefix the bar replaces."""
    make_class(tmp_path / "class", {"ann": "correct", "bob": "correct"})
    controller, terminal = pty.openpty()
    fcntl.ioctl(terminal, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))  # 100 wide
    shown: list[bytes] = []

    def read_terminal() -> None:  # as it comes: Linux drops what is left once the child ends
        with contextlib.suppress(OSError):
            while chunk := os.read(controller, 65536):
                shown.append(chunk)

    reader = threading.Thread(target=read_terminal)
    reader.start()
    grade = subprocess.Popen(
        [str(Path(sys.executable).with_name("grade")), str(tmp_path / "class"), "--assignment",
         "bs6207-a1", "--reports", str(tmp_path / "reports"), "--jobs", "1"],
        stdout=subprocess.PIPE, stderr=terminal, text=True,
    )  # fmt: skip
    os.close(terminal)
    out, _ = grade.communicate(timeout=120)
    reader.join(timeout=10)
    os.close(controller)
    assert grade.returncode == 0
    bar = b"".join(shown).decode(errors="replace")
    assert "2/2" in bar and "student" in bar
    assert [line.split()[0] for line in out.splitlines()[:2]] == ["ann", "bob"]


def test_grading_dot_names_the_student_after_the_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`grade .` inside a submission reports it under its folder's name, not under ''."""
    folder = make_class(tmp_path / "class", {"ann": "correct"}) / "ann"
    monkeypatch.chdir(folder)
    assert api.find_submissions([Path(".")], ASSIGNMENT)[0].name == "ann"


@pytest.mark.skipif(not isolation.Cgroup.available(), reason="the fork bomb needs a process cap")
def test_hostile_students_in_parallel_workers_harm_no_classmate(tmp_path: Path) -> None:
    """A fork bomb, a memory blow-up and an infinite loop graded by two workers beside correct
    students: each hostile one gets its error, every correct one full marks."""
    students = {"a": "fork_bomb", "b": "correct", "c": "memory_blowup", "d": "correct"}
    students |= {"e": "infinite_loop", "f": "correct"}
    folders = sorted(make_class(tmp_path / "class", students).iterdir())
    assignment = load_assignment(slow_assignment(tmp_path))  # 3 s watchdog, 512 MiB
    results = {r.student: r for r in api.grade_class(folders, assignment, tmp_path / "r", jobs=2)}
    for name in ("b", "d", "f"):
        assert results[name].score == results[name].max_score, results[name].checks
    for name in ("a", "c", "e"):
        assert classroom.statuses(results[name])["backprop-gradients"] == "error"
    assert "memory limit of 512 MiB" in classroom.message(results["c"], "backprop-gradients")
    assert "timed out after 3 s" in classroom.message(results["e"], "backprop-gradients")


def test_a_student_whose_report_cannot_be_written_does_not_stop_the_class(
    tmp_path: Path,
) -> None:
    """When writing one student's reports fails (here a file sits where their folder goes),
    that student gets a result whose checks are `error`, saying why, and the class run
    finishes: every other student is graded and grades.csv and index.html are written."""
    students = make_class(tmp_path / "class", {"ann": "correct", "bob": "correct"})
    reports = tmp_path / "reports"
    reports.mkdir()
    (reports / "bob").write_text("not a folder")
    results = api.grade_class(sorted(students.iterdir()), ASSIGNMENT, reports)
    write_class_outputs(results, ASSIGNMENT, reports)
    ann, bob = results
    assert ann.score == 10 and json.loads((reports / "ann" / "result.json").read_text())["score"]
    assert {c.status for c in bob.checks} == {"error"}
    assert bob.checks[0].message.startswith(
        "grade could not write this student's report (FileExistsError in "
    )
    assert "bob" in (reports / "grades.csv").read_text()
    assert "bob" in (reports / "index.html").read_text()


def test_a_result_of_a_failure_names_the_student_as_shown(tmp_path: Path) -> None:
    """A student whose folder name is not UTF-8 (Latin-1 `b\\xe9b`) and whose report cannot be
    written is named as everywhere else, `b\\xe9b`, in the result that says so."""
    students = make_class(tmp_path / "class", {os.fsdecode(b"b\xe9b"): "correct"})
    reports = tmp_path / "reports"
    reports.mkdir()
    (reports / "b\\xe9b").write_text("not a folder")
    [result] = api.grade_class(sorted(students.iterdir()), ASSIGNMENT, reports)
    assert result.student == "b\\xe9b"
    assert result.checks[0].message.startswith("grade could not write this student's report")


def test_a_submission_too_deep_to_walk_does_not_stop_the_class(tmp_path: Path) -> None:
    """A submission 1,200 folders deep: whatever grading it does, the class run finishes and
    the student has a result, beside a classmate graded as usual."""
    students = make_class(tmp_path / "class", {"ann": "correct", "deep": "correct"})
    deep = students / "deep"
    chain = [deep.joinpath(*["d"] * n) for n in range(1, 1201)]
    for folder in chain:  # os.makedirs would recurse 1,200 deep
        folder.mkdir()
    try:
        results = api.grade_class(sorted(students.iterdir()), ASSIGNMENT, tmp_path / "reports")
    finally:
        for folder in reversed(chain):  # and so would rmtree
            folder.rmdir()
    assert [r.student for r in results] == ["ann", "deep"]
    assert results[0].score == 10


SLEEPS_IN_BACKPROP = """
import time as _time

_backprop = backprop


def backprop(weights, biases, x, y):
    _time.sleep(25)  # the whole class stays in progress while the test stops grade
    return _backprop(weights, biases, x, y)
"""


def descendants(root: int) -> dict[int, str]:
    """Every process below `root` or in its session, by pid: its start time (no reused pid)."""
    stats = {}
    for entry in Path("/proc").iterdir():
        with contextlib.suppress(OSError):
            if entry.name.isdigit():
                fields = (entry / "stat").read_text().rpartition(")")[2].split()
                stats[int(entry.name)] = fields  # state, ppid, pgrp, session, ... starttime
    found, grew = {root}, True
    while grew:
        more = {pid for pid, f in stats.items() if int(f[1]) in found or int(f[3]) == root}
        grew, found = bool(more - found), found | more
    return {pid: stats[pid][19] for pid in found if pid in stats and pid != root}


def alive(processes: dict[int, str]) -> list[int]:
    """Those of `processes` still running (a zombie has finished)."""
    running = []
    for pid, start in processes.items():
        with contextlib.suppress(OSError):
            fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
            if fields[19] == start and fields[0] != "Z":
                running.append(pid)
    return running


def private_copies(marker: str) -> list[Path]:
    """The grade-* folders holding a copy of a submission with the file `marker`."""
    roots = {Path("/dev/shm"), Path(tempfile.gettempdir())}
    return [
        copy
        for root in roots
        for copy in root.glob("grade-*")
        if any(copy.glob(f"*/{marker}")) or any(copy.glob(marker))
    ]


@pytest.mark.parametrize("how", [signal.SIGTERM, signal.SIGKILL])
def test_a_signal_to_grade_alone_leaves_no_worker_and_no_private_copy(
    tmp_path: Path, how: signal.Signals
) -> None:
    """SIGTERM or SIGKILL to the grade process alone (not its group), while two workers grade
    slow students: every worker, fork server and child ends, and no private copy is left.
    SIGTERM is as Ctrl-C: exit 143 and a line saying what was kept."""
    marker = f"marker-{uuid.uuid4().hex}.txt"
    for name in ("a", "b", "c", "d"):
        folder = tmp_path / "class" / name
        shutil.copytree(classroom.EXAMPLES / "correct", folder)
        (folder / "backprop.py").write_text(
            (folder / "backprop.py").read_text() + SLEEPS_IN_BACKPROP
        )
        (folder / marker).write_text("finds this test's private copies\n")
    command = [str(tmp_path / "class"), "--assignment", "bs6207-a1", "--reports"]
    command += [str(tmp_path / "r"), "--jobs", "2"]
    errors = tmp_path / "stderr"  # a file: a pipe stays open as long as any worker lives
    with errors.open("w") as stderr:
        grade = subprocess.Popen(
            [str(Path(sys.executable).with_name("grade")), *command],
            stdout=subprocess.DEVNULL,
            stderr=stderr,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 120
        while len(private_copies(marker)) < 2 and time.monotonic() < deadline:
            time.sleep(0.2)  # both workers have a student in their sandbox
        assert len(private_copies(marker)) == 2
        processes = descendants(grade.pid)
        grade.send_signal(how)
        grade.wait(timeout=60)
        deadline = time.monotonic() + 15  # the students sleep 25 s
        while (alive(processes) or private_copies(marker)) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not alive(processes), [
            Path(f"/proc/{p}/cmdline").read_bytes() for p in alive(processes)
        ]
        assert not private_copies(marker)
        if how == signal.SIGTERM:
            assert grade.returncode == 143
            assert errors.read_text().splitlines() == [
                "grade: terminated: 0 of 4 students graded and kept; run the same command "
                "again to grade the rest"
            ]
        else:
            assert grade.returncode == -signal.SIGKILL
            assert "Traceback" not in errors.read_text()  # the workers end quietly
    finally:  # if it failed, the workers left behind clean up on SIGTERM
        with contextlib.suppress(ProcessLookupError):
            os.killpg(grade.pid, signal.SIGTERM)
        grade.wait()


def test_a_worker_whose_parent_ended_before_it_started_stops() -> None:
    """The race PR_SET_PDEATHSIG leaves: a worker that finds its parent already gone (it is
    then another process's child) exits as on SIGTERM instead of grading on, orphaned."""
    code = "import os; from grader import batch; batch._die_with(os.getppid() + 1)"
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 143
    code = "import os; from grader import batch; batch._die_with(os.getppid())"
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0
