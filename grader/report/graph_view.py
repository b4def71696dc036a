"""The autograd graph as the report draws it: a box per node from the loss down to the
parameters, an arrow per edge (the way the gradient flows), and a legend of the node types.

Rows are the nodes' distances from the loss (`autograd_graph.layers`, a row wider than
`MAX_PER_ROW` wraps onto more rows). Within a row each node takes the slot nearest its parents'
that the row's order allows, so a chain runs straight down: in an MLP the spine
Addmm → Relu → Addmm is one column, each bias to its left and each TBackward → weight to its
right. A deep graph (bs6207-a1: 57 nodes in 26 rows) wraps into columns side by side, and an
arrow leaving the bottom of one column runs through the gap to the top of the next. Nothing is
scaled: the drawing keeps its natural size, and the page scrolls it sideways when it is wider.

Most students of a class build the same network, so the same graph: its card on the report
(`templates/graph.html.j2`) is rendered once per graph and kept, by the graph's JSON, for the
next student's report (`graph_card`).
"""

from __future__ import annotations

import functools
import math
from collections import Counter
from dataclasses import dataclass

from markupsafe import Markup

from grader.autograd_graph import Graph, Node, layers, normalize
from grader.report.jinja import template
from grader.report.svg import Box, Label, fit_text, px, text_width

FONT, SUB_FONT = 12.0, 11.0  # the node type; a leaf's parameter and shape under it
BOX_H, BOX_MIN_W, BOX_MAX_W, PADDING = 34.0, 110.0, 240.0, 10.0
GAP_X, GAP_Y, GUTTER, MARGIN = 12.0, 22.0, 40.0, 10.0
LANE = 6.0  # between arrows that run side by side from one column to the next
HEAD, HEAD_HALF = 7.0, 4.0  # an arrowhead's length and half width
MAX_PER_ROW = 8  # a wider row wraps onto more rows
ROWS_PER_COLUMN = 14  # a deeper graph wraps into columns ...
TARGET_WIDTH = 870.0  # ... as many as fit side by side in about this width


@dataclass(frozen=True)
class NodeView:
    """One node: leaf or op, its explanation as tooltip, its box and its lines of text."""

    css: str
    tip: str
    box: Box
    labels: tuple[Label, ...]


@dataclass(frozen=True)
class ArrowView:
    """One edge: an SVG path and its arrowhead's polygon points."""

    path: str
    head: str


@dataclass(frozen=True)
class LegendRow:
    """One node type, once: the name the boxes show, how many there are, what it does."""

    type: str
    count: str
    explanation: str
    css: str  # leaf or op: the colour of its boxes


@dataclass(frozen=True)
class GraphView:
    """The drawing of the autograd graph and its legend."""

    width: str
    height: str
    title: str
    summary: str
    nodes: tuple[NodeView, ...]
    arrows: tuple[ArrowView, ...]
    legend: tuple[LegendRow, ...]


def _is_leaf(node: Node) -> bool:
    return normalize(node.type) == "AccumulateGrad"


def _sublabel(node: Node) -> str:
    """A leaf's parameter and shape: `0.weight (21×10)`."""
    shape = f"({'×'.join(map(str, node.shape))})" if node.shape else ""
    return " ".join(p for p in (node.parameter, shape) if p)


def _rows(graph: Graph) -> list[list[Node]]:
    """The layers from the loss down, each cut into rows of at most MAX_PER_ROW."""
    return [
        layer[i : i + MAX_PER_ROW]
        for layer in layers(graph)
        for i in range(0, len(layer), MAX_PER_ROW)
    ]


