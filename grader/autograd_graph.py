"""The autograd graph of the loss (the homework's Q2): its nodes explained, and laid out to draw.

The child walks `loss.grad_fn` through `next_functions` and sends nodes and edges; here they
are validated (a node's name is a class name, nothing else), explained, and placed in layers
by their distance from the loss, so the report can draw them without Graphviz.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

MAX_NODES = 2000
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")

# Node types by their name without torch's version suffix (AddmmBackward0 -> AddmmBackward);
# older and newer torch spell some differently.
ALIASES = {
    "ThnnConv2DBackward": "ConvolutionBackward",
    "MkldnnConvolutionBackward": "ConvolutionBackward",
    "ReshapeAliasBackward": "ViewBackward",
    "UnsafeViewBackward": "ViewBackward",
    "MseLossBackward": "MseLossBackward",
}
EXPLANATIONS = {
    "AccumulateGrad": "a leaf: adds the gradient that reaches it into the parameter's .grad",
    "TBackward": "the transpose of a weight (x Wᵀ): passes the gradient back transposed",
    "AddmmBackward": "b + x Wᵀ (a Linear layer on a batch): sends grad·W to x, gradᵀ·x to W "
    "and the summed grad to b",
    "MmBackward": "a matrix product A B: sends grad·Bᵀ to A and Aᵀ·grad to B",
    "MvBackward": "a matrix-vector product W v: sends outer(grad, v) to W and Wᵀ·grad to v",
    "AddBackward": "a sum a + b: passes the gradient unchanged to both",
    "SubBackward": "a difference a − b (here p − y): passes the gradient to a, its negative to b",
    "MulBackward": "a product a·b: sends grad·b to a and grad·a to b",
    "DivBackward": "a quotient a / b: sends grad / b to a and −grad·a / b² to b",
    "PowBackward": "a power aⁿ (the square in (p − y)²): multiplies the gradient by n·aⁿ⁻¹",
    "SumBackward": "a sum over entries (the loss's Σ): copies the gradient to every entry",
    "MeanBackward": "a mean over n entries: copies the gradient / n to every entry",
    "ReluBackward": "ReLU: passes the gradient where the input was > 0, zero elsewhere",
    "ThresholdBackward": "ReLU (as a threshold): passes the gradient where the input was > 0",
    "SigmoidBackward": "sigmoid: multiplies the gradient by σ(z)(1 − σ(z))",
    "TanhBackward": "tanh: multiplies the gradient by 1 − tanh²(z)",
    "ViewBackward": "a reshape (view): reshapes the gradient back to the input's shape",
    "SqueezeBackward": "removes a size-1 dimension: puts it back on the gradient",
    "UnsqueezeBackward": "adds a size-1 dimension: removes it from the gradient",
    "ExpandBackward": "a broadcast: sums the gradient over the broadcast dimensions",
    "CloneBackward": "a copy: passes the gradient unchanged",
    "ToCopyBackward": "a dtype or device copy: converts the gradient back",
    "SelectBackward": "picks one entry or row: puts the gradient back at that place",
    "IndexBackward": "indexing: scatters the gradient back to the indexed places",
    "MseLossBackward": "the mean squared error: sends 2(p − y)/n to p",
    "ConvolutionBackward": "a convolution: convolves the gradient back to input and kernel",
    "NegBackward": "a negation: negates the gradient",
}


def normalize(name: str) -> str:
    """A node type without torch's prefix and version suffix, old and new names made one."""
    base = re.sub(r"\d+$", "", name.rsplit("::", 1)[-1])
    return ALIASES.get(base, base)


def explain(name: str) -> str:
    return EXPLANATIONS.get(normalize(name), "an operation of the forward pass, undone backwards")


class Node(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: int
    type: str = Field(description="the grad_fn class, e.g. AddmmBackward0 or AccumulateGrad")
    explanation: str
    parameter: str = Field(default="", description="for AccumulateGrad: which parameter")
    shape: list[int] = Field(default_factory=list, description="for AccumulateGrad: its shape")


class Graph(BaseModel):
    """The autograd graph of the student's loss; edges run from a node to the ones it feeds."""

    model_config = ConfigDict(extra="forbid")

    nodes: list[Node]
    edges: list[tuple[int, int]]

    @property
    def types(self) -> list[str]:
        """Each node type once, normalized, in the order first met from the loss."""
        return list(dict.fromkeys(normalize(n.type) for n in self.nodes))


def from_answer(answer: dict[str, Any]) -> Graph | None:
    """The child's graph (its answer as sandbox/answers.py validated it), each node explained;
    None if a node's type is not a class name."""
    nodes = []
    for raw in answer.get("nodes", [])[:MAX_NODES]:
        name = raw["type"].split("::")[-1]
        if not _NAME.match(name):
            return None
        nodes.append(
            Node(
                id=raw["id"],
                type=name,
                explanation=explain(raw["type"]),
                parameter=raw.get("parameter", "")[:100],
                shape=raw.get("shape", []),
            )
        )
    ids = {n.id for n in nodes}
    edges = [(a, b) for a, b in answer.get("edges", []) if a in ids and b in ids]
    return Graph(nodes=nodes, edges=edges)


def layers(graph: Graph) -> list[list[Node]]:
    """Nodes by their longest distance from the loss: layer 0 holds the loss's own grad_fn."""
    children: dict[int, list[int]] = {n.id: [] for n in graph.nodes}
    waiting = {n.id: 0 for n in graph.nodes}  # parents not yet placed
    for parent, child in graph.edges:
        children[parent].append(child)
        waiting[child] += 1
    depth = dict.fromkeys(waiting, 0)
    ready = [n for n, count in waiting.items() if count == 0]
    while ready:  # Kahn's topological order: a node is placed after all its parents
        current = ready.pop()
        for child in children[current]:
            depth[child] = max(depth[child], depth[current] + 1)
            waiting[child] -= 1
            if waiting[child] == 0:
                ready.append(child)
    grouped: dict[int, list[Node]] = {}
    for node in graph.nodes:
        grouped.setdefault(depth[node.id], []).append(node)
    return [grouped[d] for d in sorted(grouped)]


def unexplained(text: str, types: Iterable[str]) -> list[str]:
    """The node types `text` does not name, accepting any torch spelling of each."""
    words = {normalize(w) for w in re.findall(r"[A-Za-z_][A-Za-z0-9_]*", text)}
    words |= {normalize(w).lower() for w in words}
    return [t for t in types if t not in words and t.lower() not in words]
