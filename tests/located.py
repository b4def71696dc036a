"""The acceptance corpus of issue 14: student backprops whose one mistake is on a known line.

A case is (assignment, style, mistake): a style is how the student wrote backprop (a loop over
layers, unrolled layers, a class, helpers in a second module, torch with autograd off,
vectorised numpy, a notebook cell), written once as a template whose slots hold the lines a
mistake changes; a mistake is the wrong text of one slot, ending in the marker `# <- MISTAKE`.
`build(case, into)` writes the full submission folder (the assignment's network, the .dat
files its correct student hands in), strips the marker (a real student does not write it) and
returns where it was: the file (the notebook's name for a notebook), the cell, the line.
"""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from string import Template

import notebooks
from nbformat import v4

from grader.assignment import load_assignment
from grader.dat import write_dat
from grader.truth import ground_truth

ROOT = Path(__file__).parent.parent
MARK = "  # <- MISTAKE"
CORRECT = {
    "bs6207-a1": ROOT / "submissions" / "correct",
    "hw02-1": ROOT / "tests" / "fixtures" / "hw02_1" / "correct",
}
SIGMOID_NETWORK = '''"""Two hidden layers of 10 with sigmoid, one linear output."""

import torch.nn as nn


def build_network(d=2):
    return nn.Sequential(
        nn.Linear(d, 10), nn.Sigmoid(), nn.Linear(10, 10), nn.Sigmoid(), nn.Linear(10, 1)
    )
'''
ACTIVATION = {"bs6207-a1": "relu", "hw02-1": "relu", "sigmoid-d2": "sigmoid"}
HALF_LOSS = {"hw02-1"}  # L = ½ Σ (p - y)²; the others (p - y)²

# --- the slots, written with the names of the layer where backprop starts -------------------
# delta: dL/dz of this layer; a_prev: its input; W: its weight; z, a: the layer below's
# pre-activation and activation; p: the prediction.

DERIVATIVE = {"relu": "(z > 0)", "sigmoid": "a * (1 - a)"}


def correct_slots(assignment: str) -> dict[str, str]:
    return {
        "dldp": "p - y" if assignment in HALF_LOSS else "2 * (p - y)",
        "dw": "OUTER(delta, a_prev)",
        "back": f"(W.T @ delta) * {DERIVATIVE[ACTIVATION[assignment]]}",
        "ret": "dW, db",
    }


MISTAKES: dict[str, tuple[str, str]] = {  # mistake → (slot, its wrong text)
    "transposed": ("dw", "OUTER(a_prev, delta)"),
    "half": ("dldp", "p - y"),  # (p - y)² differentiated as if it were ½(p - y)²
    "double": ("dldp", "2 * (p - y)"),  # ½(p - y)² differentiated as if it were (p - y)²
    "sign": ("dldp", "2 * (y - p)"),
    "missing-relu-derivative": ("back", "W.T @ delta"),
    "missing-sigmoid-derivative": ("back", "W.T @ delta"),
    "reversed": ("ret", "dW[::-1], db[::-1]"),
    "sgd-step": ("dw", "0.01 * OUTER(delta, a_prev)"),  # lr × the gradient
    "updated": ("dw", "W - 0.01 * OUTER(delta, a_prev)"),  # the updated weights
}

# --- the styles -----------------------------------------------------------------------------

LOOP = """import numpy as np


def backprop(weights, biases, x, y):
    activations, zs = [np.asarray(x, dtype=float)], []
    for layer, (W, b) in enumerate(zip(weights, biases)):
        z = W @ activations[-1] + b
        zs.append(z)
        activations.append(z if layer == len(weights) - 1 else $act)
    p = activations[-1]
    delta = $dldp
    dW, db = [None] * len(weights), [None] * len(weights)
    for layer in reversed(range(len(weights))):
        W, a_prev = weights[layer], activations[layer]
        dW[layer] = $dw
        db[layer] = delta
        if layer > 0:
            z, a = zs[layer - 1], activations[layer]
            delta = $back
    return $ret
"""

