"""no-autograd end to end: every route to autograd fails naming it, and honest code passes.

Each route is a student of its own (the correct student with backprop.py replaced), graded in
one class by real child processes, the same as `grade` does.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import notebooks
import pytest
from classroom import CORE_CHECKS, EXAMPLES, message, statuses
from nbformat import v4

from grader import api
from grader.assignment import load_assignment
from grader.result import GradeResult

LOSS = """
import importlib

import numpy as np
import torch


def loss(params, x, y):
    ws, bs = params
    a = x
    for layer, (W, b) in enumerate(zip(ws, bs)):
        z = W @ a + b
        a = z if layer == len(ws) - 1 else torch.relu(z)
    return ((a - y) ** 2).sum()


def tensors(weights, biases, x, y, grad=False):
    ws = [torch.tensor(W, requires_grad=grad) for W in weights]
    bs = [torch.tensor(b, requires_grad=grad) for b in biases]
    return (ws, bs), torch.tensor(x), torch.tensor(y)


def arrays(dW, db):
    return [g.detach().numpy() for g in dW], [g.detach().numpy() for g in db]


def by_backward(weights, biases, x, y):
    params, x, y = tensors(weights, biases, x, y, grad=True)
    loss(params, x, y).backward()
    return arrays([W.grad for W in params[0]], [b.grad for b in params[1]])
