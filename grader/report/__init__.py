"""The HTML report: one self-contained page per student, from a `GradeResult`.

Python computes everything the page shows (formatted numbers, verdicts, which rows disagree,
which rows fit under the cap, and every coordinate, colour and label of the inline SVG charts);
`templates/report.html.j2` only lays it out. Autoescape is on because the student's name,
messages and printed output are untrusted. The page has inline CSS, no scripts and no external
resources, and the same result always renders to the same bytes.

Two kinds of chart: per check, a bar chart of each tensor's largest relative error on a log
scale against the limit for the assignment's significant figures; per tensor with entries, a
heatmap of every entry's relative error, each cell with a tooltip (an SVG <title>, no script).
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path

import numpy as np
from jinja2 import Environment, PackageLoader, StrictUndefined

from grader.compare import FLOOR, compare, tolerance
from grader.files import write_atomic
from grader.result import CheckResult, GradeResult, Status, TensorTable

__all__ = ["HEATMAP_MAX", "MAX_ROWS", "heat_colour", "render_report", "write_report"]

MAX_ROWS = 500  # rows drawn per tensor; disagreeing entries first
HEATMAP_MAX = 64  # heatmap rows and columns drawn per tensor; a longer vector wraps at this width
START_LABEL = "error starts here"

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


# --- SVG: every coordinate, colour and label is a ready-made string --------------------------


def _px(v: float) -> str:
    """An SVG coordinate or length to one decimal, so the bytes never depend on float noise."""
    return f"{v:.1f}" if v != 0 else "0.0"


def _text_width(text: str, size: float) -> float:
    """A generous width estimate of `text` at font size `size` (there are no font metrics here)."""
    return 0.62 * size * len(text)


@dataclass(frozen=True)
class Line:
    """An SVG <line>."""

    x1: str
    y1: str
    x2: str
    y2: str
    css: str


@dataclass(frozen=True)
class Box:
    """An SVG <rect>, with a fill when its colour carries data and a tooltip when it helps."""

    x: str
    y: str
    width: str
    height: str
    css: str
    fill: str = ""
    tip: str = ""


@dataclass(frozen=True)
class Label:
    """An SVG <text>."""

    x: str
    y: str
    text: str
    size: str  # font size in the SVG's own units, so it scales with the drawing
    css: str = ""
    anchor: str = "middle"
    transform: str = ""


@dataclass(frozen=True)
class LegendItem:
    """One swatch of a legend: its inline CSS background and what it means."""

    swatch: str
    text: str
    css: str = "swatch"


# The bar chart: a log axis from 1e-16 to 10 (a relative error is at most 2).
_LOG_MIN, _LOG_MAX = -16, 1


@dataclass(frozen=True)
class _ChartLayout:
    """The geometry of one drawing of the bar chart, in px of its viewBox."""

    css: str  # wide: desktop; compact: phones, shown by a media query instead of the wide one
    plot_width: float  # the bars spread over about this much, within the slot limits
    slot_min: float
    slot_max: float
    plot_height: float
    font: float  # names, marks and the start label
    tick_font: float
    angle: int  # how far names turn when there are many, or they are wider than a bar's slot
    straight_names: int  # at most this many bars keep their names level (if they fit)
    short_limit: bool  # label the limit line "limit: 5 sig. figs" (the legend says it in full)


_WIDE = _ChartLayout("wide", 760.0, 22.0, 56.0, 204.0, 12.0, 11.0, 45, 8, False)
_COMPACT = _ChartLayout("compact", 250.0, 11.0, 40.0, 170.0, 10.0, 10.0, 90, 5, True)

# The heatmap: one square per entry; colour on log10 of the relative error.
_CELL_WIDE, _CELL_NARROW, _CELL_WIDE_UP_TO = 14.0, 12.0, 40  # px, and up to how many columns
_CELL_FONT = 10.0
_BOTH_ZERO = "#d0d7de"  # reference and student both exactly 0: nothing to compare
_WITHIN = "#8fd9a0"  # agrees: at most the limit
_NOT_FINITE = "#5c0a16"  # NaN or inf
_MISSING = "#ffffff"  # the student has fewer entries than the reference
_RAMP = ((0.0, (0xF7, 0xD8, 0x4A)), (0.5, (0xF0, 0x83, 0x2E)), (1.0, (0xC4, 0x17, 0x26)))
_BAR_OK, _BAR_BAD = "#2da44e", "#cf222e"  # the chart's colours, for its legend (CSS draws them)


def _exponent(error: float) -> float:
    """log10 of `error` on the chart's axis: 0 and tiny errors at the bottom, inf and NaN on top."""
    if math.isnan(error) or error == math.inf:
        return float(_LOG_MAX)
    if error <= 0:
        return float(_LOG_MIN)
    return min(max(math.log10(error), _LOG_MIN), _LOG_MAX)