UNROLLED = """import numpy as np


def backprop(weights, biases, x, y):
    W1, W2, W3 = weights
    b1, b2, b3 = biases
    z1 = W1 @ x + b1
    a1 = $act1
    z2 = W2 @ a1 + b2
    a2 = $act2
    p = W3 @ a2 + b3
    d3 = $dldp
    dW3 = $dw
    d2 = $back
    dW2 = np.outer(d2, a1)
    d1 = $back1
    dW1 = np.outer(d1, x)
    dW, db = [dW1, dW2, dW3], [d1, d2, d3]
    return $ret
"""
UNROLLED_NAMES = {"delta": "d3", "a_prev": "a2", "W": "W3", "z": "z2", "a": "a2"}

CLASS = '''import numpy as np


class Network:
    """The parameters, and what the forward pass leaves for the backward one."""

    def __init__(self, weights, biases):
        self.weights, self.biases = weights, biases
        self.zs, self.activations = [], []

    def forward(self, x):
        self.activations = [np.asarray(x, dtype=float)]
        for layer, (W, b) in enumerate(zip(self.weights, self.biases)):
            z = W @ self.activations[-1] + b
            self.zs.append(z)
            last = layer == len(self.weights) - 1
            self.activations.append(z if last else self.activate(z))
        return self.activations[-1]

    def activate(self, z):
        return $actz

    def backward(self, p, y):
        delta = $dldp
        dW, db = [], []
        for layer in reversed(range(len(self.weights))):
            W, a_prev = self.weights[layer], self.activations[layer]
            gradient = $dw
            dW.insert(0, gradient)
            db.insert(0, delta)
            if layer > 0:
                z, a = self.zs[layer - 1], self.activations[layer]
                delta = $back
        return $ret


def backprop(weights, biases, x, y):
    net = Network(weights, biases)
    return net.backward(net.forward(x), y)
'''

HELPERS = """import numpy as np


def activate(z):
    return $actz


def loss_gradient(p, y):
    return $dldp


def weight_gradient(delta, a_prev, W):
    return $dw


def backward_step(W, delta, z, a):
    return $back
"""
HELPERS_BACKPROP = """import numpy as np

from helpers import activate, backward_step, loss_gradient, weight_gradient


def backprop(weights, biases, x, y):
    activations, zs = [np.asarray(x, dtype=float)], []
    for layer, (W, b) in enumerate(zip(weights, biases)):
        z = W @ activations[-1] + b
        zs.append(z)
        activations.append(z if layer == len(weights) - 1 else activate(z))
    delta = loss_gradient(activations[-1], y)
    dW, db = [None] * len(weights), [None] * len(weights)
    for layer in reversed(range(len(weights))):
        dW[layer] = weight_gradient(delta, activations[layer], weights[layer])
        db[layer] = delta
        if layer > 0:
            delta = backward_step(weights[layer], delta, zs[layer - 1], activations[layer])
    return $ret
"""

TORCH = """import numpy as np
import torch


def backprop(weights, biases, x, y):
    Ws = [torch.from_numpy(np.asarray(W, dtype=float)) for W in weights]
    bs = [torch.from_numpy(np.asarray(b, dtype=float)) for b in biases]
    x = torch.from_numpy(np.asarray(x, dtype=float))
    y = torch.from_numpy(np.asarray(y, dtype=float))
    activations, zs = [x], []
    for layer, (W, b) in enumerate(zip(Ws, bs)):
        z = W @ activations[-1] + b
        zs.append(z)
        activations.append(z if layer == len(Ws) - 1 else $tact)
    p = activations[-1]
    delta = $dldp
    dW, db = [None] * len(Ws), [None] * len(Ws)
    for layer in reversed(range(len(Ws))):
        W, a_prev = Ws[layer], activations[layer]
        dW[layer] = $dw
        db[layer] = delta
        if layer > 0:
            z, a = zs[layer - 1], activations[layer]
            delta = $back
    dW, db = $ret
    return [g.numpy() for g in dW], [g.numpy() for g in db]
"""

