"""The report's most repeated elements, written here rather than by the template per element.

A failing student's page has a heatmap square and a table row for each of a thousand entries,
a passing one a row per tensor, and each chart hundreds of SVG shapes; a macro call (and
autoescape's escape of every attribute) per element was most of the cost of rendering a page.
These Jinja filters write the same bytes as that markup did, one call per list:

    {{- heat.cells|svg_rects(indent=10) }}

puts each <rect> on a line of its own, `indent` spaces in, as a for loop in the template would.
Coordinates, colours, classes, anchors and shapes are the grader's own ready-made strings (`svg`,
`tables`) and are written as they are; names, verdicts, text and tooltips, which may hold the
student's text, are escaped. A table row's entries are numbers and indices formatted by
`formatting` and `tables`, which never hold markup.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from markupsafe import Markup, escape

from grader.report.charts import START_LABEL
from grader.report.svg import Box, Label, Line

if TYPE_CHECKING:
    from grader.report.tables import RowView, TableView


def _line(line: Line) -> str:
    return f'<line x1="{line.x1}" y1="{line.y1}" x2="{line.x2}" y2="{line.y2}" class="{line.css}"/>'


def _rect(box: Box, rx: str) -> str:
    fill = f' fill="{box.fill}"' if box.fill else ""
    corner = f' rx="{rx}"' if rx else ""
    css = f' class="{box.css}"' if box.css else ""
    end = f"><title>{escape(box.tip)}</title></rect>" if box.tip else "/>"
    return (
        f'<rect x="{box.x}" y="{box.y}" width="{box.width}" height="{box.height}"'
        f"{fill}{corner}{css}{end}"
    )


def _text(label: Label) -> str:
    turn = f' transform="{label.transform}"' if label.transform else ""
    return (
        f'<text x="{label.x}" y="{label.y}" font-size="{label.size}" '
        f'text-anchor="{label.anchor}"{turn} class="{label.css}">{escape(label.text)}</text>'
    )


_AGREES = '<span class="mark"></span>'
_DISAGREES = '<span class="mark" title="disagrees">✗</span>'


def _row(row: RowView) -> str:
    mark = _AGREES if row.agree else _DISAGREES
    return (
        f'<tr class="{row.css}"><td>{mark}{row.entry}</td><td>{row.expected}</td>'
        f'<td>{row.actual}</td><td class="err">{row.relative_error}</td></tr>'
    )


def _summary_row(table: TableView) -> str:
    mark = "✓" if table.agree else "✗"
    starts = f'<span class="starts">{START_LABEL}</span>' if table.starts else ""
    return (
        f'<tr class="{table.verdict_css}" id="{table.anchor}"><td>'
        f'<span class="mark {table.verdict_css}">{mark}</span>{escape(table.name)}{starts}</td>'
        f'<td>{table.shape}</td><td class="verdict-cell">{escape(table.verdict)}</td>'
        f'<td class="err">{table.worst_value}</td></tr>'
    )


def _lines(elements: Iterable[str], indent: int) -> Markup:
    """Each element on a new line, `indent` spaces in."""
    newline = "\n" + " " * indent
    return Markup("".join(newline + element for element in elements))


def svg_line(line: Line) -> Markup:
    """An SVG <line>."""
    return Markup(_line(line))


def svg_rect(box: Box, rx: str = "") -> Markup:
    """An SVG <rect>, with `rx` rounded corners if given, its tooltip as a <title>."""
    return Markup(_rect(box, rx))


def svg_text(label: Label) -> Markup:
    """An SVG <text>."""
    return Markup(_text(label))


def svg_lines(lines: Iterable[Line], indent: int) -> Markup:
    """`lines` as <line>s, each on a line of its own."""
    return _lines((_line(line) for line in lines), indent)


def svg_rects(boxes: Iterable[Box], indent: int, rx: str = "") -> Markup:
    """`boxes` as <rect>s, each on a line of its own."""
    return _lines((_rect(box, rx) for box in boxes), indent)


def svg_texts(labels: Iterable[Label], indent: int) -> Markup:
    """`labels` as <text>s, each on a line of its own."""
    return _lines((_text(label) for label in labels), indent)


def entry_rows(rows: Iterable[RowView], indent: int) -> Markup:
    """The <tr>s of a tensor's table, each on a line of its own; a disagreeing entry marked ✗."""
    return _lines((_row(row) for row in rows), indent)


def summary_rows(tables: Iterable[TableView], indent: int) -> Markup:
    """The <tr>s of the table of tensors shown without entries: one line each, its verdict."""
    return _lines((_summary_row(table) for table in tables), indent)


FILTERS = {
    "svg_line": svg_line,
    "svg_lines": svg_lines,
    "svg_rect": svg_rect,
    "svg_text": svg_text,
    "svg_rects": svg_rects,
    "svg_texts": svg_texts,
    "entry_rows": entry_rows,
    "summary_rows": summary_rows,
}
