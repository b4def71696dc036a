"""Notebook submissions for the tests, written by nbformat's own builders.

Like the module fixtures (tests/fixtures/submissions/README.md), each is named for what it
does, and each differs from the correct student in that one way: the correct solution's code
(submissions/correct/network.py and backprop.py) as cells, the correct .dat files handed in,
and the behaviour around them. `make_notebook(behaviour, into)` writes the submission folder
`into/behaviour` and returns it. The notebooks are generated rather than stored because some
are 200 MB, or not notebooks at all, and because the cells are read from the correct modules:
a notebook and the modules it mirrors cannot drift apart.

Every code cell is numbered as the report numbers it: counting every cell, markdown too, from 1.
The tests name cells by these numbers (COLAB_CELLS, BROKEN_CELL, HOSTILE_CELL).
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path

import nbformat
from nbformat import v4

ROOT = Path(__file__).parent.parent
CORRECT = ROOT / "submissions" / "correct"
DAT_FILES = ("torch_autograd.dat", "my_autograd.dat")
NAME = "hw1.ipynb"
NOTEBOOK_SECONDS = 8.0  # the endless loop costs this once; the correct cells take well under 1 s
STORED_OUTPUT_MIB = 200
# What `os.system` in a cell tries to create on the grader's machine; unique to this run.
PWNED = Path(f"/tmp/pwned-grade-tests-{os.getpid()}")
TITLE = "# BS6207 Assignment 1\nThe network, autograd's gradients and backprop by hand."


def network_code() -> str:
    return (CORRECT / "network.py").read_text()


def backprop_code() -> str:
    return (CORRECT / "backprop.py").read_text()


def without_imports(code: str) -> str:
    """The code with its top-level imports left out (a notebook's first cell imports them)."""
    return "\n".join(line for line in code.splitlines() if not line.startswith("import "))


def contract_cells() -> list[nbformat.NotebookNode]:
    """The correct modules, one cell each, after a markdown title: cells 1 (title), 2, 3."""
    return [
        v4.new_markdown_cell(TITLE),
        v4.new_code_cell(network_code()),
        v4.new_code_cell(backprop_code()),
    ]


def write(
    folder: Path, cells: list[nbformat.NotebookNode], *, name: str = NAME, dat: bool = True
) -> Path:
    """Write the notebook `name` of `cells` into `folder` (with the correct .dat files)."""
    folder.mkdir(parents=True, exist_ok=True)
    notebook = v4.new_notebook(cells=cells)
    kernel = {"name": "python3", "display_name": "Python 3", "language": "python"}
    notebook.metadata["kernelspec"] = kernel
    nbformat.write(notebook, folder / name)
    if dat:
        for file in DAT_FILES:
            shutil.copy(CORRECT / file, folder / file)
    return folder / name


# --- well-meaning students --------------------------------------------------------------------


def contract_form(folder: Path) -> None:
    """The correct modules' code as cells, the .dat files handed in."""
    write(folder, contract_cells())


COLAB_CELLS = {  # what each cell of the Colab notebook holds, by the report's number
    "mount": 2,  # from google.colab import drive / drive.mount('/content/drive')
    "shell": 3,  # !pip install torchviz / %matplotlib inline
    "imports": 4,  # import tensorflow as tf, then import torch on the next line
    "drive_path": 5,  # open('/content/drive/...') on the line that fails
    "drive_folder": 6,  # the /content/drive folder in a variable, used on the next line
    "bash": 7,  # %%bash: not Python, skipped
    "network": 8,  # the correct network, relying on cell 4's imports
    "timed_backprop": 9,  # %%time, then the correct backprop
}
DRIVE = "/content/drive/MyDrive/Colab Notebooks/BS6207/"


def colab(folder: Path) -> None:
    """A notebook from Colab: the badge, Drive mounted, `!pip install`, a magic, tensorflow
    imported in the same first cell as torch, /content/drive paths, a %%bash cell; then the
    correct code, which relies on cell 4's imports, its backprop under %%time."""
    badge = (
        '<a href="https://colab.research.google.com/github/x/y/blob/main/hw1.ipynb">'
        '<img src="https://colab.research.google.com/assets/colab-badge.svg"/></a>'
    )
    cells = [
        v4.new_markdown_cell(badge),
        v4.new_code_cell("from google.colab import drive\ndrive.mount('/content/drive')"),
        v4.new_code_cell("!pip install torchviz\n%matplotlib inline"),
        v4.new_code_cell(
            "import tensorflow as tf\nimport torch\nimport torch.nn as nn\nimport numpy as np"
        ),
        v4.new_code_cell(f"with open('{DRIVE}notes.txt', 'w') as notes:\n    notes.write('a1')"),
        v4.new_code_cell(f"folder = '{DRIVE}'\nnp.savetxt(folder + 'x.txt', np.zeros(3))"),
        v4.new_code_cell("%%bash\nnvidia-smi"),
        v4.new_code_cell(without_imports(network_code())),
        v4.new_code_cell("%%time\n" + without_imports(backprop_code())),
    ]
    path = write(folder, cells)
    notebook = nbformat.read(path, as_version=4)
    notebook.metadata["colab"] = {"name": NAME, "provenance": []}
    nbformat.write(notebook, path)


BROKEN_CELL = 3
BROKEN_CODE = """def scale(values, by):
    return [v / by for v in values]

scaled = scale([1.0, 2.0], 0)
print("never printed")"""


def broken_middle_cell(folder: Path) -> None:
    """The network (cell 2), a cell raising ZeroDivisionError from a function it defines
    (cell 3, line 4, raised at its line 2), then backprop (cell 4)."""
    cells = [
        v4.new_markdown_cell(TITLE),
        v4.new_code_cell(network_code()),
        v4.new_code_cell(BROKEN_CODE),
        v4.new_code_cell(backprop_code()),
    ]
    write(folder, cells)


SCRIPT_NETWORK = (
    "net = nn.Sequential(Linear(10, 21), "
    + "".join("Linear(21, 21), ReLU(), " for _ in range(9))
    + "Linear(21, 1))\nprint(net)"
)
SCRIPT_BACKPROP = '''def backward_propagation(X, parameters):
    """dL/dW and dL/db of (p - y)^2, layer by layer, from the weights in `parameters`."""
    L = len(parameters) // 2
    a, zs, activations = X, [], [X]
    for l in range(1, L + 1):
        z = parameters["W" + str(l)] @ a + parameters["b" + str(l)]
        zs.append(z)
        a = z if l == L else np.maximum(z, 0)
        activations.append(a)
    grads, delta = {}, 2 * (a - y_np)
    for l in range(L, 0, -1):
        if l < L:
            delta = delta * (zs[l - 1] > 0)
        grads["dW" + str(l)] = np.outer(delta, activations[l - 1])
        grads["db" + str(l)] = delta
        delta = parameters["W" + str(l)].T @ delta
    return grads'''


def script_style_missing_first_relu(folder: Path) -> None:
    """Written before the contract: the network a global `nn.Sequential` without the ReLU
    after its first Linear (the seed reports' mistake), an MSE criterion, unseeded data,
    `loss.backward()`, the manual gradients as loose statements around a
    `backward_propagation(X, parameters)`; no build_network, no backprop."""
    cells = [
        v4.new_markdown_cell(TITLE),
        v4.new_code_cell(
            "import numpy as np\nimport torch\nimport torch.nn as nn\n"
            "from torch.nn import Linear, ReLU"
        ),
        v4.new_code_cell(SCRIPT_NETWORK),
        v4.new_code_cell(
            "criterion = nn.MSELoss()\nx = torch.rand(1, 10)\ny = torch.rand(1, 1)\n"
            "out = net(x)\nloss = criterion(out, y)\nloss.backward()\nloss"
        ),
        v4.new_markdown_cell("## Backprop by hand"),
        v4.new_code_cell(
            "linears = [layer for layer in net if isinstance(layer, nn.Linear)]\n"
            "parameters = {}\n"
            "for i, layer in enumerate(linears, start=1):\n"
            "    parameters['W' + str(i)] = layer.weight.detach().numpy().astype(float)\n"
            "    parameters['b' + str(i)] = layer.bias.detach().numpy().astype(float)\n"
            "X_np, y_np = x.numpy().reshape(-1).astype(float), y.numpy().reshape(-1)"
        ),
        v4.new_code_cell(SCRIPT_BACKPROP),
        v4.new_code_cell(
            "grads = backward_propagation(X_np, parameters)\n"
            "dL_dW11 = grads['dW11']\ndL_db11 = grads['db11']\nprint(dL_dW11, dL_db11)"
        ),
    ]
    write(folder, cells)


WRITE_DAT = """import torch

def write_dat(path, net):
    with open(path, "w") as out:
        linears = [m for m in net if isinstance(m, torch.nn.Linear)]
        for i, layer in enumerate(linears, start=1):
            for name, grad in (("W", layer.weight.grad), ("b", layer.bias.grad.reshape(-1, 1))):
                out.write(f"{name}{i} {grad.shape[0]} {grad.shape[1]}\\n")
                for row in grad.tolist():
                    out.write(" ".join(repr(v) for v in row) + "\\n")

net = build_network()
x, y = torch.rand(10), torch.rand(1)  # unseeded: other values every run
loss = ((net(x) - y) ** 2).sum()
loss.backward()
write_dat("torch_autograd.dat", net)
write_dat("my_autograd.dat", net)"""


def unseeded_writes_own_dat(folder: Path) -> None:
    """The correct code, then a cell writing torch_autograd.dat and my_autograd.dat itself
    from unseeded random inputs; the files handed in are the correct ones."""
    write(folder, [*contract_cells(), v4.new_code_cell(WRITE_DAT)])


GPU_CELLS = {"display": 2, "cuda": 3, "rewrite": 6}  # cells by the report's number


def colab_gpu_runtime(folder: Path) -> None:
    """Written on Colab's GPU runtime: IPython.display for progress, the network moved to
    'cuda', then the correct code, and a last cell rewriting the .dat files handed in (read-only,
    as a zip from Windows may leave them) with the same text."""
    write(
        folder,
        [
            v4.new_markdown_cell(TITLE),
            v4.new_code_cell("from IPython.display import display, clear_output\nclear_output()"),
            v4.new_code_cell(
                "import torch\ndevice = torch.device('cuda')\nz = torch.zeros(1).to(device)"
            ),
            *contract_cells(),
            v4.new_code_cell(
                "for name in ('torch_autograd.dat', 'my_autograd.dat'):\n"
                "    text = open(name).read()\n"
                "    open(name, 'w').write(text)"
            ),
        ],
    )
    for name in DAT_FILES:
        (folder / name).chmod(0o444)


def beside_the_modules(folder: Path) -> None:
    """The correct modules, and beside them a notebook that would end the process at its
    first cell: the modules are graded, the notebook is not run."""
    shutil.copytree(CORRECT, folder, ignore=shutil.ignore_patterns("__pycache__"))
    write(folder, [v4.new_code_cell("import os\nos._exit(3)")], dat=False)


# --- hostile notebooks ------------------------------------------------------------------------


def hostile(code: str) -> Callable[[Path], None]:
    """A notebook with `code` as its cell 3, between the network (2) and backprop (4)."""

    def make(folder: Path) -> None:
        cells = [
            v4.new_markdown_cell(TITLE),
            v4.new_code_cell(network_code()),
            v4.new_code_cell(code),
            v4.new_code_cell(backprop_code()),
        ]
        write(folder, cells)

    make.__doc__ = f"Cell 3, between the network and backprop: {code.splitlines()[0]}"
    return make


HOSTILE_CELL = 3
FILLS_MEMORY = """blocks = []
while True:
    blocks.append(b"x" * (64 * 2**20))"""


def stored_output_200mb(folder: Path) -> None:
    """The correct code, and a cell whose stored output holds 200 MB of printed text (streamed
    to the file, never held in memory here)."""
    marker = "@@OUTPUT@@"
    printed = v4.new_code_cell("for i in range(10**8):\n    print(i)")
    printed.outputs = [v4.new_output("stream", name="stdout", text=marker)]
    path = write(folder, [*contract_cells(), printed])
    head, tail = path.read_text().split(marker)
    chunk = "0123456789abcd\\n" * 2**16  # 1 MiB of JSON-escaped text per write
    with path.open("w") as out:
        out.write(head)
        for _ in range(STORED_OUTPUT_MIB):
            out.write(chunk)
        out.write(tail)


def invalid_json(folder: Path) -> None:
    """A notebook cut short mid-file (a save interrupted): not JSON."""
    path = write(folder, contract_cells())
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def cell_source_not_a_string(folder: Path) -> None:
    """Valid JSON, but cell 2's source is a number: not a notebook nbformat validates."""
    path = write(folder, contract_cells())
    notebook = json.loads(path.read_text())
    notebook["cells"][1]["source"] = 42
    path.write_text(json.dumps(notebook, indent=1))


def nbformat_3(folder: Path) -> None:
    """The correct notebook saved as nbformat 3 (IPython 2 and older)."""
    path = write(folder, contract_cells())
    old = nbformat.convert(nbformat.read(path, as_version=4), 3)
    nbformat.write(old, path, version=3)


def empty_file(folder: Path) -> None:
    """hw1.ipynb of 0 bytes (the .dat files are there)."""
    write(folder, contract_cells()).write_bytes(b"")


LATIN1_NAME = "h\udce9w 1\x1b.ipynb"  # b"h\xe9w 1\x1b.ipynb": Latin-1, an escape character


def named_in_latin1(folder: Path) -> None:
    """The correct notebook under a name that is not UTF-8 and holds a control character."""
    write(folder, contract_cells(), name=LATIN1_NAME)


def two_notebooks(folder: Path) -> None:
    """Two correct notebooks, and nothing saying which to grade."""
    write(folder, contract_cells(), name="hw1.ipynb")
    write(folder, contract_cells(), name="hw1-final.ipynb")


BEHAVIOURS: dict[str, Callable[[Path], None]] = {
    "contract_form": contract_form,
    "colab": colab,
    "broken_middle_cell": broken_middle_cell,
    "script_style_missing_first_relu": script_style_missing_first_relu,
    "unseeded_writes_own_dat": unseeded_writes_own_dat,
    "beside_the_modules": beside_the_modules,
    "colab_gpu_runtime": colab_gpu_runtime,
    "os_exit_in_cell": hostile("import os\nprint('leaving')\nos._exit(3)"),
    "endless_loop": hostile("print('training until the loss is 0')\nwhile True:\n    pass"),
    "ignores_the_interrupt": hostile(
        "print('training, whatever happens')\nwhile True:\n    try:\n        while True:\n"
        "            pass\n    except BaseException:\n        pass"
    ),
    "fills_memory": hostile(FILLS_MEMORY),
    "rm_rf_home_shell_line": hostile("!rm -rf ~"),
    "os_system_in_cell": hostile(
        f'import os\nos.system("rm -rf ~")\nos.system("touch {PWNED}")\nprint("done")'
    ),
    "stored_output_200mb": stored_output_200mb,
    "invalid_json": invalid_json,
    "cell_source_not_a_string": cell_source_not_a_string,
    "nbformat_3": nbformat_3,
    "empty_file": empty_file,
    "two_notebooks": two_notebooks,
    "named_in_latin1": named_in_latin1,
}
# Cells that reach outside the private copy: run only where the sandbox hides the rest.
NEEDS_SANDBOX = {"os_system_in_cell"}


def make_notebook(behaviour: str, into: Path) -> Path:
    """The submission folder `into/behaviour`: one notebook doing `behaviour`, and the .dat
    files the correct student hands in."""
    folder = into / behaviour
    BEHAVIOURS[behaviour](folder)
    return folder
