"""The HTML report: deterministic, escaped, self-contained, and readable in a real browser."""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pytest
from markupsafe import escape

from grader.autograd_graph import Graph, Node, explain
from grader.compare import compare, tolerance
from grader.report import (
    HEATMAP_MAX,
    MAX_ROWS,
    format_error,
    format_value,
    heat_colour,
    render_report,
    write_report,
)
from grader.result import CheckResult, Diagnosis, GradeResult, Seeds, TensorTable

if TYPE_CHECKING:
    from playwright.sync_api import Page

OUTPUT = Path(__file__).parent / "output" / "report"
SIG_FIGS = 5
W3_MESSAGE = (
    "W3 disagrees: 12 of 441 entries differ by more than one unit in the 5th significant figure"
)
PAYLOAD = "<script>alert(1)</script> </pre><b>x"
W1_DIAGNOSIS = "W1 is transposed: dL/dW must be in PyTorch's (out, in) layout (21, 6)"
SPREAD_DIAGNOSIS = "the error starts at layer 3 (W3): fix layer 3 first"


def tensor_table(name: str, expected: np.ndarray, actual: np.ndarray | None) -> TensorTable:
    """A TensorTable as the gradients check builds it, judged by the one comparison rule."""
    if actual is None or actual.shape != expected.shape:
        return TensorTable(
            name=name,
            shape=list(expected.shape),
            expected=expected.ravel().tolist(),
            actual_shape=None if actual is None else list(actual.shape),
            agree=False,
            max_relative_error=math.inf,
            note="the shape differs",
        )
    c = compare(actual, expected, SIG_FIGS, name=name)
    assert c.relative_error is not None
    return TensorTable(
        name=name,
        shape=list(expected.shape),
        expected=expected.ravel().tolist(),
        actual=actual.ravel().tolist(),
        actual_shape=list(actual.shape),
        relative_error=c.relative_error.ravel().tolist(),
        agree=c.agree,
        max_relative_error=c.max_relative_error,
        note=c.reason,
    )


def gradient(shape: tuple[int, ...], seed: int = 0) -> np.ndarray:
    """Reference-like float64 values with a spread of magnitudes and signs, and one zero."""
    values = np.random.default_rng(seed).standard_normal(shape) * 10.0 ** -(
        np.arange(shape[-1]) % 2
    )
    values.flat[0] = 0.0
    return values


def check(
    check_id: str, status: str = "pass", score: float = 1, max_score: float = 1, **kw: object
) -> CheckResult:
    """A CheckResult with a default message per status."""
    message = {"pass": "All good.", "fail": "Wrong.", "error": "Could not run."}[status]
    return CheckResult.model_validate(
        {
            "id": check_id,
            "name": check_id.replace("-", " ").capitalize(),
            "status": status,
            "score": score,
            "max_score": max_score,
            "message": message,
            **kw,
        }
    )


def result(checks: list[CheckResult], **kw: object) -> GradeResult:
    """A GradeResult whose score and max_score are the checks' sums."""
    fields: dict[str, object] = {
        "student": "ada_lovelace",
        "assignment": "bs6207-a1",
        "assignment_title": "BS6207 Assignment 1: backprop by hand",
        "score": sum(c.score for c in checks),
        "max_score": sum(c.max_score for c in checks),
        "checks": checks,
        "seeds": Seeds(published=6207, hidden=[918273645, 192837465]),
        "sig_figs": SIG_FIGS,
        "isolation": "subprocess, no network, 2 GB memory, 60 s",
        "versions": {"grade": "0.1.0", "python": "3.11.9", "torch": "2.13.0"},
        **kw,
    }
    return GradeResult.model_validate(fields)


def passing_result() -> GradeResult:
    """Every check passes."""
    w = gradient((4, 3))
    return result(
        [
            check("network-architecture", score=1, max_score=1),
            check("autograd-gradients", score=2, max_score=2),
            check(
                "backprop-gradients",
                score=4,
                max_score=4,
                tables=[tensor_table("W1", w, w * (1 + 3e-7))],
            ),
            check("no-autograd", score=1, max_score=1),
            check("dat-files", score=2, max_score=2),
        ]
    )


