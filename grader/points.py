"""Points that add up: which point values a platform that adds scores in floating point shows
as themselves.

GitHub Classroom's reporter adds every test's score itself, in JavaScript's float64
(`totalPoints += score`, runner by runner, in the order of `runners`), and prints the sum as
it comes: checks of 0.1, 0.2 and 0.15 points earned show `Points 0.45000000000000007/1`. A
multiple of 1/4 is a float with at most two binary digits after the point, so any sum of such
values (far below 2**50) is exact, whatever the order: the reporter's total is then grade's
score to the last bit. grade never rounds a score to make it so (a check earns all its points
or none; result.json, the reports and every platform get the same numbers): `grade
assignments` warns about each point value that is not such a multiple, where the fix belongs,
in the assignment.
"""

from __future__ import annotations

from pathlib import Path

from grader.assignment import Assignment
from grader.presets import assignment_file

STEP = 0.25  # a quarter point: exact in binary, and fine enough for any rubric of this homework


def even(value: float) -> bool:
    """Whether `value` is a whole number of quarter points (multiplying by 4 is exact)."""
    return (value / STEP).is_integer()


def warnings(assignment: Assignment, name_or_path: str | Path) -> list[str]:
    """One line per point value of `assignment` (loaded from `name_or_path`, its file named)
    that is not a multiple of 1/4, saying what the Classroom reporter would show and what to
    write instead."""
    source = assignment_file(name_or_path) or name_or_path
    found = []
    for check, value in assignment.points.model_dump(by_alias=True).items():
        if even(value):
            continue
        nearest = max(STEP, round(value / STEP) * STEP)
        found.append(
            f"{source}: [points] {check} = {value:g} is not a multiple of 1/4; GitHub "
            f"Classroom's reporter adds points in floating point and can show a total such as "
            f"{0.1 + 0.2!r} for 0.3: make it a multiple of 1/4, e.g. {check} = {nearest:g}"
        )
    return found
