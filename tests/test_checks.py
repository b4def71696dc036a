"""The checks as pure functions: architecture traces, the autograd source scan, .dat files."""

from __future__ import annotations

import dataclasses
import itertools
import re
from pathlib import Path
from typing import Any

import nbformat
import numpy as np
import pytest

from grader import notebook
from grader.assignment import Limits, load_assignment
from grader.checks import Context, architecture, dat_files, no_autograd
from grader.dat import format_dat
from grader.notebook import Notebook
from grader.sandbox.run import Outcome
from grader.truth import ground_truth


def context(folder: Path, name: str = "bs6207-a1") -> Context:
    """A context whose child run produced nothing: enough for checks that read files."""
    assignment = load_assignment(name)
    outcome = Outcome(stages={}, failures={}, output="", seconds=0)
    truth = ground_truth(assignment)
    return Context(assignment=assignment, folder=folder, truths=[truth], calls=[], outcome=outcome)


# --- network-architecture -------------------------------------------------------------------


def linear(n_in: int, n_out: int, bias: bool = True) -> dict[str, Any]:
    return {"op": "linear", "in": n_in, "out": n_out, "weight": "w", "bias": "b" if bias else None}


def trace(*hidden_ops: list[str], sizes: tuple[int, ...] = (2, 10, 10, 1)) -> list[dict[str, Any]]:
    """Linear layers of `sizes` with the given ops after each hidden one."""
    events: list[dict[str, Any]] = []
    for number, (n_in, n_out) in enumerate(itertools.pairwise(sizes)):
        events.append(linear(n_in, n_out))
        if number < len(hidden_ops):
            events += [{"op": op} for op in hidden_ops[number]]
    return events


ARCHITECTURES = {
    "right": (trace(["sigmoid"], ["sigmoid"]), None),
    "in-place and reshapes are fine": (trace(["sigmoid_", "view"], ["flatten", "sigmoid"]), None),
    "missing activation": (
        trace([], ["sigmoid"]),
        "no activation after Linear 1 (2→10); expected sigmoid",
    ),
    "wrong activation": (
        trace(["relu"], ["sigmoid"]),
        "relu after Linear 1 (2→10); expected sigmoid",
    ),
    "activation twice (seed 002's Sequential)": (
        trace(["sigmoid", "sigmoid"], ["sigmoid"]),
        "sigmoid, sigmoid after Linear 1 (2→10); expected sigmoid",
    ),
    "activation after the output": (
        trace(["sigmoid"], ["sigmoid"], ["sigmoid"]),
        "sigmoid after the output Linear (10→1); expected none (linear output)",
    ),
    "wrong width": (
        trace(["sigmoid"], ["sigmoid"], sizes=(2, 10, 9, 1)),
        "Linear 2 is 10→9, expected 10→10",
    ),
    "one layer short": (
        trace(["sigmoid"], sizes=(2, 10, 1)),
        "Linear 2 is 10→1, expected 10→10",
    ),
    "one layer too many": (
        trace(["sigmoid"], ["sigmoid"], [], sizes=(2, 10, 10, 1, 1)),
        "the network applies 4 Linear layers (2→10, 10→10, 10→1, 1→1); expected 3 (2-10-10-1)",
    ),
    "no bias": (
        [linear(2, 10, bias=False), {"op": "sigmoid"}],
        "Linear 1 (2→10) has no bias; the assignment's layers all have one",
    ),
    "nothing traced": (
        [],
        "the network applies 0 Linear layers (none); expected 3 (2-10-10-1)",
    ),
}


@pytest.mark.parametrize(("events", "expected"), ARCHITECTURES.values(), ids=ARCHITECTURES.keys())
def test_architecture_names_the_first_difference(
    events: list[dict[str, Any]], expected: str | None, tmp_path: Path
) -> None:
    """The traced network's first difference from sigmoid-d2, in words (None: no difference)."""
    assert (
        architecture.first_difference(context(tmp_path, "sigmoid-d2"), events, [1, 1]) == expected
    )


