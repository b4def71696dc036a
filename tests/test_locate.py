"""Point at the line: student backprops with a known mistake on a known line, traced by the
real line tracer, get exactly that line; a correct one gets none."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import textwrap
import time
import types
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from grader.assignment import load_assignment
from grader.checks import Call
from grader.compare import compare_all
from grader.diagnose import diagnose, first_failing
from grader.locate import locate
from grader.result import Location
from grader.truth import ground_truth, step_blocks

ROOT = Path(__file__).parent.parent


def _tracer() -> types.ModuleType:
    """The sandbox's tracer: from the tree once merged, until then from its branch."""
    path = ROOT / "grader" / "sandbox" / "tracer.py"
    if path.exists():
        from grader.sandbox import tracer  # type: ignore[attr-defined]

        return tracer  # type: ignore[no-any-return]
    text = subprocess.run(
        ["git", "-C", str(ROOT), "show", "i14-tracer:grader/sandbox/tracer.py"],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    module = types.ModuleType("tracer_from_branch")
    exec(compile(text, "tracer.py", "exec"), module.__dict__)
    return module


TRACER = _tracer()


def trace(
    tmp_path: Path, files: dict[str, str], name: str = "bs6207-a1", step: int = 0
) -> Location | None:
    """Write the student's files, trace backprop.backprop on the published call (at `step`),
    and locate its first wrong gradient."""
    for file, text in files.items():
        (tmp_path / file).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / file).write_text(textwrap.dedent(text))
    sys.path.insert(0, str(tmp_path))
    try:
        for module in [m for m in sys.modules if m.split(".")[0] in {"backprop", "helpers"}]:
            del sys.modules[module]
        spec = importlib.util.spec_from_file_location("backprop", tmp_path / "backprop.py")
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules["backprop"] = module
        spec.loader.exec_module(module)
        return run(tmp_path, module.backprop, _reader(tmp_path), name, step)[0]
    finally:
        sys.path.remove(str(tmp_path))


def trace_cell(tmp_path: Path, text: str, cell: int = 3) -> Location | None:
    """The student's backprop defined in a notebook's cell, compiled as the notebook runner
    compiles it, traced and located."""
    file = f"hw1.ipynb, cell {cell}"
    namespace: dict[str, Any] = {}
    exec(compile(text, f"{tmp_path}/{file}", "exec"), namespace)
    return run(tmp_path, namespace["backprop"], lambda f: text if f == file else None)[0]


def run(
    folder: Path, function: Any, source: Any, name: str = "bs6207-a1", step: int = 0
) -> tuple[Location | None, float]:
    """Trace `function` on the published call at `step` and locate its first wrong gradient;
    also the seconds locating took."""
    assignment = load_assignment(name)
    truth = ground_truth(assignment)
    st = truth.steps[step]
    expected = step_blocks(truth, step)
    call = Call(
        seed=truth.seed, step=step, published=True, weights=st.weights, biases=st.biases,
        x=truth.inputs.x, y=truth.inputs.y, expected=expected,
    )  # fmt: skip
    y: Any = float(call.y[0]) if call.y.size == 1 else call.y.copy()
    weights, biases = [w.copy() for w in call.weights], [b.copy() for b in call.biases]
    args = (weights, biases, call.x.copy(), y)
    returned, error, events, gave_up = TRACER.Tracer(str(folder)).run(function, args)
    assert error is None and gave_up is None, (error, gave_up)
    names = list(expected)
    actual = {}
    for layer, (w, b) in enumerate(zip(*returned, strict=True)):
        for value, block in ((w, names[2 * layer]), (b, names[2 * layer + 1])):
            array = np.asarray(
                value.detach().numpy() if hasattr(value, "detach") else value, dtype=np.float64
            )
            bias = block.split(".")[-1][0] == "b" and array.size == expected[block].size
            actual[block] = array.reshape(expected[block].shape) if bias else array
    comparison = compare_all(actual, expected, assignment.significant_figures)
    start = first_failing([t.name for t in comparison.tensors if not t.agree])
    diagnoses = diagnose(assignment, expected, actual, call.weights, call.biases, call.x, call.y)
    began = time.perf_counter()
    found = locate(assignment, call, actual, start or "W1", diagnoses, events, source)
    return found, time.perf_counter() - began


