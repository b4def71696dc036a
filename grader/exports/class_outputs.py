"""The class outputs a batch leaves in the reports folder, beside each <student>/ folder.

- `index.html`: every student with score and report link, pass rate per check, the most common
  mistakes, a histogram of scores (grader/report/class_page.py)
- `grades.csv`: Canvas's gradebook import layout (grader/exports/canvas.py)
- `summary.csv`: a row per student, a column per check (grader/exports/summary.py)
- `junit.xml`: a testsuite per student, a testcase per check (grader/exports/junit.py)

They describe every student graded into the folder for the assignment (`class_results`): this
run's results and the finished result.json of each other <student>/ folder whose `assignment` is
this one, so grading one student again keeps the rest of the class in the gradebook.

Everything is built before anything is written, so a bad Canvas title leaves the folder as it
was; each file is then written through a temporary file and an atomic rename.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from grader import files
from grader.assignment import Assignment
from grader.errors import GradeError
from grader.exports.canvas import canvas_csv
from grader.exports.junit import junit_xml
from grader.exports.roster import Roster
from grader.exports.summary import summary_csv
from grader.files import write_atomic
from grader.report.class_page import render_class_page
from grader.result import GradeResult

__all__ = ["CLASS_OUTPUTS", "ClassResults", "class_results", "write_class_outputs"]

CLASS_OUTPUTS = ("index.html", "grades.csv", "summary.csv", "junit.xml")


@dataclass(frozen=True)
class ClassResults:
    """Whom the class outputs describe, and what in the reports folder was left out."""

    results: list[GradeResult]  # by student's name
    graded_now: int
    other_assignments: dict[str, list[str]]  # assignment's name: the folders of its results
    unreadable: list[str]  # <student>/result.json that are not a valid result

    def summary(self) -> str:
        """`3 students (1 graded now, 2 graded before)`."""
        count = f"{len(self.results)} student{'s' if len(self.results) != 1 else ''}"
        before = len(self.results) - self.graded_now
        return (
            f"{count} ({self.graded_now} graded now, {before} graded before)" if before else count
        )

    def notes(self, reports: Path) -> list[str]:
        """A line for each kind of result left out, naming them."""
        lines = []
        for name, folders in sorted(self.other_assignments.items()):
            results = f"{len(folders)} result{'s' if len(folders) != 1 else ''}"
            lines.append(
                f"{reports}: left out of the class outputs, {results} of another assignment "
                f"({name}): {_listed(folders)}"
            )
        if self.unreadable:
            verb = "is" if len(self.unreadable) == 1 else "are"
            lines.append(
                f"{reports}: left out of the class outputs, {len(self.unreadable)} result.json "
                f"that {verb} not a valid result: {_listed(self.unreadable)}; grade "
                f"{'that student' if verb == 'is' else 'those students'} again"
            )
        return lines


def class_results(
    results: Sequence[GradeResult], assignment: Assignment, reports: Path
) -> ClassResults:
    """`results` (this run's, which win) and the finished results of `assignment` already in
    `reports`: each <student>/result.json that reads back as a valid result of that student."""
    by_name = {result.student: result for result in results}
    others: dict[str, list[str]] = defaultdict(list)
    unreadable = []
    for folder in sorted(reports.iterdir()) if reports.is_dir() else []:
        name = files.shown(folder.name)
        if name in by_name or not folder.is_dir() or folder.is_symlink():
            continue
        try:
            earlier = GradeResult.read(folder)
        except files.NotAFile as error:
            if error.kind != "missing":  # missing: a folder that is not a student's
                unreadable.append(f"{name}/result.json")
            continue
        except (OSError, ValueError):  # ValidationError among them
            unreadable.append(f"{name}/result.json")
            continue
        if earlier.student != name:
            unreadable.append(f"{name}/result.json")
        elif earlier.assignment != assignment.name:
            others[earlier.assignment].append(name)
        else:
            by_name[name] = earlier
    return ClassResults(
        [by_name[name] for name in sorted(by_name)], len(results), dict(others), unreadable
    )


def _listed(names: list[str]) -> str:
    return ", ".join(names) if len(names) <= 5 else f"{', '.join(names[:5])}, ..."


def write_class_outputs(
    results: Sequence[GradeResult],
    assignment: Assignment,
    reports: Path,
    roster: Roster | None = None,
    canvas_assignment_id: int | None = None,
) -> list[Path]:
    """Write index.html, grades.csv, summary.csv and junit.xml into `reports`; their paths.

    `roster` (grader.exports.roster.load_roster) gives each folder's Canvas name and ids;
    `canvas_assignment_id` is the number in the assignment's Canvas address. Raises GradeError
    (writing nothing) when the assignment's title cannot head a Canvas grade column.
    """
    if reports.exists() and not reports.is_dir():
        raise GradeError(f"{reports}: exists and is not a folder; give --reports a folder")
    for name in CLASS_OUTPUTS:
        if (reports / name).is_dir():  # a student's folder named like a class output
            raise GradeError(
                f"{reports / name}: is a folder, where the class's {name} goes; rename the "
                "submission folder of that name and grade it again"
            )
    contents = {
        "index.html": render_class_page(results, assignment, roster).encode("utf-8"),
        "grades.csv": canvas_csv(results, assignment, roster, canvas_assignment_id),
        "summary.csv": summary_csv(results),
        "junit.xml": junit_xml(results, assignment),
    }
    reports.mkdir(parents=True, exist_ok=True)
    written = []
    for name in CLASS_OUTPUTS:
        write_atomic(reports / name, contents[name])
        written.append(reports / name)
    return written
