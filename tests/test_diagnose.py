"""Naming the mistake: each classic error is diagnosed, and a correct answer never is."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
from conftest import Batch
from test_compare import numpy_float32_backprop

from grader.assignment import load_assignment
from grader.diagnose import diagnose, first_failing
from grader.truth import GroundTruth, ground_truth, step_blocks

Blocks = dict[str, np.ndarray]


def run(truth: GroundTruth, change: Callable[[Blocks], Blocks], own: Blocks | None = None):  # type: ignore[no-untyped-def]
    """Diagnose the reference's own answer after `change`, at step 0."""
    step = truth.steps[0]
    expected = step_blocks(truth, 0)
    return diagnose(
        truth.assignment, expected, change(dict(expected)), step.weights, step.biases,
        truth.inputs.x, truth.inputs.y, own,
    )  # fmt: skip


def weights_of(blocks: Blocks) -> list[str]:
    return [n for n in blocks if n.split(".")[-1].startswith("W")]


A1 = ground_truth(load_assignment("bs6207-a1"))


def test_transposed() -> None:
    """dL/dW in (in, out) layout is named, with the tensor."""
    found = run(A1, lambda b: {k: (v.T if k.startswith("W") else v) for k, v in b.items()})
    assert found[0].kind == "transposed" and found[0].tensor == "W11"


@pytest.mark.parametrize(
    ("factor", "kind", "words"),
    [
        (0.5, "factor", "dL/dp = 2(p − y); your code seems to use (p − y)"),
        (-1.0, "sign", "opposite sign"),
        (0.01, "sgd-step", "lr × the gradient"),
        (3.0, "factor", "3×"),
    ],
    ids=["missing factor 2", "sign flip", "lr times gradient", "other factor"],
)
def test_constant_factor(factor: float, kind: str, words: str) -> None:
    """Every gradient scaled by one constant: the constant and its likely cause are named."""
    found = run(A1, lambda b: {k: factor * v for k, v in b.items()})
    assert found[0].kind == kind and words in found[0].message


def test_half_loss_factor_2() -> None:
    """For L = ½Σ(p − y)², a factor 2 points at dL/dp = p − y."""
    hw = ground_truth(load_assignment("hw02-1"))
    found = run(hw, lambda b: {k: 2 * v for k, v in b.items()})
    assert "for L = ½Σ(p − y)², dL/dp = p − y" in found[0].message


def test_reversed_layers() -> None:
    """Layers in reverse order are named as such."""
    names = list(step_blocks(A1, 0))
    ws = [n for n in names if n.startswith("W")]
    bs = [n for n in names if n.startswith("b")]
    order = dict(zip(ws + bs, ws[::-1] + bs[::-1], strict=True))
    found = run(A1, lambda b: {k: b[order[k]] for k in b})
    assert [d.kind for d in found] == ["reversed"]


def test_updated_weights() -> None:
    """W − lr·dW returned instead of dW is named."""
    step = A1.steps[0]

    def update(b: Blocks) -> Blocks:
        out = {}
        for k, v in b.items():
            params = step.weights if k.startswith("W") else step.biases
            out[k] = params[int(k[1:]) - 1] - 0.01 * v
        return out

    assert run(A1, update)[0].kind == "updated-weights"


def test_updated_constant_weights_are_no_factor() -> None:
    """hw02-1 starts from constant weights, so W − lr·dW is also an odd multiple of dW
    (W3 = [1, 1], dW3 = [8.75, 8.75]: 0.104286×): named as the updated weights, not a factor."""
    hw = ground_truth(load_assignment("hw02-1"))
    step = hw.steps[0]

    def update(b: Blocks) -> Blocks:
        out = {}
        for k, v in b.items():
            layer = int(k.split(".")[-1][1:]) - 1
            params = step.weights if k.split(".")[-1].startswith("W") else step.biases
            out[k] = params[layer] - hw.assignment.training.learning_rate * v
        return out

    assert run(hw, update)[0].kind == "updated-weights"