def failing_result(**kw: object) -> GradeResult:
    """3 of 10 points: a wrong W3, a wrongly shaped W1, a check that could not run."""
    w3 = gradient((21, 21), seed=3)
    w3_student = w3.copy()
    wrong = [5, 17, 40, 77, 100, 150, 201, 260, 300, 333, 380, 440]  # 12 entries
    w3_student.flat[wrong] += 0.05
    b3 = gradient((21,), seed=4)
    w1 = gradient((21, 6), seed=1)
    return result(
        [
            check("network-architecture", score=1, max_score=1),
            check("autograd-gradients", score=2, max_score=2),
            check(
                "backprop-gradients",
                status="fail",
                score=0,
                max_score=4,
                message=W3_MESSAGE,
                details=[
                    "backprop.py: backprop() returned dL/dW3 with 12 wrong entries.",
                    "Entries off by the same amount often mean a term added in the wrong place.",
                ],
                tables=[
                    tensor_table("W1", w1, w1.T.copy()),
                    tensor_table("W3", w3, w3_student),
                    tensor_table("b3", b3, b3 * (1 + 2e-6)),
                ],
                diagnoses=[
                    Diagnosis(kind="transposed", tensor="W1", message=W1_DIAGNOSIS),
                    Diagnosis(kind="first-failing-layer", tensor="W3", message=SPREAD_DIAGNOSIS),
                ],
                first_failing="W3",
            ),
            check(
                "no-autograd",
                status="error",
                score=0,
                max_score=1,
                message="backprop.py: could not be imported: SyntaxError on line 12",
            ),
            check(
                "dat-files", status="fail", score=0, max_score=2, message="my_output.dat: missing"
            ),
        ],
        **{"output": "epoch 1 loss 0.6931\nepoch 2 loss 0.6012\n", **kw},
    )


def mlp_graph(layers: int = 11, width: int = 21, d: int = 10) -> Graph:
    """The autograd graph torch builds for bs6207-a1's loss (p − y)² summed, over a Sequential of
    `layers` Linear layers with a ReLU after each hidden one: 57 nodes for 11 layers."""
    nodes: list[Node] = []
    edges: list[tuple[int, int]] = []

    def add(kind: str, parent: int | None = None, parameter: str = "", *shape: int) -> int:
        node = Node(
            id=len(nodes), type=kind, explanation=explain(kind), parameter=parameter, shape=shape
        )
        nodes.append(node)
        if parent is not None:
            edges.append((parent, node.id))
        return node.id

    top = add("SubBackward0", add("PowBackward0", add("SumBackward0")))
    for layer in range(layers, 0, -1):
        addmm = add("AddmmBackward0", top)
        out, into = (1 if layer == layers else width), (d if layer == 1 else width)
        add("AccumulateGrad", addmm, f"{2 * layer - 2}.bias", out)
        if layer > 1:
            top = add("ReluBackward0", addmm)
        add("AccumulateGrad", add("TBackward0", addmm), f"{2 * layer - 2}.weight", out, into)
    return Graph(nodes=nodes, edges=edges)


def table_result(shape: tuple[int, ...]) -> GradeResult:
    """One tensor of `shape` whose every entry is twice the reference."""
    expected = gradient(shape) + 1.0
    table = tensor_table("W2", expected, 2 * expected)
    return result([check("backprop-gradients", "fail", 0, 4, tables=[table])])


def row_classes(html: str) -> list[str]:
    """The CSS class of every table row, in page order."""
    return re.findall(r'<tr class="(ok|bad)">', html)


def svgs(html: str, css: str) -> list[str]:
    """Every <svg> element whose class starts with `css`, as text."""
    return re.findall(rf'<svg class="{css}[^"]*".*?</svg>', html, flags=re.DOTALL)


def bars(svg: str) -> list[dict[str, str]]:
    """The bars of a chart drawing: class, y, height and tooltip."""
    pattern = r'<rect x="[^"]+" y="([^"]+)" width="[^"]+" height="([^"]+)" class="(err-bar[^"]*)">'
    pattern += r"<title>([^<]*)</title>"
    return [
        {"y": y, "height": h, "css": css, "tip": tip} for y, h, css, tip in re.findall(pattern, svg)
    ]


def texts(svg: str, css: str) -> list[str]:
    """The text of every <text> of class `css` in an SVG."""
    return re.findall(rf'<text [^>]*class="{css}">([^<]*)</text>', svg)


def cells(svg: str) -> list[tuple[str, str, str, str]]:
    """The cells of a heatmap: x, y, fill and tooltip."""
    pattern = r'<rect x="([^"]+)" y="([^"]+)" width="[^"]+" height="[^"]+" fill="([^"]+)" '
    pattern += r'class="cell"><title>([^<]*)</title></rect>'
    return re.findall(pattern, svg)


def backprop_card(html: str) -> str:
    """The backprop-gradients check's card."""
    return html.split('id="check-3-backprop-gradients"')[1].split("</section>")[0]


def graph_section(html: str) -> str:
    """The autograd graph's section."""
    return html.split('id="autograd-graph"')[1].split("</section>")[0]


def test_rendering_is_deterministic() -> None:
    """The same result renders to byte-identical HTML, twice and from a JSON round trip."""
    r = failing_result(graph=mlp_graph())
    again = GradeResult.model_validate_json(r.model_dump_json())
    assert render_report(r) == render_report(r) == render_report(again)


