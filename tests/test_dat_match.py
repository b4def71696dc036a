"""Tests of grader.dat_match: which parameter each printed block holds, and its precision.

Every file here is printed by numpy or torch themselves, in the layouts, labels, orders and
shapes students use (the real files are in tests/test_dat_cli.py), for a 2-3-3-1 network.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable

import numpy as np
import numpy.typing as npt
import pytest
import torch

from grader.dat import format_dat
from grader.dat_match import Match, match_blocks
from grader.dat_verdict import compare_matches, judge
from grader.printed import read_gradient_text

Array = npt.NDArray[np.float64]
RNG = np.random.default_rng(2021)
SIZES = (2, 3, 3, 1)
TRUTH: dict[str, Array] = {}
for _layer, (_n_in, _n_out) in enumerate(itertools.pairwise(SIZES), start=1):
    _signs = RNG.choice([-1, 1], (_n_out, _n_in))
    TRUTH[f"W{_layer}"] = RNG.uniform(0.1, 1, size=(_n_out, _n_in)) * _signs
    TRUTH[f"b{_layer}"] = RNG.uniform(0.1, 1, size=_n_out)
SHAPES = {name: values.shape for name, values in TRUTH.items()}
ORDER = [(kind, layer) for layer in (1, 2, 3) for kind in "Wb"]  # W1, b1, W2, ...
BACKWARDS = [("W", 3), ("W", 2), ("W", 1), ("b", 3), ("b", 2), ("b", 1)]
BIAS_FIRST_AT_OUTPUT = [("W", 1), ("b", 1), ("W", 2), ("b", 2), ("b", 3), ("W", 3)]
WEIGHTS_FIRST = [("W", 1), ("W", 2), ("W", 3), ("b", 1), ("b", 2), ("b", 3)]
OUTPUT_FIRST = [("W", 3), ("b", 3), ("W", 2), ("b", 2), ("W", 1), ("b", 1)]


def numpy_str(values: Array) -> str:
    with np.printoptions(precision=8, floatmode="fixed"):
        return str(values)


def torch_str(values: Array) -> str:
    torch.set_printoptions(precision=8)
    try:
        return str(torch.tensor(values))
    finally:
        torch.set_printoptions(profile="default")


def as_is(kind: str, layer: int, values: Array) -> Array:
    return values


def printed(
    label: Callable[[str, int], str],
    show: Callable[[Array], str] = numpy_str,
    order: list[tuple[str, int]] = ORDER,
    change: Callable[[str, int, Array], Array] = as_is,
) -> str:
    """Each (kind, layer) in order: its label on a line, then its values printed by show()."""
    return "".join(
        f"{label(kind, layer)}\n{show(change(kind, layer, TRUTH[f'{kind}{layer}']))}\n"
        for kind, layer in order
    )


def word(kind: str) -> str:
    return "weight" if kind == "W" else "bias"


def state_dict(kind: str, layer: int) -> str:
    return f"{('input', 'hidden', 'output')[layer - 1]}.0.{word(kind)}:"


def structure(kind: str, layer: int) -> str:
    """isaaclzh's first attempt: the layer's repr, then a label without the layer."""
    if kind == "b":
        return "Bias gradient of network:"
    n_out, n_in = SHAPES[f"W{layer}"]
    where = ("first hidden", "second hidden", "output")[layer - 1]
    return (
        f"Network Structure of {where} layer:\n Linear(in_features={n_in}, "
        f"out_features={n_out}, bias=True)\nWeight gradient of network:"
    )


def ordinal(kind: str, layer: int) -> str:
    return f"{('First hidden', 'Second hidden', 'Output')[layer - 1]} layer {word(kind)} gradient:"


def rows_and_column(kind: str, layer: int, values: Array) -> Array:
    return values.reshape((1, -1) if layer < 3 else (-1, 1)) if kind == "b" else values


def transposed(kind: str, layer: int, values: Array) -> Array:
    return values.T if kind == "W" else values


def square_transposed(kind: str, layer: int, values: Array) -> Array:
    return values.T if (kind, layer) == ("W", 2) else values


def doubled(kind: str, layer: int, values: Array) -> Array:
    return 2 * values


def csv(order: list[tuple[str, int]]) -> str:
    """What pandas writes for DataFrame([{"dw3": str(W3.T), ...}]).to_csv()."""
    cells = [f'"{numpy_str(transposed(k, n, TRUTH[f"{k}{n}"]))}"' for k, n in order]
    return "," + ",".join(f"d{k.lower()}{n}" for k, n in order) + "\n0," + ",".join(cells) + "\n"


def records(count: int) -> str:
    """NIYUXIN's one record per sample, `0:` ... ; only the last holds TRUTH."""
    return "".join(
        f"{r}:\n"
        + printed(
            lambda k, n: f"{k}{n}_grad:", torch_str, change=doubled if r < count - 1 else as_is
        )
        for r in range(count)
    )


