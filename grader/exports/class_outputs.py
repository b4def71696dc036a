"""The class outputs a batch leaves in the reports folder, beside each <student>/ folder.

- `index.html`: every student with score and report link, pass rate per check, the most common
  mistakes, a histogram of scores (grader/report/class_page.py)
- `grades.csv`: Canvas's gradebook import layout (grader/exports/canvas.py)
- `summary.csv`: a row per student, a column per check (grader/exports/summary.py)
- `junit.xml`: a testsuite per student, a testcase per check (grader/exports/junit.py)

Everything is built before anything is written, so a bad Canvas title leaves the folder as it
was; each file is then written through a temporary file and an atomic rename.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from grader.assignment import Assignment
from grader.errors import GradeError
from grader.exports.canvas import canvas_csv
from grader.exports.junit import junit_xml
from grader.exports.roster import Roster
from grader.exports.summary import summary_csv
from grader.files import write_atomic
from grader.report.class_page import render_class_page
from grader.result import GradeResult

__all__ = ["CLASS_OUTPUTS", "write_class_outputs"]

CLASS_OUTPUTS = ("index.html", "grades.csv", "summary.csv", "junit.xml")


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