def _decade(exponent: int) -> str:
    """An axis label for 10**exponent: 1e-16, 1e-2, 1, 10."""
    return {0: "1", 1: "10"}.get(exponent, f"1e{exponent}")


def _ramp(t: float) -> str:
    """The colour at `t` in [0, 1] on the yellow → orange → red ramp, as #rrggbb."""
    t = min(max(t, 0.0), 1.0)
    for (t0, c0), (t1, c1) in pairwise(_RAMP):
        if t <= t1:
            f = (t - t0) / (t1 - t0)
            rgb = (round(a + (b - a) * f) for a, b in zip(c0, c1, strict=True))
            return "#" + "".join(f"{v:02x}" for v in rgb)
    return "#" + "".join(f"{v:02x}" for v in _RAMP[-1][1])


def heat_colour(error: float | None, expected: float, actual: float | None, tol: float) -> str:
    """The heatmap colour of one entry: grey both 0, green agrees, yellow → red up to ≥ 1."""
    if error is None or actual is None:
        return _MISSING
    if math.isnan(error) or math.isinf(error):
        return _NOT_FINITE
    if expected == 0 and actual == 0:
        return _BOTH_ZERO
    if error <= tol:
        return _WITHIN
    low = math.log10(tol)
    return _ramp((math.log10(error) - low) / (0 - low) if low < 0 else 1.0)


def heat_legend(sig_figs: int) -> tuple[LegendItem, ...]:
    """What the heatmap colours mean (the same for every tensor of one report)."""
    tol = format_error(tolerance(sig_figs))
    gradient = ", ".join(f"{_ramp(t)} {100 * t:.0f}%" for t, _ in _RAMP)
    return (
        LegendItem(f"background: {_BOTH_ZERO}", "both exactly 0"),
        LegendItem(f"background: {_WITHIN}", f"agrees (at most {tol})"),
        LegendItem(
            f"background: linear-gradient(90deg, {gradient}); width: 3em",
            f"disagrees: from just above {tol} (yellow) to 1 or more (red)",
        ),
        LegendItem(f"background: {_NOT_FINITE}", "NaN or inf"),
    )


def _limit_text(sig_figs: int) -> str:
    """The label of the chart's limit line."""
    return f"limit for {sig_figs} significant figures"


@dataclass(frozen=True)
class ChartDrawing:
    """One drawing of a check's bar chart: an <svg> for one layout."""

    id: str  # prefix of the ids that label the <svg>
    css: str  # wide or compact
    width: str  # natural width in px: the viewBox's and the largest the drawing is shown
    height: str
    grid: tuple[Line, ...]
    bars: tuple[Box, ...]
    limit: Line
    label_boxes: tuple[Box, ...]  # the tag behind the limit's label
    labels: tuple[Label, ...]


@dataclass(frozen=True)
class ChartView:
    """A check's bar chart of the largest relative error per tensor, in two layouts."""

    title: str
    desc: str  # every bar's value, for screen readers
    summary: str  # the sentence shown under the chart
    drawings: tuple[ChartDrawing, ...]
    legend: tuple[LegendItem, ...]


