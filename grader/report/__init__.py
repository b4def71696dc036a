"""The HTML report: one self-contained page per student, from a `GradeResult`.

Python computes everything the page shows (formatted numbers, verdicts, which rows disagree,
which rows fit under the cap); `templates/report.html.j2` only lays it out. Autoescape is on
because the student's name, messages and printed output are untrusted. The page has inline
CSS, no scripts and no external resources, and the same result always renders to the same
bytes.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from jinja2 import Environment, PackageLoader, StrictUndefined

from grader.compare import FLOOR, compare, tolerance
from grader.files import write_atomic
from grader.result import CheckResult, GradeResult, Status, TensorTable

__all__ = ["MAX_ROWS", "render_report", "write_report"]

MAX_ROWS = 500  # rows drawn per tensor; disagreeing entries first

_ENV = Environment(
    loader=PackageLoader("grader", "report/templates"),
    autoescape=True,
    undefined=StrictUndefined,
    keep_trailing_newline=True,
)

_BADGES: dict[Status, str] = {"pass": "PASS", "fail": "FAIL", "error": "ERROR"}


# --- numbers as the page shows them -------------------------------------------------------


def _number(v: float, spec: str) -> str:
    """`v` in format `spec`; exact zeros as 0, NaN and inf spelled out."""
    if math.isnan(v):
        return "NaN"
    if math.isinf(v):
        return "inf" if v > 0 else "-inf"
    return "0" if v == 0 else format(v, spec)


def format_value(v: float) -> str:
    """A tensor entry to 8 significant figures."""
    return _number(v, ".8g")


def format_error(e: float) -> str:
    """A relative error to 2 significant figures (3.2e-05)."""
    return _number(e, ".1e")


def format_score(v: float) -> str:
    """Points as a person writes them: 3, 2.5, 10."""
    return f"{v:g}"


def format_shape(shape: Sequence[int]) -> str:
    """(21, 21) for a matrix, (21) for a vector."""
    return "(" + ", ".join(str(n) for n in shape) + ")"


def _unravel(flat: int, shape: Sequence[int]) -> list[int]:
    """The C-order index of entry `flat` of a tensor of `shape`."""
    return [int(i) for i in np.unravel_index(flat, tuple(shape))]


# --- the view-model the template draws ----------------------------------------------------


@dataclass(frozen=True)
class RowView:
    """One entry of a tensor table."""

    index: str
    expected: str
    actual: str
    relative_error: str
    agree: bool
    css: str


@dataclass(frozen=True)
class TableView:
    """One tensor: its verdict and, when the shapes match, its entries."""

    name: str
    shape: str
    agree: bool
    verdict: str
    verdict_css: str
    worst: str  # "worst relative error 3.2e-02", or "" when there are no entries to compare
    worst_value: str  # the worst relative error alone: 3.2e-02
    shape_message: str  # set instead of rows when the student's shape differs
    legend: str
    rows: tuple[RowView, ...]
    order_line: str  # how the rows are ordered, when that is not plain index order
    hidden_line: str  # how many rows the cap left out, or ""


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
    details: tuple[str, ...]
    tables: tuple[TableView, ...]  # tensors shown entry by entry
    summaries: tuple[TableView, ...]  # tensors without entries: one line each


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
    checks: tuple[CheckView, ...]
    published_seed: str
    hidden_seeds: str
    sig_figs: str
    rule: str
    isolation: str
    limits: str
    versions: tuple[tuple[str, str], ...]
    output: str


def _relative_errors(table: TensorTable, actual: list[float], sig_figs: int) -> list[float | None]:
    """Per-entry relative errors: the result's own, or recomputed by the one comparison rule."""
    n = len(table.expected)
    if table.relative_error is not None:
        errors: list[float | None] = list(table.relative_error)
    elif len(actual) == n:
        rel = compare(np.asarray(actual), np.asarray(table.expected), sig_figs).relative_error
        errors = [] if rel is None else [float(e) for e in rel.ravel()]
    else:
        errors = []
    return (errors + [None] * n)[:n]