def _reader(folder: Path):  # type: ignore[no-untyped-def]
    def source(file: str) -> str | None:
        path = folder / file
        return path.read_text() if path.is_file() else None

    return source


LOOP = (ROOT / "submissions" / "correct" / "backprop.py").read_text()  # a loop over layers


def changed(old: str, new: str) -> str:
    """LOOP with `old` made `new`: a change that matches nothing would test the correct code."""
    assert old in LOOP, old
    return LOOP.replace(old, new)


def line_of(text: str, code: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), 1) if code in line)


def test_correct_loop_gets_no_location(tmp_path: Path) -> None:
    """A correct backprop is never pointed at."""
    assert trace(tmp_path, {"backprop.py": LOOP}) is None


def test_transposed_in_a_loop(tmp_path: Path) -> None:
    """np.outer(a, delta) is named, on its line, with the layer and the run of the line."""
    text = changed("np.outer(delta, activations[layer])", "np.outer(activations[layer], delta)")
    found = trace(tmp_path, {"backprop.py": text})
    assert found is not None
    assert found.line == line_of(text, "np.outer(") and found.layer == 11 and found.iteration == 1
    assert "transpose of dL/dW of layer 11" in found.sentence


def test_missing_relu_derivative_in_a_loop(tmp_path: Path) -> None:
    """Without the mask, delta holds dL/da: the line that stored it is named, and why."""
    text = changed("delta = delta * (pre_activations[layer] > 0)", "pass")
    found = trace(tmp_path, {"backprop.py": text})
    assert found is not None, "no location"
    assert found.line == line_of(text, "delta = weights[layer].T @ delta"), found
    assert "equals dL/da of layer 10" in found.sentence and "ReLU'(z10)" in found.sentence


def test_half_the_gradient(tmp_path: Path) -> None:
    """delta = p − y for L = (p − y)² is the line, not the dW line that used it."""
    text = changed("delta = 2 * (activations[-1] - y)", "delta = activations[-1] - y")
    found = trace(tmp_path, {"backprop.py": text})
    assert found is not None and found.line == line_of(text, "delta = activations[-1] - y")
    assert "half of" in found.sentence


def test_flipped_sign(tmp_path: Path) -> None:
    """y − p instead of p − y."""
    text = changed("delta = 2 * (activations[-1] - y)", "delta = 2 * (y - activations[-1])")
    found = trace(tmp_path, {"backprop.py": text})
    assert found is not None and found.line == line_of(text, "delta = 2 * (y")
    assert "sign is flipped" in found.sentence


def test_reversed_layers(tmp_path: Path) -> None:
    """Returning the lists back to front is named at the return."""
    text = changed("return dW, db", "return dW[::-1], db[::-1]")
    found = trace(tmp_path, {"backprop.py": text})
    assert found is not None and found.line == line_of(text, "return dW[::-1]")
    assert "wrong place" in found.sentence


UNROLLED = """\
import numpy as np


def backprop(weights, biases, x, y):
    W1, W2, W3 = weights
    b1, b2, b3 = biases
    z1 = W1 @ x + b1
    a1 = np.maximum(z1, 0)
    z2 = W2 @ a1 + b2
    a2 = np.maximum(z2, 0)
    p = W3 @ a2 + b3
    d3 = p - y
    dW3 = np.outer(d3, a2)
    g2 = W3.T @ d3
    d2 = g2 * (z2 > 0)
    dW2 = np.outer(d2, a1)
    g1 = W2.T @ d2
    d1 = g1 * (z1 > 0)
    dW1 = np.outer(d1, x)
    return [dW1, dW2, dW3], [d1, d2, d3]
"""


def test_unrolled_correct(tmp_path: Path) -> None:
    """hw02-1's network written out layer by layer, right: no location."""
    assert trace(tmp_path, {"backprop.py": UNROLLED}, "hw02-1") is None


