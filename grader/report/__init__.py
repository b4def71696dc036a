"""The HTML report: one self-contained page per student, from a `GradeResult`.

Python computes everything the page shows (formatted numbers, verdicts, which rows disagree,
which rows fit under the cap, and every coordinate, colour and label of the inline SVGs);
`templates/report.html.j2` only lays it out. Autoescape is on because the student's name,
messages, printed output and parameter names are untrusted. The page has inline CSS, no scripts
and no external resources, and the same result always renders to the same bytes.

This module holds the page's view model; the pictures are built beside it: `charts` (per check,
each tensor's largest relative error against the limit), `tables` (per tensor, its entries and a
heatmap of their errors), `graph_view` (the autograd graph of the loss, its card rendered once
per graph), `notebook_view` (a notebook's cells as they ran, and the code around each line of
the notebook a message names), from the pieces in `svg` and the numbers of `formatting`. The
filters of `markup` write the elements a page repeats by the thousand: table rows and SVG
shapes.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from markupsafe import Markup

from grader.compare import tolerance
from grader.diagnose import first_failing
from grader.exports import location_text
from grader.files import write_atomic
from grader.report.charts import START_LABEL, ChartView, chart_view
from grader.report.formatting import format_error, format_score, format_shape, format_value
from grader.report.graph_view import graph_card
from grader.report.jinja import template
from grader.report.notebook_view import (
    CodeLine,
    Excerpt,
    NotebookView,
    code_lines,
    excerpts,
    notebook_view,
)
from grader.report.svg import Box, Label, LegendItem, Line
from grader.report.tables import (
    HEATMAP_MAX,
    MAX_ROWS,
    TableView,
    heat_colour,
    heat_legend,
    table_view,
)
from grader.result import CheckResult, GradeResult, Location, NotebookRun, Status

__all__ = [
    "HEATMAP_MAX",
    "MAX_ROWS",
    "START_LABEL",
    "Box",
    "Label",
    "LegendItem",
    "Line",
    "format_error",
    "format_score",
    "format_shape",
    "format_value",
    "heat_colour",
    "render_report",
    "report_view",
    "write_report",
]


_BADGES: dict[Status, str] = {"pass": "PASS", "fail": "FAIL", "error": "ERROR"}


@dataclass(frozen=True)
class DiagnosisView:
    """One named mistake."""

    tensor: str
    message: str


@dataclass(frozen=True)
class DetailView:
    """One further line of a check, and the notebook's code where it points."""

    text: str
    code: tuple[Excerpt, ...]


@dataclass(frozen=True)
class WhereView:
    """The line of the student's code a check names: the code around it, the sentence beside."""

    place: str  # backprop.py, line 18
    when: str  # in layer 3, the 2nd time the line ran; or ""
    code: str  # the code the sentence opens with, shown as code; or ""
    sentence: str  # the rest of it
    lines: tuple[CodeLine, ...]


@dataclass(frozen=True)
class CheckView:
    """One check's card."""

    anchor: str
    id: str
    name: str
    status: Status
    badge: str
    points: str
    message: str
    message_code: tuple[Excerpt, ...]  # the notebook's code where the message points
    diagnoses_title: str
    diagnoses: tuple[DiagnosisView, ...]
    details: tuple[DetailView, ...]
    chart: ChartView | None  # when the check has tables
    tables: tuple[TableView, ...]  # tensors shown entry by entry
    summaries: tuple[TableView, ...]  # tensors without entries: one line each
    start_name: str  # the first failing tensor, when the page shows it
    start_anchor: str
    where: WhereView | None  # the line of the mistake, when one was named


@dataclass(frozen=True)
class ReportView:
    """Everything the page shows, formatted."""

    title: str
    student: str
    assignment: str
    assignment_title: str
    score: str
    max_score: str
    percent: str
    bar_width: str
    passed: bool
    summary: str
    found: str  # where the files graded were found, when below the submission's top
    checks: tuple[CheckView, ...]
    published_seed: str
    hidden_seeds: str
    sig_figs: str
    rule: str
    isolation: str
    limits: str
    versions: tuple[tuple[str, str], ...]
    output: str
    heat_legend: tuple[LegendItem, ...]
    start_label: str
    graph_card: Markup | None  # the autograd graph of the loss, when the child could walk it
    notebook: NotebookView | None  # when a notebook was handed in