# dW and delta formed in steps, from parts that are right: the wrong value is made on the line
# that puts them together.
VECTORISED = """import numpy as np


def backprop(weights, biases, x, y):
    activations, zs = [np.asarray(x, dtype=float)], []
    for layer, (W, b) in enumerate(zip(weights, biases)):
        z = W @ activations[-1] + b
        zs.append(z)
        activations.append(z if layer == len(weights) - 1 else $act)
    p = activations[-1]
    delta = $dldp
    dW, db = [None] * len(weights), [None] * len(weights)
    for layer in reversed(range(len(weights))):
        W, a_prev = weights[layer], activations[layer]
        column = delta.reshape(-1, 1)
        row = a_prev.reshape(1, -1)
        dW[layer] = $dwv
        db[layer] = delta
        if layer > 0:
            z, a = zs[layer - 1], activations[layer]
            upstream = W.T @ delta
            slope = $deriv
            delta = $vback
    return $ret
"""

ACT = {"relu": "np.maximum(z, 0)", "sigmoid": "1 / (1 + np.exp(-z))"}
TORCH_ACT = {"relu": "torch.clamp(z, min=0)", "sigmoid": "torch.sigmoid(z)"}


@dataclass(frozen=True)
class Case:
    """A student of `assignment` writing backprop in `style` and making `mistake` (None: none)."""

    assignment: str
    style: str
    mistake: str | None

    @property
    def id(self) -> str:
        return f"{self.assignment}-{self.style}-{self.mistake or 'correct'}"


@dataclass(frozen=True)
class Marked:
    """Where the marker was: the file (a notebook's name), its cell for a notebook, the line,
    and the line's code as the student wrote it (stripped)."""

    file: str
    line: int
    code: str
    cell: int | None = None


def _rename(text: str, names: dict[str, str]) -> str:
    return re.sub(r"\b\w+\b", lambda m: names.get(m[0], m[0]), text)


def _slots(case: Case) -> dict[str, str]:
    """Every slot's text for this case, the mistaken one ending in the marker."""
    slots = correct_slots(case.assignment)
    if case.mistake is not None:
        slot, wrong = MISTAKES[case.mistake]
        slots[slot] = wrong + MARK
    outer = "torch.outer" if case.style == "torch" else "np.outer"
    slots = {k: v.replace("OUTER", outer) for k, v in slots.items()}
    activation = ACTIVATION[case.assignment]
    slots["act"] = ACT[activation]
    slots["actz"] = ACT[activation]
    slots["tact"] = TORCH_ACT[activation]
    if case.style == "unrolled":
        slots = {k: _rename(v, UNROLLED_NAMES) for k, v in slots.items()}
        slots["act1"] = _rename(ACT[activation], {"z": "z1"})
        slots["act2"] = _rename(ACT[activation], {"z": "z2"})
        below = {"W": "W2", "delta": "d2", "z": "z1", "a": "a1"}  # layer 1, always right
        slots["back1"] = _rename(correct_slots(case.assignment)["back"], below)
    if case.style == "vectorised":  # its own slots for dW and delta; $dw and $back unused
        slots["dwv"] = "row.T * column.T" + MARK if case.mistake == "transposed" else "column * row"
        slots["deriv"] = DERIVATIVE[activation]
        missing = case.mistake == "missing-relu-derivative"
        slots["vback"] = "upstream" + MARK if missing else "upstream * slope"
    return slots


def _unmark(text: str, file: str, cell: int | None = None) -> tuple[str, Marked | None]:
    """The text without its marker, and where the marker was, if anywhere."""
    lines = text.split("\n")
    marked = [
        Marked(file, number, line.removesuffix(MARK).strip(), cell)
        for number, line in enumerate(lines, start=1)
        if line.endswith(MARK)
    ]
    assert len(marked) <= 1, f"{file}: {len(marked)} markers"
    return text.replace(MARK, ""), (marked[0] if marked else None)


def sources(case: Case) -> dict[str, str]:
    """The student's files by name (with the marker still in)."""
    slots = _slots(case)

    def fill(template: str) -> str:
        return Template(template).substitute(slots)

    if case.style == "helpers":
        return {"helpers.py": fill(HELPERS), "backprop.py": fill(HELPERS_BACKPROP)}
    template = {
        "loop": LOOP,
        "notebook": LOOP,
        "unrolled": UNROLLED,
        "class": CLASS,
        "torch": TORCH,
        "vectorised": VECTORISED,
    }[case.style]
    return {"backprop.py": fill(template)}


