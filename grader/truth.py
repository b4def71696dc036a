"""The reference stage: ground truth for an assignment and a seed, and the hidden seeds."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from grader.assignment import Assignment
from grader.dat import Blocks, gradient_blocks, param_name
from reference import Inputs, Step, solve_seed

HIDDEN_SEEDS = 3


@dataclass(frozen=True)
class GroundTruth:
    """The reference's answer for one assignment and seed."""

    assignment: Assignment
    seed: int
    inputs: Inputs
    steps: list[Step]

    @property
    def input_blocks(self) -> Blocks:
        """x, y and the initial W1, b1, W2, b2, ...: what students are given."""
        blocks: Blocks = {"x": self.inputs.x, "y": self.inputs.y}
        for layer, (w, b) in enumerate(zip(self.inputs.weights, self.inputs.biases, strict=True)):
            blocks[param_name("W", layer + 1)] = w
            blocks[param_name("b", layer + 1)] = b
        return blocks

    @property
    def gradient_blocks(self) -> Blocks:
        """dL/dW and dL/db of every layer at every step, named as in torch_autograd.dat."""
        prefixed = self.assignment.training.steps > 0
        return gradient_blocks([(s.dW, s.db) for s in self.steps], prefixed=prefixed)


def ground_truth(assignment: Assignment, seed: int | None = None) -> GroundTruth:
    """Inputs and float64 gradients for `assignment`, from `seed` (default: the assignment's)."""
    seed = assignment.seed if seed is None else seed
    inputs, steps = solve_seed(assignment.problem, seed)
    return GroundTruth(assignment=assignment, seed=seed, inputs=inputs, steps=steps)


def hidden_seeds(assignment: Assignment, student: str, count: int = HIDDEN_SEEDS) -> list[int]:
    """Seeds only this student is graded on, derived from the assignment's seed and their name.

    Anyone with the assignment and the folder name can recompute them (the report lists them);
    no student can know them in advance without the assignment's seed. An assignment that
    draws nothing from its seed (hw02-1) has none.
    """
    problem = assignment.problem
    if problem.x_range is None and problem.constant_init is not None:
        return []  # fixed data and constant weights: every seed gives the same problem
    seeds = []
    for index in range(count):
        text = f"{assignment.name}:{assignment.seed}:{student}:{index}"
        seeds.append(int.from_bytes(hashlib.sha256(text.encode()).digest()[:4], "big"))
    return seeds


def step_blocks(truth: GroundTruth, step: int) -> Blocks:
    """dL/dW and dL/db of one step, named as in torch_autograd.dat (`step1.W2` if multi-step)."""
    if truth.assignment.training.steps == 0:
        return truth.gradient_blocks
    return {k: v for k, v in truth.gradient_blocks.items() if k.split(".")[0] == f"step{step}"}