def commas(values: Array) -> str:
    return np.array2string(values, separator=",", precision=9)


# (file text, names read transposed, notes that must appear, names missing)
CASES: dict[str, tuple[str, list[str], list[str], list[str]]] = {
    "canonical .dat": (format_dat(TRUTH), [], [], []),
    "numpy, `Layer k weight gradient:`": (
        printed(lambda k, n: f"Layer {n} {word(k)} gradient:"), [], [], [],
    ),
    "torch reprs, `W2_grad: tensor(...)` on one line": (
        printed(lambda k, n: f"{k}{n}_grad:", torch_str).replace(":\n", ": "), [], [], [],
    ),
    "state_dict names: input.0, hidden.0, output.0": (
        printed(state_dict, torch_str),
        [], ["block 3 ('hidden.0.weight', 3 × 3) read as W2"], [],
    ),
    "dLdw, output layer first, all weights then all biases, commas": (
        printed(lambda k, n: f"dLd{k.lower()}{n}", commas, BACKWARDS), [], [], [],
    ),
    "ordinals, bias before weight, (in, out) by .t(), predicted y after": (
        printed(ordinal, torch_str, BIAS_FIRST_AT_OUTPUT, transposed)
        + "Predicted y:\ntensor([[-0.5751]], grad_fn=<AddmmBackward>)\n",
        ["W1", "W2", "W3"],
        [
            "block 7 ('Predicted y', 1 × 1) ignored: its label names no weight or bias",
            "block 1 ('First hidden layer weight gradient', 2 × 3) read as W1, transposed",
            "W2 read transposed: square, so taken in the (in, out) layout that W1 and W3 prove",
        ],
        [],
    ),
    "a square weight whose label says .T": (
        printed(lambda k, n: f"layer{n}.{word(k)}{'.grad.T' if (k, n) == ('W', 2) else ''}:",
                change=square_transposed),
        ["W2"],
        ["block 3 ('layer2.weight.grad.T', 3 × 3) read as W2, transposed: its label"],
        [],
    ),
    "biases as (1, n) rows and an (n, 1) column": (
        printed(lambda k, n: f"{word(k)}_{n}", change=rows_and_column), [], [], [],
    ),
    "sections `my_w` then weight_k, `my_b` then bias_k": (
        "my_w\n" + printed(lambda k, n: f"{word(k)}_{n}", order=WEIGHTS_FIRST[:3])
        + "my_b\n" + printed(lambda k, n: f"{word(k)}_{n}", order=WEIGHTS_FIRST[3:]),
        [], [], [],
    ),
    "input layer missing: labels count from the second layer": (
        printed(lambda k, n: f"Hidden_layer {n - 1} {word(k)} gradient:", order=ORDER[2:4])
        + printed(lambda k, n: f"Output_layer {word(k)} gradient:", order=ORDER[4:],
                  change=lambda k, n, v: v.ravel()),
        [],
        [
            "block 1 ('Hidden_layer 1 weight gradient', 3 × 3) read as W2",
            "block 3 ('Output_layer weight gradient', 3) read as W3",
            "not found: W1 (3 × 2), b1 (3)",
        ],
        ["W1", "b1"],
    ),
    "structure lines, and biases labelled without their layer": (
        printed(structure, torch_str),
        [], ["block 2 ('Bias gradient of network', 3) read as b1"], [],
    ),
    "appended runs: the last is read": (
        printed(lambda k, n: f"Layer {n} {word(k)}:", change=doubled)
        + printed(lambda k, n: f"Layer {n} {word(k)}:"),
        [], ["2 runs of 6 blocks appended; the last was read"], [],
    ),
    "records `0:` to `2:`, one per sample: the last is read": (
        records(3),
        [], ["3 records of 6 blocks, '0:' to '2:' (one per sample, say); the last was read"], [],
    ),
    "unlabelled, all weights then all biases": (
        "".join(numpy_str(TRUTH[f"{k}{n}"]) + "\n" for k, n in WEIGHTS_FIRST),
        [], ["unlabelled blocks read in the order W1, W2, W3, b1, b2, b3: their shapes fit it"],
        [],
    ),
    "pandas CSV cells, output layer first, weights transposed": (
        csv(OUTPUT_FIRST),
        ["W3", "W2", "W1"], ["W2 read transposed: square, so taken in the (in, out) layout"], [],
    ),
}  # fmt: skip