def _slots(rows: list[list[Node]], edges: list[tuple[int, int]], width: int) -> dict[int, int]:
    """Each node's slot in its row: nearest the mean slot of its parents, in the row's order."""
    parents: dict[int, list[int]] = {}
    for parent, child in edges:
        parents.setdefault(child, []).append(parent)
    slot: dict[int, int] = {}
    for row in rows:
        wanted = {}
        for node in row:
            above = [slot[p] for p in parents.get(node.id, []) if p in slot]
            wanted[node.id] = sum(above) / len(above) if above else (width - 1) / 2
        order = sorted(row, key=lambda n: wanted[n.id])  # stable: ties keep torch's order
        taken: list[int] = []
        for node in order:
            taken.append(max(math.floor(wanted[node.id] + 0.5), taken[-1] + 1 if taken else 0))
        limit = width - 1
        for i in reversed(range(len(taken))):  # pushed back from the right edge
            taken[i] = min(taken[i], limit)
            limit = taken[i] - 1
        slot |= {node.id: s for node, s in zip(order, taken, strict=True)}
    return slot


def _head(tip: tuple[float, float], start: tuple[float, float]) -> tuple[str, str]:
    """The arrowhead at `tip` of a line from `start`: where the line stops, and the polygon."""
    (x1, y1), (x0, y0) = tip, start
    length = math.hypot(x1 - x0, y1 - y0) or 1.0
    dx, dy = (x1 - x0) / length, (y1 - y0) / length
    bx, by = x1 - HEAD * dx, y1 - HEAD * dy
    wings = [(bx - HEAD_HALF * dy, by + HEAD_HALF * dx), (bx + HEAD_HALF * dy, by - HEAD_HALF * dx)]
    points = " ".join(f"{px(x)},{px(y)}" for x, y in [(x1, y1), *wings])
    return f"{px(bx)},{px(by)}", points


@dataclass(frozen=True)
class _Layout:
    """Where everything goes: the box width, the columns, and each node's top-left corner."""

    box_w: float
    column_w: float
    columns: int
    top: float  # of the first row, below the lanes of arrows coming from the column before
    bottom: float  # of the lowest row of any column
    lane: float
    lanes: int  # the most arrows leaving one column for the next
    column_of: dict[int, int]
    place: dict[int, tuple[float, float]]