def test_student_text_is_escaped() -> None:
    """Markup in the student's name, messages, details, diagnoses and output arrives as text."""
    graph = Graph(
        nodes=[Node(id=0, type="AccumulateGrad", explanation="", parameter=PAYLOAD)], edges=[]
    )
    base = failing_result(output=PAYLOAD, student=PAYLOAD, graph=graph)
    diagnosis = Diagnosis(kind="sign", tensor=PAYLOAD, message=f"{PAYLOAD} (diagnosis)")
    evil = base.model_copy(
        update={
            "checks": [
                c.model_copy(
                    update={"message": PAYLOAD, "details": [PAYLOAD], "diagnoses": [diagnosis]}
                )
                for c in base.checks
            ]
        }
    )
    html = render_report(evil)
    assert "<script" not in html
    assert "</pre><b>" not in html
    assert "<b>x" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "&lt;/pre&gt;&lt;b&gt;x" in html
    assert html.count("&lt;script&gt;") >= 2 + len(base.checks) * 4  # + diagnoses' two fields
    assert f"<title>AccumulateGrad ({escape(PAYLOAD)}): " in graph_section(html)  # its tooltip


def test_tensor_names_and_notes_are_escaped() -> None:
    """Markup in a tensor's name and note arrives as text in the chart, summaries and tables."""
    base = failing_result()
    backprop = base.checks[2]
    tables = [
        t.model_copy(update={"name": f"{PAYLOAD}{t.name}", "note": "" if t.agree else PAYLOAD})
        for t in backprop.tables
    ]
    tables.append(
        TensorTable(
            name=f"{PAYLOAD}b1", shape=[3], agree=False, max_relative_error=math.nan, note=PAYLOAD
        )
    )
    evil = base.model_copy(
        update={"checks": [*base.checks[:2], backprop.model_copy(update={"tables": tables})]}
    )
    card = backprop_card(render_report(evil))
    assert "<script" not in card
    assert "<b>x" not in card
    payload = str(escape(PAYLOAD))
    assert f"</span>{payload}b1</td>" in card  # the summaries
    assert f'<td class="verdict-cell">disagrees: {payload}</td>' in card
    assert f"<h3>{payload}W3 " in card  # the table's heading
    assert f"<title>{payload}W3: largest relative error " in card  # the chart's bar
    assert f">{payload}W3</text>" in card  # the chart's bar name


@pytest.mark.parametrize(
    "make",
    [passing_result, failing_result, lambda: failing_result(graph=mlp_graph())],
    ids=["passing", "failing", "with-graph"],
)
def test_page_is_self_contained(make: Callable[[], GradeResult]) -> None:
    """The page loads nothing: no http(s) addresses, scripts, links, images or imports."""
    html = render_report(make())
    for banned in ("http://", "https://", "<script", "<link", "<img", "src=", "@import", "url("):
        assert banned not in html
    assert html.startswith("<!doctype html>\n")
    assert '<meta charset="utf-8">' in html
    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in html


def test_header_shows_score_and_summary() -> None:
    """The header carries the title, the score and how many checks did not pass."""
    failing = render_report(failing_result())
    assert "<title>ada_lovelace — BS6207 Assignment 1: backprop by hand</title>" in failing
    assert "3 / 10" in failing
    assert "3 of 5 checks did not pass." in failing
    passing = render_report(passing_result())
    assert "10 / 10" in passing
    assert "All checks passed." in passing


def test_checks_show_status_words_points_and_details() -> None:
    """Each check card names its status in words and shows its points, message and details."""
    html = render_report(failing_result())
    for word in ("PASS", "FAIL", "ERROR"):
        assert f'">{word}</span>' in html
    assert "0 / 4 points" in html
    assert W3_MESSAGE in html
    assert (
        "<li>Entries off by the same amount often mean a term added in the wrong place.</li>"
        in html
    )


def test_tensor_verdicts_and_details_open_state() -> None:
    """Disagreeing tensors sit in an open <details>, agreeing ones in a closed one."""
    html = render_report(failing_result())
    assert len(re.findall(r'<details class="tensor bad" id="[^"]+" open>', html)) == 2  # W1, W3
    assert len(re.findall(r'<details class="tensor ok" id="[^"]+">', html)) == 1  # b3
    w3 = failing_result().checks[2].tables[1]
    assert w3.note.startswith("12 of 441 entries differ")
    assert f"✗ disagrees: {w3.note}</span>" in html
    assert f"worst relative error {format_error(w3.max_relative_error)}" in html
    assert "✓ agrees" in html


def test_shape_mismatch_is_a_sentence() -> None:
    """A tensor of the wrong shape is explained in words instead of drawn as a table."""
    html = render_report(failing_result())
    assert "The student&#39;s shape is (6, 21); expected (21, 6)." in html


