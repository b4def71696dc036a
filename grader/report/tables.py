"""The report's per-tensor views: the table of entries (disagreeing ones first, capped at
MAX_ROWS) and the heatmap of every entry's relative error (one square each, capped at
HEATMAP_MAX rows and columns, each with a tooltip: an SVG <title>, no script).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from itertools import pairwise

import numpy as np

from grader.compare import FLOOR, compare, tolerance
from grader.report.formatting import format_error, format_shape, format_value
from grader.report.svg import Box, Label, LegendItem, px, text_width
from grader.result import TensorTable

MAX_ROWS = 500  # rows drawn per tensor; disagreeing entries first
HEATMAP_MAX = 64  # heatmap rows and columns drawn per tensor; a longer vector wraps at this width

# The heatmap: one square per entry; colour on log10 of the relative error.
_CELL_WIDE, _CELL_NARROW, _CELL_WIDE_UP_TO = 14.0, 12.0, 40  # px, and up to how many columns
_CELL_FONT = 10.0
_BOTH_ZERO = "#d0d7de"  # reference and student both exactly 0: nothing to compare
_WITHIN = "#8fd9a0"  # agrees: at most the limit
_NOT_FINITE = "#5c0a16"  # NaN or inf
_MISSING = "#ffffff"  # the student has fewer entries than the reference
_RAMP = ((0.0, (0xF7, 0xD8, 0x4A)), (0.5, (0xF0, 0x83, 0x2E)), (1.0, (0xC4, 0x17, 0x26)))


def _unravel(flat: int, shape: Sequence[int]) -> list[int]:
    """The C-order index of entry `flat` of a tensor of `shape`."""
    return [int(i) for i in np.unravel_index(flat, tuple(shape))]


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
    size = px(_CELL_FONT)
    left = text_width(max(row_names, key=len), _CELL_FONT) + 6 if label_rows else 2.0
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
            cells.append(Box(px(x), px(y), px(cell), px(cell), "cell", fill, tip))
    labels = [
        Label(px(left + (c + 0.5) * cell), px(top - 4), str(c), size, "tick")
        for c in range(0, shown_cols, 5)
    ]
    if label_rows:
        labels += [
            Label(px(left - 4), px(top + (r + 0.5) * cell + 3.5), row_names[r], size, "tick", "end")
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
        width=px(left + shown_cols * cell + 2),
        height=px(top + shown_rows * cell + 2),
        title=f"Relative error of every entry of {table.name} ({what}); hover a square for values",
        cells=tuple(cells),
        labels=tuple(labels),
        caption=caption,
    )


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
    worst_value: str  # the worst relative error alone: 3.2e-02
    starts: bool  # the check's first failing tensor: where the error starts
    worst: str = ""  # "worst relative error 3.2e-02", or "" when there are no entries to compare
    shape_message: str = ""  # set instead of rows when the student's shape differs
    legend: str = ""
    rows: tuple[RowView, ...] = ()
    order_line: str = ""  # how the rows are ordered, when that is not plain index order
    hidden_line: str = ""  # how many rows the cap left out, or ""
    heatmap: HeatmapView | None = None  # when the shapes match


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


def table_view(table: TensorTable, sig_figs: int, anchor: str, starts: bool) -> TableView:
    """The view of one tensor: its verdict, then its entries or why there are none."""
    shape = format_shape(table.shape)
    view = TableView(
        anchor=anchor,
        name=table.name,
        shape=shape,
        agree=table.agree,
        verdict="agrees"
        if table.agree
        else f"disagrees: {table.note}"
        if table.note
        else "disagrees",
        verdict_css="ok" if table.agree else "bad",
        worst_value=format_error(table.max_relative_error),
        starts=starts,
    )
    if table.actual is None:
        if table.actual_shape is None:
            message = f"The student's values are missing; expected shape {shape}."
        else:
            message = (
                f"The student's shape is {format_shape(table.actual_shape)}; expected {shape}."
            )
        return replace(view, shape_message=message)

    tol = tolerance(sig_figs)
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
    if not rows:
        return view
    disagreeing = [r for r in rows if not r.agree]
    agreeing = [r for r in rows if r.agree]
    shown = (disagreeing + agreeing)[:MAX_ROWS]
    order_line = ""
    if disagreeing and agreeing:
        order_line = "Disagreeing entries are listed first, then the rest in index order."
    legend = (
        f"relative error = |student − reference| / max(|student|, |reference|, "
        f"{FLOOR:g} × the largest |entry| of either); an entry disagrees (✗) when it is above "
        f"{format_error(tol)}, the limit for {sig_figs} significant figures."
    )
    return replace(
        view,
        worst=f"worst relative error {view.worst_value}",
        legend=legend,
        rows=tuple(shown),
        order_line=order_line,
        hidden_line=_hidden_line(rows, shown),
        heatmap=_heatmap_view(table, indices, actual, errors, sig_figs),
    )


def _hidden_line(rows: Sequence[RowView], shown: Sequence[RowView]) -> str:
    """How many rows the cap left out, disagreeing and agreeing, or "" when none."""
    if len(rows) == len(shown):
        return ""
    hidden = {
        "disagreeing": sum(not r.agree for r in rows) - sum(not r.agree for r in shown),
        "agreeing": sum(r.agree for r in rows) - sum(r.agree for r in shown),
    }
    parts = ", ".join(f"{n} {kind}" for kind, n in hidden.items() if n)
    return (
        f"{len(rows) - len(shown)} of {len(rows)} entries are not shown ({parts}); "
        f"the table stops at {MAX_ROWS} rows."
    )