def test_architecture_checks_the_output_size(tmp_path: Path) -> None:
    """An output of the wrong size is named."""
    events = trace(["sigmoid"], ["sigmoid"])
    found = architecture.first_difference(context(tmp_path, "sigmoid-d2"), events, [1, 2])
    assert found == "the network's output has shape (1, 2); expected 1 value(s)"


# --- no-autograd, in the source ---------------------------------------------------------------

SOURCES = {
    "clean": ("import numpy as np\ndef backprop(w, b, x, y):\n    return w, b\n", []),
    "a .backward() method of the student's own class": (
        "class Net:\n    def backward(self, y):\n        return y\n"
        "def backprop(w, b, x, y):\n    net = Net()\n    return net.backward(y)\n",
        [],
    ),
    "torch.autograd.grad": (
        "import torch\ndef backprop(w, b, x, y):\n    return torch.autograd.grad(1, 2)\n",
        ["backprop.py, line 3, in backprop(): uses torch.autograd"],
    ),
    "torch under another name": (
        "import torch as t\ndef backprop(w, b, x, y):\n    return t.autograd.grad(1, 2)\n",
        ["backprop.py, line 3, in backprop(): uses torch.autograd"],
    ),
    "imported grad": (
        "from torch.autograd import grad\ndef backprop(w, b, x, y):\n    return grad(1, 2)\n",
        ["backprop.py, line 3, in backprop(): uses grad (imported from torch.autograd)"],
    ),
    "torch.func in a helper it calls": (
        "import torch\ndef helper():\n    return torch.func.grad(f)\n"
        "def backprop(w, b, x, y):\n    return helper()\n",
        ["backprop.py, line 3, in helper(): uses torch.func.grad"],
    ),
    "torch.func in a method it calls": (
        "import torch\nclass Net:\n    def backward(self, f):\n        return torch.func.vjp(f)\n"
        "def backprop(w, b, x, y):\n    return Net().backward(y)\n",
        ["backprop.py, line 4, in backward(): uses torch.func.vjp"],
    ),
    "an alias taken at import": (
        "import torch\njac = torch.func.jacfwd\ndef backprop(w, b, x, y):\n    return jac(f)(w)\n",
        ["backprop.py, line 4, in backprop(): uses jac (set to torch.func.jacfwd at line 2)"],
    ),
    "torch.func taken at import": (
        "import torch\ntf = torch.func\ndef backprop(w, b, x, y):\n    return tf.jacrev(f)(w)\n",
        ["backprop.py, line 4, in backprop(): uses torch.func.jacrev"],
    ),
    "vmap is not autograd": (
        "import torch\nfrom torch.func import vmap\nimport torch.func as tf\n"
        "def backprop(w, b, x, y):\n    return vmap(f)(w), torch.func.vmap(f)(b), tf.vmap(f)(x)\n",
        [],
    ),
    "autograd in code backprop does not call": (
        "import torch\ndef make_torch_file(loss):\n    return torch.autograd.grad(loss, [])\n"
        "def backprop(w, b, x, y):\n    return w\n",
        [],
    ),
    "the engine itself": (
        "from torch.autograd import Variable\ndef backprop(w, b, x, y):\n"
        "    Variable._execution_engine.run_backward()\n",
        ["backprop.py, line 3, in backprop(): uses _execution_engine"],
    ),
    "a local variable named like an autograd import": (
        "from torch.autograd import grad\ndef backprop(w, b, x, y):\n"
        "    grad = 2 * (w - y)\n    return grad, grad\n",
        [],
    ),
    "a parameter named like an autograd import": (
        "from torch.autograd import grad\ndef backprop(w, b, x, grad):\n    return grad(w)\n",
        [],
    ),
    "a local read before it is assigned (local all the same)": (
        "from torch.autograd import grad\ndef backprop(w, b, x, y):\n    for v in w:\n"
        "        if v:\n            print(grad)\n        grad = v\n",
        [],
    ),
    "a global declaration reads the import": (
        "from torch.autograd import grad\ndef backprop(w, b, x, y):\n    global grad\n"
        "    grad = grad(w, b)\n",
        ["backprop.py, line 4, in backprop(): uses grad (imported from torch.autograd)"],
    ),
    "a lambda's and a comprehension's variables are theirs": (
        "from torch.autograd import grad\ndef backprop(w, b, x, y):\n"
        "    step = lambda grad: grad * 2\n    return [grad for grad in w], grad(w, b)\n",
        ["backprop.py, line 4, in backprop(): uses grad (imported from torch.autograd)"],
    ),
    "a nested function reads its enclosing function's variable": (
        "from torch.autograd import grad\ndef backprop(w, b, x, y):\n    grad = 2 * (w - y)\n"
        "    def step():\n        return [grad * v for v in x]\n    return step()\n",
        [],
    ),
    "a nested function's nonlocal": (
        "from torch.autograd import grad\ndef backprop(w, b, x, y):\n    grad = 0\n"
        "    def step():\n        nonlocal grad\n        grad = grad + 1\n"
        "    step()\n    return grad\n",
        [],
    ),
    "a walrus in a comprehension binds the function's variable": (
        "from torch.autograd import grad\ndef backprop(w, b, x, y):\n"
        "    deltas = [grad := v * 2 for v in w]\n    return deltas, grad\n",
        [],
    ),
    "a parameter named like torch.func": (
        "from torch import func\ndef backprop(w, b, x, func):\n    return func.grad\n",
        [],
    ),
    "a function's own import of autograd": (
        "def backprop(w, b, x, y):\n    from torch.autograd import grad\n    return grad(w, b)\n",
        [
            "backprop.py, line 2, in backprop(): imports torch.autograd",
            "backprop.py, line 3, in backprop(): uses grad (imported from torch.autograd)",
        ],
    ),
    "a function's own import of torch.func": (
        "def backprop(w, b, x, y):\n    import torch.func as tf\n    return tf.grad(f)(w)\n",
        ["backprop.py, line 3, in backprop(): uses torch.func.grad"],
    ),
    "grad mode is not autograd": (
        "import torch\nfrom torch.autograd import no_grad\ndef backprop(w, b, x, y):\n"
        "    from torch.autograd import set_grad_enabled\n"
        "    with torch.autograd.no_grad(), no_grad(), torch.autograd.grad_mode.enable_grad():\n"
        "        return torch.autograd.Variable(w)\n",
        [],
    ),
}