def test_unrolled_updated_weights(tmp_path: Path) -> None:
    """Returning W − lr·dW (an SGD update) for layer 2 is named on that line, at a later step."""
    text = UNROLLED.replace("dW2 = np.outer(d2, a1)", "dW2 = W2 - 0.01 * np.outer(d2, a1)")
    found = trace(tmp_path, {"backprop.py": text}, "hw02-1", step=1)
    assert found is not None and found.line == line_of(text, "dW2 = W2 -")
    assert "updated parameters" in found.sentence and found.layer == 2


def test_unrolled_double(tmp_path: Path) -> None:
    """2(p − y) for ½(p − y)² is the line where d3 was formed."""
    text = UNROLLED.replace("d3 = p - y", "d3 = 2 * (p - y)")
    found = trace(tmp_path, {"backprop.py": text}, "hw02-1")
    assert (
        found is not None and found.line == line_of(text, "d3 = 2 *") and "twice" in found.sentence
    )


CLASS = """\
import numpy as np


class Net:
    def __init__(self, weights, biases):
        self.weights, self.biases = weights, biases

    def forward(self, x):
        self.zs, self.acts = [], [x]
        for W, b in zip(self.weights, self.biases):
            z = W @ self.acts[-1] + b
            self.zs.append(z)
            self.acts.append(1 / (1 + np.exp(-z)) if len(self.zs) < len(self.weights) else z)
        return self.acts[-1]

    def backward(self, y):
        n = len(self.weights)
        self.dW, self.db = [None] * n, [None] * n
        grad = 2 * (self.acts[-1] - y)
        for l in range(n - 1, -1, -1):
            if l < n - 1:
                s = self.acts[l + 1]
                grad = grad * s * (1 - s)
            self.dW[l] = np.outer(grad, self.acts[l])
            self.db[l] = grad
            grad = self.weights[l].T @ grad
        return self.dW, self.db


def backprop(weights, biases, x, y):
    net = Net(weights, biases)
    net.forward(x)
    return net.backward(y)
"""


def test_class_correct(tmp_path: Path) -> None:
    """A class with methods, sigmoid-d2, right: no location."""
    assert trace(tmp_path, {"backprop.py": CLASS}, "sigmoid-d2") is None


def test_class_missing_sigmoid_derivative(tmp_path: Path) -> None:
    """Without σ'(z), grad holds dL/da: the line that stored it in the method is named."""
    text = CLASS.replace("grad = grad * s * (1 - s)", "pass")
    found = trace(tmp_path, {"backprop.py": text}, "sigmoid-d2")
    assert found is not None and found.line == line_of(text, "grad = self.weights[l].T @ grad")
    assert "σ'(z2)" in found.sentence


HELPER = """\
import numpy as np


def weight_gradient(delta, a_prev):
    return np.outer(a_prev, delta)
"""


def test_helper_in_a_second_module(tmp_path: Path) -> None:
    """A helper's wrong return value is followed into the helper's module."""
    text = changed(
        "import numpy as np", "import numpy as np\nfrom helpers.grad import weight_gradient"
    )
    text = text.replace(
        "np.outer(delta, activations[layer])", "weight_gradient(delta, activations[layer])"
    )
    found = trace(
        tmp_path, {"backprop.py": text, "helpers/__init__.py": "", "helpers/grad.py": HELPER}
    )
    assert found is not None and found.file == "helpers/grad.py" and found.line == 5


TORCH = """\
import torch


def backprop(weights, biases, x, y):
    with torch.no_grad():
        Ws = [torch.tensor(w) for w in weights]
        bs = [torch.tensor(b) for b in biases]
        acts, zs = [torch.tensor(x)], []
        for W, b in zip(Ws, bs):
            z = W @ acts[-1] + b
            zs.append(z)
            acts.append(torch.relu(z) if len(zs) < len(Ws) else z)
        delta = 2 * (acts[-1] - y)
        dW, db = [], []
        for l in reversed(range(len(Ws))):
            if l < len(Ws) - 1:
                delta = delta * (zs[l] > 0)
            dW.insert(0, torch.outer(delta, acts[l]))
            db.insert(0, delta)
            delta = Ws[l].T @ delta
    return dW, db
"""


def test_torch_correct(tmp_path: Path) -> None:
    """Torch tensors with autograd off, right: no location."""
    pytest.importorskip("torch")
    assert trace(tmp_path, {"backprop.py": TORCH}) is None


