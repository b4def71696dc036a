"""The pieces of the report's inline SVG drawings, every coordinate a ready-made string.

Coordinates are written with one decimal (`px`), so the page's bytes never depend on float
noise; text widths are estimated (`text_width`), since there are no font metrics here.

A report holds thousands of these pieces, so they are named tuples (cheap to make), and the
filters of `markup` write them out: their coordinates, colours and classes come from the grader
and are written as they are; their text and tooltip may be the student's and are escaped.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple


def px(v: float) -> str:
    """An SVG coordinate or length to one decimal."""
    return f"{v:.1f}" if v != 0 else "0.0"


def text_width(text: str, size: float) -> float:
    """A generous width estimate of `text` at font size `size`."""
    return 0.62 * size * len(text)


def fit_text(text: str, size: float, width: float) -> str:
    """`text`, cut with an ellipsis to fit in `width` at font size `size`."""
    if text_width(text, size) <= width:
        return text
    keep = max(int(width / (0.62 * size)) - 1, 1)
    return text[:keep] + "…"


class Line(NamedTuple):
    """An SVG <line>."""

    x1: str
    y1: str
    x2: str
    y2: str
    css: str


class Box(NamedTuple):
    """An SVG <rect>, with a fill when its colour carries data and a tooltip when it helps."""

    x: str
    y: str
    width: str
    height: str
    css: str
    fill: str = ""
    tip: str = ""


class Label(NamedTuple):
    """An SVG <text>; its font size is in the SVG's own units, so it scales with the drawing."""

    x: str
    y: str
    text: str
    size: str
    css: str = ""
    anchor: str = "middle"
    transform: str = ""


@dataclass(frozen=True)
class LegendItem:
    """One swatch of a legend: its inline CSS background and what it means."""

    swatch: str
    text: str
    css: str = "swatch"