@pytest.mark.parametrize(("source", "expected"), SOURCES.values(), ids=SOURCES.keys())
def test_source_scan(source: str, expected: list[str], tmp_path: Path) -> None:
    """What can only be autograd, in backprop or what it calls, is found by file, line and
    function; a `.backward()` call alone is not (it may be the student's own method)."""
    path = tmp_path / "backprop.py"
    path.write_text(source)
    assert no_autograd.source_uses(path, "backprop") == expected


HELPERS = {
    "import helpers": ("import helpers\ndef backprop(w, b, x, y):\n    return helpers.grads(w)\n"),
    "from helpers import": (
        "from helpers import grads as g\ndef backprop(w, b, x, y):\n    return g(w)\n"
    ),
    "a package's module": (
        "from pack import helpers\ndef backprop(w, b, x, y):\n    return helpers.grads(w)\n"
    ),
}


@pytest.mark.parametrize("source", HELPERS.values(), ids=HELPERS.keys())
def test_source_scan_follows_the_students_modules(source: str, tmp_path: Path) -> None:
    """Autograd in a function of the student's own module that backprop calls is found there,
    and only in what backprop calls."""
    (tmp_path / "pack").mkdir()
    (tmp_path / "pack" / "__init__.py").write_text("")
    helpers = (
        "from torch.func import jacfwd\nimport torch\n"
        "def grads(w):\n    return jacfwd(f)(w)\n"
        "def torch_file(loss):\n    return torch.autograd.grad(loss, [])\n"
    )
    for folder in (tmp_path, tmp_path / "pack"):
        (folder / "helpers.py").write_text(helpers)
    (tmp_path / "backprop.py").write_text(source)
    shown = "pack/helpers.py" if "pack" in source else "helpers.py"
    assert no_autograd.source_uses(tmp_path / "backprop.py", "backprop") == [
        f"{shown}, line 4, in grads(): uses jacfwd (imported from torch.func)"
    ]