@pytest.mark.parametrize(
    ("text", "transposed", "notes", "missing"), CASES.values(), ids=CASES.keys()
)
def test_match(text: str, transposed: list[str], notes: list[str], missing: list[str]) -> None:
    """The blocks land on the right names in the expected shapes, with the right values, the
    right transpositions and notes that say what was assumed."""
    match = match_blocks(read_gradient_text(text), SHAPES)
    assert match.missing == missing
    assert sorted(match.transposed) == sorted(transposed)
    said = [re.sub(r"\(line [0-9]+, ", "(", note) for note in match.notes]
    for note in notes:
        assert any(line.startswith(note) for line in said), said
    assert list(match.blocks) == [name for name in SHAPES if name not in missing]
    for name, values in match.blocks.items():
        assert values.shape == SHAPES[name]
        np.testing.assert_allclose(values, TRUTH[name], rtol=1e-6, atol=1e-9, err_msg=name)
    assert match.short == {}  # all printed with 8 or more figures


def test_square_weights_are_not_transposed_on_a_guess() -> None:
    """A file of square weights in (in, out) layout, with nothing to prove it, is read as
    printed; comparing it with the right file finds it agrees only transposed, and says so."""
    shapes = {"W1": (3, 3), "b1": (3,), "W2": (3, 3), "b2": (3,)}
    right = {n: RNG.normal(size=s) for n, s in shapes.items()}
    turned = {n: v.T for n, v in right.items()}
    a = match_blocks(read_gradient_text(format_dat(right)), shapes)
    b = match_blocks(read_gradient_text(format_dat(turned)), shapes)
    assert b.transposed == [] and b.layout is None
    np.testing.assert_array_equal(b.blocks["W1"], right["W1"].T)
    verdicts = compare_matches(a, b, 5)
    assert [(v.name, v.verdict, v.turned) for v in verdicts] == [
        ("W1", "agree", "B"), ("b1", "agree", ""), ("W2", "agree", "B"), ("b2", "agree", "")
    ]  # fmt: skip


def test_a_layer_that_fits_nothing_is_not_read() -> None:
    """A file with one square hidden layer too many reads the layers that fit, by their
    labels' order, and names the blocks it left."""
    extra = printed(lambda k, n: f"Layer 3 {word(k)}:", order=ORDER[2:4])
    text = printed(lambda k, n: f"Layer {n} {word(k)}:", order=ORDER[:4]) + extra
    text += printed(lambda k, n: f"Layer 4 {word(k)}:", order=ORDER[4:])
    match = match_blocks(read_gradient_text(text), SHAPES)
    assert match.missing == []
    np.testing.assert_allclose(match.blocks["W3"], TRUTH["W3"])
    assert (
        "block 5 (line 14, 'Layer 3 weight', 3 × 3) not read: it fits none of the names left"
        in (match.notes)
    )
    assert "block 7 (line 20, 'Layer 4 weight', 1 × 3) read as W3" in match.notes


