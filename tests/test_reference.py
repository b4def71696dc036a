"""The float64 reference: the handout's printed table, finite differences, torch, determinism."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch

from grader.api import GroundTruth, ground_truth
from grader.assignment import load_assignment
from grader.dat import format_dat
from grader.presets import preset_names
from reference import Problem, Step, forward, make_inputs, solve
from reference.conditioning import conditioning
from reference.problem import _draw

FIXTURES = Path(__file__).parent / "fixtures"
GOLDENS = Path(__file__).parent / "goldens" / "reference"

# --- the handout's table (seed 004) ---------------------------------------------------------

_LABEL = re.compile(
    r"^(Input|Layer(\d) (weight|bias) (Parameter containing|Gradient)|(Layer|ReLU)(\d) output):?$"
)
_NUMBER = re.compile(r"-?\d+\.\d*")


def _printed_table() -> list[tuple[int, str, list[str]]]:
    """(iteration, label, printed numbers) for every tensor in the handout's printout."""
    entries: list[tuple[int, str, list[str]]] = []
    iteration, label, text = -1, "", ""

    def flush() -> None:
        if label:
            body = re.sub(r"grad_fn=<\w+>|requires_grad=True", "", text)
            entries.append((iteration, label, _NUMBER.findall(body)))

    for line in (FIXTURES / "hw02-1-table.txt").read_text().splitlines():
        line = line.strip()
        if line.startswith("#") or line.startswith("```") or not line:
            continue
        if line.startswith("Iters "):
            flush()
            iteration, label, text = int(line.split()[1]), "", ""
        elif _LABEL.match(line):
            flush()
            label, text = line.rstrip(":"), ""
        elif line.startswith(("-----", "=====")):
            flush()
            label, text = "", ""
        else:
            text += line
    flush()
    return entries


def _reference_value(step: Step, x: np.ndarray, label: str) -> np.ndarray:
    if label == "Input":
        return x
    match = re.match(r"Layer(\d) (weight|bias) (Parameter containing|Gradient)", label)
    if match:
        layer, kind, what = int(match[1]) - 1, match[2], match[3]
        if what == "Gradient":
            return (step.dW if kind == "weight" else step.db)[layer]
        return (step.weights if kind == "weight" else step.biases)[layer]
    match = re.match(r"(Layer|ReLU)(\d) output", label)
    assert match, label
    layer = int(match[2]) - 1
    return (step.trace.zs if match[1] == "Layer" else step.trace.outputs)[layer]


def test_printed_table_is_complete() -> None:
    """The fixture holds 3 iterations of: x, 3 layers' W, b and their gradients, 5 outputs."""
    entries = _printed_table()
    assert len(entries) == 3 * (1 + 12 + 5)
    # per iteration: x (1), parameters and gradients 2 × 13, outputs 2 + 2 + 2 + 2 + 1
    assert sum(len(numbers) for _, _, numbers in entries) == 3 * (1 + 26 + 9)


def test_hw02_1_reproduces_every_printed_digit() -> None:
    """Iterations 0, 1 and 2 of the handout's SGD table match the reference to every digit."""
    truth = ground_truth(load_assignment("hw02-1"))
    checked = 0
    for iteration, label, printed in _printed_table():
        step = truth.steps[iteration]
        values = _reference_value(step, truth.inputs.x, label).ravel()
        assert len(values) == len(printed), label
        for value, token in zip(values, printed, strict=True):
            # the printed number is the value rounded to its decimals; on an exact tie (1.64425,
            # step 1's Layer2 output) float32 and float64 may round either way
            half_unit = 0.5 * 10.0 ** -len(token.split(".")[1])
            assert abs(value - float(token)) <= half_unit * (1 + 1e-9), (iteration, label, token)
            checked += 1
    assert checked == 108


# --- the reference against independent oracles ----------------------------------------------


def _cases() -> list[tuple[str, int]]:
    return [(name, seed) for name in preset_names() for seed in (None, 1, 2)]


@pytest.mark.parametrize(("name", "seed"), _cases(), ids=lambda v: str(v))
def test_matches_torch_float64_autograd(name: str, seed: int | None) -> None:
    """Torch's autograd in float64 on the same parameters gives the same gradients at every step."""
    truth = ground_truth(load_assignment(name), seed)
    acts = {"relu": torch.relu, "sigmoid": torch.sigmoid, "tanh": torch.tanh, "linear": lambda t: t}
    problem = truth.assignment.problem
    for step in truth.steps:
        ws = [torch.tensor(w, requires_grad=True) for w in step.weights]
        bs = [torch.tensor(b, requires_grad=True) for b in step.biases]
        a = torch.tensor(truth.inputs.x)
        for layer, (w, b) in enumerate(zip(ws, bs, strict=True)):
            last = layer == len(ws) - 1
            a = acts[problem.output_activation if last else problem.hidden_activation](w @ a + b)
        loss = ((a - torch.tensor(truth.inputs.y)) ** 2).sum()
        if problem.loss == "half_squared_error":
            loss = loss / 2
        loss.backward()
        assert loss.item() == pytest.approx(step.trace.loss, rel=1e-12)
        for mine, theirs in zip(step.dW + step.db, ws + bs, strict=True):
            assert theirs.grad is not None
            scale = float(np.abs(mine).max()) or 1.0
            np.testing.assert_allclose(theirs.grad.numpy(), mine, rtol=1e-10, atol=1e-12 * scale)