"""

# backprop's body (after LOSS); what the run-time layer names, and the function it names
ROUTES = {
    "getattr": (
        "def backprop(weights, biases, x, y):\n"
        "    transform = getattr(getattr(torch, 'fu' + 'nc'), 'jac' + 'fwd')\n"
        "    return arrays(*transform(loss)(*tensors(weights, biases, x, y)))\n",
        ("torch.func.jacfwd", "backprop"),
    ),
    "dunder_import": (
        "def backprop(weights, biases, x, y):\n"
        "    module = __import__('torch._functorch.eager_transforms', fromlist=['jacrev'])\n"
        "    return arrays(*module.jacrev(loss)(*tensors(weights, biases, x, y)))\n",
        ("torch.func.jacrev", "backprop"),
    ),
    "exec_of_a_string": (
        "def backprop(weights, biases, x, y):\n"
        "    scope = {'torch': torch, 'loss': loss, 'args': tensors(weights, biases, x, y)}\n"
        "    exec('grads = torch.func.grad(loss)(*args)', scope)\n"
        "    return arrays(*scope['grads'])\n",
        ("torch.func.grad", "backprop"),
    ),
    "forward_ad_via_importlib": (
        "def backprop(weights, biases, x, y):\n"
        "    fwAD = importlib.import_module('torch.autograd.forward_ad')\n"
        "    with fwAD.dual_level():\n"
        "        pass\n",
        ("torch.autograd.forward_ad.dual_level", "backprop"),
    ),
    "linearize_alias_at_import": (
        "linear = importlib.import_module('torch.func').linearize\n"
        "def backprop(weights, biases, x, y):\n"
        "    return linear(loss, *tensors(weights, biases, x, y))\n",
        ("torch.func.linearize", "backprop"),
    ),
    "vjp_alias_at_import": (
        "VJP = torch.func.vjp\n"
        "def backprop(weights, biases, x, y):\n"
        "    _, pull = VJP(loss, *tensors(weights, biases, x, y))\n"
        "    return arrays(*pull(torch.tensor(1.0, dtype=torch.float64))[0])\n",
        ("torch.func.vjp", "backprop"),
    ),
    "jacobian_forward_mode": (
        "def backprop(weights, biases, x, y):\n"
        "    params, x, y = tensors(weights, biases, x, y)\n"
        "    flat = (*params[0], *params[1])\n"
        "    f = lambda *p: loss((p[: len(p) // 2], p[len(p) // 2 :]), x, y)\n"
        "    grads = torch.autograd.functional.jacobian(\n"
        "        f, flat, strategy='forward-mode', vectorize=True)\n"
        "    return arrays(grads[: len(grads) // 2], grads[len(grads) // 2 :])\n",
        ("torch.autograd.functional.jacobian", "backprop"),
    ),
    "engine_taken_at_import": (
        "ENGINE = getattr(torch._C, '_Imperative' + 'Engine')()\n"
        "def backprop(weights, biases, x, y):\n"
        "    params, x, y = tensors(weights, biases, x, y, grad=True)\n"
        "    inputs = (*params[0], *params[1])\n"
        "    one = torch.tensor(1.0, dtype=torch.float64)\n"
        "    grads = ENGINE.run_backward(\n"
        "        (loss(params, x, y),), (one,), False, False, inputs, False, False)\n"
        "    return arrays(grads[: len(grads) // 2], grads[len(grads) // 2 :])\n",
        ("a backward pass through a graph recorded in backprop", "backprop"),
    ),
    "len_runs_backward": (
        "class Grads:\n"
        "    def __init__(self, args, which):\n"
        "        self.args, self.which = args, which\n"
        "    def __len__(self):\n"
        "        self.grads = by_backward(*self.args)[self.which]\n"
        "        return len(self.grads)\n"
        "    def __getitem__(self, index):\n"
        "        return self.grads[index]\n"
        "def backprop(weights, biases, x, y):\n"
        "    args = (weights, biases, x, y)\n"
        "    return [Grads(args, 0) for _ in weights], [Grads(args, 1) for _ in biases]\n",
        ("torch.Tensor.backward", "by_backward"),
    ),
    "iter_runs_backward": (
        "class Lazy(list):\n"
        "    def __init__(self, args, which):\n"
        "        self.args, self.which = args, which\n"
        "    def __iter__(self):\n"
        "        return iter(by_backward(*self.args)[self.which])\n"
        "def backprop(weights, biases, x, y):\n"
        "    args = (weights, biases, x, y)\n"
        "    return Lazy(args, 0), Lazy(args, 1)\n",
        ("torch.Tensor.backward", "by_backward"),
    ),
    "exception_str_runs_backward": (
        "class Failed(Exception):\n"
        "    def __str__(self):\n"
        "        by_backward(*self.args)\n"
        "        return 'failed'\n"
        "def backprop(weights, biases, x, y):\n"
        "    raise Failed(weights, biases, x, y)\n",
        ("torch.Tensor.backward", "by_backward"),
    ),
}

# honest code that brushes against autograd's names: full marks
# backprop's body (after LOSS) starting a program by another route than the
# autograd_in_a_subprocess fixture's subprocess.run; the function named
PYTHON = "[sys.executable, sys.executable, '-c', 'pass']"
PROGRAMS = {
    "os_execv": ("    os.execv(*" + PYTHON + ")\n", "os.execv"),
    "os_execl": ("    os.execl(*" + PYTHON + ")\n", "os.execl"),
    "os_posix_spawn": ("    os.posix_spawn(*" + PYTHON + ", os.environ)\n", "os.posix_spawn"),
    "os_system": ("    os.system('python3 -c pass')\n", "os.system"),
    "os_popen": ("    os.popen('python3 -c pass').read()\n", "os.popen"),
    "multiprocessing_spawn": (
        "    import multiprocessing\n"
        "    multiprocessing.get_context('spawn').Process(target=print).start()\n",
        "multiprocessing.process.BaseProcess.start",
    ),
}

# the correct backprop, by hand (after LOSS, which imports numpy as np)
BY_HAND = (
    "def backprop" + (EXAMPLES / "correct" / "backprop.py").read_text().split("def backprop")[1]
)
AUTOGRAD_BACKPROP = (
    "def backprop(weights, biases, x, y):\n"
    "    params, x, y = tensors(weights, biases, x, y, grad=True)\n"
    "    grads = torch.autograd.grad(loss(params, x, y), [*params[0], *params[1]])\n"
    "    return arrays(grads[: len(grads) // 2], grads[len(grads) // 2 :])\n"
)


def indented(code: str) -> str:
    return "".join(f"    {line}" if line.strip() else line for line in code.splitlines(True))


def replaced(code: str, old: str, new: str) -> str:
    assert old in code, old
    return code.replace(old, new)


# the correct backprop with variables named like the autograd of the code around it
LOCAL_GRADS = replaced(
    replaced(
        BY_HAND,
        "delta = 2 * (activations[-1] - y)",
        "grad = 2 * (activations[-1] - y)\n    delta = grad",
    ),
    "    return dW, db",
    '    grads = {"W": dW, "b": db}\n    return grads["W"], grads["b"]',
)

HONEST = {
    "autograd_backprop_behind_a_false_flag": (
        "USE_AUTOGRAD = False\nif USE_AUTOGRAD:\n"
        + indented(AUTOGRAD_BACKPROP)
        + "else:\n"
        + indented(BY_HAND)
    ),
    "local_grad_beside_an_autograd_import": "from torch.autograd import grad\n" + LOCAL_GRADS,
    "decorated_backprop_replacing_an_autograd_one": (
        AUTOGRAD_BACKPROP + "\n\n@torch.no_grad()\n" + BY_HAND
    ),
    "partial_of_a_function_by_hand": (
        "import functools\n"
        + replaced(BY_HAND, "def backprop(", "def by_hand(")
        + "\n\nbackprop = functools.partial(by_hand)\n"
    ),
    "callable_object": (
        "class Backprop:\n    "
        + replaced(indented(BY_HAND), "def backprop(", "def __call__(self, ").strip()
        + "\n\n\nbackprop = Backprop()\n"
    ),
    "vmap_outer_products": (
        "def backprop(weights, biases, x, y):\n"
        "    outer = torch.func.vmap(lambda d, a: d * a, in_dims=(0, None))\n"
        "    params, a, y = tensors(weights, biases, x, y, grad=True)\n"
        "    with torch.no_grad():\n"
        "        ws, bs = params\n"
        "        activations, pre = [a], []\n"
        "        for layer, (W, b) in enumerate(zip(ws, bs)):\n"
        "            z = W @ activations[-1] + b\n"
        "            pre.append(z)\n"
        "            activations.append(z if layer == len(ws) - 1 else torch.relu(z))\n"
        "        delta = 2 * (activations[-1] - y)\n"
        "        dW, db = [None] * len(ws), [None] * len(ws)\n"
        "        for layer in reversed(range(len(ws))):\n"
        "            if layer < len(ws) - 1:\n"
        "                delta = delta * (pre[layer] > 0)\n"
        "            dW[layer] = outer(delta, activations[layer])\n"
        "            db[layer] = delta\n"
        "            delta = ws[layer].T @ delta\n"
        "    return arrays(dW, db)\n"
    ),
}


# honest notebooks whose cells use autograd around backprop: the cells of each, after a title
NOTEBOOKS = {
    # a later cell stops before its own autograd backprop: the one in force is cell 3's
    "notebook_stopped_before_an_autograd_backprop": [
        v4.new_code_cell(notebooks.network_code()),
        v4.new_code_cell(notebooks.backprop_code()),
        v4.new_code_cell("raise SystemExit('old version')\n" + LOSS + AUTOGRAD_BACKPROP),
    ],
    # `grad` imported and `grads` set from torch.autograd for torch_autograd.dat, and backprop's
    # own variables of those names
    "notebook_local_grads_beside_autograd_cells": [
        v4.new_code_cell("import numpy as np\nimport torch\nfrom torch.autograd import grad"),
        v4.new_code_cell(notebooks.network_code()),
        v4.new_code_cell(
            "net = build_network()\nloss = net(torch.ones(10)).sum()\n"
            "grads = torch.autograd.grad(loss, list(net.parameters()))"
        ),
        v4.new_code_cell(LOCAL_GRADS),
    ],
}


@pytest.fixture(scope="module")
def graded(tmp_path_factory: pytest.TempPathFactory) -> dict[str, GradeResult]:
    """Every route and honest student, graded as one class."""
    root = tmp_path_factory.mktemp("routes")
    students = root / "students"
    students.mkdir()
    programs = {
        name: "import os, sys\n\n\ndef backprop(weights, biases, x, y):\n" + body
        for name, (body, _) in PROGRAMS.items()
    }
    for name, body in {**{n: b for n, (b, _) in ROUTES.items()}, **HONEST, **programs}.items():
        shutil.copytree(EXAMPLES / "correct", students / name)
        (students / name / "backprop.py").write_text(LOSS + body)
    for name, cells in NOTEBOOKS.items():
        notebooks.write(students / name, [v4.new_markdown_cell(notebooks.TITLE), *cells])
    results = api.grade_paths([students], load_assignment("bs6207-a1"), root / "reports")
    return {r.student: r for r in results}


@pytest.mark.parametrize(("route", "named"), [(n, w) for n, (_, w) in ROUTES.items()], ids=ROUTES)
def test_every_route_to_autograd_fails_naming_it(
    route: str, named: tuple[str, str], graded: dict[str, GradeResult]
) -> None:
    """getattr, __import__, exec, importlib, aliases taken at import, forward mode, a new engine,
    and returned objects or exceptions whose methods run backward(): no-autograd fails, naming
    what was called and where."""
    result = graded[route]
    assert statuses(result)["no-autograd"] == "fail", message(result, "no-autograd")
    check = next(c for c in result.checks if c.id == "no-autograd")
    name, function = named
    called = f"at run time: {name}, called in backprop.py, line "
    assert any(d.startswith(called) and d.endswith(f", in {function}") for d in check.details), (
        check.details
    )


@pytest.mark.parametrize("student", PROGRAMS)
def test_every_route_to_a_program_fails_naming_it(
    student: str, graded: dict[str, GradeResult]
) -> None:
    """A backprop that starts a program (where autograd would run unswitched) by os.exec*,
    posix_spawn, os.system, os.popen or multiprocessing's spawn fails no-autograd, naming the
    function it called and where."""
    result = graded[student]
    assert statuses(result)["no-autograd"] == "fail", message(result, "no-autograd")
    check = next(c for c in result.checks if c.id == "no-autograd")
    called = f"at run time: started a program through {PROGRAMS[student][1]}, called in "
    assert any(
        d.startswith(called + "backprop.py, line ") and d.endswith("all the same)")
        for d in check.details
    ), check.details


@pytest.mark.parametrize("honest", HONEST)
def test_honest_code_near_autograd_keeps_full_marks(
    honest: str, graded: dict[str, GradeResult]
) -> None:
    """vmap is not autograd, nor are tensors made with requires_grad and used under no_grad;
    nor is an autograd backprop that never ran (behind a false flag, or replaced by a later,
    decorated definition), nor a variable of backprop named like an autograd import. A
    backprop that is not a plain function (a partial, a callable object) is graded as well."""
    result = graded[honest]
    assert statuses(result) == dict.fromkeys(CORE_CHECKS, "pass"), [
        c.message for c in result.checks
    ]


@pytest.mark.parametrize("honest", NOTEBOOKS)
def test_honest_notebooks_beside_autograd_cells_keep_full_marks(
    honest: str, graded: dict[str, GradeResult]
) -> None:
    """A notebook's backprop is scanned as it ran: the definition in force (not a later one a
    stopped cell never reached), with its own variables named like the cells' autograd."""
    result = graded[honest]
    assert statuses(result) == dict.fromkeys(CORE_CHECKS, "pass"), [
        c.message for c in result.checks
    ]


def test_a_package_that_ran_is_named_when_it_passes(tmp_path: Path) -> None:
    """An honest backprop/ package beside backprop.py passes, and the pass says which ran."""
    folder = shutil.copytree(EXAMPLES / "correct", tmp_path / "student")
    package = folder / "backprop"
    package.mkdir()
    (folder / "backprop.py").rename(package / "__init__.py")
    (folder / "backprop.py").write_text("import torch\ndef backprop(w, b, x, y):\n    pass\n")
    result = api.grade_submission(folder, load_assignment("bs6207-a1"), tmp_path / "reports")
    assert statuses(result)["no-autograd"] == "pass"
    assert message(result, "no-autograd").startswith(
        "backprop/__init__.py ran, not backprop.py: a package named backprop takes precedence; "
    )