# --- precision --------------------------------------------------------------------------------

SMALL = {  # a ReLU network's gradients: large near the output, tiny and zero near the input
    "W1": np.where(RNG.random((3, 2)) < 0.4, 0.0, RNG.normal(scale=3e-6, size=(3, 2))),
    "b1": RNG.normal(scale=8e-6, size=3),
    "W2": RNG.normal(scale=3e-3, size=(3, 3)),
    "b2": RNG.normal(scale=2e-2, size=3),
    "W3": RNG.normal(scale=0.3, size=(1, 3)),
    "b3": np.array([-0.7513037]),
}


def small(show: Callable[[Array], str]) -> Match:
    """SMALL printed by show(), each after `NAME gradient:`, and matched."""
    text = "".join(f"{name} gradient:\n{show(values)}\n" for name, values in SMALL.items())
    return match_blocks(read_gradient_text(text), SHAPES)


PRECISION: dict[str, tuple[Callable[[Array], str], str | None, int | None]] = {
    "np.round(x, 5)": (
        lambda v: str(np.round(v, 5)),
        "values printed with 5 decimals: ", 5,
    ),
    "torch's default: 4 decimals": (
        lambda v: str(torch.tensor(v, dtype=torch.float32)),
        "printed with 4 decimals", 4,
    ),
    "%.3g, numbers on their own lines": (
        lambda v: "\n".join(" ".join(f"{x:.3g}" for x in row) for row in np.atleast_2d(v)),
        "values printed with as few as 2 significant figures; 5 are needed", None,
    ),
    "numpy's default str: 8 figures": (str, None, None),
    "%.4e: 5 figures": (lambda v: "[" + " ".join(f"{x:.4e}" for x in v.ravel()) + "]", None, None),
    "np.array2string(precision=7) of tensors whose largest is 0.01 or more": (
        lambda v: np.array2string(v if abs(v).max() >= 0.01 else v * 1e4, precision=7),
        None, None,
    ),
}  # fmt: skip


@pytest.mark.parametrize(("show", "said", "decimals"), PRECISION.values(), ids=PRECISION.keys())
def test_precision(show: Callable[[Array], str], said: str | None, decimals: int | None) -> None:
    """How a file is printed is told from its tokens: decimals (np.round, torch's 4) or
    significant figures, and whether that can show 5 figures under the rule."""
    match = small(show)
    problem = match.precision_problem(5)
    if said is None:
        assert problem is None, problem
        assert match.short == {}
        return
    assert problem is not None and said in problem, problem
    assert problem.endswith(("5 significant figures cannot be shown", "carry fewer)"))
    assert {s.decimals for s in match.short.values()} == {decimals}


def test_rounded_to_decimals_counts_zeros() -> None:
    """np.round(x, 5) of tiny gradients prints most of them as 0: the message says how many."""
    match = small(lambda v: str(np.round(v, 5)))
    short = match.short["W1"]
    assert (short.entries, short.zeros) == (6, 6)  # every entry of W1 is below 5e-6
    assert "of entries read as 0" in (match.precision_problem(5) or "")


def test_full_precision_files_are_exact() -> None:
    """A file with 15 or more figures somewhere (repr) prints every value exactly: `14.0`
    there is 14, not 14.0 ± 0.05."""
    blocks = {"W1": np.array([[14.0], [7.0]]), "b1": np.array([1 / 3, 0.1])}
    match = match_blocks(read_gradient_text(format_dat(blocks)), {"W1": (2, 1), "b1": (2,)})
    assert match.short == {} and not match.half["W1"].any()