def without_activation_derivative(truth: GroundTruth) -> Blocks:
    """The reference's backprop with the hidden layers' activation derivative left out."""
    step, n = truth.steps[0], len(truth.steps[0].weights)
    grad = 2 * (step.trace.prediction - truth.inputs.y)
    out: Blocks = {}
    for l in reversed(range(n)):  # the mistake: grad is never multiplied by f'(z_l)
        a_prev = step.trace.outputs[l - 1] if l else truth.inputs.x
        out[f"W{l + 1}"], out[f"b{l + 1}"] = np.outer(grad, a_prev), grad
        grad = step.weights[l].T @ grad
    return {k: out[k] for k in step_blocks(truth, 0)}


@pytest.mark.parametrize("name", ["bs6207-a1", "sigmoid-d2"])
def test_missing_activation_derivative(name: str) -> None:
    """The derivative left out at every hidden layer is found at the highest one, then spreads."""
    truth = ground_truth(load_assignment(name))
    top = len(truth.steps[0].weights) - 1
    found = run(truth, lambda b: without_activation_derivative(truth))
    assert found[0].kind == "missing-activation-derivative"
    assert found[0].tensor is not None and found[0].tensor.endswith(str(top))
    assert f"derivative is missing at layer {top}" in found[0].message
    assert found[-1].kind == "first-failing-layer"


def test_forward_wrong_backward_right() -> None:
    """Backprop that agrees with autograd on the student's own network blames the forward pass."""
    wrong = {
        k: v * np.linspace(1, 2, v.size).reshape(v.shape) for k, v in step_blocks(A1, 0).items()
    }
    found = run(A1, lambda b: wrong, own=wrong)
    assert "forward" in [d.kind for d in found]


def test_first_failing_is_the_highest_layer() -> None:
    """The error starts at the highest layer that disagrees, W before b."""
    assert first_failing(["W1", "b1", "W3", "b3", "W2"]) == "W3"
    assert first_failing(["step1.b2", "step1.W2", "step1.W1"]) == "step1.W2"
    assert first_failing([]) is None


def test_correct_float32_never_gets_a_diagnosis() -> None:
    """Over 300 seeds a correct float32 backprop gets no diagnosis at all."""
    assignment = load_assignment("bs6207-a1")
    for seed in range(300):
        truth = ground_truth(assignment, seed)
        inputs, step = truth.inputs, truth.steps[0]
        dW, db = numpy_float32_backprop(inputs.weights, inputs.biases, inputs.x, inputs.y, "relu")
        actual = {f"{k}{i + 1}": v for k, vs in (("W", dW), ("b", db)) for i, v in enumerate(vs)}
        expected = step_blocks(truth, 0)
        found = diagnose(
            assignment, expected, actual, step.weights, step.biases, inputs.x, inputs.y
        )
        assert found == [], seed


# --- in the graded batch -------------------------------------------------------------------

BATCH = {
    "transposed_weight_grads": "transposed",
    "half_the_gradient": "factor",
    "flips_the_sign": "sign",
    "reverses_layer_order": "reversed",
    "swaps_weights_and_biases": "swapped",
    "returns_sgd_step": "sgd-step",
    "returns_updated_weights": "updated-weights",
    "misses_relu_derivative": "missing-activation-derivative",
    "missing_first_relu": "forward",
}


@pytest.mark.parametrize(("student", "kind"), BATCH.items(), ids=BATCH.keys())
def test_submission_with_one_mistake_is_diagnosed(student: str, kind: str, batch: Batch) -> None:
    """A submission making exactly one mistake gets that diagnosis on backprop-gradients."""
    check = next(c for c in batch.results[student].checks if c.id == "backprop-gradients")
    assert check.status == "fail"
    assert kind in [d.kind for d in check.diagnoses]
    assert check.message.startswith(check.diagnoses[0].message)


def test_correct_students_get_no_diagnosis(batch: Batch) -> None:
    """No check of a correct student carries a diagnosis."""
    for name in ("correct", "biases_as_rows", "prints_hundreds_of_mb"):
        for check in batch.results[name].checks:
            assert check.diagnoses == [] and check.first_failing is None
