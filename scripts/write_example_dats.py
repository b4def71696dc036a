"""Write torch_autograd.dat and my_autograd.dat for the example students in submissions/.

What each example student's own script would have written on the published inputs of
bs6207-a1: autograd on their network (float32) and their backprop, printed in the style
named below. Our own examples, so they run in this process; the grader never does this.

    .venv/bin/python scripts/write_example_dats.py
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import numpy as np
import torch

from grader.assignment import load_assignment
from grader.dat import format_dat, gradient_blocks
from grader.truth import ground_truth

SUBMISSIONS = Path(__file__).resolve().parent.parent / "submissions"
STYLES = {  # how each example prints its gradients
    "correct": "canonical",
    "transposed_weight_grads": "numpy",
    "missing_first_relu": "torch",
    "autograd_in_backprop": "canonical",
}


def _load(folder: Path, module: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        f"{folder.name}.{module}", folder / f"{module}.py"
    )
    assert spec is not None and spec.loader is not None
    loaded = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(loaded)
    return loaded


def _autograd(folder: Path, weights: list[np.ndarray], biases: list[np.ndarray], x, y):  # type: ignore[no-untyped-def]
    net = _load(folder, "network").build_network(d=10, K=10)
    linears = [m for m in net.modules() if isinstance(m, torch.nn.Linear)]
    with torch.no_grad():
        for linear, w, b in zip(linears, weights, biases, strict=True):
            linear.weight.copy_(torch.tensor(w))
            linear.bias.copy_(torch.tensor(b))
    loss = ((net(torch.tensor(x, dtype=torch.float32)) - float(y[0])) ** 2).sum()
    loss.backward()
    return [m.weight.grad.numpy() for m in linears], [m.bias.grad.numpy() for m in linears]


def _printed(dW: list[np.ndarray], db: list[np.ndarray], style: str) -> str:
    if style == "canonical":
        return format_dat(gradient_blocks([(dW, db)], prefixed=False))
    np.set_printoptions(precision=8, threshold=sys.maxsize, linewidth=120)
    torch.set_printoptions(precision=8, threshold=sys.maxsize, linewidth=120)
    lines = []
    for layer, (w, b) in enumerate(zip(dW, db, strict=True), start=1):
        if style == "numpy":
            lines += [f"Layer {layer} weight gradient:", str(np.asarray(w))]
            lines += [f"Layer {layer} bias gradient:", str(np.asarray(b))]
        else:
            lines += [f"net.{layer}.weight.grad:", str(torch.tensor(w))]
            lines += [f"net.{layer}.bias.grad:", str(torch.tensor(b))]
    return "\n".join(lines) + "\n"


def main() -> None:
    truth = ground_truth(load_assignment("bs6207-a1"))
    inputs = truth.inputs
    for name, style in STYLES.items():
        folder = SUBMISSIONS / name
        torch_grads = _autograd(folder, inputs.weights, inputs.biases, inputs.x, inputs.y)
        mine = _load(folder, "backprop").backprop(
            inputs.weights, inputs.biases, inputs.x, float(inputs.y[0])
        )
        (folder / "torch_autograd.dat").write_text(_printed(*torch_grads, style))
        (folder / "my_autograd.dat").write_text(_printed(*mine, style))
        print(f"wrote {folder.relative_to(SUBMISSIONS.parent)}/*.dat ({style})")


if __name__ == "__main__":
    main()