@pytest.mark.parametrize("before", [0, 150], ids=["first", "after 150 long numbers"])
def test_one_full_precision_number_makes_a_file_exact(before: int) -> None:
    """One number of 15 figures makes the whole file exact, wherever it is printed; 16
    characters of fewer figures (`%.10e`) do not."""
    coarse = " ".join(["-1.2345678901e-05"] * before)
    text = f"W1 2 1\n14.0 7.0\nb1 {before + 1}\n{coarse} 0.33333333333333331\n"
    match = match_blocks(read_gradient_text(text), {"W1": (2, 1), "b1": (before + 1,)})
    assert not match.half["W1"].any() and not match.half["b1"].any()
    text = f"W1 2 1\n14.0 7.0\nb1 {before + 1}\n{coarse} 0.33333333333331\n"  # 14 figures
    match = match_blocks(read_gradient_text(text), {"W1": (2, 1), "b1": (before + 1,)})
    assert match.half["W1"].tolist() == [[0.05], [0.05]]


def test_a_number_past_the_largest_float_has_a_unit_of_inf() -> None:
    """`1e400` reads as inf and its last digit has a unit of inf (not an OverflowError);
    `-1e-400` reads as -0.0, a zero."""
    match = match_blocks(read_gradient_text("x 3\n1e400 0.5 -1e-400\n"), {"x": (3,)})
    assert match.half["x"].tolist() == [np.inf, 0.05, 0.0]


VERDICTS = {
    "identical, precise": ([1.23456, 2.5], [1.23456, 2.5], 5e-6, 5e-6, "agree"),
    "identical, 4 decimals": ([0.0003, 0.1908], [0.0003, 0.1908], 5e-5, 5e-5, "cannot show"),
    "within the print's rounding": ([0.0003, 0.1908], [0.00025234, 0.19076], 5e-5, 5e-9,
                                    "cannot show"),
    "beyond the print's rounding": ([0.0007, 0.1908], [0.00025234, 0.19076], 5e-5, 5e-9,
                                    "disagree"),
    "precise and wrong": ([1.2346, 2.5], [1.2356, 2.5], 5e-5, 5e-5, "disagree"),
}  # fmt: skip


@pytest.mark.parametrize(
    ("a", "b", "half_a", "half_b", "verdict"), VERDICTS.values(), ids=VERDICTS.keys()
)
def test_judge(a: list[float], b: list[float], half_a: float, half_b: float, verdict: str) -> None:
    """Agreement, too coarse a print, and a real difference are told apart."""
    x, y = np.array(a), np.array(b)
    got = judge("W1", x, y, np.full_like(x, half_a), np.full_like(y, half_b), 5)
    assert got.verdict == verdict


def test_steps_without_step_labels_are_the_last_runs() -> None:
    """hw02-1 printed as three runs of `W1 gradient:` ... (no step in the labels): the runs
    are read as SGD steps 0, 1 and 2."""
    steps = {f"step{s}.{n}": (s + 1) * v for s in range(3) for n, v in TRUTH.items()}
    text = "".join(f"{n.split('.')[1]} gradient:\n{numpy_str(v)}\n" for n, v in steps.items())
    match = match_blocks(read_gradient_text(text), {n: v.shape for n, v in steps.items()})
    assert match.missing == [] and match.notes == []
    for name, values in steps.items():
        np.testing.assert_allclose(match.blocks[name], values, rtol=1e-7, err_msg=name)


def test_a_hostile_file_is_read_by_its_last_blocks() -> None:
    """100,000 labelled blocks are cut to the last 10,000, and the notes stay few."""
    text = "".join(f"W{i} [1.5]\n" for i in range(100_000))
    match = match_blocks(read_gradient_text(text), SHAPES)
    assert match.notes[0] == "100000 blocks; only the last 10000 were read"
    assert len(match.notes) <= 12 and match.missing == list(SHAPES)


def test_a_named_block_of_the_wrong_shape_is_said() -> None:
    """A canonical block named W1 with W1's size wrong is not read, and the note says why."""
    match = match_blocks(read_gradient_text("W1 1 2\n0.5 0.25\n"), SHAPES)
    assert "W1" in match.missing
    assert "block 1 (line 1, 'W1', 1 × 2) is named W1, but W1 is 3 × 2" in match.notes
