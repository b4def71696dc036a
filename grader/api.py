"""The library behind the CLI: one function per thing a TA or a platform asks of `grade`."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from grader.assignment import Assignment
from grader.dat import Blocks, gradient_blocks, param_name, write_dat
from grader.errors import GradeError
from reference import Inputs, Step, make_inputs, solve


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
    problem = assignment.problem
    inputs = make_inputs(problem, seed)
    return GroundTruth(
        assignment=assignment, seed=seed, inputs=inputs, steps=solve(problem, inputs)
    )


def write_reference(assignment: Assignment, out: Path, seed: int | None = None) -> list[Path]:
    """Write out/inputs.dat (what students get) and out/torch_autograd.dat (the ground truth)."""
    truth = ground_truth(assignment, seed)
    if out.exists() and not out.is_dir():
        raise GradeError(f"{out}: exists and is not a folder; give --out a folder to write into")
    out.mkdir(parents=True, exist_ok=True)
    net = assignment.network
    about = [
        f"assignment {assignment.name}: {assignment.title}",
        f"seed {truth.seed}; network {'-'.join(map(str, net.sizes))}, {net.activation} hidden, "
        f"{net.output_activation} output; loss {assignment.loss}",
    ]
    inputs, gradients = out / "inputs.dat", out / "torch_autograd.dat"
    write_dat(
        inputs,
        truth.input_blocks,
        comments=[
            "grade reference: the inputs",
            *about,
            "x: the data point; y: its label; W1 b1 W2 b2 ...: the initial parameters,",
            "numbered from the input layer, each W in PyTorch's (out, in) layout",
        ],
    )
    steps = assignment.training.steps
    write_dat(
        gradients,
        truth.gradient_blocks,
        comments=[
            "grade reference: the ground truth, in float64",
            *about,
            "dL/dW and dL/db of every Linear layer, each W in PyTorch's (out, in) layout",
            *(
                [
                    f"stepN.: the gradient at SGD step N (0 to {steps}), lr "
                    f"{assignment.training.learning_rate}"
                ]
                if steps
                else []
            ),
        ],
    )
    return [inputs, gradients]
