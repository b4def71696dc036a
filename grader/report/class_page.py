"""The class page, reports/index.html: every student, how each check went, the common mistakes.

As for the student report (grader/report/__init__.py), Python computes everything the page
shows, down to each coordinate of the score histogram's inline SVG, and
`templates/index.html.j2` only lays it out. Autoescape is on: folder names are the students'
and untrusted, so they are escaped as text and URL-quoted in links. Inline CSS, no script, no
external resource, no timestamp: the same results always render to the same bytes.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import quote

from grader.assignment import Assignment
from grader.exports import location_text
from grader.exports.roster import Roster
from grader.exports.summary import by_name, check_ids, first_diagnosis, points
from grader.report.jinja import template
from grader.report.svg import Box, Label, Line, px, text_width
from grader.result import CheckResult, GradeResult

__all__ = ["MISTAKES", "ClassView", "class_view", "render_class_page"]


# Each diagnosis kind (grader/diagnose.py) in words a TA scans; an unknown kind shows as itself.
MISTAKES = {
    "transposed": "dL/dW transposed",
    "factor": "gradient off by a constant factor",
    "sign": "gradient with the wrong sign",
    "sgd-step": "returned lr × gradient (the SGD step)",
    "updated-weights": "returned the updated weights, not the gradient",
    "reversed": "layers in reverse order",
    "swapped": "weight and bias gradients swapped",
    "missing-activation-derivative": "activation derivative left out",
    "forward": "backward pass right for a wrong forward pass",
    "first-failing-layer": "error starting below the output layer",
    "ignores-arguments": "same gradients whatever the inputs (globals read?)",
}
# Column heads of the students table: short, with the check's name as a tooltip.
_SHORT = {
    "network-architecture": "network",
    "autograd-gradients": "autograd",
    "backprop-gradients": "backprop",
    "no-autograd": "no autograd",
    "dat-files": ".dat",
    "graph-explanation": "graph",
}
_MARKS = {"pass": "✓", "fail": "✗", "error": "!", "none": "·"}
_SHOWN_NAMES = 8  # students named per mistake or roster note; the rest are counted
_INTEGER_BINS = 40  # up to this many points, the histogram has a bar per whole point
_BINS = 10  # otherwise, this many bars of equal width


def _percent(part: int, whole: int) -> str:
    return f"{100 * part / whole:.0f}%" if whole else "—"


def _students(n: int) -> str:
    return f"{n} student" if n == 1 else f"{n} students"


def _points(text: str) -> str:
    return "1 point" if text == "1" else f"{text} points"


def report_href(student: str) -> str:
    """The link from index.html to a student's report: the folder name URL-quoted."""
    return quote(student, safe="") + "/report.html"


@dataclass(frozen=True)
class Link:
    """An <a>: its text and its (already quoted) address."""

    text: str
    href: str


@dataclass(frozen=True)
class StatusCell:
    """One student's verdict on one check, as a mark with a tooltip."""

    status: str  # pass, fail, error, or none when the check did not run for this student
    mark: str
    tip: str


@dataclass(frozen=True)
class StudentRow:
    """One line of the students table."""

    name: str
    href: str
    score: str
    percent: str
    css: str  # full, partial or zero
    cells: tuple[StatusCell, ...]
    mistake: str  # the first named mistake, in words, and its line (`backprop.py:18`), or ""


@dataclass(frozen=True)
class CheckHead:
    """A column of the students table: a check's short name and its full name."""

    short: str
    name: str


@dataclass(frozen=True)
class CheckRow:
    """One check across the class."""

    id: str
    name: str
    points: str
    graded: str
    passed: str
    failed: str
    errors: str
    rate: str
    bar_width: str


@dataclass(frozen=True)
class MistakeRow:
    """One kind of mistake and the students it was found in."""

    kind: str
    label: str
    count: str
    share: str
    students: tuple[Link, ...]
    more: str  # "and 12 more", or ""


@dataclass(frozen=True)
class Histogram:
    """The scores as an inline SVG bar chart: every coordinate a ready-made string."""

    width: str
    height: str
    title: str
    desc: str
    grid: tuple[Line, ...]
    bars: tuple[Box, ...]
    labels: tuple[Label, ...]


@dataclass(frozen=True)
class ClassView:
    """Everything index.html shows, formatted."""

    title: str
    assignment: str
    assignment_title: str
    facts: tuple[tuple[str, str], ...]
    histogram: Histogram
    checks: tuple[CheckRow, ...]
    heads: tuple[CheckHead, ...]
    mistakes: tuple[MistakeRow, ...]
    mistakes_note: str
    students: tuple[StudentRow, ...]
    files: tuple[Link, ...]
    roster_notes: tuple[str, ...]


# --- the histogram ------------------------------------------------------------------------