def _anchor(position: int, check_id: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", check_id.lower()).strip("-")
    return f"check-{position}-{slug}" if slug else f"check-{position}"


def _start(check: CheckResult) -> int | None:
    """The table where the error starts, if there is one to mark.

    A check names the tensor (`W3`, `step1.W2`); a table names it alone or after its file
    (`my_autograd.dat: W3`), and the first table of that tensor is marked. A failing check that
    names none (dat-files) starts, like backprop, at the first failing tensor from the output.
    """
    tensors = [t.name.rsplit(": ", 1)[-1] for t in check.tables]
    start = check.first_failing
    if start is None and check.status == "fail":
        start = first_failing(
            [n for n, t in zip(tensors, check.tables, strict=True) if not t.agree]
        )
    names = [t.name for t in check.tables]
    for candidates in (names, tensors):
        if start in candidates:
            return candidates.index(start)
    return None


def _check_view(
    position: int, check: CheckResult, sig_figs: int, notebook: NotebookRun | None
) -> CheckView:
    anchor = _anchor(position, check.id)
    names = [t.name for t in check.tables]
    start = _start(check)
    views = [
        table_view(t, sig_figs, f"{anchor}-tensor-{i + 1}", i == start)
        for i, t in enumerate(check.tables)
    ]
    n = len(check.diagnoses)
    message = _without_first_diagnosis(check)
    seen: set[tuple[int, int]] = set()  # places of the notebook shown already
    message_code = excerpts(notebook, message, seen)
    details = tuple(DetailView(d, excerpts(notebook, d, seen)) for d in check.details)
    return CheckView(
        anchor=anchor,
        id=check.id,
        name=check.name,
        status=check.status,
        badge=_BADGES[check.status],
        points=f"{format_score(check.score)} / {format_score(check.max_score)}",
        message=message,
        message_code=message_code,
        diagnoses_title="Likely mistake" if n == 1 else "Likely mistakes, most likely first",
        diagnoses=tuple(DiagnosisView(d.tensor or "", d.message) for d in check.diagnoses),
        details=details,
        chart=chart_view(anchor, check.tables, start, sig_figs) if check.tables else None,
        tables=tuple(v for v, t in zip(views, check.tables, strict=True) if t.expected),
        summaries=tuple(v for v, t in zip(views, check.tables, strict=True) if not t.expected),
        start_name="" if start is None else names[start],
        start_anchor="" if start is None else views[start].anchor,
        where=_where(check.location),
    )


def _where(location: Location | None) -> WhereView | None:
    if location is None:
        return None
    last = location.end_line if location.end_line is not None else location.line
    # the locator's sentences open with the line's code in backticks: "`dW = ...`: dW here ..."
    code, rest = "", location.sentence
    if rest.startswith("`") and "`: " in rest:
        code, rest = rest[1:].split("`: ", 1)
    return WhereView(
        place=location_text.place(location),
        when=location_text.when(location),
        code=code,
        sentence=rest,
        lines=code_lines(location.excerpt, location.excerpt_start, range(location.line, last + 1)),
    )


def _without_first_diagnosis(check: CheckResult) -> str:
    """The message, less the first diagnosis it opens with: the diagnoses box says that."""
    if check.diagnoses and check.message.startswith(check.diagnoses[0].message):
        rest = check.message.removeprefix(check.diagnoses[0].message).lstrip(". ")
        return rest[:1].upper() + rest[1:]
    return check.message


def _summary(checks: Sequence[CheckResult]) -> str:
    if not checks:
        return "No checks ran."
    failed = sum(1 for c in checks if c.status != "pass")
    if not failed:
        return "All checks passed." if len(checks) > 1 else "The check passed."
    return f"{failed} of {len(checks)} checks did not pass."


def _limits(result: GradeResult) -> str:
    limits = result.limits
    said = (
        f"{limits.call_seconds:g} s per call, {limits.memory_mib} MiB of memory, "
        f"{limits.processes} processes, {limits.output_kib} KiB of output kept, "
        f"submissions up to {limits.submission_mib} MiB"
    )
    if result.notebook is not None and result.notebook.used:
        said += (
            f", {limits.notebook_seconds:g} s for all of a notebook's cells, notebooks up to "
            f"{limits.notebook_mib} MiB"
        )
    return said


def report_view(result: GradeResult) -> ReportView:
    """Format `result` for the template."""
    fraction = result.score / result.max_score if result.max_score > 0 else 0.0
    fraction = min(max(fraction, 0.0), 1.0) if math.isfinite(fraction) else 0.0
    return ReportView(
        title=f"{result.student} — {result.assignment_title}",
        student=result.student,
        assignment=result.assignment,
        assignment_title=result.assignment_title,
        score=format_score(result.score),
        max_score=format_score(result.max_score),
        percent=f"{100 * fraction:.0f}%",
        bar_width=f"{100 * fraction:.1f}%",
        passed=result.passed and bool(result.checks),  # no checks is not a pass
        summary=_summary(result.checks),
        found=result.found[:1].upper() + result.found[1:],
        checks=tuple(
            _check_view(i + 1, c, result.sig_figs, result.notebook)
            for i, c in enumerate(result.checks)
        ),
        published_seed=str(result.seeds.published),
        hidden_seeds=", ".join(str(s) for s in result.seeds.hidden) or "none",
        sig_figs=str(result.sig_figs),
        rule=f"relative error at most {format_error(tolerance(result.sig_figs))}",
        isolation=result.isolation,
        limits=_limits(result),
        versions=tuple(result.versions.items()),
        output=result.output,
        heat_legend=heat_legend(result.sig_figs),
        start_label=START_LABEL,
        graph_card=graph_card(result.graph),
        notebook=notebook_view(result.notebook),
    )


# --- public API ---------------------------------------------------------------------------


def render_report(result: GradeResult) -> str:
    """The report page for `result`: one self-contained HTML5 document."""
    return template("report.html.j2").render(view=report_view(result))


def write_report(result: GradeResult, folder: Path, durable: bool = True) -> Path:
    """Write folder/report.html atomically (a temporary file, then os.replace); return its path.
    `durable`: as for files.write_atomic."""
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / "report.html"
    write_atomic(target, render_report(result).encode("utf-8"), durable)
    return target