def test_torch_sign(tmp_path: Path) -> None:
    """Torch tensors with autograd off: the flipped sign is named on its line."""
    pytest.importorskip("torch")
    text = TORCH.replace("delta = 2 * (acts[-1] - y)", "delta = -2 * (acts[-1] - y)")
    found = trace(tmp_path, {"backprop.py": text})
    assert found is not None and found.line == line_of(text, "delta = -2 *")


VECTORISED = """\
import numpy as np


def backprop(weights, biases, x, y):
    a = [x.reshape(-1, 1)]
    z = []
    for W, b in zip(weights, biases):
        z.append(W @ a[-1] + b.reshape(-1, 1))
        a.append(np.maximum(z[-1], 0) if len(z) < len(weights) else z[-1])
    delta = 2 * (a[-1] - y)
    dW, db = [], []
    for l in range(len(weights) - 1, -1, -1):
        g = np.repeat(delta, a[l].size, axis=1)
        g *= a[l].T
        dW.insert(0, g)
        db.insert(0, delta.ravel())
        delta = (weights[l].T @ delta) * (z[l - 1] > 0)
    return dW, db
"""


def test_vectorised_correct(tmp_path: Path) -> None:
    """Column vectors, a gradient built in place over two lines, right: no location."""
    assert trace(tmp_path, {"backprop.py": VECTORISED}) is None


def test_vectorised_formed_across_lines(tmp_path: Path) -> None:
    """A transposed gradient built in place over two lines: the line that completed it, and
    the lines it was formed across."""
    text = VECTORISED.replace(
        "g = np.repeat(delta, a[l].size, axis=1)", "g = np.repeat(a[l], delta.size, axis=1)"
    ).replace("g *= a[l].T", "g *= delta.T")
    found = trace(tmp_path, {"backprop.py": text})
    assert found is not None and found.line == line_of(text, "g *= delta.T"), found
    first = line_of(text, "g = np.repeat")
    assert f"formed across lines {first}–{first + 1}" in found.sentence
    assert "transpose of dL/dW of layer 11" in found.sentence


def test_notebook_cell(tmp_path: Path) -> None:
    """A notebook cell's code is located by the cell's line, under the notebook's name."""
    text = changed("np.outer(delta, activations[layer])", "np.outer(delta, activations[layer]) / 2")
    found = trace_cell(tmp_path, text)
    assert found is not None and (found.file, found.cell) == ("hw1.ipynb", 3)
    assert found.line == line_of(text, "/ 2") and "half of dL/dW of layer 11" in found.sentence
    assert found.excerpt[found.line - found.excerpt_start] == text.splitlines()[found.line - 1]


def test_locating_is_fast() -> None:
    """bs6207-a1's 11 layers: matching and walking take under 50 ms."""
    text = changed("delta = delta * (pre_activations[layer] > 0)", "pass")
    namespace: dict[str, Any] = {}
    exec(compile(text, "/nowhere/backprop.py", "exec"), namespace)
    timings = [run(Path("/nowhere"), namespace["backprop"], lambda f: text)[1] for _ in range(3)]
    assert min(timings) < 0.05, timings


def test_reversed_by_appending(tmp_path: Path) -> None:
    """Gradients appended from the output layer down and never reversed: the append is named."""
    text = changed("dW, db = [None] * len(weights), [None] * len(weights)", "dW, db = [], []")
    text = text.replace(
        "dW[layer] = np.outer(delta, activations[layer])",
        "dW.append(np.outer(delta, activations[layer]))",
    )
    text = text.replace("db[layer] = delta", "db.append(delta)")
    found = trace(tmp_path, {"backprop.py": text})
    assert found is not None and found.line == line_of(text, "dW.append(") and found.layer == 11
    assert "dL/dW of layer 1, in the wrong place" in found.sentence


def test_unrolled_sgd_step(tmp_path: Path) -> None:
    """lr × dL/dW returned for one layer is named on its line."""
    text = UNROLLED.replace("dW3 = np.outer(d3, a2)", "dW3 = 0.01 * np.outer(d3, a2)")
    found = trace(tmp_path, {"backprop.py": text}, "hw02-1")
    assert found is not None and found.line == line_of(text, "dW3 = 0.01")
    assert "lr × dL/dW of layer 3" in found.sentence