def test_source_scan_follows_relative_imports_of_a_package(tmp_path: Path) -> None:
    """A package's `from .core import grads` is followed, named by its path in the submission."""
    package = tmp_path / "backprop"
    package.mkdir()
    (package / "__init__.py").write_text(
        "from .core import grads\ndef backprop(w, b, x, y):\n    return grads(w)\n"
    )
    (package / "core.py").write_text(
        "import torch\ndef grads(w):\n    return torch.func.grad(f)(w)\n"
    )
    found = no_autograd.source_uses(package / "__init__.py", "backprop", tmp_path)
    assert found == ["backprop/core.py, line 3, in grads(): uses torch.func.grad"]


def _notebook(folder: Path, *cells: str) -> Notebook:
    """A notebook of `cells` (a markdown cell first), read as grade reads one."""
    book = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("# HW1")])
    book.cells += [nbformat.v4.new_code_cell(code) for code in cells]
    nbformat.write(book, folder / "hw1.ipynb")
    return notebook.read(folder, "hw1.ipynb", Limits())


def test_notebook_scan_looks_at_backprop_and_what_it_calls(tmp_path: Path) -> None:
    """In a notebook, the cells that use autograd for torch_autograd.dat are not backprop's: only
    backprop as the cells left it and what it calls are scanned, named by cell and line."""
    book = _notebook(
        tmp_path,
        "import torch\nloss = net(x).sum()\nloss.backward()\ng = torch.autograd.grad(loss, [])",
        "def backprop(w, b, x, y):\n    return torch.autograd.grad(w, b)  # an early try",
        "%matplotlib inline\ndef helper(w):\n    return torch.func.grad(f)(w)",
        "def backprop(w, b, x, y):\n    return helper(w)",
    )
    assert no_autograd.notebook_uses(book, "backprop", tmp_path) == [
        "hw1.ipynb, cell 4, line 3, in helper(): uses torch.func.grad"
    ]


def test_notebook_scan_passes_honest_backprop_beside_autograd_cells(tmp_path: Path) -> None:
    book = _notebook(
        tmp_path,
        "import torch\nimport numpy as np\nloss.backward()\ng = torch.autograd.grad(loss, [])",
        "def backprop(w, b, x, y):\n    return [np.outer(x, x)], [x]",
        "def broken(:\n",
    )
    assert no_autograd.notebook_uses(book, "backprop", tmp_path) == []


def test_notebook_scan_tells_backprops_variables_from_the_cells_autograd(tmp_path: Path) -> None:
    """A variable of backprop named like an autograd global of the cells (`grad` imported from
    torch.autograd, `grads` set by torch.autograd.grad) is backprop's own; a function that reads
    the global is told where it was set, by cell and line."""
    book = _notebook(
        tmp_path,
        "import torch\nfrom torch.autograd import grad",
        "w = torch.ones(2, requires_grad=True)\nloss = (w * w).sum()\n"
        "grads = torch.autograd.grad(loss, [w])",
        "def backprop(w, b, x, y):\n    grad = 2 * (x - y)\n"
        "    grads = {'W': [grad], 'b': [grad]}\n    return grads['W'], grads['b']",
        "def cheat(w, b, x, y):\n    return grads",
    )
    assert no_autograd.notebook_uses(book, "backprop", tmp_path) == []
    assert no_autograd.notebook_uses(book, "cheat", tmp_path) == [
        "hw1.ipynb, cell 5, line 2, in cheat(): uses grads (set to torch.autograd at cell 3, "
        "line 3)"
    ]