@dataclass(frozen=True)
class _Bar:
    """What a bar shows, before any layout."""

    name: str
    error: float
    bad: bool
    tip: str


def _limit_tag_end(
    bars: Sequence[_Bar],
    start: int | None,
    left: float,
    slot: float,
    bar_width: float,
    width: float,
) -> float:
    """Where the limit's label ends: as far right as it can while hiding the fewest failing bars.

    Failing bars cross the limit line, so the label hides part of them wherever it overlaps one;
    it never hides the first failing bar when it can help it.
    """
    n = len(bars)
    lo, hi = left + 4, left + n * slot - 2
    best, best_end = math.inf, hi
    for k in range(n, 0, -1):  # the label ends at a slot boundary, between two bars
        end = min(left + k * slot, hi)
        if end - width < lo:
            break
        hidden = 0.0
        for i, bar in enumerate(bars):
            cx = left + (i + 0.5) * slot
            if bar.bad and end - width < cx + bar_width / 2 and cx - bar_width / 2 < end:
                hidden += n if i == start else 1
        if hidden < best:
            best, best_end = hidden, end
    return best_end


def _chart_drawing(
    layout: _ChartLayout, anchor: str, bars: Sequence[_Bar], start: int | None, sig_figs: int
) -> ChartDrawing:
    """Lay out `bars` in `layout`: every coordinate and font size, formatted."""
    tol = tolerance(sig_figs)
    n, font, tick = len(bars), layout.font, layout.tick_font
    size, tick_size = _px(font), _px(tick)
    limit_text = f"limit: {sig_figs} sig. figs" if layout.short_limit else _limit_text(sig_figs)
    tag_width = _text_width(limit_text, tick) + 8
    slot = min(max(layout.plot_width / n, layout.slot_min), layout.slot_max)
    # Few bars leave room for the limit's label after the plot, where it hides nothing.
    beside = n * slot + tag_width + 6 <= layout.plot_width
    bar_width = min(slot * 0.64, 32.0)
    longest = max(_text_width(bar.name, font) for bar in bars)
    turned = n > layout.straight_names or longest > slot - 4
    if not turned:
        drop, sideways = font + 6, 0.0
    elif layout.angle == 90:
        drop, sideways = longest + 10, 0.0
    else:
        drop, sideways = longest * math.sqrt(0.5) + 16, longest * math.sqrt(0.5)
    left = max(_text_width("1e-16", tick) + 10, sideways - slot / 2 + 4)
    right = tag_width + 6 if beside else 8.0
    plot_right = left + n * slot
    width = plot_right + right

    # Above the plot, from the top: the start label, its arrow, then the marks of failing bars.
    marks = [
        ("✗" if math.isfinite(bar.error) else format_error(bar.error)) if bar.bad else ""
        for bar in bars
    ]
    upright = [_text_width(m, font) <= slot - 1 for m in marks]
    mark_height = max(
        (font if up else _text_width(m, font) for m, up in zip(marks, upright, strict=True) if m),
        default=0.0,
    )
    y = 4.0
    start_text_y = y + font
    if start is not None:
        y += 2 * (font + 3)
    marks_y = y + mark_height
    plot_top = max(marks_y + 6, 14.0)
    plot_bottom = plot_top + layout.plot_height
    height = plot_bottom + drop

    def y_of(error: float) -> float:
        share = (_LOG_MAX - _exponent(error)) / (_LOG_MAX - _LOG_MIN)
        return plot_top + share * layout.plot_height

    grid = [
        Line(_px(left), _px(y_of(10.0**e)), _px(plot_right), _px(y_of(10.0**e)), "grid")
        for e in range(_LOG_MIN, 1, 2)
    ]
    grid.append(Line(_px(left), _px(plot_top), _px(left), _px(plot_bottom), "axis"))
    grid.append(Line(_px(left), _px(plot_bottom), _px(plot_right), _px(plot_bottom), "axis"))
    labels = [
        Label(_px(left - 5), _px(y_of(10.0**e) + tick / 3), _decade(e), tick_size, "tick", "end")
        for e in range(_LOG_MIN, 1, 2)
    ]
    rects: list[Box] = []
    for i, bar in enumerate(bars):
        cx = left + (i + 0.5) * slot
        top = y_of(bar.error)
        if bar.error > 0 and plot_bottom - top < 1.5:
            top = plot_bottom - 1.5  # below 1e-16: a sliver, not nothing
        css = "err-bar " + ("bad" if bar.bad else "ok") + (" start" if i == start else "")
        rect = Box(_px(cx - bar_width / 2), _px(top), _px(bar_width), _px(plot_bottom - top), css)
        rects.append(Box(rect.x, rect.y, rect.width, rect.height, rect.css, tip=bar.tip))
        if bar.error == 0:
            labels.append(Label(_px(cx), _px(plot_bottom - 4), "0", tick_size, "zero"))
        if marks[i] and upright[i]:
            labels.append(Label(_px(cx), _px(marks_y), marks[i], size, "mark"))
        elif marks[i]:  # inf or NaN, wider than a slot: read upwards
            x, y = cx + font / 3, marks_y
            turn = f"rotate(-90 {_px(x)} {_px(y)})"
            labels.append(Label(_px(x), _px(y), marks[i], size, "mark", "start", turn))
        css = "name start" if i == start else "name"
        if not turned:
            labels.append(Label(_px(cx), _px(plot_bottom + font + 4), bar.name, size, css))
        else:
            x, y = cx + (font / 3 if layout.angle == 90 else 4), plot_bottom + 8
            turn = f"rotate(-{layout.angle} {_px(x)} {_px(y)})"
            labels.append(Label(_px(x), _px(y), bar.name, size, css, "end", turn))

    y_limit = y_of(tol)
    if beside:
        end = plot_right + 4 + tag_width
    else:
        end = _limit_tag_end(bars, start, left, slot, bar_width, tag_width)
    tag = Box(
        _px(end - tag_width), _px(y_limit - tick / 2 - 3), _px(tag_width), _px(tick + 6), "tag"
    )
    labels.append(
        Label(_px(end - tag_width / 2), _px(y_limit + tick / 3), limit_text, tick_size, "limit")
    )
    if start is not None:
        cx = left + (start + 0.5) * slot
        labels.append(Label(_px(cx), _px(start_text_y + font + 3), "▼", size, "start"))
        fits = cx - font + _text_width(START_LABEL, font) <= width - 4
        x = cx - font if fits else cx + font
        anchor_side = "start" if fits else "end"
        labels.append(Label(_px(x), _px(start_text_y), START_LABEL, size, "start", anchor_side))
    return ChartDrawing(
        id=f"{anchor}-chart-{layout.css}",
        css=layout.css,
        width=_px(width),
        height=_px(height),
        grid=tuple(grid),
        bars=tuple(rects),
        limit=Line(_px(left), _px(y_limit), _px(plot_right), _px(y_limit), "limit"),
        label_boxes=(tag,),
        labels=tuple(labels),
    )