def test_disagreeing_rows_are_marked_and_listed_first() -> None:
    """The 12 wrong W3 entries are the first rows of its table, with a class and a ✗."""
    html = render_report(failing_result())
    w3 = html.split("<h3>W3 ")[1].split("</table>")[0]
    classes = row_classes(w3)
    assert classes == ["bad"] * 12 + ["ok"] * (441 - 12)
    assert w3.count('<span class="mark" title="disagrees">✗</span>') == 12
    assert '<tr class="bad"><td><span class="mark" title="disagrees">✗</span>[0, 5]</td>' in w3
    assert "Disagreeing entries are listed first" in w3


def test_table_of_441_entries_is_shown_whole() -> None:
    """A 21×21 tensor whose entries all disagree shows all 441 rows and no 'not shown' line."""
    html = render_report(table_result((21, 21)))
    assert row_classes(html) == ["bad"] * 441
    assert "not shown" not in html


def test_table_is_capped() -> None:
    """A 30×30 tensor shows the first 500 entries and says that 400 are not shown."""
    html = render_report(table_result((30, 30)))
    assert row_classes(html) == ["bad"] * MAX_ROWS
    assert "400 of 900 entries are not shown (400 disagreeing); the table stops at 500" in html
    assert "[16, 19]</td>" in html  # entry 499, the last shown
    assert "[16, 20]</td>" not in html


def test_one_dimensional_index() -> None:
    """Entries of a vector are indexed like [3]."""
    html = render_report(table_result((7,)))
    assert "[3]</td>" in html
    assert "[3, " not in html


@pytest.mark.parametrize(
    ("value", "text"),
    [
        pytest.param(0.0, "0", id="zero"),
        pytest.param(-0.0, "0", id="negative-zero"),
        pytest.param(1 / 3, "0.33333333", id="eight-figures"),
        pytest.param(-123456789.0, "-1.2345679e+08", id="large"),
        pytest.param(1.5e-12, "1.5e-12", id="tiny"),
        pytest.param(math.nan, "NaN", id="nan"),
        pytest.param(math.inf, "inf", id="inf"),
        pytest.param(-math.inf, "-inf", id="minus-inf"),
    ],
)
def test_format_value(value: float, text: str) -> None:
    """Tensor entries show 8 significant figures, exact zeros as 0, NaN and inf by name."""
    assert format_value(value) == text


@pytest.mark.parametrize(
    ("error", "text"),
    [
        pytest.param(0.0, "0", id="zero"),
        pytest.param(3.21e-5, "3.2e-05", id="small"),
        pytest.param(0.5, "5.0e-01", id="half"),
        pytest.param(math.nan, "NaN", id="nan"),
        pytest.param(math.inf, "inf", id="inf"),
    ],
)
def test_format_error(error: float, text: str) -> None:
    """Relative errors show 2 significant figures in scientific notation."""
    assert format_error(error) == text


def test_non_finite_entries_render() -> None:
    """NaN and inf in the student's values show by name and count as disagreeing."""
    table = tensor_table("b1", np.array([1.0, 2.0, 3.0]), np.array([1.0, math.nan, math.inf]))
    html = render_report(result([check("backprop-gradients", "fail", 0, 4, tables=[table])]))
    assert row_classes(html) == ["bad", "bad", "ok"]
    assert "<td>NaN</td>" in html
    assert "<td>inf</td>" in html


def test_missing_relative_errors_are_recomputed() -> None:
    """A table without per-entry errors is judged by the comparison rule, not left unmarked."""
    table = tensor_table("b2", np.array([1.0, 2.0, 3.0]), np.array([1.0, 2.5, 3.0]))
    table = table.model_copy(update={"relative_error": None})
    html = render_report(result([check("backprop-gradients", "fail", 0, 4, tables=[table])]))
    assert row_classes(html) == ["bad", "ok", "ok"]
    assert '<td class="err">2.0e-01</td>' in html


def test_output_section_only_when_there_is_output() -> None:
    """The student's printed output appears in a <pre>, and the section is absent when empty."""
    assert "<pre>\nepoch 1 loss 0.6931\nepoch 2 loss 0.6012\n</pre>" in render_report(
        failing_result()
    )
    assert "<pre>" not in render_report(passing_result())


def test_footer_has_what_a_ta_needs_to_reproduce() -> None:
    """Seeds, significant figures, isolation and versions are in the footer."""
    html = render_report(failing_result()).split("<footer>")[1]
    for text in ("6207", "918273645, 192837465", "5 (relative error at most 1.0e-04)"):
        assert text in html
    assert "subprocess, no network, 2 GB memory, 60 s" in html
    assert "<dt>torch</dt><dd><code>2.13.0</code></dd>" in html