HAND = "def backprop(w, b, x, y):\n    return [np.outer(x, x)], [x]\n"
AUTOGRAD = "def backprop(w, b, x, y):\n    return torch.autograd.grad(w, b)\n"


@pytest.mark.parametrize(
    ("place", "expected"),
    [
        (("hw1.ipynb, cell 3", 1), []),
        (None, ["hw1.ipynb, cell 4, line 3, in backprop(): uses torch.autograd"]),
        (
            ("hw1.ipynb, cell 3", 2),
            ["hw1.ipynb, cell 4, line 3, in backprop(): uses torch.autograd"],
        ),
        (
            ("hw1.ipynb, cell 9", 1),
            ["hw1.ipynb, cell 4, line 3, in backprop(): uses torch.autograd"],
        ),
        (
            ("other.ipynb, cell 3", 1),
            ["hw1.ipynb, cell 4, line 3, in backprop(): uses torch.autograd"],
        ),
    ],
    ids=["the place that ran", "no place", "no definition there", "no such cell", "another file"],
)
def test_notebook_scan_starts_at_the_definition_that_ran(
    place: tuple[str, int] | None, expected: list[str], tmp_path: Path
) -> None:
    """A later cell's definition that never ran (the cell stopped before it) is not the backprop
    the sandbox called: the scan starts where the called function was defined, and falls back
    to the last definition when that place names none."""
    book = _notebook(
        tmp_path,
        "import torch\nimport numpy as np",
        HAND,
        "raise SystemExit('old version')\n" + AUTOGRAD,
    )
    assert no_autograd.notebook_uses(book, "backprop", tmp_path, place) == expected


def test_notebook_scan_follows_a_backprop_imported_from_a_module(tmp_path: Path) -> None:
    """A notebook that imports backprop from the student's module is scanned in that module."""
    (tmp_path / "helpers.py").write_text("import torch\n" + AUTOGRAD)
    book = _notebook(tmp_path, "from helpers import backprop")
    expected = ["helpers.py, line 3, in backprop(): uses torch.autograd"]
    assert no_autograd.notebook_uses(book, "backprop", tmp_path, ("helpers.py", 2)) == expected


FLAGGED = (
    "import torch\nimport numpy as np\nUSE_AUTOGRAD = False\nif USE_AUTOGRAD:\n"
    + "\n".join("    " + line for line in AUTOGRAD.splitlines())
    + "\nelse:\n"
    + "\n".join("    " + line for line in HAND.splitlines())
    + "\n"
)
DEFINITIONS = {
    "the branch a flag chose": (FLAGGED, 8, []),
    "no place": (FLAGGED, None, ["backprop.py, line 6, in backprop(): uses torch.autograd"]),
    "no definition there": (
        FLAGGED,
        7,
        ["backprop.py, line 6, in backprop(): uses torch.autograd"],
    ),
    "a decorated definition, by its decorator's line": (
        "import torch\nimport numpy as np\n" + AUTOGRAD + "@torch.no_grad()\n" + HAND,
        5,
        [],
    ),
    "a definition by another name": (
        "import torch\nimport numpy as np\n"
        + AUTOGRAD
        + HAND.replace("backprop", "by_hand")
        + "backprop = by_hand\n",
        5,
        [],
    ),
    "a method": (
        "import torch\nimport numpy as np\nclass Net:\n    def backprop(self, w, b, x, y):\n"
        "        return torch.func.grad(f)(w)\n" + HAND,
        6,
        [],
    ),
}


@pytest.mark.parametrize(
    ("source", "line", "expected"), DEFINITIONS.values(), ids=DEFINITIONS.keys()
)
def test_source_scan_starts_at_the_definition_that_ran(
    source: str, line: int | None, expected: list[str], tmp_path: Path
) -> None:
    """In a module too, the scan starts at the definition the called function came from: the
    branch of `if USE_AUTOGRAD:` that ran, a decorated function (its first line is its
    decorator's), a function bound to the contract's name; a line with no definition falls back
    to every definition of the name."""
    path = tmp_path / "backprop.py"
    path.write_text(source)
    start = None if line is None else (path, line)
    assert no_autograd.source_uses(path, "backprop", start=start) == expected


