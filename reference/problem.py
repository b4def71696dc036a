"""From a problem and a seed: the inputs (x, y, initial parameters) and the ground truth.

The ground truth is dL/dW and dL/db of every Linear layer at every step of plain SGD, in
float64. Inputs drawn from a seed are rounded to float32, so that a student's float32
network holds exactly the same numbers as the reference: only arithmetic differs.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np

from reference.conditioning import conditioning
from reference.mlp import Array, Trace, backward, forward


@dataclass(frozen=True)
class Problem:
    """The mathematics of an assignment, and nothing about grading.

    `sizes` is (d, hidden widths..., output dim). Data is either drawn, x ~ U[low, high]^d
    with y = Σx²/d (`x_range`), or fixed (`x`, `y`). Initialisation is PyTorch's default,
    W, b ~ U(-1/√fan_in, 1/√fan_in), drawn from the seed, or constant (`constant_init`).
    """

    sizes: tuple[int, ...]
    hidden_activation: str
    output_activation: str
    loss: str
    x_range: tuple[float, float] | None = None
    x: tuple[float, ...] | None = None
    y: tuple[float, ...] | None = None
    constant_init: tuple[float, float] | None = None
    steps: int = 0
    learning_rate: float = 0.0

    @property
    def n_layers(self) -> int:
        return len(self.sizes) - 1


@dataclass(frozen=True)
class Inputs:
    """What a student is given: one data point and the initial parameters."""

    x: Array
    y: Array
    weights: list[Array]
    biases: list[Array]


@dataclass(frozen=True)
class Step:
    """One gradient evaluation: the parameters it was taken at, the forward trace, dL/dW, dL/db."""

    weights: list[Array]
    biases: list[Array]
    trace: Trace
    dW: list[Array]
    db: list[Array]


def _float32(a: Array) -> Array:
    return a.astype(np.float32).astype(np.float64)


MAX_DRAWS = 1000


def make_inputs(problem: Problem, seed: int) -> Inputs:
    """Draw the initial parameters, then the data point, from one PCG64 stream seeded by `seed`.

    A draw that is unfair to grade in float32 (see `reference.conditioning`) is replaced by
    the next draw from the same stream, so a seed still names exactly one data point.
    """
    return _make_inputs(problem, seed)[0]


def solve_seed(problem: Problem, seed: int) -> tuple[Inputs, list[Step]]:
    """`make_inputs` then `solve`, reusing the forward pass that found the draw fair."""
    inputs, trace = _make_inputs(problem, seed)
    return inputs, _solve(problem, inputs, trace)


def _make_inputs(problem: Problem, seed: int) -> tuple[Inputs, Trace | None]:
    """The inputs, and their forward trace if the fairness check ran it."""
    rng = np.random.Generator(np.random.PCG64(seed))
    kinds = _kinds(problem)
    for _ in range(MAX_DRAWS):
        inputs = _draw(problem, rng)
        if problem.x_range is None:
            return inputs, None
        trace = forward(inputs.weights, inputs.biases, inputs.x, inputs.y, **kinds)
        if conditioning(inputs.weights, inputs.biases, trace, inputs.y, kinds["hidden"]).fair:
            return inputs, trace
    raise ValueError(f"no fair data point in {MAX_DRAWS} draws from seed {seed}; see conditioning")


def _draw(problem: Problem, rng: np.random.Generator) -> Inputs:
    weights, biases = [], []
    for fan_in, fan_out in itertools.pairwise(problem.sizes):
        if problem.constant_init is not None:
            w, b = problem.constant_init
            weights.append(np.full((fan_out, fan_in), w, dtype=np.float64))
            biases.append(np.full(fan_out, b, dtype=np.float64))
        else:  # torch.nn.Linear's default: kaiming_uniform(a=√5) reduces to U(±1/√fan_in)
            bound = 1.0 / math.sqrt(fan_in)
            drawn = _float32(rng.uniform(-bound, bound, fan_out * fan_in + fan_out))  # W, then b
            weights.append(drawn[: fan_out * fan_in].reshape(fan_out, fan_in))
            biases.append(drawn[fan_out * fan_in :])
    if problem.x_range is not None:
        low, high = problem.x_range
        x = _float32(rng.uniform(low, high, problem.sizes[0]))
        y = _float32(np.array([math.fsum(x * x) / problem.sizes[0]]))  # y = Σ x_i² / d
    else:
        assert problem.x is not None and problem.y is not None
        x, y = np.array(problem.x, dtype=np.float64), np.array(problem.y, dtype=np.float64)
    return Inputs(x=x, y=y, weights=weights, biases=biases)


def _kinds(problem: Problem) -> dict[str, str]:
    return {
        "hidden": problem.hidden_activation,
        "output": problem.output_activation,
        "loss": problem.loss,
    }


def solve(problem: Problem, inputs: Inputs) -> list[Step]:
    """Gradients at step 0 and after each of `problem.steps` SGD updates W ← W - lr·dL/dW."""
    return _solve(problem, inputs, None)


def _solve(problem: Problem, inputs: Inputs, first: Trace | None) -> list[Step]:
    """`solve`, given the forward trace of step 0 if it is known already."""
    kinds = _kinds(problem)
    weights, biases = inputs.weights, inputs.biases
    steps: list[Step] = []
    for step in range(problem.steps + 1):
        if step > 0:
            lr, last = problem.learning_rate, steps[-1]
            weights = [W - lr * g for W, g in zip(last.weights, last.dW, strict=True)]
            biases = [b - lr * g for b, g in zip(last.biases, last.db, strict=True)]
        if step == 0 and first is not None:
            trace = first
        else:
            trace = forward(weights, biases, inputs.x, inputs.y, **kinds)
        dW, db = backward(weights, trace, inputs.y, **kinds)
        steps.append(Step(weights=weights, biases=biases, trace=trace, dW=dW, db=db))
    return steps
