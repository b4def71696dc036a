"""The autograd graph (Q2): node names across torch versions, layout, and the explanation check."""

from __future__ import annotations

from pathlib import Path

import pytest
from classroom import EXAMPLES
from conftest import Batch

from grader import grading
from grader.assignment import GraphScript, Points, load_assignment
from grader.autograd_graph import Graph, Node, explain, from_answer, layers, normalize, unexplained
from grader.errors import AssignmentError
from grader.report.graph_view import graph_view


@pytest.mark.parametrize(
    ("name", "normal"),
    [
        ("AddmmBackward0", "AddmmBackward"),
        ("TBackward", "TBackward"),
        ("MmBackward0", "MmBackward"),
        ("ThnnConv2DBackward", "ConvolutionBackward"),
        ("ConvolutionBackward0", "ConvolutionBackward"),
        ("torch::autograd::AccumulateGrad", "AccumulateGrad"),
    ],
)
def test_normalize_makes_old_and_new_names_one(name: str, normal: str) -> None:
    """Version suffixes, the C++ prefix and renamed nodes all map to one type."""
    assert normalize(name) == normal


def test_every_node_type_of_the_presets_is_explained() -> None:
    """The nodes a bs6207-a1 or sigmoid-d2 network produces each have their own explanation."""
    for name in ("AccumulateGrad", "TBackward0", "AddmmBackward0", "ReluBackward0",
                 "SigmoidBackward0", "SubBackward0", "PowBackward0", "SumBackward0",
                 "DivBackward0"):  # fmt: skip
        assert "undone backwards" not in explain(name), name


@pytest.mark.parametrize(
    ("text", "missing"),
    [
        ("TBackward and AddmmBackward and AccumulateGrad", []),
        ("tbackward0, ADDMMBACKWARD0, accumulategrad", []),
        ("only AddmmBackward0 here", ["TBackward", "AccumulateGrad"]),
        ("", ["TBackward", "AddmmBackward", "AccumulateGrad"]),
    ],
    ids=["new names", "any case, old names", "two missing", "empty"],
)
def test_unexplained(text: str, missing: list[str]) -> None:
    """A type counts as explained when any spelling of it appears in the text."""
    assert unexplained(text, ["TBackward", "AddmmBackward", "AccumulateGrad"]) == missing


def test_layers_place_each_node_after_all_its_parents() -> None:
    """A node fed by two paths sits below the longer one."""
    graph = Graph(
        nodes=[Node(id=i, type=t, explanation="") for i, t in enumerate("ABCD")],
        edges=[(0, 1), (1, 2), (0, 2), (2, 3)],
    )
    assert [[n.type for n in layer] for layer in layers(graph)] == [["A"], ["B"], ["C"], ["D"]]


@pytest.mark.parametrize(
    "answer",
    [
        {"nodes": [{"id": 0, "type": "<script>alert(1)</script>"}], "edges": []},
        {"nodes": [{"id": 0, "type": "A B"}], "edges": []},
    ],
    ids=["markup as a name", "spaces in a name"],
)
def test_forged_graphs_are_refused(answer: dict[str, object]) -> None:
    """A node name must be a class name; anything else is not a graph."""
    assert from_answer(answer) is None


def test_correct_student_explains_the_graph(batch: Batch) -> None:
    """The correct example's graph.md explains every node; with 0 points it costs nothing."""
    result = batch.results["correct"]
    check = next(c for c in result.checks if c.id == "graph-explanation")
    assert check.status == "pass" and check.max_score == 0
    assert result.graph is not None
    assert {"AddmmBackward", "ReluBackward", "AccumulateGrad"} <= set(result.graph.types)