def test_source_scan_follows_the_definition_into_another_module(tmp_path: Path) -> None:
    """`from helpers import backprop` in backprop.py: the definition that ran is in helpers.py."""
    (tmp_path / "helpers.py").write_text("import torch\n" + AUTOGRAD)
    (tmp_path / "backprop.py").write_text("from helpers import backprop\n")
    start = (tmp_path / "helpers.py", 2)
    assert no_autograd.source_uses(tmp_path / "backprop.py", "backprop", start=start) == [
        "helpers.py, line 3, in backprop(): uses torch.autograd"
    ]


def test_source_scan_of_a_broken_file_finds_nothing(tmp_path: Path) -> None:
    """A file that does not parse is left to the run, which reports it."""
    path = tmp_path / "backprop.py"
    path.write_text("def backprop(:\n")
    assert no_autograd.source_uses(path, "backprop") == []


def ran(folder: Path, module_file: object) -> Context:
    """A context whose backprop stage answered, reporting `module_file` as the file it ran."""
    answer = {"ok": True, "results": [{"dW": [], "db": []}], "autograd_attempts": []}
    stages = {"backprop": answer | {"module_file": module_file}}
    outcome = Outcome(stages=stages, failures={}, output="", seconds=0)
    return dataclasses.replace(context(folder), outcome=outcome)


def test_a_compiled_module_that_ran_is_an_error_naming_it(tmp_path: Path) -> None:
    """An extension module beside backprop.py runs instead of it: its source cannot be read,
    so no-autograd cannot pass, and says why."""
    (tmp_path / "backprop.py").write_text("def backprop(w, b, x, y):\n    return w, b\n")
    so = "backprop.cpython-311-x86_64-linux-gnu.so"
    (tmp_path / so).write_bytes(b"\x7fELF")
    found = no_autograd.check(ran(tmp_path, so))
    assert (found.status, found.message) == (
        "error",
        f"{so} ran, not backprop.py: a compiled module takes precedence: its source cannot be "
        "checked; hand in backprop.py",
    )


@pytest.mark.parametrize("reported", ["../backprop.py", "/etc/passwd", "link.py", 3, ""])
def test_a_reported_file_outside_the_submission_is_not_read(
    reported: object, tmp_path: Path
) -> None:
    """What the child reports as the file that ran is read only if it is a regular file of the
    submission; otherwise the contract's backprop.py is."""
    folder = tmp_path / "student"
    folder.mkdir()
    (tmp_path / "backprop.py").write_text(
        "import torch\ndef backprop(w, b, x, y):\n    torch.func.grad(f)\n"
    )
    (folder / "link.py").symlink_to(tmp_path / "backprop.py")
    (folder / "backprop.py").write_text("def backprop(w, b, x, y):\n    return w, b\n")
    found = no_autograd.check(ran(folder, reported))
    assert (found.status, found.message) == (
        "pass",
        "backprop.py: no autograd in backprop() or what it calls, in the source or at run time",
    )


def defined(folder: Path, function_file: object, function_line: object) -> Context:
    """A context whose backprop stage reported where the function it called was defined."""
    context = ran(folder, "backprop.py")
    stage = context.outcome.stages["backprop"]
    stage |= {"function_file": function_file, "function_line": function_line}
    return context