def _chart_view(
    anchor: str, tables: Sequence[TensorTable], start: int | None, sig_figs: int
) -> ChartView:
    """The bar chart of `tables` in order; `start` is the index of the first failing tensor."""
    tol = tolerance(sig_figs)
    bars = []
    for table in tables:
        err = table.max_relative_error
        bad = not table.agree or not err <= tol  # NaN counts as above
        verdict = "above the limit" if bad else "within the limit"
        if not table.agree and table.note:
            verdict += f": {table.note}"
        tip = f"{table.name}: largest relative error {format_error(err)}, {verdict}"
        bars.append(_Bar(table.name, err, bad, tip))
    n_bad = sum(bar.bad for bar in bars)
    verdict = f"{n_bad} of {len(bars)} above" if n_bad else f"all {len(bars)} within"
    summary = (
        f"Largest relative error per tensor; {verdict} the limit for {sig_figs} significant "
        f"figures ({format_error(tol)})"
    )
    summary += f"; error starts at {tables[start].name}." if start is not None else "."
    desc = "; ".join(
        f"{bar.name} {format_error(bar.error)}" + (" (above the limit)" if bar.bad else "")
        for bar in bars
    )
    return ChartView(
        title=f"Largest relative error per tensor (log scale), limit {format_error(tol)}",
        desc=desc + ".",
        summary=summary,
        drawings=tuple(
            _chart_drawing(layout, anchor, bars, start, sig_figs) for layout in (_WIDE, _COMPACT)
        ),
        legend=(
            LegendItem(f"background: {_BAR_OK}", "within the limit"),
            LegendItem(f"background: {_BAR_BAD}", "above the limit (✗; inf and NaN at the top)"),
            LegendItem("", f"{_limit_text(sig_figs)} ({format_error(tol)})", "limit-swatch"),
        ),
    )


