"""`python -m grader.bench`: how fast a class is graded, next to a fresh interpreter per student.

Grades N copies of submissions/correct with every guarantee on (the sandbox as this machine
allows, every report and class output written) and prints milliseconds per student, beside
the cost of one fresh `python -c "import torch"` measured in the same run: what a grader that
starts an interpreter per student pays before grading anything. Then the same class handed in
as notebooks (the same code as cells, one notebook per student), against the modules; and a
class of failing students (copies of submissions/transposed_weight_grads), whose backprop is
traced a second time to point at the line, with the trace's own seconds per student. Then
`grade CLASS` from the command line (one student in 25 failing), and the same command again,
every student unchanged: a rerun loads no torch and grades no one. Then times `grade` on one
student from the command line, cold, against a bare `import torch`, and again, unchanged. A
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
from grader.result import GradeResult
from grader.sandbox import isolation

EXAMPLES = Path(__file__).resolve().parent.parent / "submissions"
EXAMPLE = EXAMPLES / "correct"
FAILING = EXAMPLES / "transposed_weight_grads"  # its backprop is traced: the line is named


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
) -> tuple[float, list[GradeResult]]:
    """Wall time to grade `students` copies of the correct example, reports included, and
    their results; handed in as the modules, or as one notebook holding the same code, or
    (form "failing") copies of the failing example."""
    assignment = load_assignment(assignment_name)
    folder = work / f"class-{form}-{students}"
    for number in range(students):
        student = folder / f"student{number:04d}"
        shutil.copytree(FAILING if form == "failing" else EXAMPLE, student)
        if form == "notebook":
            as_notebook(student)
    start = time.perf_counter()
    reports = work / f"reports-{form}-{students}"
    results = api.grade_paths([folder], assignment, reports, jobs=jobs, force=True)
    return time.perf_counter() - start, results


def _traced(results: list[GradeResult]) -> str:
    """The trace's seconds per student, median and worst, for those it ran for: the students
    whose backprop check failed (a passing student is never traced)."""
    traces = [
        r.timings["trace"]
        for r in results
        if any(c.id == "backprop-gradients" and c.status == "fail" for c in r.checks)
    ]
    if not traces:
        return ""
    located = sum(1 for r in results for c in r.checks if c.location is not None)
    return (
        f"; trace {statistics.median(traces) * 1000:.0f} ms median, {max(traces) * 1000:.0f} "
        f"ms worst per failing student ({located} of {len(results)} lines named)"
    )


def as_notebook(student: Path) -> None:
    """The student's network.py and backprop.py turned into the cells of hw1.ipynb."""
    cells = [nbformat.v4.new_markdown_cell("# Assignment 1")]
    for module in ("network.py", "backprop.py"):
        cells.append(nbformat.v4.new_code_cell((student / module).read_text()))
        (student / module).unlink()
    nbformat.write(nbformat.v4.new_notebook(cells=cells), student / "hw1.ipynb")


def command_seconds(paths: Sequence[Path], jobs: int, reports: Path, assignment_name: str) -> float:
    """Wall time of `grade PATH... --assignment NAME --reports REPORTS` from the command line."""
    grade = Path(sys.executable).with_name("grade")
    command = [str(grade), *map(str, paths), "--assignment", assignment_name]
    start = time.perf_counter()
    subprocess.run([*command, "--reports", str(reports), "--jobs", str(jobs)], check=True,
                   stdout=subprocess.DEVNULL)  # fmt: skip
    return time.perf_counter() - start


def rerun_seconds(
    students: int, jobs: int, work: Path, assignment_name: str
) -> tuple[float, float]:
    """`grade CLASS` from the command line on copies of the correct example, one in 25 of the
    failing one instead, into fresh reports, then the same command again with every student
    unchanged: the wall time of each."""
    folder = work / f"class-command-{students}"
    for number in range(students):
        failing = number % 25 == 24
        shutil.copytree(FAILING if failing else EXAMPLE, folder / f"student{number:04d}")
    reports = work / f"reports-command-{students}"
    first = command_seconds([folder], jobs, reports, assignment_name)
    return first, command_seconds([folder], jobs, reports, assignment_name)


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
            for form in ("modules", "notebook", "failing"):
                seconds, results = class_seconds(
                    students, args.jobs, Path(tmp), args.assignment, form
                )
                per = seconds / students
                ratio = f"  {seconds / modules:.2f}× the modules" if modules else ""
                modules = modules or seconds
                print(f"{form:>9} {students:>9} {seconds:>8.1f} {per * 1000:>11.1f} "
                      f"{fresh / per:>8.0f}×{ratio}{_traced(results)}")  # fmt: skip
            first, again = rerun_seconds(students, args.jobs, Path(tmp), args.assignment)
            for form, seconds, note in (
                ("command", first, f"  `grade CLASS`, {students // 25} failing, reports fresh"),
                (
                    "rerun",
                    again,
                    f"  the same again, all unchanged: {again / first:.1%} of the first run",
                ),
            ):
                per = seconds / students
                print(f"{form:>9} {students:>9} {seconds:>8.2f} {per * 1000:>11.1f} "
                      f"{fresh / per:>8.0f}×{note}")  # fmt: skip
        reports = Path(tmp) / "one"
        one = command_seconds([EXAMPLE], 1, reports, args.assignment)
        again = command_seconds([EXAMPLE], 1, reports, args.assignment)
        print(f"`grade` on one student, cold: {one * 1000:.0f} ms = {one / fresh:.2f}× a bare "
              f"`import torch`; again, unchanged: {again * 1000:.0f} ms")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