def _bins(scores: Sequence[float], max_score: float) -> list[tuple[str, int]]:
    """(label, count) per bar: a bar per whole point when that is few, else 10 equal ranges."""
    if max_score <= 0:
        return [("0", len(scores))]
    top = int(max_score)
    if top == max_score and top <= _INTEGER_BINS and all(s == int(s) for s in scores):
        counts = [0] * (top + 1)
        for s in scores:
            counts[min(max(int(s), 0), top)] += 1
        return [(str(k), n) for k, n in enumerate(counts)]
    width = max_score / _BINS
    counts = [0] * _BINS
    for s in scores:
        counts[min(max(math.floor(s / width + 1e-9), 0), _BINS - 1)] += 1
    return [(f"{points(k * width)}–{points((k + 1) * width)}", n) for k, n in enumerate(counts)]


def _step(most: int) -> int:
    """A tick step for counts up to `most`: 1, 2, 5, 10, 20, 50, ..., giving at most 5 ticks."""
    magnitude = 1
    while True:
        for m in (1, 2, 5):
            if most <= 5 * m * magnitude:
                return m * magnitude
        magnitude *= 10


def _histogram(scores: Sequence[float], max_score: float) -> Histogram:
    bins = _bins(scores, max_score)
    step = _step(max(n for _, n in bins))
    top = max(step, math.ceil(max(n for _, n in bins) / step) * step)
    left, right, plot_top, plot_height, font = 48.0, 12.0, 22.0, 180.0, 12.0
    slot = min(max(440.0 / len(bins), 14.0), 48.0)
    width = left + slot * len(bins) + right
    bottom = plot_top + plot_height
    height = bottom + 2 * font + 22
    every = math.ceil(len(bins) / 20)  # label every bar, or every 2nd, ... when they are many
    longest = max((label for label, _ in bins), key=len)
    tick = font * min(1.0, (slot * every - 4) / text_width(longest, font))  # labels fit a slot

    def y_of(count: int) -> float:
        return bottom - plot_height * count / top

    grid = [
        Line(px(left), px(y_of(k)), px(width - right), px(y_of(k)), "grid")
        for k in range(step, top + 1, step)
    ]
    grid.append(Line(px(left), px(bottom), px(width - right), px(bottom), "axis"))
    labels = [
        Label(px(left - 6), px(y_of(k) + font / 3), str(k), px(font), "tick", "end")
        for k in range(0, top + 1, step)
    ]
    bars = []
    for i, (label, n) in enumerate(bins):
        cx = left + (i + 0.5) * slot
        if n:
            full = i == len(bins) - 1 and max_score > 0
            css = "bar full" if full else "bar"
            tip = f"{_points(label)}: {_students(n)}"
            y = y_of(n)
            bars.append(
                Box(px(cx - slot * 0.4), px(y), px(slot * 0.8), px(bottom - y), css, tip=tip)
            )
            labels.append(Label(px(cx), px(y - 5), str(n), px(font), "count"))
        if i % every == 0:
            labels.append(Label(px(cx), px(bottom + font + 4), label, px(tick), "tick"))
    labels.append(
        Label(px(left + slot * len(bins) / 2), px(height - 6), "points", px(font), "axis-title")
    )
    middle = px(plot_top + plot_height / 2)
    turn = f"rotate(-90 {px(14)} {middle})"
    labels.append(Label(px(14), middle, "students", px(font), "axis-title", "middle", turn))
    desc = "; ".join(f"{_points(label)}: {_students(n)}" for label, n in bins)
    return Histogram(
        width=px(width),
        height=px(height),
        title=f"Scores of {_students(len(scores))}, out of {points(max_score)} points",
        desc=desc,
        grid=tuple(grid),
        bars=tuple(bars),
        labels=tuple(labels),
    )


# --- tables -------------------------------------------------------------------------------


def _check_rows(results: Sequence[GradeResult], ids: Sequence[str]) -> list[CheckRow]:
    rows = []
    for check_id in ids:
        found = [c for r in results for c in r.checks if c.id == check_id]
        passed = sum(1 for c in found if c.status == "pass")
        share = passed / len(found) if found else 0.0
        rows.append(
            CheckRow(
                id=check_id,
                name=found[0].name,
                points=points(max(c.max_score for c in found)),
                graded=str(len(found)),
                passed=str(passed),
                failed=str(sum(1 for c in found if c.status == "fail")),
                errors=str(sum(1 for c in found if c.status == "error")),
                rate=_percent(passed, len(found)),
                bar_width=f"{100 * share:.1f}%",
            )
        )
    return rows


def _mistake(kind: str) -> str:
    return MISTAKES.get(kind, kind)


def _mistake_rows(results: Sequence[GradeResult]) -> list[MistakeRow]:
    """Each kind of mistake with the students it was named for (each student counted once)."""
    found: dict[str, list[GradeResult]] = {}
    for result in results:
        kinds = dict.fromkeys(d.kind for c in result.checks for d in c.diagnoses)
        for kind in kinds:
            found.setdefault(kind, []).append(result)
    ranked = sorted(found.items(), key=lambda item: (-len(item[1]), _mistake(item[0]), item[0]))
    return [
        MistakeRow(
            kind=kind,
            label=_mistake(kind),
            count=str(len(who)),
            share=_percent(len(who), len(results)),
            students=tuple(Link(r.student, report_href(r.student)) for r in who[:_SHOWN_NAMES]),
            more=f"and {len(who) - _SHOWN_NAMES} more" if len(who) > _SHOWN_NAMES else "",
        )
        for kind, who in ranked
    ]