def test_correct_students_graph_is_drawn_whole(batch: Batch) -> None:
    """The correct example's real graph (11 Linear layers, 57 nodes) is drawn in two columns: a
    box per node, an arrow per edge, every leaf with its parameter, the Addmm spine straight."""
    graph = batch.results["correct"].graph
    view = graph_view(graph)
    assert graph is not None and view is not None
    assert len(view.nodes) == len(graph.nodes) == 57
    assert len(view.arrows) == len(graph.edges)
    assert "drawn in 2 columns" in view.summary
    leaves = [n for n in view.nodes if n.css == "node leaf"]
    assert len(leaves) == 22 and all(len(n.labels) == 2 for n in leaves)
    assert {n.labels[1].text for n in leaves} >= {"0.weight (21×10)", "20.bias (1)"}
    addmm = [n for n in view.nodes if n.labels[0].text.startswith("AddmmBackward")]
    assert len(addmm) == 11 and len({n.box.x for n in addmm}) == 2  # one line per column
    assert len(view.legend) == len(graph.types) == 7


def test_incomplete_explanation_names_what_is_missing(batch: Batch) -> None:
    """graph.md that skips node types fails, naming them."""
    check = next(
        c for c in batch.results["graph_explanation_incomplete"].checks
        if c.id == "graph-explanation"
    )  # fmt: skip
    assert check.status == "fail"
    assert check.message.startswith("graph.md does not explain SumBackward, PowBackward, ")


def test_without_a_graph_file_the_check_is_not_graded(batch: Batch) -> None:
    """A student with no graph.md, in an assignment giving Q2 no points, has no such check."""
    ids = [c.id for c in batch.results["transposed_weight_grads"].checks]
    assert "graph-explanation" not in ids


GRAPH_SCRIPT = """
import torch
from network import build_network  # the student's folder is importable

net = build_network(d=10, K=10)
w = torch.ones(1, 3, requires_grad=True)
x = torch.tensor([[1.0, 2.0, 3.0]])
loss = torch.nn.functional.mse_loss(torch.sigmoid(x @ w.T), torch.zeros(1, 1))
"""


def test_the_assignments_graph_script_is_the_graph_drawn_and_explained(tmp_path: Path) -> None:
    """With [graph] script in the assignment, the graph is that script's, run in the student's
    sandbox: its nodes, and its leaf tensor named as in the script."""
    assignment = load_assignment("bs6207-a1").model_copy(
        update={"graph": GraphScript(script=GRAPH_SCRIPT)}
    )
    result = grading.grade_submission(EXAMPLES / "correct", assignment)
    assert result.graph is not None
    types = {normalize(node.type) for node in result.graph.nodes}
    assert {"MseLossBackward", "SigmoidBackward", "MmBackward", "AccumulateGrad"} <= types
    assert "AddmmBackward" not in types  # not the student's own network this time
    leaves = [node.parameter for node in result.graph.nodes if node.type == "AccumulateGrad"]
    assert leaves == ["w"]


def test_a_graph_script_that_leaves_no_loss_is_an_error_for_the_ta() -> None:
    """A script without a `loss` tensor fails the graph stage with a message naming it."""
    assignment = load_assignment("bs6207-a1").model_copy(
        update={
            "graph": GraphScript(script="x = 1\n"),
            "points": Points(**{"graph-explanation": 1}),
        }
    )
    result = grading.grade_submission(EXAMPLES / "correct", assignment)
    check = next(c for c in result.checks if c.id == "graph-explanation")
    assert check.status == "error"
    assert "graph script left loss = NoneType; expected a tensor" in check.message


def test_a_graph_script_with_a_syntax_error_is_refused_at_load(tmp_path: Path) -> None:
    """The TOML's graph.script is compiled when the assignment loads; the error names it."""
    toml = (EXAMPLES.parent / "grader" / "assignments" / "bs6207-a1.toml").read_text()
    path = tmp_path / "a.toml"
    path.write_text(toml + '\n[graph]\nscript = """\nloss = (\n"""\n')
    with pytest.raises(AssignmentError, match=r"graph\.script.*line"):
        load_assignment(path)