def _table_view(table: TensorTable, sig_figs: int) -> TableView:
    tol = tolerance(sig_figs)
    worst_value = format_error(table.max_relative_error)
    verdict = "agrees" if table.agree else "disagrees"
    if not table.agree and table.note:
        verdict = f"disagrees: {table.note}"
    shape = format_shape(table.shape)
    verdict_css = "ok" if table.agree else "bad"
    if table.actual is None:
        if table.actual_shape is None:
            message = f"The student's values are missing; expected shape {shape}."
        else:
            message = (
                f"The student's shape is {format_shape(table.actual_shape)}; expected {shape}."
            )
        return TableView(
            name=table.name,
            shape=shape,
            agree=table.agree,
            verdict=verdict,
            verdict_css=verdict_css,
            worst="",
            worst_value=worst_value,
            shape_message=message,
            legend="",
            rows=(),
            order_line="",
            hidden_line="",
        )

    actual = table.actual
    errors = _relative_errors(table, actual, sig_figs)
    regular = math.prod(table.shape) == len(table.expected)
    rows = []
    for i, ref in enumerate(table.expected):
        err = errors[i]
        bad = err is not None and not err <= tol  # NaN counts as disagreeing
        index = _unravel(i, table.shape) if regular else [i]
        rows.append(
            RowView(
                index="[" + ", ".join(str(k) for k in index) + "]",
                expected=format_value(ref),
                actual=format_value(actual[i]) if i < len(actual) else "missing",
                relative_error="—" if err is None else format_error(err),
                agree=not bad,
                css="bad" if bad else "ok",
            )
        )
    disagreeing = [r for r in rows if not r.agree]
    agreeing = [r for r in rows if r.agree]
    shown = (disagreeing + agreeing)[:MAX_ROWS]
    order_line = ""
    if disagreeing and agreeing:
        order_line = "Disagreeing entries are listed first, then the rest in index order."
    hidden_line = ""
    if len(rows) > len(shown):
        hidden_bad = len(disagreeing) - sum(1 for r in shown if not r.agree)
        hidden_ok = len(agreeing) - sum(1 for r in shown if r.agree)
        parts = []
        if hidden_bad:
            parts.append(f"{hidden_bad} disagreeing")
        if hidden_ok:
            parts.append(f"{hidden_ok} agreeing")
        hidden_line = (
            f"{len(rows) - len(shown)} of {len(rows)} entries are not shown "
            f"({', '.join(parts)}); the table stops at {MAX_ROWS} rows."
        )
    legend = (
        f"relative error = |student − reference| / max(|student|, |reference|, "
        f"{FLOOR:g} × the largest |entry| of either); an entry disagrees (✗) when it is above "
        f"{format_error(tol)}, the limit for {sig_figs} significant figures."
    )
    return TableView(
        name=table.name,
        shape=shape,
        agree=table.agree,
        verdict=verdict,
        verdict_css=verdict_css,
        worst=f"worst relative error {worst_value}" if rows else "",
        worst_value=worst_value,
        shape_message="",
        legend=legend,
        rows=tuple(shown),
        order_line=order_line,
        hidden_line=hidden_line,
    )


def _anchor(position: int, check_id: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", check_id.lower()).strip("-")
    return f"check-{position}-{slug}" if slug else f"check-{position}"


def _check_view(position: int, check: CheckResult, sig_figs: int) -> CheckView:
    return CheckView(
        anchor=_anchor(position, check.id),
        id=check.id,
        name=check.name,
        status=check.status,
        badge=_BADGES[check.status],
        points=f"{format_score(check.score)} / {format_score(check.max_score)}",
        message=check.message,
        details=tuple(check.details),
        tables=tuple(_table_view(t, sig_figs) for t in check.tables if t.expected),
        summaries=tuple(_table_view(t, sig_figs) for t in check.tables if not t.expected),
    )


def _summary(checks: Sequence[CheckResult]) -> str:
    if not checks:
        return "No checks ran."
    failed = sum(1 for c in checks if c.status != "pass")
    if not failed:
        return "All checks passed." if len(checks) > 1 else "The check passed."
    return f"{failed} of {len(checks)} checks did not pass."


def _limits(result: GradeResult) -> str:
    limits = result.limits
    return (
        f"{limits.call_seconds:g} s per call, {limits.memory_mib} MiB of memory, "
        f"{limits.processes} processes, {limits.output_kib} KiB of output kept, "
        f"submissions up to {limits.submission_mib} MiB"
    )


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
        checks=tuple(_check_view(i + 1, c, result.sig_figs) for i, c in enumerate(result.checks)),
        published_seed=str(result.seeds.published),
        hidden_seeds=", ".join(str(s) for s in result.seeds.hidden) or "none",
        sig_figs=str(result.sig_figs),
        rule=f"relative error at most {format_error(tolerance(result.sig_figs))}",
        isolation=result.isolation,
        limits=_limits(result),
        versions=tuple(result.versions.items()),
        output=result.output,
    )


# --- public API ---------------------------------------------------------------------------


def render_report(result: GradeResult) -> str:
    """The report page for `result`: one self-contained HTML5 document."""
    return _ENV.get_template("report.html.j2").render(view=report_view(result))


def write_report(result: GradeResult, folder: Path) -> Path:
    """Write folder/report.html atomically (a temporary file, then os.replace); return its path."""
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / "report.html"
    write_atomic(target, render_report(result).encode("utf-8"))
    return target
