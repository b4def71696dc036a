"""The report's per-tensor views: the table of entries (disagreeing ones first, capped at
MAX_ROWS) and the heatmap of every entry's relative error (one square each, capped at
HEATMAP_MAX rows and columns, each with a tooltip: an SVG <title>, no script).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise, product
from typing import NamedTuple

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
_SEGMENTS = tuple(pairwise(_RAMP))
_HEX = "#{:02x}{:02x}{:02x}"


@functools.lru_cache(maxsize=32)
def _indices(shape: tuple[int, ...], n: int) -> tuple[str, ...]:
    """Each entry's index as the table shows it: [2, 0], the C-order index in `shape`, or [i]
    when the `n` entries do not fill the shape. The same few shapes come back on every page."""
    if math.prod(shape) != n:
        return tuple(f"[{i}]" for i in range(n))
    return tuple("[" + ", ".join(map(str, index)) + "]" for index in product(*map(range, shape)))


def _ramp(t: float) -> str:
    """The colour at `t` in [0, 1] on the yellow → orange → red ramp, as #rrggbb."""
    t = min(max(t, 0.0), 1.0)
    for (t0, c0), (t1, c1) in _SEGMENTS:
        if t <= t1:
            f = (t - t0) / (t1 - t0)
            return _HEX.format(*[round(a + (b - a) * f) for a, b in zip(c0, c1, strict=True)])
    return _HEX.format(*_RAMP[-1][1])


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


@functools.lru_cache(maxsize=8)
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


@dataclass(frozen=True)
class _Entries:
    """A tensor's entries as its table and its heatmap both show them, each formatted once."""

    index: Sequence[str]  # [2, 0]
    expected: list[str]
    actual: list[str]  # "missing" past the end of the student's values
    error: list[str]  # "—" where there is no relative error


def _grid_shape(shape: Sequence[int], n: int) -> tuple[int, int]:
    """Rows and columns of the heatmap of `n` entries: a matrix as is, a vector wrapped."""
    if len(shape) >= 2 and math.prod(shape) == n and n:
        return math.prod(shape[:-1]), shape[-1]
    cols = max(min(n, HEATMAP_MAX), 1)
    return -(-n // cols), cols


def _heatmap_view(
    table: TensorTable,
    entries: _Entries,
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
    side = px(cell)
    xs = [px(left + c * cell) for c in range(shown_cols)]
    cells: list[Box] = []
    for r in range(shown_rows):
        y = px(top + r * cell)
        for c in range(min(shown_cols, n - r * cols)):
            i = r * cols + c
            mine = actual[i] if i < len(actual) else None
            fill = heat_colour(errors[i], table.expected[i], mine, tol)
            tip = (
                f"{entries.index[i]}: reference {entries.expected[i]}, "
                f"yours {entries.actual[i]}, relative error {entries.error[i]}"
            )
            cells.append(Box(xs[c], y, side, side, "cell", fill, tip))
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


class RowView(NamedTuple):
    """One entry of a tensor table (`markup.entry_rows` writes it): numbers formatted here."""

    entry: str  # its index: [2, 0]
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
    worst = format_error(table.max_relative_error)
    view = functools.partial(
        TableView,
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
        worst_value=worst,
        starts=starts,
    )
    if table.actual is None:
        if table.actual_shape is None:
            message = f"The student's values are missing; expected shape {shape}."
        else:
            message = (
                f"The student's shape is {format_shape(table.actual_shape)}; expected {shape}."
            )
        return view(shape_message=message)

    tol = tolerance(sig_figs)
    actual = table.actual
    errors = _relative_errors(table, actual, sig_figs)
    n = len(table.expected)
    if not n:
        return view()
    entries = _Entries(
        index=_indices(tuple(table.shape), n),
        expected=[format_value(v) for v in table.expected],
        actual=[format_value(v) for v in actual[:n]] + ["missing"] * (n - len(actual)),
        error=["—" if e is None else format_error(e) for e in errors],
    )
    bad = [e is not None and not e <= tol for e in errors]  # NaN counts as disagreeing
    disagreeing = [i for i in range(n) if bad[i]]
    order = disagreeing + [i for i in range(n) if not bad[i]]  # disagreeing first
    rows = tuple(
        RowView(
            entries.index[i],
            entries.expected[i],
            entries.actual[i],
            entries.error[i],
            not bad[i],
            "bad" if bad[i] else "ok",
        )
        for i in order[:MAX_ROWS]
    )
    order_line = ""
    if 0 < len(disagreeing) < n:
        order_line = "Disagreeing entries are listed first, then the rest in index order."
    legend = (
        f"relative error = |student − reference| / max(|student|, |reference|, "
        f"{FLOOR:g} × the largest |entry| of either); an entry disagrees (✗) when it is above "
        f"{format_error(tol)}, the limit for {sig_figs} significant figures."
    )
    return view(
        worst=f"worst relative error {worst}",
        legend=legend,
        rows=rows,
        order_line=order_line,
        hidden_line=_hidden_line(n, len(disagreeing), rows),
        heatmap=_heatmap_view(table, entries, actual, errors, sig_figs),
    )


def _hidden_line(n: int, disagreeing: int, shown: Sequence[RowView]) -> str:
    """How many of the `n` rows the cap left out, disagreeing and agreeing, or "" when none."""
    if n == len(shown):
        return ""
    hidden = {
        "disagreeing": disagreeing - sum(not r.agree for r in shown),
        "agreeing": n - disagreeing - sum(r.agree for r in shown),
    }
    parts = ", ".join(f"{k} {kind}" for kind, k in hidden.items() if k)
    return (
        f"{n - len(shown)} of {n} entries are not shown ({parts}); "
        f"the table stops at {MAX_ROWS} rows."
    )