def _loss_at(problem: Problem, step: Step, x: np.ndarray, y: np.ndarray) -> float:
    kinds = {"hidden": problem.hidden_activation, "output": problem.output_activation}
    return forward(step.weights, step.biases, x, y, loss=problem.loss, **kinds).loss


@pytest.mark.parametrize(("name", "seed"), _cases(), ids=lambda v: str(v))
def test_matches_finite_differences(name: str, seed: int | None) -> None:
    """Central differences of the loss agree with dL/dW and dL/db (6 entries of each tensor)."""
    truth = ground_truth(load_assignment(name), seed)
    problem = truth.assignment.problem
    rng = np.random.default_rng(0)
    for step in truth.steps:
        for params, grads in ((step.weights, step.dW), (step.biases, step.db)):
            for param, grad in zip(params, grads, strict=True):
                for flat in rng.choice(param.size, size=min(param.size, 6), replace=False):
                    index = np.unravel_index(flat, param.shape)
                    original, h = param[index], 1e-5 * max(1.0, abs(param[index]))
                    param[index] = original + h
                    up = _loss_at(problem, step, truth.inputs.x, truth.inputs.y)
                    param[index] = original - h
                    down = _loss_at(problem, step, truth.inputs.x, truth.inputs.y)
                    param[index] = original
                    estimate = (up - down) / (2 * h)
                    # rounding in L(w ± h) leaves about eps·|L|/h of noise in the estimate
                    noise = 20 * np.finfo(np.float64).eps * max(abs(up), 1e-3) / h
                    assert estimate == pytest.approx(grad[index], rel=1e-6, abs=noise)


# --- inputs -----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["bs6207-a1", "sigmoid-d2"])
def test_drawn_inputs_are_float32_exact_and_in_range(name: str) -> None:
    """x lies in [low, high], y = Σx²/d to float32 precision, parameters within ±1/√fan_in."""
    assignment = load_assignment(name)
    for seed in range(20):
        inputs = make_inputs(assignment.problem, seed)
        arrays = [inputs.x, inputs.y, *inputs.weights, *inputs.biases]
        for array in arrays:
            assert np.array_equal(array.astype(np.float32).astype(np.float64), array)
        assert np.all((inputs.x >= 0) & (inputs.x <= 1))
        d = assignment.network.input_dim
        assert inputs.y[0] == pytest.approx(np.sum(inputs.x**2) / d, rel=1e-7)
        for w, b in zip(inputs.weights, inputs.biases, strict=True):
            bound = 1 / np.sqrt(w.shape[1])
            assert np.abs(w).max() <= bound and np.abs(b).max() <= bound


def test_unfair_draws_are_replaced() -> None:
    """Seed 483's first draw has p ≈ y; make_inputs skips it for the stream's next, fair draw."""
    problem = load_assignment("bs6207-a1").problem
    first = _draw(problem, np.random.Generator(np.random.PCG64(483)))
    kinds = {"hidden": "relu", "output": "linear", "loss": "squared_error"}
    trace = forward(first.weights, first.biases, first.x, first.y, **kinds)
    measured = conditioning(first.weights, first.biases, trace, first.y, "relu")
    assert not measured.fair and measured.residual < 1e-3
    chosen = make_inputs(problem, 483)
    assert not np.array_equal(chosen.x, first.x)
    step = solve(problem, chosen)[0]
    assert conditioning(chosen.weights, chosen.biases, step.trace, chosen.y, "relu").fair


def test_fixed_data_is_never_redrawn() -> None:
    """Fixed data is graded as given, whatever its conditioning."""
    problem = load_assignment("hw02-1").problem
    assert make_inputs(problem, 0).x.tolist() == [2.0] == make_inputs(problem, 99).x.tolist()


# --- determinism --------------------------------------------------------------------------------


def _files(truth: GroundTruth) -> dict[str, str]:
    return {
        "inputs.dat": format_dat(truth.input_blocks),
        "torch_autograd.dat": format_dat(truth.gradient_blocks),
    }


@pytest.mark.parametrize("name", preset_names())
def test_same_seed_same_bytes_in_a_fresh_interpreter(name: str) -> None:
    """A second interpreter (another hash seed, another process) writes byte-identical files."""
    here = _files(ground_truth(load_assignment(name)))
    code = (
        "import sys, json; from grader.api import ground_truth; from grader.assignment import "
        "load_assignment; from grader.dat import format_dat; "
        f"t = ground_truth(load_assignment({name!r})); "
        "print(json.dumps([format_dat(t.input_blocks), format_dat(t.gradient_blocks)]))"
    )
    env = {"PYTHONHASHSEED": "12345", "PATH": "/usr/bin:/bin"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert out.returncode == 0, out.stderr
    import json

    assert json.loads(out.stdout) == [here["inputs.dat"], here["torch_autograd.dat"]]


@pytest.mark.parametrize("name", preset_names())
def test_matches_golden_files(name: str, golden: Callable[[Path, str], None]) -> None:
    """The published inputs and ground truth of each preset never change by accident."""
    for filename, text in _files(ground_truth(load_assignment(name))).items():
        golden(GOLDENS / name / filename, text)
