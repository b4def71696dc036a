"""grades.csv: the class's scores in Canvas's gradebook import layout.

```
Student,ID,SIS User ID,SIS Login ID,Section,BS6207 Assignment 1 (48213)
    Points Possible,,,,,10
"Lovelace, Ada",1001,s1234567,alovelace,CS101 A,10
```

The student columns come from the roster (`grader/exports/roster.py`); without one, or for a
folder the roster lacks, Student is the folder name and the ids are blank. Canvas matches a row
by ID, then SIS User ID, then SIS Login ID, then the exact name, so rows without a roster match
only a student whose Canvas name is the folder name.

The grade column is `<title> (<Canvas assignment id>)`, which Canvas matches by id; the id is
the number in the assignment's Canvas address (`/courses/1/assignments/48213`). Without an id
the header is the title alone, which Canvas matches by exact title and, when no assignment has
that title, imports as a new assignment. (Empty parentheses are not valid; and Canvas first
looks up a title that itself ends in a number in parentheses, `HW (2)`, as assignment id 2.)

Scores have at most 2 decimals, as Canvas keeps them. Students not graded are not in the file:
Canvas leaves their grades as they are. Text cells that would start a spreadsheet formula
(`=`, `+`, `-`, `@`) get a leading `'`; Canvas then no longer matches such a row by name, only
by its ids.
"""

from __future__ import annotations

from collections.abc import Sequence

from grader.assignment import Assignment
from grader.errors import GradeError
from grader.exports.roster import CANVAS_COLUMNS, CanvasStudent, Roster
from grader.exports.summary import by_name, csv_bytes, points, safe_cell
from grader.result import GradeResult

__all__ = ["POINTS_POSSIBLE", "canvas_csv", "grade_column"]

POINTS_POSSIBLE = "    Points Possible"  # Canvas's own spelling, four spaces included
# Canvas's importer drops every column whose header contains one of these (its totals).
_TOTALS = (
    "Current Score",
    "Current Points",
    "Current Grade",
    "Final Score",
    "Final Points",
    "Final Grade",
    "Override Score",
    "Override Grade",
    "Override Status",
)


def grade_column(title: str, canvas_assignment_id: int | None = None) -> str:
    """The grade column's header: `title (id)`, or the title alone without an id.

    Raises GradeError for a header Canvas would not import as this assignment's grades.
    """
    if not title.strip() or "\n" in title or "\r" in title:
        raise GradeError(
            f"assignment title {title!r}: Canvas matches the grade column by a one-line title; "
            "set title in the assignment's TOML"
        )
    totals = [word for word in _TOTALS if word in title]
    if totals:
        raise GradeError(
            f"assignment title {title!r} contains {totals[0]!r}: Canvas's import drops every "
            "column named like one of its totals; change title in the assignment's TOML"
        )
    if canvas_assignment_id is None:
        return title
    if canvas_assignment_id <= 0:
        raise GradeError(
            f"Canvas assignment id {canvas_assignment_id}: expected the positive number in "
            "the assignment's Canvas address (/courses/1/assignments/48213 → 48213)"
        )
    return f"{title} ({canvas_assignment_id})"


def canvas_csv(
    results: Sequence[GradeResult],
    assignment: Assignment,
    roster: Roster | None = None,
    canvas_assignment_id: int | None = None,
) -> bytes:
    """grades.csv for `results`: a header, the Points Possible row, one row per student."""
    column = grade_column(assignment.title, canvas_assignment_id)
    possible = sum(assignment.points.model_dump().values())
    rows = [
        [*CANVAS_COLUMNS, column],  # the TA's own title, kept exact for Canvas to match
        [POINTS_POSSIBLE, *[""] * (len(CANVAS_COLUMNS) - 1), points(possible)],
    ]
    for result in by_name(results):
        student = (roster.get(result.student) if roster else None) or CanvasStudent()
        cells = student.cells()
        name = cells[0] or result.student
        rows.append([safe_cell(c) for c in (name, *cells[1:])] + [points(result.score)])
    return csv_bytes(rows)