def test_diagnoses_sit_under_the_message() -> None:
    """The named mistakes come right after the message, with their tensor, before the details."""
    card = backprop_card(render_report(failing_result()))
    message = card.index(W3_MESSAGE)
    box = card.index('<div class="diagnoses">')
    assert message < box < card.index('<ul class="details">') < card.index("<svg")
    assert "<h3>Likely mistakes, most likely first</h3>" in card
    assert "<li><code>W1</code> W1 is transposed: dL/dW must be in PyTorch&#39;s (out, in)" in card
    assert f"<li><code>W3</code> {SPREAD_DIAGNOSIS}</li>" in card
    assert '<div class="diagnoses">' not in render_report(passing_result())


def test_chart_and_heatmaps_appear() -> None:
    """A check with tables gets a chart (wide and compact drawing), a matched tensor a heatmap."""
    html = render_report(failing_result())
    assert html.count("<svg") == 4
    assert len(svgs(html, "error-chart wide")) == len(svgs(html, "error-chart compact")) == 1
    assert len(svgs(html, "error-heatmap")) == 2  # W3 and b3; W1's shape differs
    passing = render_report(passing_result())
    assert passing.count("<svg") == 3  # one check with tables, one tensor
    no_tables = render_report(result([check("no-autograd")]))
    assert "<svg" not in no_tables


def test_chart_bars_mark_the_failing_tensors() -> None:
    """One bar per table in order, failing ones red with a marker, the first failing one marked."""
    html = render_report(failing_result())
    (wide,) = svgs(html, "error-chart wide")
    drawn = bars(wide)
    assert [b["tip"].split(":")[0] for b in drawn] == ["W1", "W3", "b3"]
    assert [b["css"] for b in drawn] == ["err-bar bad", "err-bar bad start", "err-bar ok"]
    assert texts(wide, "mark") == ["inf", "✗"]  # W1's shape differs: drawn to the top as inf
    assert texts(wide, "limit") == ["limit for 5 significant figures"]
    assert texts(wide, "start") == ["▼", "error starts here"]
    assert texts(wide, "name start") == ["W3"]
    assert drawn[1]["tip"].startswith("W3: largest relative error ")
    assert "above the limit: 12 of 441 entries differ" in drawn[1]["tip"]
    assert "<title " in wide and "<desc " in wide and 'role="img"' in wide
    summary = "Largest relative error per tensor; 2 of 3 above the limit for 5 significant figures"
    assert f'<p class="chart-summary">{summary} (1.0e-04); error starts at W3.</p>' in html


def test_chart_clamps_zero_and_non_finite() -> None:
    """An exact 0 sits on the axis with a 0 label; inf and NaN reach the top with their names."""
    zero = TensorTable(name="b1", shape=[2], agree=True, max_relative_error=0.0)
    nan = TensorTable(name="b2", shape=[2], agree=False, max_relative_error=math.nan)
    inf = TensorTable(name="W2", shape=[2, 2], agree=False, max_relative_error=math.inf)
    html = render_report(result([check("dat-files", "fail", 0, 1, tables=[zero, nan, inf])]))
    (wide,) = svgs(html, "error-chart wide")
    first, second, third = bars(wide)
    assert first["height"] == "0.0"
    assert texts(wide, "zero") == ["0"]
    assert second["y"] == third["y"]  # both at the top of the plot
    assert float(second["height"]) > 200
    assert texts(wide, "mark") == ["NaN", "inf"]
    assert "1 of 3" not in html and "2 of 3 above the limit" in html


def test_all_within_the_limit_is_said_plainly() -> None:
    """A chart whose bars all agree says so, and marks nothing."""
    html = render_report(passing_result())
    (wide,) = svgs(html, "error-chart wide")
    assert texts(wide, "mark") == texts(wide, "start") == []
    assert "Largest relative error per tensor; all 1 within the limit" in html


def test_heatmap_cell_tooltip_and_colours() -> None:
    """Each heatmap cell tells its entry's values; its colour follows the relative error."""
    r = failing_result()
    w3 = r.checks[2].tables[1]
    html = render_report(r)
    heat = svgs(backprop_card(html).split("<h3>W3 ")[1], "error-heatmap")[0]
    drawn = cells(heat)
    assert len(drawn) == 441
    assert w3.actual is not None and w3.relative_error is not None
    tip = (
        f"[0, 5]: reference {format_value(w3.expected[5])}, yours {format_value(w3.actual[5])}, "
        f"relative error {format_error(w3.relative_error[5])}"
    )
    x, y, fill, text = drawn[5]
    assert text == tip
    assert (x, y) == ("88.4", "16.0")  # column 5 of row 0: 14 px squares after the row labels
    assert fill == heat_colour(w3.relative_error[5], w3.expected[5], w3.actual[5], 1e-4)
    assert drawn[0][2] == "#d0d7de"  # [0, 0] is 0 in both
    assert drawn[1][2] == "#8fd9a0"  # agrees
    assert sum(1 for c in drawn if c[2] not in ("#d0d7de", "#8fd9a0")) == 12