@pytest.mark.parametrize(
    ("function_file", "function_line", "status"),
    [
        ("backprop.py", 8, "pass"),
        ("helpers.py", 2, "fail"),
        ("backprop.py", 7, "fail"),
        ("../backprop.py", 8, "fail"),
        ("link.py", 8, "fail"),
        ("backprop.py", "8", "fail"),
        (None, None, "fail"),
    ],
    ids=["it", "another module", "no definition", "outside", "a link", "not a line", "none"],
)
def test_the_check_scans_from_where_the_child_says_backprop_was_defined(
    function_file: object, function_line: object, status: str, tmp_path: Path
) -> None:
    """The place the child reports starts the scan when it is a definition in a regular file of
    the submission; otherwise the scan is as it was: every definition of the name."""
    folder = tmp_path / "student"
    folder.mkdir()
    (folder / "backprop.py").write_text(FLAGGED)
    (folder / "helpers.py").write_text("import torch\n" + AUTOGRAD)
    (folder / "link.py").symlink_to(folder / "backprop.py")
    (tmp_path / "backprop.py").write_text(FLAGGED)
    found = no_autograd.check(defined(folder, function_file, function_line))
    assert found.status == status, found.message


# --- dat-files --------------------------------------------------------------------------------


@pytest.fixture
def truth_blocks() -> dict[str, np.ndarray]:
    return ground_truth(load_assignment("bs6207-a1")).gradient_blocks


def write(folder: Path, torch_text: str, my_text: str) -> None:
    (folder / "torch_autograd.dat").write_text(torch_text)
    (folder / "my_autograd.dat").write_text(my_text)


def numpy_printed(blocks: dict[str, np.ndarray], precision: int = 8) -> str:
    """What `print(f"Layer {k} weight gradient:"); print(grad)` writes, numpy style."""
    lines = []
    with np.printoptions(precision=precision, threshold=10**6, linewidth=120):
        for name, values in blocks.items():
            lines += [f"{name} gradient:", str(values)]
    return "\n".join(lines) + "\n"


def test_dat_files_pass(tmp_path: Path, truth_blocks: dict[str, np.ndarray]) -> None:
    """Canonical and numpy-printed files with the right values pass."""
    write(tmp_path, format_dat(truth_blocks), numpy_printed(truth_blocks))
    found = dat_files.check(context(tmp_path))
    assert found.status == "pass", found.message


def test_missing_file(tmp_path: Path, truth_blocks: dict[str, np.ndarray]) -> None:
    """A missing file is named."""
    (tmp_path / "torch_autograd.dat").write_text(format_dat(truth_blocks))
    found = dat_files.check(context(tmp_path))
    assert found.status == "fail"
    assert found.message == (
        "my_autograd.dat: missing; write it with your gradients on the published inputs"
    )


def test_canonical_file_with_a_format_error_names_the_line(
    tmp_path: Path, truth_blocks: dict[str, np.ndarray]
) -> None:
    """A file meant as canonical .dat that breaks the format gets the reader's message."""
    text = format_dat(truth_blocks).replace("W1 21 10", "W1 21 11", 1)
    write(tmp_path, text, format_dat(truth_blocks))
    found = dat_files.check(context(tmp_path))
    assert found.message.startswith(
        "torch_autograd.dat: line 1: block `W1 21 11` (line 1) holds 210 values; expected "
        "231 = 21 × 11 (see the .dat format in grade's docs/students.md)"
    )


def test_canonical_file_missing_a_block(
    tmp_path: Path, truth_blocks: dict[str, np.ndarray]
) -> None:
    """A canonical file without some blocks names them."""
    partial = {k: v for k, v in truth_blocks.items() if k not in ("W11", "b11")}
    write(tmp_path, format_dat(partial), format_dat(truth_blocks))
    assert dat_files.check(context(tmp_path)).message.startswith(
        "torch_autograd.dat: has no block W11, b11"
    )


def test_appended_runs_grade_the_last(tmp_path: Path, truth_blocks: dict[str, np.ndarray]) -> None:
    """A file with runs appended is graded on its last run, and says so."""
    wrong = {k: 2 * v for k, v in truth_blocks.items()}
    write(tmp_path, numpy_printed(wrong) + numpy_printed(truth_blocks), format_dat(truth_blocks))
    found = dat_files.check(context(tmp_path))
    assert found.status == "pass", found.message
    assert "torch_autograd.dat: 2 runs of 22 blocks appended; the last was read" in found.details