@dataclass(frozen=True)
class HeatmapView:
    """One tensor's relative error per entry, one square each."""

    width: str
    height: str
    title: str
    cells: tuple[Box, ...]
    labels: tuple[Label, ...]
    caption: str  # what the cap left out, or ""


def _grid_shape(shape: Sequence[int], n: int) -> tuple[int, int]:
    """Rows and columns of the heatmap of `n` entries: a matrix as is, a vector wrapped."""
    if len(shape) >= 2 and math.prod(shape) == n and n:
        return math.prod(shape[:-1]), shape[-1]
    cols = max(min(n, HEATMAP_MAX), 1)
    return -(-n // cols), cols


def _heatmap_view(
    table: TensorTable,
    indices: Sequence[str],
    actual: Sequence[float],
    errors: Sequence[float | None],
    sig_figs: int,
) -> HeatmapView:
    tol = tolerance(sig_figs)
    n = len(table.expected)
    rows, cols = _grid_shape(table.shape, n)
    wrapped = cols != (table.shape[-1] if len(table.shape) >= 2 else n)
    shown_rows, shown_cols = min(rows, HEATMAP_MAX), min(cols, HEATMAP_MAX)
    row_names = [str(r * cols) if wrapped else str(r) for r in range(shown_rows)]
    label_rows = rows > 1 or len(table.shape) >= 2
    cell = _CELL_WIDE if shown_cols <= _CELL_WIDE_UP_TO else _CELL_NARROW
    size = _px(_CELL_FONT)
    left = _text_width(max(row_names, key=len), _CELL_FONT) + 6 if label_rows else 2.0
    top = _CELL_FONT + 6
    cells: list[Box] = []
    for r in range(shown_rows):
        for c in range(shown_cols):
            i = r * cols + c
            if i >= n:
                break
            err = errors[i]
            mine = actual[i] if i < len(actual) else None
            yours = "missing" if mine is None else format_value(mine)
            shown = "—" if err is None else format_error(err)
            tip = (
                f"{indices[i]}: reference {format_value(table.expected[i])}, "
                f"yours {yours}, relative error {shown}"
            )
            fill = heat_colour(err, table.expected[i], mine, tol)
            x, y = left + c * cell, top + r * cell
            cells.append(Box(_px(x), _px(y), _px(cell), _px(cell), "cell", fill, tip))
    labels = [
        Label(_px(left + (c + 0.5) * cell), _px(top - 4), str(c), size, "tick")
        for c in range(0, shown_cols, 5)
    ]
    if label_rows:
        labels += [
            Label(
                _px(left - 4), _px(top + (r + 0.5) * cell + 3.5), row_names[r], size, "tick", "end"
            )
            for r in range(0, shown_rows, 5)
        ]
    caption = ""
    if (shown_rows, shown_cols) != (rows, cols):
        drawn = min(n, shown_rows * cols) if wrapped else shown_rows * shown_cols
        caption = (
            f"The heatmap draws {drawn} of the {n} entries (at most {HEATMAP_MAX} rows and "
            f"{HEATMAP_MAX} columns); the table lists the disagreeing ones first."
        )
    what = "vector" if len(table.shape) < 2 else f"{rows} × {cols} matrix"
    return HeatmapView(
        width=_px(left + shown_cols * cell + 2),
        height=_px(top + shown_rows * cell + 2),
        title=f"Relative error of every entry of {table.name} ({what}); hover a square for values",
        cells=tuple(cells),
        labels=tuple(labels),
        caption=caption,
    )


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

    anchor: str
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
    heatmap: HeatmapView | None  # when the shapes match
    starts: bool  # the check's first failing tensor: where the error starts


@dataclass(frozen=True)
class DiagnosisView:
    """One named mistake."""

    tensor: str
    message: str


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
    diagnoses_title: str
    diagnoses: tuple[DiagnosisView, ...]
    details: tuple[str, ...]
    chart: ChartView | None  # when the check has tables
    tables: tuple[TableView, ...]  # tensors shown entry by entry
    summaries: tuple[TableView, ...]  # tensors without entries: one line each
    start_name: str  # the first failing tensor, when the page shows it
    start_anchor: str


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
    heat_legend: tuple[LegendItem, ...]
    start_label: str


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


def _table_view(table: TensorTable, sig_figs: int, anchor: str, starts: bool) -> TableView:
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
            anchor=anchor,
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
            heatmap=None,
            starts=starts,
        )

    actual = table.actual
    errors = _relative_errors(table, actual, sig_figs)
    regular = math.prod(table.shape) == len(table.expected)
    indices = [
        "[" + ", ".join(str(k) for k in (_unravel(i, table.shape) if regular else [i])) + "]"
        for i in range(len(table.expected))
    ]
    rows = []
    for i, ref in enumerate(table.expected):
        err = errors[i]
        bad = err is not None and not err <= tol  # NaN counts as disagreeing
        rows.append(
            RowView(
                index=indices[i],
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
        anchor=anchor,
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
        heatmap=_heatmap_view(table, indices, actual, errors, sig_figs) if rows else None,
        starts=starts,
    )


def _anchor(position: int, check_id: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", check_id.lower()).strip("-")
    return f"check-{position}-{slug}" if slug else f"check-{position}"


def _check_view(position: int, check: CheckResult, sig_figs: int) -> CheckView:
    anchor = _anchor(position, check.id)
    names = [t.name for t in check.tables]
    start = names.index(check.first_failing) if check.first_failing in names else None
    views = [
        _table_view(t, sig_figs, f"{anchor}-tensor-{i + 1}", i == start)
        for i, t in enumerate(check.tables)
    ]
    n = len(check.diagnoses)
    return CheckView(
        anchor=anchor,
        id=check.id,
        name=check.name,
        status=check.status,
        badge=_BADGES[check.status],
        points=f"{format_score(check.score)} / {format_score(check.max_score)}",
        message=check.message,
        diagnoses_title="Likely mistake" if n == 1 else "Likely mistakes, most likely first",
        diagnoses=tuple(DiagnosisView(d.tensor or "", d.message) for d in check.diagnoses),
        details=tuple(check.details),
        chart=_chart_view(anchor, check.tables, start, sig_figs) if check.tables else None,
        tables=tuple(v for v, t in zip(views, check.tables, strict=True) if t.expected),
        summaries=tuple(v for v, t in zip(views, check.tables, strict=True) if not t.expected),
        start_name="" if start is None else names[start],
        start_anchor="" if start is None else views[start].anchor,
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
        heat_legend=heat_legend(result.sig_figs),
        start_label=START_LABEL,
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