@pytest.mark.parametrize(
    ("error", "expected", "actual", "colour"),
    [
        pytest.param(0.0, 0.0, 0.0, "#d0d7de", id="both-zero"),
        pytest.param(0.0, 1.5, 1.5, "#8fd9a0", id="identical"),
        pytest.param(1e-4, 1.0, 1.0001, "#8fd9a0", id="at-the-limit"),
        pytest.param(1.0000001e-4, 1.0, 1.0001, "#f7d84a", id="just-above"),
        pytest.param(1e-2, 1.0, 1.01, "#f0832e", id="halfway-in-log"),
        pytest.param(1.0, 0.0, 1.0, "#c41726", id="one"),
        pytest.param(2.0, -1.0, 1.0, "#c41726", id="above-one"),
        pytest.param(math.nan, 1.0, math.nan, "#5c0a16", id="nan"),
        pytest.param(math.inf, 1.0, math.inf, "#5c0a16", id="inf"),
        pytest.param(None, 1.0, None, "#ffffff", id="missing"),
    ],
)
def test_heat_colour(
    error: float | None, expected: float, actual: float | None, colour: str
) -> None:
    """Grey both 0, green within the limit, yellow → red on log10 up to ≥ 1, dark for NaN/inf."""
    assert heat_colour(error, expected, actual, tolerance(SIG_FIGS)) == colour


@pytest.mark.parametrize(
    ("shape", "rows", "cols"),
    [
        pytest.param((21, 21), 21, 21, id="matrix"),
        pytest.param((21,), 1, 21, id="vector"),
        pytest.param((1, 21), 1, 21, id="row"),
        pytest.param((100,), 2, 64, id="long-vector-wraps"),
    ],
)
def test_heatmap_grid(shape: tuple[int, ...], rows: int, cols: int) -> None:
    """A matrix is drawn as it is, a vector as one row, a long vector wrapped at 64."""
    (heat,) = svgs(render_report(table_result(shape)), "error-heatmap")
    drawn = cells(heat)
    assert len(drawn) == math.prod(shape)
    assert len({y for _, y, _, _ in drawn}) == rows
    assert len({x for x, _, _, _ in drawn}) == cols
    assert "heatmap-caption" not in heat


def test_heatmap_is_capped() -> None:
    """A 70×70 tensor draws 64×64 squares and says how many entries are left out."""
    html = render_report(table_result((70, 70)))
    (heat,) = svgs(html, "error-heatmap")
    assert len(cells(heat)) == HEATMAP_MAX * HEATMAP_MAX
    assert "The heatmap draws 4096 of the 4900 entries (at most 64 rows and 64 columns)" in html


def test_heatmap_squares_stay_readable() -> None:
    """A 21×21 heatmap uses 14 px squares and is drawn no wider than its natural size."""
    (heat,) = svgs(render_report(table_result((21, 21))), "error-heatmap")
    assert 'width="14.0" height="14.0"' in heat
    width = re.search(r'viewBox="0 0 ([\d.]+) ', heat)
    assert width is not None
    assert f'style="max-width: {width[1]}px"' in heat


def test_first_failing_tensor_is_marked_and_linked() -> None:
    """The first failing tensor's section says where the error starts; the overview links to it."""
    html = render_report(failing_result())
    anchor = re.search(r'<a class="start-link" href="#([^"]+)">error starts at W3</a>', html)
    assert anchor is not None
    section = html.split(f'id="{anchor[1]}"')[1].split("</summary>")[0]
    assert section.startswith(" open>\n    <summary><h3>W3 ")
    assert '<span class="starts">error starts here</span>' in section
    assert html.count('<span class="starts">') == 1


@pytest.mark.parametrize("named", ["W3", None], ids=["named by the check", "dat-files names none"])
def test_first_failing_tensor_of_a_file_is_marked(named: str | None) -> None:
    """Tables named after their file (`my_autograd.dat: W3`) get the mark of the tensor where the
    error starts: the one the check names, or else the failing one nearest the output."""
    w1, w3, b3 = gradient((21, 6), seed=1), gradient((21, 21), seed=3), gradient((21,), seed=4)
    tables = [
        tensor_table("my_autograd.dat: W1", w1, 2 * w1),
        tensor_table("my_autograd.dat: W3", w3, 2 * w3),
        tensor_table("my_autograd.dat: b3", b3, 2 * b3),
    ]
    dat = check("dat-files", "fail", 0, 1, tables=tables, first_failing=named)
    html = render_report(result([dat]))
    assert '<a class="start-link" href="#check-1-dat-files-tensor-2">' in html
    assert "error starts at my_autograd.dat: W3</a>" in html
    marked = html.split('id="check-1-dat-files-tensor-2"')[1].split("</summary>")[0]
    assert '<span class="starts">error starts here</span>' in marked
    assert html.count('<span class="starts">') == 1


