"""The report's bar chart: per check, each tensor's largest relative error on a log scale
against the limit for the assignment's significant figures, the first failing tensor marked.

Drawn twice from one builder, in two layouts (`WIDE` for desktops, `COMPACT` for phones, shown
by a media query); every coordinate, font size and label is computed here.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass

from grader.compare import tolerance
from grader.report.formatting import format_error
from grader.report.svg import Box, Label, LegendItem, Line, px, text_width
from grader.result import TensorTable

START_LABEL = "error starts here"

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
    failing = [(i, left + (i + 0.5) * slot) for i, bar in enumerate(bars) if bar.bad]
    best, best_end = math.inf, hi
    for k in range(n, 0, -1):  # the label ends at a slot boundary, between two bars
        end = min(left + k * slot, hi)
        if end - width < lo:
            break
        hidden = 0.0
        for i, cx in failing:
            if end - width < cx + bar_width / 2 and cx - bar_width / 2 < end:
                hidden += n if i == start else 1
        if hidden < best:
            best, best_end = hidden, end
        if not best:
            break  # it hides nothing: no place further left does better
    return best_end


def _y(layout: _ChartLayout, plot_top: float, error: float) -> float:
    """Where `error` is on the log axis of a plot drawn from `plot_top` down."""
    share = (_LOG_MAX - _exponent(error)) / (_LOG_MAX - _LOG_MIN)
    return plot_top + share * layout.plot_height


@functools.lru_cache(maxsize=64)
def _axes(
    layout: _ChartLayout, left: float, right: float, top: float
) -> tuple[tuple[Line, ...], tuple[Label, ...]]:
    """The grid, the axes and the decades' labels of a plot: the same for charts of one size."""
    bottom = top + layout.plot_height
    tick = layout.tick_font
    ys = [(e, _y(layout, top, 10.0**e)) for e in range(_LOG_MIN, 1, 2)]
    grid = [Line(px(left), px(y), px(right), px(y), "grid") for _, y in ys]
    grid.append(Line(px(left), px(top), px(left), px(bottom), "axis"))
    grid.append(Line(px(left), px(bottom), px(right), px(bottom), "axis"))
    labels = [
        Label(px(left - 5), px(y + tick / 3), _decade(e), px(tick), "tick", "end") for e, y in ys
    ]
    return tuple(grid), tuple(labels)


def _chart_drawing(
    layout: _ChartLayout, anchor: str, bars: Sequence[_Bar], start: int | None, sig_figs: int
) -> ChartDrawing:
    """Lay out `bars` in `layout`: every coordinate and font size, formatted."""
    tol = tolerance(sig_figs)
    n, font, tick = len(bars), layout.font, layout.tick_font
    size, tick_size = px(font), px(tick)
    limit_text = f"limit: {sig_figs} sig. figs" if layout.short_limit else _limit_text(sig_figs)
    tag_width = text_width(limit_text, tick) + 8
    slot = min(max(layout.plot_width / n, layout.slot_min), layout.slot_max)
    # Few bars leave room for the limit's label after the plot, where it hides nothing.
    beside = n * slot + tag_width + 6 <= layout.plot_width
    bar_width = min(slot * 0.64, 32.0)
    longest = max(text_width(bar.name, font) for bar in bars)
    turned = n > layout.straight_names or longest > slot - 4
    if not turned:
        drop, sideways = font + 6, 0.0
    elif layout.angle == 90:
        drop, sideways = longest + 10, 0.0
    else:
        drop, sideways = longest * math.sqrt(0.5) + 16, longest * math.sqrt(0.5)
    left = max(text_width("1e-16", tick) + 10, sideways - slot / 2 + 4)
    right = tag_width + 6 if beside else 8.0
    plot_right = left + n * slot
    width = plot_right + right

    # Above the plot, from the top: the start label, its arrow, then the marks of failing bars.
    marks = [
        ("✗" if math.isfinite(bar.error) else format_error(bar.error)) if bar.bad else ""
        for bar in bars
    ]
    upright = [text_width(m, font) <= slot - 1 for m in marks]
    mark_height = max(
        (font if up else text_width(m, font) for m, up in zip(marks, upright, strict=True) if m),
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

    grid, decades = _axes(layout, left, plot_right, plot_top)
    labels = list(decades)
    rects: list[Box] = []
    for i, bar in enumerate(bars):
        cx = left + (i + 0.5) * slot
        top = _y(layout, plot_top, bar.error)
        if bar.error > 0 and plot_bottom - top < 1.5:
            top = plot_bottom - 1.5  # below 1e-16: a sliver, not nothing
        css = "err-bar " + ("bad" if bar.bad else "ok") + (" start" if i == start else "")
        tall = px(plot_bottom - top)
        rects.append(Box(px(cx - bar_width / 2), px(top), px(bar_width), tall, css, tip=bar.tip))
        if bar.error == 0:
            labels.append(Label(px(cx), px(plot_bottom - 4), "0", tick_size, "zero"))
        if marks[i] and upright[i]:
            labels.append(Label(px(cx), px(marks_y), marks[i], size, "mark"))
        elif marks[i]:  # inf or NaN, wider than a slot: read upwards
            x, y = cx + font / 3, marks_y
            turn = f"rotate(-90 {px(x)} {px(y)})"
            labels.append(Label(px(x), px(y), marks[i], size, "mark", "start", turn))
        css = "name start" if i == start else "name"
        if not turned:
            labels.append(Label(px(cx), px(plot_bottom + font + 4), bar.name, size, css))
        else:
            x, y = cx + (font / 3 if layout.angle == 90 else 4), plot_bottom + 8
            turn = f"rotate(-{layout.angle} {px(x)} {px(y)})"
            labels.append(Label(px(x), px(y), bar.name, size, css, "end", turn))

    y_limit = _y(layout, plot_top, tol)
    if beside:
        end = plot_right + 4 + tag_width
    else:
        end = _limit_tag_end(bars, start, left, slot, bar_width, tag_width)
    tag = Box(px(end - tag_width), px(y_limit - tick / 2 - 3), px(tag_width), px(tick + 6), "tag")
    labels.append(
        Label(px(end - tag_width / 2), px(y_limit + tick / 3), limit_text, tick_size, "limit")
    )
    if start is not None:
        cx = left + (start + 0.5) * slot
        labels.append(Label(px(cx), px(start_text_y + font + 3), "▼", size, "start"))
        fits = cx - font + text_width(START_LABEL, font) <= width - 4
        x = cx - font if fits else cx + font
        anchor_side = "start" if fits else "end"
        labels.append(Label(px(x), px(start_text_y), START_LABEL, size, "start", anchor_side))
    return ChartDrawing(
        id=f"{anchor}-chart-{layout.css}",
        css=layout.css,
        width=px(width),
        height=px(height),
        grid=grid,
        bars=tuple(rects),
        limit=Line(px(left), px(y_limit), px(plot_right), px(y_limit), "limit"),
        label_boxes=(tag,),
        labels=tuple(labels),
    )


def chart_view(
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
