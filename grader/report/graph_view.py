"""The autograd graph as the report draws it: boxes in layers from the loss down, and arrows.

Positions are computed here; the template only places the ready-made numbers and names.
"""

from __future__ import annotations

from dataclasses import dataclass

from grader.autograd_graph import Graph, layers, normalize

BOX_W, BOX_H, GAP_X, GAP_Y, MARGIN = 150, 34, 18, 34, 10
MAX_PER_ROW = 8  # wider layers wrap onto more rows


@dataclass(frozen=True)
class BoxView:
    x: str
    y: str
    text_x: str
    text_y: str
    label: str
    sublabel: str  # parameter and shape for a leaf
    title: str  # the tooltip: the node's explanation
    css: str


@dataclass(frozen=True)
class ArrowView:
    path: str


@dataclass(frozen=True)
class GraphView:
    width: str
    height: str
    boxes: tuple[BoxView, ...]
    arrows: tuple[ArrowView, ...]
    legend: tuple[tuple[str, str], ...]  # (node type, explanation), each type once
    summary: str


def graph_view(graph: Graph | None) -> GraphView | None:
    """Lay the graph out; None when there is none to draw."""
    if graph is None or not graph.nodes:
        return None
    rows = []
    for layer in layers(graph):
        rows += [layer[i : i + MAX_PER_ROW] for i in range(0, len(layer), MAX_PER_ROW)]
    widest = max(len(row) for row in rows)
    width = 2 * MARGIN + widest * BOX_W + (widest - 1) * GAP_X
    places: dict[int, tuple[float, float]] = {}
    boxes = []
    for r, row in enumerate(rows):
        row_width = len(row) * BOX_W + (len(row) - 1) * GAP_X
        left = (width - row_width) / 2
        for c, node in enumerate(row):
            x, y = left + c * (BOX_W + GAP_X), MARGIN + r * (BOX_H + GAP_Y)
            places[node.id] = (x, y)
            leaf = normalize(node.type) == "AccumulateGrad"
            shape = "×".join(map(str, node.shape))
            boxes.append(
                BoxView(
                    x=f"{x:.1f}",
                    y=f"{y:.1f}",
                    text_x=f"{x + BOX_W / 2:.1f}",
                    text_y=f"{y + 14:.1f}",
                    label=node.type,
                    sublabel=" ".join(
                        p for p in (node.parameter, f"({shape})" if shape else "") if p
                    ),
                    title=f"{node.type}: {node.explanation}",
                    css="leaf" if leaf else "op",
                )
            )
    arrows = []
    for parent, child in graph.edges:
        (x0, y0), (x1, y1) = places[parent], places[child]
        start = (x0 + BOX_W / 2, y0 + BOX_H)
        end = (x1 + BOX_W / 2, y1)
        arrows.append(ArrowView(path=f"M{start[0]:.1f},{start[1]:.1f} L{end[0]:.1f},{end[1]:.1f}"))
    height = 2 * MARGIN + len(rows) * BOX_H + (len(rows) - 1) * GAP_Y
    legend = tuple(
        (normal, next(n.explanation for n in graph.nodes if normalize(n.type) == normal))
        for normal in graph.types
    )
    summary = (
        f"The autograd graph of your loss: {len(graph.nodes)} nodes of {len(legend)} kinds, "
        "from the loss (top) down to the parameters (green); the gradient flows downwards."
    )
    return GraphView(
        width=str(width),
        height=str(height),
        boxes=tuple(boxes),
        arrows=tuple(arrows),
        legend=legend,
        summary=summary,
    )