def diagnosed_check() -> CheckResult:
    """backprop-gradients as grading judges a backprop that returns every dL/dW transposed."""
    from grader.assignment import load_assignment
    from grader.checks import Call, Context
    from grader.checks.gradients import check_backprop
    from grader.sandbox.run import Outcome
    from grader.truth import ground_truth, step_blocks

    assignment = load_assignment("bs6207-a1")
    truth = ground_truth(assignment)
    step = truth.steps[0]
    expected = step_blocks(truth, 0)
    call = Call(
        seed=truth.seed,
        step=0,
        published=True,
        weights=step.weights,
        biases=step.biases,
        x=truth.inputs.x,
        y=truth.inputs.y,
        expected=expected,
    )
    answer = {
        "dW": [v.T.tolist() for k, v in expected.items() if k.startswith("W")],
        "db": [v.tolist() for k, v in expected.items() if k.startswith("b")],
    }
    outcome = Outcome(
        stages={"backprop": {"ok": True, "results": [answer]}}, failures={}, output="", seconds=0
    )
    return check_backprop(Context(assignment, Path("."), [truth], [call], outcome))


def test_each_diagnosis_is_said_once() -> None:
    """The check's message opens with the mistake (for result.json, the CLI and the platforms),
    and the page says it once, in the diagnoses box, above the rest of the message."""
    found = diagnosed_check()
    assert [d.kind for d in found.diagnoses] == ["transposed"]
    assert found.message.startswith(found.diagnoses[0].message)
    html = render_report(result([found]))
    assert html.count(str(escape(found.diagnoses[0].message))) == 1
    assert "<h3>Likely mistake</h3>" in html


def test_svg_numbers_have_fixed_precision() -> None:
    """Every coordinate and size in the SVGs is written with exactly one decimal."""
    html = render_report(failing_result(graph=mlp_graph()))
    numbers = re.findall(r' (?:x|y|x1|y1|x2|y2|width|height|font-size)="([^"]*)"', html)
    assert len(numbers) > 1000
    assert all(re.fullmatch(r"-?\d+\.\d", n) for n in numbers)


def test_graph_draws_one_box_per_node_and_explains_each_type_once() -> None:
    """The graph section has a box per node, an arrow per edge, parameters on the leaves, and a
    legend naming each node type once with its count and its backward step."""
    graph = mlp_graph()
    section = graph_section(render_report(failing_result(graph=graph)))
    assert section.count('<g class="node ') == len(graph.nodes) == 57
    assert section.count('<g class="node leaf">') == 22
    assert section.count('<g class="node op root">') == 1  # the loss
    assert section.count('class="edge"') == section.count('class="head"') == len(graph.edges)
    subs = texts(section, "sub")
    assert subs[0] == "20.bias (1)" and "0.weight (21×10)" in subs and len(subs) == 22
    legend = re.findall(r"<li><span class=\"swatch (op|leaf)\"></span><code>(\w+)</code>", section)
    assert legend == [
        ("op", "SumBackward0"),
        ("op", "PowBackward0"),
        ("op", "SubBackward0"),
        ("op", "AddmmBackward0"),
        ("leaf", "AccumulateGrad"),
        ("op", "ReluBackward0"),
        ("op", "TBackward0"),
    ]
    assert f'<span class="count">×11</span>: {escape(explain("AddmmBackward0"))}</li>' in section
    assert "57 nodes of 7 kinds" in section
    assert 'id="autograd-graph"' not in render_report(failing_result())  # no graph, no section


def test_deep_graph_wraps_into_columns_without_overlap() -> None:
    """bs6207-a1's 26 rows wrap into two columns that fit the page; no box overlaps another,
    every arrow ends on its child's top edge, every number has one decimal."""
    section = graph_section(render_report(failing_result(graph=mlp_graph())))
    (svg,) = svgs(section, "autograd-graph")
    size = re.search(r'viewBox="0 0 ([\d.]+) ([\d.]+)"', svg)
    assert size is not None
    width, height = float(size[1]), float(size[2])
    assert 600 < width <= 870 and height < 800  # two columns of 13 rows, not one of 26
    assert "drawn in 2 columns" in section
    pattern = r'<rect x="([\d.]+)" y="([\d.]+)" width="([\d.]+)" height="([\d.]+)" rx="4"/>'
    boxes = [tuple(map(float, b)) for b in re.findall(pattern, svg)]
    assert len(boxes) == 57
    for i, (x, y, w, h) in enumerate(boxes):
        assert 0 <= x <= width - w and 0 <= y <= height - h
        for x2, y2, w2, h2 in boxes[i + 1 :]:
            assert x + w <= x2 or x2 + w2 <= x or y + h <= y2 or y2 + h2 <= y, "boxes overlap"
    tips = [tuple(map(float, t)) for t in re.findall(r'points="([\d.]+),([\d.]+) ', svg)]
    tops = {(x + w / 2, y) for x, y, w, _ in boxes}
    assert all(any(abs(tx - x) < 0.1 and abs(ty - y) < 0.1 for x, y in tops) for tx, ty in tips)
    numbers = re.findall(r"-?\d+(?:\.\d+)?", " ".join(re.findall(r' (?:d|points)="([^"]*)"', svg)))
    assert numbers and all(re.fullmatch(r"\d+\.\d", n) for n in numbers)