def test_torch_missing_relu_derivative(tmp_path: Path) -> None:
    """Torch tensors: without the mask, the line that stored dL/da is named."""
    pytest.importorskip("torch")
    text = TORCH.replace("delta = delta * (zs[l] > 0)", "pass")
    found = trace(tmp_path, {"backprop.py": text})
    assert found is not None and found.line == line_of(text, "delta = Ws[l].T @ delta")
    assert "ReLU'(z10)" in found.sentence


BACK = """\
import numpy as np


def back(W, delta):
    return W.T @ delta
"""


def test_missing_derivative_in_a_helper(tmp_path: Path) -> None:
    """dL/da made by a helper and used as δ: the helper's return is named, in its module."""
    text = changed("import numpy as np", "import numpy as np\nfrom helpers.grad import back")
    text = text.replace("delta = delta * (pre_activations[layer] > 0)", "pass")
    text = text.replace("delta = weights[layer].T @ delta", "delta = back(weights[layer], delta)")
    files = {"backprop.py": text, "helpers/__init__.py": "", "helpers/grad.py": BACK}
    found = trace(tmp_path, files)
    assert found is not None and (found.file, found.line) == ("helpers/grad.py", 5)


def test_a_wrong_derivative_matching_nothing(tmp_path: Path) -> None:
    """A mask that is no derivative at all (z > 1): its line, though it matches nothing."""
    text = changed("(pre_activations[layer] > 0)", "(pre_activations[layer] > 1)")
    found = trace(tmp_path, {"backprop.py": text})
    assert found is not None and found.line == line_of(text, "> 1)")
    assert "matches no value of a correct backward pass" in found.sentence


def test_a_value_the_trace_never_saw_names_no_line(tmp_path: Path) -> None:
    """A wrong mask read from a global the trace holds no value of: no line is named, since
    the global might be what is wrong."""
    text = changed("import numpy as np", "import numpy as np\n\nTHRESHOLD = np.ones(21)")
    text = text.replace("(pre_activations[layer] > 0)", "(pre_activations[layer] > THRESHOLD)")
    assert trace(tmp_path, {"backprop.py": text}) is None


def test_a_malformed_trace_names_no_line() -> None:
    """Events the parent cannot read are skipped; with nothing usable, no line."""
    assignment = load_assignment("hw02-1")
    truth = ground_truth(assignment)
    step = truth.steps[0]
    expected = step_blocks(truth, 0)
    call = Call(
        seed=truth.seed, step=0, published=True, weights=step.weights, biases=step.biases,
        x=truth.inputs.x, y=truth.inputs.y, expected=expected,
    )  # fmt: skip
    last = [name for name in expected if ".W" in name or name.startswith("W")][-1]
    actual = {**expected, last: 2 * expected[last]}
    events: list[Any] = [
        "junk",
        {"e": "set", "frame": "x", "file": "backprop.py", "line": 3},
        {"e": "set", "frame": 1, "file": "backprop.py", "line": 3, "name": "g",
         "value": {"f8": "!!", "shape": [1, 2]}},
        {"e": "set", "frame": 1, "file": "backprop.py", "line": 3, "name": "g",
         "value": {"f8": "", "shape": [4]}},
    ]  # fmt: skip
    assert locate(assignment, call, actual, last, [], events, lambda f: "g = 1\n") is None


def test_a_float32_student(tmp_path: Path) -> None:
    """A student computing in float32 matches the float64 intermediates by compare's rule."""
    text = changed(
        "    activations, pre_activations = [x], []",
        "    weights = [w.astype(np.float32) for w in weights]\n"
        "    biases = [b.astype(np.float32) for b in biases]\n"
        "    x = x.astype(np.float32)\n"
        "    activations, pre_activations = [x], []",
    )
    assert trace(tmp_path / "right", {"backprop.py": text}) is None
    text = text.replace("delta = delta * (pre_activations[layer] > 0)", "pass")
    found = trace(tmp_path / "wrong", {"backprop.py": text})
    assert found is not None and found.line == line_of(text, "delta = weights[layer].T @ delta")