def _cell(check: CheckResult | None, check_id: str) -> StatusCell:
    if check is None:
        return StatusCell("none", _MARKS["none"], f"{check_id}: not checked")
    message = check.message.splitlines()[0] if check.message else ""
    tip = f"{check.name}: {check.status}, {points(check.score)} / {points(check.max_score)}"
    return StatusCell(check.status, _MARKS[check.status], f"{tip}. {message}" if message else tip)


def _student_row(result: GradeResult, ids: Sequence[str]) -> StudentRow:
    fraction = result.score / result.max_score if result.max_score > 0 else 0.0
    checks = {c.id: c for c in result.checks}
    kind = first_diagnosis(result)
    where = next((c.location for c in result.checks if c.location is not None), None)
    named = [_mistake(kind) if kind else "", location_text.short(where) if where else ""]
    return StudentRow(
        name=result.student,
        href=report_href(result.student),
        score=f"{points(result.score)} / {points(result.max_score)}",
        percent=f"{100 * fraction:.0f}%",
        css="full" if result.passed and result.checks else "partial" if result.score else "zero",
        cells=tuple(_cell(checks.get(check_id), check_id) for check_id in ids),
        mistake=" · ".join(part for part in named if part),
    )


def _names(names: Sequence[str]) -> str:
    shown = ", ".join(names[:_SHOWN_NAMES])
    return shown + (f" and {len(names) - _SHOWN_NAMES} more" if len(names) > _SHOWN_NAMES else "")


def _roster_notes(results: Sequence[GradeResult], roster: Roster | None) -> list[str]:
    if roster is None:
        return [
            "No roster was given: grades.csv names each student by folder and leaves the "
            "Canvas ids blank, so Canvas matches a row only to a student of that exact name."
        ]
    graded = {r.student for r in results}
    missing = [r.student for r in results if roster.get(r.student) is None]
    absent = sorted(set(roster.students) - graded, key=lambda s: (s.casefold(), s))
    notes = [f"Roster: {roster.path.name}, {_students(len(roster.students))}."]
    if missing:
        notes.append(
            f"Not on the roster, so named by folder with blank ids in grades.csv: "
            f"{_names(missing)}."
        )
    if absent:
        notes.append(
            f"On the roster but not graded, so left out of grades.csv (Canvas keeps their "
            f"grades): {_names(absent)}."
        )
    return notes


# --- the page -----------------------------------------------------------------------------


def class_view(
    results: Sequence[GradeResult], assignment: Assignment, roster: Roster | None = None
) -> ClassView:
    """Format the class's `results` for the template."""
    results = by_name(results)
    ids = check_ids(results)
    possible = sum(assignment.points.model_dump().values())
    scores = [r.score for r in results]
    passed = sum(1 for r in results if r.passed and r.checks)
    errors = sum(1 for r in results if any(c.status == "error" for c in r.checks))
    mean = points(statistics.fmean(scores)) if scores else "—"
    median = points(statistics.median(scores)) if scores else "—"
    checks = _check_rows(results, ids)
    failing = sum(1 for r in results if any(c.status == "fail" for c in r.checks))
    named = len({r.student for r in results for c in r.checks if c.diagnoses})
    return ClassView(
        title=f"{assignment.title} — class",
        assignment=assignment.name,
        assignment_title=assignment.title,
        facts=(
            ("students", str(len(results))),
            ("mean score", f"{mean} / {points(possible)}"),
            ("median score", f"{median} / {points(possible)}"),
            ("every check passed", f"{passed} ({_percent(passed, len(results))})"),
            ("a check could not run", f"{errors} ({_percent(errors, len(results))})"),
        ),
        histogram=_histogram(scores, possible),
        checks=tuple(checks),
        heads=tuple(CheckHead(_SHORT.get(c.id, c.id), c.name) for c in checks),
        mistakes=tuple(_mistake_rows(results)),
        mistakes_note=(
            f"Of {_students(failing)} with a failing check, the grader diagnosed {named}; the "
            "others' reports show where their answers differ."
            if failing
            else ""
        ),
        students=tuple(_student_row(r, ids) for r in results),
        files=(
            Link("grades.csv: Canvas gradebook import", "grades.csv"),
            Link("summary.csv: a row per student, a column per check", "summary.csv"),
            Link("junit.xml: for CI dashboards", "junit.xml"),
        ),
        roster_notes=tuple(_roster_notes(results, roster)),
    )


def render_class_page(
    results: Sequence[GradeResult], assignment: Assignment, roster: Roster | None = None
) -> str:
    """index.html for the class: one self-contained HTML5 document."""
    view = class_view(results, assignment, roster)
    return template("index.html.j2").render(view=view)