def test_small_graph_stays_in_one_column() -> None:
    """hw02-1's network (3 Linear layers, 2 wide) draws in one column, the loss at the top."""
    section = graph_section(render_report(failing_result(graph=mlp_graph(3, 2, 1))))
    assert "columns" not in section
    (svg,) = svgs(section, "autograd-graph")
    first = re.search(
        r'<g class="node op root"><title>SumBackward0: [^<]*</title><rect x="[^"]+" y="10.0"', svg
    )
    assert first is not None


def test_write_report_writes_atomically(tmp_path: Path) -> None:
    """write_report creates the folder, writes report.html and leaves no temporary file."""
    folder = tmp_path / "reports" / "ada_lovelace"
    r = failing_result()
    path = write_report(r, folder)
    assert path == folder / "report.html"
    assert path.read_text(encoding="utf-8") == render_report(r)
    assert write_report(r, folder) == path  # replacing an existing report works too
    assert sorted(p.name for p in folder.iterdir()) == ["report.html"]


def test_report_in_a_real_browser(browser_page: Page) -> None:
    """Headless Chromium shows the score, message and charts, loads nothing, fits a phone."""
    from playwright.sync_api import Request

    page = browser_page
    path = write_report(failing_result(), OUTPUT)
    requests: list[str] = []

    def record(request: Request) -> None:
        requests.append(request.url)

    page.on("request", record)
    page.goto(path.as_uri())
    text = page.inner_text("body")
    assert "3 / 10" in text
    assert W3_MESSAGE in text
    assert "3 of 5 checks did not pass." in text
    assert "The student's shape is (6, 21); expected (21, 6)." in text
    assert page.locator("details.tensor.bad tr.bad").first.is_visible()
    assert not page.locator("details.tensor.ok tr").first.is_visible()  # closed
    assert page.locator("svg.error-chart").first.is_visible()
    assert not page.locator("svg.error-chart.compact").is_visible()
    assert page.locator("details.tensor.bad svg.error-heatmap").first.is_visible()
    chart = page.locator("svg.error-chart.wide").bounding_box()
    assert chart is not None and chart["width"] > 400 and chart["height"] > 250
    assert W1_DIAGNOSIS in text
    page.screenshot(path=OUTPUT / "report.png", full_page=True)

    page.set_viewport_size({"width": 375, "height": 812})
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 375, "the page scrolls sideways on a phone"
    assert page.locator("svg.error-chart.compact").is_visible()
    assert not page.locator("svg.error-chart.wide").is_visible()
    compact = page.locator("svg.error-chart.compact").bounding_box()
    assert compact is not None and compact["width"] > 250  # drawn near its natural size
    page.screenshot(path=OUTPUT / "report-phone.png", full_page=True)
    assert requests == [path.as_uri()]


def test_graph_in_a_real_browser(browser_page: Page) -> None:
    """Chromium shows the autograd graph at its natural size below a failing student's heatmaps;
    on a phone the graph scrolls in its own box and the page does not."""
    page = browser_page
    path = write_report(failing_result(graph=mlp_graph()), OUTPUT / "with-graph")
    page.goto(path.as_uri())
    assert page.locator("details.tensor.bad svg.error-heatmap").first.is_visible()
    graph = page.locator("svg.autograd-graph")
    graph.scroll_into_view_if_needed()
    assert graph.is_visible()
    drawn = graph.bounding_box()
    natural = graph.get_attribute("width")
    assert drawn is not None and natural is not None
    assert drawn["height"] > 300 and abs(drawn["width"] - float(natural)) < 1  # not shrunk
    assert page.locator("svg.autograd-graph g.node").count() == 57
    leaf = page.locator("svg.autograd-graph g.node.leaf").first.bounding_box()
    assert leaf is not None and leaf["width"] > 100 and leaf["height"] > 30
    assert page.locator(".graph-legend li").count() == 7
    assert "AccumulateGrad ×22: a leaf" in page.inner_text("#autograd-graph")
    page.screenshot(path=OUTPUT / "report-graph.png", full_page=True)

    page.set_viewport_size({"width": 375, "height": 812})
    assert page.evaluate("document.documentElement.scrollWidth") <= 375
    assert graph.is_visible()
    page.locator("#autograd-graph").screenshot(path=OUTPUT / "report-graph-phone.png")
