"""A class to grade in the tests: the example students and the fixture submissions.

Each fixture folder holds only what differs from submissions/correct/; `make_submission`
lays it over a copy of the correct student (see tests/fixtures/submissions/README.md).
Fixtures that attack the file system run only where a sandbox hides the rest of it (the fork
server's namespaces or bubblewrap), the fork bomb only where a process cap is in force, and
the one that fills its copy only where copies live in memory under the cgroup's cap.
"""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

from grader.result import CHECK_IDS, GradeResult
from grader.sandbox import isolation

ROOT = Path(__file__).parent.parent
EXAMPLES = ROOT / "submissions"
FIXTURES = Path(__file__).parent / "fixtures" / "submissions"
CALL_SECONDS = 10.0  # the infinite loop waits this long; a call takes milliseconds
MEMORY_MIB = 512
NEEDS_SANDBOX = {
    "overwrites_classmates",
    "plants_result_files",
    "probes_its_walls",
    "runs_classmates_backprop",
}
NEEDS_PROCESS_CAP = {"fork_bomb", "starts_200_threads_at_import"}
NEEDS_COPIES_IN_MEMORY = {"fills_its_copy_past_the_memory_cap"}  # elsewhere it fills a disk


def make_submission(behaviour: str, into: Path) -> Path:
    """The correct example student with the fixture's files laid over it."""
    folder = into / behaviour
    shutil.copytree(EXAMPLES / "correct", folder, ignore=shutil.ignore_patterns("__pycache__"))
    for path in (FIXTURES / behaviour).iterdir():
        if path.name.endswith(".prepend.py"):  # hostile code in front of the correct module
            target = folder / path.name.replace(".prepend.py", ".py")
            target.write_text(path.read_text() + "\n" + target.read_text())
        elif path.name.endswith(".append.py"):  # a change after it: wrap the correct function
            target = folder / path.name.replace(".append.py", ".py")
            target.write_text(target.read_text() + "\n\n" + path.read_text())
        elif path.is_dir():  # a package of the student's
            shutil.copytree(path, folder / path.name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy(path, folder / path.name)
    return folder


def runnable(behaviour: str) -> bool:
    """Whether this machine's isolation makes it safe and meaningful to grade the fixture."""
    if behaviour in NEEDS_SANDBOX:
        return isolation.mode() != "none"
    if behaviour in NEEDS_PROCESS_CAP:
        return isolation.Cgroup.available()
    if behaviour in NEEDS_COPIES_IN_MEMORY:
        return isolation.scratch() == "/dev/shm"
    return True


def build(students: Path) -> list[str]:
    """Fill `students` with the examples and every runnable fixture; their names."""
    shutil.copytree(EXAMPLES, students, ignore=shutil.ignore_patterns("__pycache__", "README.md"))
    for fixture in sorted(FIXTURES.iterdir()):
        if fixture.is_dir() and runnable(fixture.name):
            make_submission(fixture.name, students)
    return sorted(p.name for p in students.iterdir())


def fingerprint(folder: Path) -> dict[str, str]:
    """sha256 of every file under `folder`, by relative path."""
    return {
        str(path.relative_to(folder)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


CORE_CHECKS = [c for c in CHECK_IDS if c != "graph-explanation"]  # graded for every student


def statuses(result: GradeResult) -> dict[str, str]:
    """Status by check id, for the five checks every student gets."""
    return {check.id: check.status for check in result.checks if check.id in CORE_CHECKS}


def message(result: GradeResult, check_id: str) -> str:
    return next(check.message for check in result.checks if check.id == check_id)
