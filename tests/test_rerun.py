"""A rerun of unchanged students starts nothing: the real `grade`, watched from inside its own
process by an audit hook, starts no process (no fork server, so no torch) and imports neither
torch nor the grading modules; what changed, and only that, is graded again."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

import classroom
import pytest

from grader.sandbox import isolation
from grader.sandbox.forkserver import ZYGOTE

PRESET = classroom.ROOT / "grader" / "assignments" / "bs6207-a1.toml"
STUDENTS = {"ann": "correct", "bob": "transposed_weight_grads"}

# `grade` itself, run by its console entry point, with an audit hook recording in order every
# process it starts (and forks) and every result.json it opens, then the modules it imported.
WATCHED = textwrap.dedent(
    """
    import json, os, sys

    events = []

    def hook(event, args):
        if event == "subprocess.Popen":
            events.append(["start", *map(os.fsdecode, args[1] or [args[0]])])
        elif event == "os.fork":
            events.append(["fork"])
        elif event == "open" and isinstance(args[0], str) and args[0].endswith("result.json"):
            events.append(["open", args[0]])

    sys.addaudithook(hook)
    sys.argv = ["grade", *sys.argv[1:]]
    try:
        from grader.console import entry_point

        entry_point()
    finally:
        with open(os.environ["GRADE_WATCHED"], "w") as out:
            json.dump({"events": events, "modules": sorted(sys.modules)}, out)
    """
)


@dataclass(frozen=True)
class Run:
    """One `grade` command: its exit code and output, and what its process did."""

    code: int
    out: str
    events: list[list[str]]
    modules: set[str]

    def started(self, what: str = "") -> list[int]:
        """Where among the events a process was started (the fork server's zygote, not a
        probe, for what="zygote")."""
        return [
            n
            for n, event in enumerate(self.events)
            if event[0] == "start"
            and (what != "zygote" or (str(ZYGOTE) in event and "--probe" not in event))
        ]

    def assert_graded_by_one_fork_server(self) -> None:
        """Children came from one zygote (under bubblewrap, each is a process of its own)."""
        if isolation.mode() != "bubblewrap":
            assert len(self.started("zygote")) == 1, self.events

    @property
    def kept(self) -> list[str]:
        """The students whose finished result was kept, by name."""
        return [line.split()[1] for line in self.out.splitlines() if "(unchanged: kept)" in line]

    def assert_started_nothing(self) -> None:
        assert self.events and all(event[0] == "open" for event in self.events), self.events
        assert "torch" not in self.modules
        assert "grader.grading" not in self.modules  # what grades a student, loaded for the first


def grade(where: Path, *args: str, python_path: Path | None = None) -> Run:
    """`grade ARGS... --assignment bs6207-a1` (unless given) in `where`, watched."""
    watched = where / "watched.json"
    env = dict(os.environ, GRADE_WATCHED=str(watched))
    if python_path is not None:
        env["PYTHONPATH"] = os.pathsep.join([str(python_path), env.get("PYTHONPATH", "")])
    if "--assignment" not in args:
        args += ("--assignment", "bs6207-a1")
    done = subprocess.run(
        [sys.executable, "-c", WATCHED, *args],
        cwd=where,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    seen = json.loads(watched.read_text())
    return Run(done.returncode, done.stdout, seen["events"], set(seen["modules"]))


@pytest.fixture(scope="module")
def graded(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A class of two (one correct, one failing) graded once, one student at a time."""
    root = tmp_path_factory.mktemp("graded")
    for name, example in STUDENTS.items():
        shutil.copytree(classroom.EXAMPLES / example, root / "class" / name)
    first = grade(root, "class", "--reports", "reports", "--jobs", "1")
    assert first.started() and first.kept == []
    first.assert_graded_by_one_fork_server()
    return root


@pytest.fixture
def again(graded: Path, tmp_path: Path) -> Path:
    """A copy of the graded class and its reports, to run `grade` on again."""
    for folder in ("class", "reports"):
        shutil.copytree(graded / folder, tmp_path / folder)
    return tmp_path


def test_a_rerun_of_an_unchanged_class_starts_nothing_and_writes_the_same(again: Path) -> None:
    """Every student unchanged (on the cores here, as `grade` runs by default): no process is
    started and neither torch nor the grading modules are imported; every result is kept and
    the class outputs are rebuilt byte for byte as the first run wrote them."""
    before = classroom.fingerprint(again / "reports")
    run = grade(again, "class", "--reports", "reports")
    run.assert_started_nothing()
    assert run.kept == ["ann", "bob"]
    assert classroom.fingerprint(again / "reports") == before


def test_a_rerun_of_one_unchanged_student_starts_nothing(again: Path) -> None:
    """`grade class/ann` after the class was graded: ann is kept, nothing is started."""
    before = classroom.fingerprint(again / "reports")
    run = grade(again, str(again / "class" / "ann"), "--reports", "reports")
    run.assert_started_nothing()
    assert run.kept == ["ann"]
    assert classroom.fingerprint(again / "reports") == before


def test_a_changed_submission_alone_is_graded_again(again: Path) -> None:
    """ann hands in the failing backprop: she alone is graded, and no process (the probe of the
    walls, the fork server) starts before bob's finished result was found; bob's files are not
    rewritten."""
    failing = classroom.EXAMPLES / "transposed_weight_grads" / "backprop.py"
    shutil.copy(failing, again / "class" / "ann" / "backprop.py")
    bob = classroom.fingerprint(again / "reports" / "bob")
    run = grade(again, "class", "--reports", "reports")
    assert run.kept == ["bob"]
    run.assert_graded_by_one_fork_server()
    opened = [n for n, event in enumerate(run.events) if event[0] == "open"]
    assert opened and run.started() and max(opened) < min(run.started()), run.events
    result = json.loads((again / "reports" / "ann" / "result.json").read_text())
    backprop = {check["id"]: check["status"] for check in result["checks"]}["backprop-gradients"]
    assert backprop == "fail"
    assert classroom.fingerprint(again / "reports" / "bob") == bob


def installed_as(root: Path, package: str, version: str) -> Path:
    """A folder that, first on the path, makes importlib.metadata report `package` at
    `version` (as an upgrade would; torch itself is still the one the fork server imports)."""
    info = root / "site" / f"{package}-{version}.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {package}\nVersion: {version}\n")
    return root / "site"


@pytest.mark.parametrize("change", ["assignment", "torch version", "grade version"])
def test_a_changed_assignment_or_version_grades_everyone_again(again: Path, change: str) -> None:
    """A changed assignment, a new torch or a new grade makes every finished result stale."""
    args: tuple[str, ...] = ("class", "--reports", "reports")
    python_path = None
    if change == "assignment":
        assignment = again / "a1.toml"
        assignment.write_text(PRESET.read_text() + "\n[limits]\ncall_seconds = 9\n")
        args += ("--assignment", str(assignment))
    else:
        python_path = installed_as(again, change.split()[0], "99.0")
    run = grade(again, *args, python_path=python_path)
    assert run.kept == []
    if python_path is not None:
        result = json.loads((again / "reports" / "ann" / "result.json").read_text())
        assert result["versions"][change.split()[0]] == "99.0"