def _network(assignment: str) -> str:
    if assignment == "sigmoid-d2":
        return SIGMOID_NETWORK
    return (CORRECT[assignment] / "network.py").read_text()


def _dat_files(assignment: str, folder: Path) -> None:
    """The .dat files a correct student hands in: its correct student's, or for sigmoid-d2
    (which has none) the reference's gradients as both torch_autograd.dat and my_autograd.dat."""
    if assignment in CORRECT:
        for dat in CORRECT[assignment].glob("*.dat"):
            shutil.copy(dat, folder / dat.name)
        return
    truth = ground_truth(load_assignment(assignment))
    for name in ("torch_autograd.dat", "my_autograd.dat"):
        write_dat(folder / name, truth.gradient_blocks)


def build(case: Case, into: Path) -> tuple[Path, Marked | None]:
    """The submission folder of `case` under `into`, and where its mistake is."""
    folder = into / case.id
    folder.mkdir(parents=True)
    _dat_files(case.assignment, folder)
    marked: Marked | None = None
    files = sources(case)
    if case.style == "notebook":
        code, marked = _unmark(files["backprop.py"], notebooks.NAME, cell=3)
        cells = [
            v4.new_markdown_cell(notebooks.TITLE),
            v4.new_code_cell(_network(case.assignment)),
            v4.new_code_cell(code),  # cell 3, counting the markdown title
        ]
        notebooks.write(folder, cells, dat=False)  # the .dat files are there already
        return folder, marked
    (folder / "network.py").write_text(_network(case.assignment))
    for name, text in files.items():
        code, found = _unmark(text, name)
        (folder / name).write_text(code)
        marked = marked or found
    return folder, marked


# --- the corpus -----------------------------------------------------------------------------

_BY_STYLE: dict[str, list[tuple[str, str | None]]] = {
    "loop": [
        ("bs6207-a1", None),
        ("bs6207-a1", "transposed"),
        ("bs6207-a1", "half"),
        ("bs6207-a1", "sign"),
        ("bs6207-a1", "missing-relu-derivative"),
        ("bs6207-a1", "reversed"),
        ("sigmoid-d2", None),
        ("sigmoid-d2", "missing-sigmoid-derivative"),
        ("hw02-1", None),
        ("hw02-1", "double"),
        ("hw02-1", "sgd-step"),
        ("hw02-1", "updated"),
    ],
    "unrolled": [
        ("sigmoid-d2", None),
        ("sigmoid-d2", "transposed"),
        ("sigmoid-d2", "sign"),
        ("sigmoid-d2", "missing-sigmoid-derivative"),
        ("sigmoid-d2", "reversed"),
        ("hw02-1", None),
        ("hw02-1", "double"),
        ("hw02-1", "sgd-step"),
        ("hw02-1", "updated"),
    ],
    "class": [
        ("bs6207-a1", None),
        ("bs6207-a1", "transposed"),
        ("bs6207-a1", "half"),
        ("bs6207-a1", "missing-relu-derivative"),
        ("bs6207-a1", "reversed"),
    ],
    "helpers": [
        ("bs6207-a1", None),
        ("bs6207-a1", "transposed"),
        ("bs6207-a1", "sign"),
        ("bs6207-a1", "missing-relu-derivative"),
    ],
    "torch": [
        ("bs6207-a1", None),
        ("bs6207-a1", "transposed"),
        ("bs6207-a1", "half"),
        ("bs6207-a1", "missing-relu-derivative"),
    ],
    "vectorised": [
        ("bs6207-a1", None),
        ("bs6207-a1", "transposed"),
        ("bs6207-a1", "missing-relu-derivative"),
    ],
    "notebook": [("bs6207-a1", None), ("bs6207-a1", "missing-relu-derivative")],
}
CASES = [Case(a, style, m) for style, cases in _BY_STYLE.items() for a, m in cases]
