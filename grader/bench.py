"""`python -m grader.bench`: how fast a class is graded, next to a fresh interpreter per student.

Grades N copies of submissions/correct with every guarantee on (the sandbox as this machine
allows, every report and class output written) and prints milliseconds per student, beside
the cost of one fresh `python -c "import torch"` measured in the same run: what a grader that
starts an interpreter per student pays before grading anything. Then the same class handed in
as notebooks (the same code as cells, one notebook per student), against the modules. Then
times `grade` on one student from the command line, cold, against a bare `import torch`. A
measurement, not a test.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import nbformat

from grader import api
from grader.assignment import load_assignment
from grader.sandbox import isolation

EXAMPLE = Path(__file__).resolve().parent.parent / "submissions" / "correct"


def fresh_import_seconds(repeats: int = 3) -> float:
    """Median wall time of `python -c "import torch"` in a fresh interpreter."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", "import torch"], check=True)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def class_seconds(
    students: int, jobs: int, work: Path, assignment_name: str, form: str = "modules"
) -> float:
    """Wall time to grade `students` copies of the correct example, reports included; handed
    in as the modules, or as one notebook holding the same code."""
    assignment = load_assignment(assignment_name)
    folder = work / f"class-{form}-{students}"
    for number in range(students):
        student = folder / f"student{number:04d}"
        shutil.copytree(EXAMPLE, student)
        if form == "notebook":
            as_notebook(student)
    start = time.perf_counter()
    reports = work / f"reports-{form}-{students}"
    api.grade_paths([folder], assignment, reports, jobs=jobs, force=True)
    return time.perf_counter() - start


def as_notebook(student: Path) -> None:
    """The student's network.py and backprop.py turned into the cells of hw1.ipynb."""
    cells = [nbformat.v4.new_markdown_cell("# Assignment 1")]
    for module in ("network.py", "backprop.py"):
        cells.append(nbformat.v4.new_code_cell((student / module).read_text()))
        (student / module).unlink()
    nbformat.write(nbformat.v4.new_notebook(cells=cells), student / "hw1.ipynb")


def one_student_seconds(work: Path, assignment_name: str) -> float:
    """Wall time of `grade <one submission>` from the command line, as a student runs it."""
    grade = Path(sys.executable).with_name("grade")
    command = [str(grade), str(EXAMPLE), "--assignment", assignment_name]
    start = time.perf_counter()
    subprocess.run([*command, "--reports", str(work / "one"), "--force"], check=True,
                   stdout=subprocess.DEVNULL)  # fmt: skip
    return time.perf_counter() - start


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m grader.bench", description=__doc__)
    parser.add_argument(
        "--students", type=int, nargs="+", default=[50, 200], metavar="N",
        help="class sizes to grade (default: 50 200)",
    )  # fmt: skip
    parser.add_argument("--jobs", type=int, default=api.default_jobs(), metavar="N")
    parser.add_argument("--assignment", default="bs6207-a1", metavar="NAME_OR_PATH")
    args = parser.parse_args(argv)
    print(f"isolation: {isolation.description()}")
    print(f"jobs: {args.jobs}; assignment: {args.assignment}")
    fresh = fresh_import_seconds()
    print(f"fresh `python -c 'import torch'`: {fresh * 1000:.0f} ms")
    with tempfile.TemporaryDirectory(prefix="grade-bench-") as tmp:
        print(f"{'form':>9} {'students':>9} {'wall s':>8} {'ms/student':>11} {'vs fresh':>9}")
        for students in args.students:
            modules = 0.0
            for form in ("modules", "notebook"):
                seconds = class_seconds(students, args.jobs, Path(tmp), args.assignment, form)
                per = seconds / students
                ratio = f"  {seconds / modules:.2f}× the modules" if modules else ""
                modules = modules or seconds
                print(f"{form:>9} {students:>9} {seconds:>8.1f} {per * 1000:>11.1f} "
                      f"{fresh / per:>8.0f}×{ratio}")  # fmt: skip
        one = one_student_seconds(Path(tmp), args.assignment)
        print(f"`grade` on one student, cold: {one * 1000:.0f} ms = {one / fresh:.2f}× a bare "
              "`import torch`")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