def _layout(graph: Graph) -> _Layout:
    rows = _rows(graph)
    slots_wide = max(len(row) for row in rows)
    texts = [(node.type, FONT) for node in graph.nodes]
    texts += [(_sublabel(node), SUB_FONT) for node in graph.nodes]
    longest = max(text_width(text, size) for text, size in texts) + PADDING
    box_w = min(max(longest, BOX_MIN_W), BOX_MAX_W)
    column_w = slots_wide * box_w + (slots_wide - 1) * GAP_X
    fit = max(int((TARGET_WIDTH - 2 * MARGIN + GUTTER) // (column_w + GUTTER)), 1)
    columns = min(math.ceil(len(rows) / ROWS_PER_COLUMN), fit)
    per_column = math.ceil(len(rows) / columns)
    column_of = {node.id: r // per_column for r, row in enumerate(rows) for node in row}
    leaving = Counter(column_of[p] for p, c in graph.edges if column_of[p] != column_of[c])
    lanes = max(leaving.values(), default=0)
    lane = min(LANE, (GUTTER - 8) / lanes) if lanes else 0.0
    top = MARGIN + lanes * lane
    slot = _slots(rows, graph.edges, slots_wide)
    place = {
        node.id: (
            MARGIN + (r // per_column) * (column_w + GUTTER) + slot[node.id] * (box_w + GAP_X),
            top + (r % per_column) * (BOX_H + GAP_Y),
        )
        for r, row in enumerate(rows)
        for node in row
    }
    bottom = top + per_column * (BOX_H + GAP_Y) - GAP_Y
    return _Layout(box_w, column_w, columns, top, bottom, lane, lanes, column_of, place)


def _node_view(node: Node, root: bool, layout: _Layout) -> NodeView:
    x, y = layout.place[node.id]
    css = "node leaf" if _is_leaf(node) else "node op root" if root else "node op"
    sub = fit_text(_sublabel(node), SUB_FONT, layout.box_w - PADDING / 2)
    centre = px(x + layout.box_w / 2)
    name = fit_text(node.type, FONT, layout.box_w - PADDING / 2)
    labels = [Label(centre, px(y + (14.0 if sub else 21.0)), name, px(FONT), "type")]
    if sub:
        labels.append(Label(centre, px(y + 28.0), sub, px(SUB_FONT), "sub"))
    about = f" ({_sublabel(node)})" if _sublabel(node) else ""
    tip = f"{node.type}{about}: {node.explanation}"
    return NodeView(css, tip, Box(px(x), px(y), px(layout.box_w), px(BOX_H), ""), tuple(labels))


def _arrows(graph: Graph, layout: _Layout) -> tuple[ArrowView, ...]:
    """Straight within a column; from one column to the next down below it, through the gap,
    and in above the next, each such arrow in its own lane (the rightmost parent innermost)."""
    place, column_of, lane = layout.place, layout.column_of, layout.lane
    leaving: dict[int, list[tuple[int, int]]] = {}
    for edge in sorted(graph.edges, key=lambda e: -place[e[0]][0]):
        if column_of[edge[0]] != column_of[edge[1]]:
            leaving.setdefault(column_of[edge[0]], []).append(edge)
    lanes = {edge: (i, len(group)) for group in leaving.values() for i, edge in enumerate(group)}
    arrows = []
    for parent, child in graph.edges:
        (x0, y0), (x1, y1) = place[parent], place[child]
        start, tip = (x0 + layout.box_w / 2, y0 + BOX_H), (x1 + layout.box_w / 2, y1)
        path = f"M{px(start[0])},{px(start[1])}"
        if (parent, child) in lanes:
            i, n = lanes[parent, child]
            gap = MARGIN + column_of[child] * (layout.column_w + GUTTER) - GUTTER / 2
            path += (
                f" V{px(layout.bottom + lane * (i + 1))} H{px(gap + lane * (i - (n - 1) / 2))}"
                f" V{px(layout.top - lane * (n - i))} H{px(tip[0])}"
            )
            start = (tip[0], tip[1] - HEAD)
        base, head = _head(tip, start)
        arrows.append(ArrowView(f"{path} L{base}", head))
    return tuple(arrows)


def _legend(graph: Graph) -> tuple[LegendRow, ...]:
    """Each node type once, in the order met from the loss, named as its first box names it."""
    counts = Counter(normalize(node.type) for node in graph.nodes)
    first: dict[str, Node] = {}
    for node in graph.nodes:
        first.setdefault(normalize(node.type), node)
    return tuple(
        LegendRow(
            type=first[kind].type,
            count=f"×{counts[kind]}" if counts[kind] > 1 else "",
            explanation=first[kind].explanation,
            css="leaf" if _is_leaf(first[kind]) else "op",
        )
        for kind in graph.types
    )


def graph_view(graph: Graph | None) -> GraphView | None:
    """Lay the graph out; None when there is none to draw."""
    if graph is None or not graph.nodes:
        return None
    layout = _layout(graph)
    legend = _legend(graph)
    summary = (
        f"The autograd graph of your loss: {len(graph.nodes)} nodes of {len(legend)} kinds, from "
        "the loss (top) down to the parameters (green), where the gradient ends up; it flows "
        "along the arrows. Hover a box for what it does."
    )
    if layout.columns > 1:
        summary += (
            f" The graph is drawn in {layout.columns} columns: an arrow leaving the bottom of one "
            "goes on at the top of the next."
        )
    width = 2 * MARGIN + layout.columns * layout.column_w + (layout.columns - 1) * GUTTER
    return GraphView(
        width=px(width),
        height=px(layout.bottom + layout.lanes * layout.lane + MARGIN),
        title=f"The autograd graph of the loss: {len(graph.nodes)} nodes",
        summary=summary,
        nodes=tuple(_node_view(n, i == 0, layout) for i, n in enumerate(graph.nodes)),
        arrows=_arrows(graph, layout),
        legend=legend,
    )


def graph_card(graph: Graph | None) -> Markup | None:
    """The report's card of the graph, drawn and explained; None when there is none to draw."""
    if graph is None or not graph.nodes:
        return None
    return _card(graph.model_dump_json())


@functools.lru_cache(maxsize=16)
def _card(graph_json: str) -> Markup:
    """The card of the graph written as `graph_json`: the same graph, the same card."""
    view = graph_view(Graph.model_validate_json(graph_json))
    return Markup(template("graph.html.j2").render(graph=view))