def test_too_few_figures_is_said(tmp_path: Path, truth_blocks: dict[str, np.ndarray]) -> None:
    """Values printed with 3 significant figures fail, and the message says why."""
    lines = []
    for name, values in truth_blocks.items():
        lines.append(f"{name} {' '.join(map(str, values.shape))}")
        lines += [" ".join(f"{v:.3g}" for v in row) for row in values.reshape(-1, values.shape[-1])]
    write(tmp_path, format_dat(truth_blocks), "\n".join(lines) + "\n")
    found = dat_files.check(context(tmp_path))
    assert found.status == "fail"
    assert re.search(
        r"printed with as few as [123] significant figures?; 5 are needed", found.message
    )


def test_files_that_disagree_with_each_other(
    tmp_path: Path, truth_blocks: dict[str, np.ndarray]
) -> None:
    """Both files are compared with each other too (the homework's step 8)."""
    nudged = dict(truth_blocks)
    nudged["b11"] = truth_blocks["b11"] * (1 + 5e-5)  # within the rule of the reference...
    write(tmp_path, format_dat(truth_blocks), format_dat(nudged))
    found = dat_files.check(context(tmp_path))
    assert found.status == "pass"  # ...and of each other: 5e-5 is under one unit
    nudged["b11"] = truth_blocks["b11"] * 1.01
    write(tmp_path, format_dat(truth_blocks), format_dat(nudged))
    found = dat_files.check(context(tmp_path))
    assert "my_autograd.dat against torch_autograd.dat: b11" in "\n".join(found.details)


def test_rounded_to_five_decimals_is_a_precision_problem(
    tmp_path: Path, truth_blocks: dict[str, np.ndarray]
) -> None:
    """np.round(x, 5) of right values fails as too few figures, not as wrong values."""
    rounded = "".join(f"{k} gradient:\n{np.round(v, 5)}\n" for k, v in truth_blocks.items())
    write(tmp_path, format_dat(truth_blocks), rounded)
    found = dat_files.check(context(tmp_path))
    assert found.status == "fail"
    assert re.match(
        r"my_autograd\.dat: values printed with 5 decimals: [0-9]+% of entries read as 0 and "
        r"[0-9]+% carry too few figures; 5 significant figures cannot be shown \(W1, b1, W2 and "
        r"[0-9]+ more\)$",
        found.message,
    ), found.message
    assert not any("against the reference" in line for line in found.details)


def test_transposed_layout_is_named(tmp_path: Path, truth_blocks: dict[str, np.ndarray]) -> None:
    """Weights in (in, out) layout fail as a layout problem that says the values are right."""
    turned = {k: v.T if k.startswith("W") else v for k, v in truth_blocks.items()}
    write(tmp_path, format_dat(truth_blocks), numpy_printed(turned))
    found = dat_files.check(context(tmp_path))
    assert found.message == (
        "my_autograd.dat against the reference: W1: shape (10, 21) differs from expected "
        "(21, 10): W1, W2, W3 and 8 more are written transposed, in (in, out) layout; write "
        "PyTorch's (out, in) (transposed, the values agree with the reference)"
    )
    assert "my_autograd.dat: block 1 (line 2, 'W1 gradient', 10 × 21) read as W1, transposed" in (
        found.details
    )


def test_input_layer_left_out(tmp_path: Path, truth_blocks: dict[str, np.ndarray]) -> None:
    """Labels counted from the second layer land on W2, b2, ...; W1 and b1 are missing."""
    shifted = {
        f"Layer {int(k[1:]) - 1} {'weight' if k[0] == 'W' else 'bias'}": v
        for k, v in truth_blocks.items()
        if k[1:] != "1"
    }
    write(tmp_path, format_dat(truth_blocks), numpy_printed(shifted))
    found = dat_files.check(context(tmp_path))
    assert found.message == "my_autograd.dat: has no block W1, b1"
    assert "my_autograd.dat: not found: W1 (21 × 10), b1 (21)" in found.details
