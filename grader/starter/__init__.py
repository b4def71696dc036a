"""`grade starter`: the kit a TA hands to students, so that what they hand in is gradable.

The kit is the assignment's contract as files: the network and backprop functions with the
contract's names and signatures, docstrings stating every argument's shape and layout, and
bodies that raise NotImplementedError (or, with `solution`, a correct solution, for the TA to
check the set-up); `write_dat.py`, which writes the two .dat files from the student's code;
the published inputs; a README for students; in the notebook form, all of it as the cells of
one notebook; and for GitHub Classroom, the workflow. Every file comes from a Jinja template
in templates/, filled in from the assignment alone, so the same assignment always gives the
same bytes (examples/classroom-template is this kit for bs6207-a1, and a test keeps it so).
"""

from __future__ import annotations

import itertools
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from jinja2 import Environment, PackageLoader, StrictUndefined

from grader.assignment import Assignment, ConstantInit, FixedData, UniformData
from grader.checks import NAMES
from grader.dat import format_dat
from grader.errors import GradeError
from grader.exports import runners
from grader.truth import ground_truth

_NAME = r"[A-Za-z0-9][A-Za-z0-9_.-]*"
_ACTION = re.compile(rf"{_NAME}/{_NAME}(/[A-Za-z0-9_./-]+)?@[A-Za-z0-9_./-]+")  # owner/repo@ref


def action_reference(text: str) -> str:
    """`owner/repository@ref` as a workflow's `uses:` takes it; ValueError otherwise."""
    if not _ACTION.fullmatch(text):
        raise ValueError(
            f"{text!r} is not an action reference; give OWNER/REPOSITORY@REF, e.g. "
            "my-course/grade@v1 (your course's copy of grade, at a tag)"
        )
    return text


Form = Literal["modules", "notebook"]
FORMS: tuple[Form, ...] = ("modules", "notebook")
_ENVIRONMENT = Environment(
    loader=PackageLoader("grader", "starter/templates"),
    autoescape=False,  # Python, Markdown and YAML from the assignment: see the filters below
    undefined=StrictUndefined,
    keep_trailing_newline=True,
    trim_blocks=True,
)
_MODULES = {"relu": "ReLU", "sigmoid": "Sigmoid", "tanh": "Tanh"}


def _docstring_text(text: str) -> str:
    """Text of a TA's TOML made safe inside a Python docstring: one line, no quotes closing it."""
    return " ".join(text.split()).replace("\\", "\\\\").replace('"', '\\"')


# Python source is written from the assignment: a title or a file name holding `"""` or a line
# break must not end a string there (`py` writes a string literal, `doc` docstring text).
_ENVIRONMENT.filters.update(py=repr, doc=_docstring_text)


@dataclass(frozen=True)
class Kit:
    """The kit's files: path (relative, `/`-separated) → bytes."""

    files: dict[str, bytes]

    def write(self, out: Path, force: bool = False) -> list[Path]:
        """Write the kit into `out`; GradeError if `out` holds anything and not `force`."""
        if out.exists() and not out.is_dir():
            raise GradeError(f"{out}: exists and is not a folder; give --out a folder")
        if out.is_dir() and any(out.iterdir()) and not force:
            raise GradeError(
                f"{out}: is not empty; give an empty or new folder, or --force to write the kit "
                "over what is there (files of the same names are replaced, others kept)"
            )
        written = []
        for name, data in self.files.items():
            path = out / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
            written.append(path)
        return written


ACTION = "OWNER/grade@v1"  # the placeholder a TA replaces with their course's copy of grade


def starter(
    assignment: Assignment,
    form: Form = "modules",
    classroom: bool = False,
    solution: bool = False,
    action: str = ACTION,
) -> Kit:
    """The kit for `assignment` in `form`; with the Classroom workflow (using grade's action
    from `action`, `owner/repository@ref`); solved, or not."""
    values = {
        **_values(assignment, form, solution),
        **_runners(assignment),
        "action": action,
        "classroom": classroom,
    }
    code = {
        "network": _render("network.py.j2", values),
        "backprop": _render("backprop.py.j2", values),
    }
    files: dict[str, str] = {"README.md": _render("README.md.j2", values)}
    if form == "notebook":
        files[values["notebook_file"]] = _notebook(values, code)
    else:
        files[values["network_file"]] = code["network"]
        files[values["backprop_file"]] = code["backprop"]
        files["write_dat.py"] = _render("write_dat.py.j2", values)
        for path in (values["network_file"], values["backprop_file"]):
            for package in Path(path).parents[:-1]:  # `hw1.backprop`: hw1/__init__.py
                files.setdefault(f"{package.as_posix()}/__init__.py", "")
    files["inputs.dat"] = _inputs(assignment)
    if classroom:
        files[".github/workflows/classroom.yml"] = _render("classroom.yml.j2", values)
        files[".gitignore"] = "reports/\n__pycache__/\n.ipynb_checkpoints/\n"
    return Kit({name: text.encode("utf-8") for name, text in sorted(files.items())})


def _runners(assignment: Assignment) -> dict[str, Any]:
    """The Classroom reporter's runners, written into the workflow: one per check with
    points, known before grading starts (grader.exports.runners says why)."""
    plan = runners.planned(assignment.points.model_dump(by_alias=True))
    return {
        "runners": ",".join(plan),
        "runner_points": ", ".join(f"{points:g}" for points in plan.values()),
        "max_points": f"{sum(plan.values()):g}",
    }


def _render(name: str, values: dict[str, Any]) -> str:
    return _ENVIRONMENT.get_template(name).render(**values)


def _notebook(values: dict[str, Any], code: dict[str, str]) -> str:
    """The notebook form: the same code as cells, a markdown cell before each task."""
    import nbformat  # here: its import (50 ms, jsonschema) is for notebooks, not every `grade`

    write = _render("write_dat.py.j2", {**values, "notebook": True})
    title = values["title"]
    cells = [
        nbformat.v4.new_markdown_cell(
            f"# {title}\n\nFill in `{values['network_function']}` and "
            f"`{values['backprop_function']}` where they raise `NotImplementedError` (README.md "
            "says what is asked), then run every cell from the top (Restart and Run All): the "
            f"last one writes `{values['torch_dat']}` and `{values['my_dat']}`."
        ),
        nbformat.v4.new_markdown_cell(f"## The network\n\nSizes {values['sizes_text']}."),
        nbformat.v4.new_code_cell(code["network"].strip()),
        nbformat.v4.new_markdown_cell(
            "## Backprop by hand\n\ndL/dW and dL/db with the chain rule, without autograd."
        ),
        nbformat.v4.new_code_cell(code["backprop"].strip()),
        nbformat.v4.new_markdown_cell(
            "## The two .dat files\n\nReads `inputs.dat`, loads the published parameters into "
            "your network, and writes the gradients by torch autograd and by your backprop."
        ),
        nbformat.v4.new_code_cell(write.strip()),
    ]
    for number, cell in enumerate(cells, start=1):
        cell["id"] = f"cell-{number}"  # the same bytes every time
    notebook = nbformat.v4.new_notebook(cells=cells)
    notebook.metadata["kernelspec"] = {
        "name": "python3", "display_name": "Python 3", "language": "python"
    }  # fmt: skip
    return json.dumps(notebook, indent=1, ensure_ascii=False, sort_keys=True) + "\n"


def _inputs(assignment: Assignment) -> str:
    """inputs.dat: the published data point and initial parameters, as `grade reference`."""
    from grader.api import inputs_comments  # the api imports the kit's caller: not at import

    truth = ground_truth(assignment)
    return format_dat(truth.input_blocks, comments=inputs_comments(assignment, truth))


def _values(assignment: Assignment, form: Form, solution: bool) -> dict[str, Any]:
    """What the templates are filled in with, from the assignment alone."""
    net, contract = assignment.network, assignment.contract
    sizes = list(net.sizes)
    kwargs = ", ".join(f"{key}={value!r}" for key, value in contract.network_kwargs.items())
    output = net.output_activation
    half = assignment.loss == "half_squared_error"
    shapes = [f"({b}, {a})" for a, b in itertools.pairwise(sizes)]
    return {
        "title": assignment.title,
        "name": assignment.name,
        "solution": solution,
        "notebook": form == "notebook",
        "notebook_file": f"{assignment.name}.ipynb",
        "network_file": contract.network_module.replace(".", "/") + ".py",
        "backprop_file": contract.backprop_module.replace(".", "/") + ".py",
        "network_module": contract.network_module,
        "network_function": contract.network_function,
        "backprop_module": contract.backprop_module,
        "backprop_function": contract.backprop_function,
        "torch_dat": contract.torch_dat,
        "my_dat": contract.my_dat,
        "signature": kwargs,
        "kwargs": kwargs,
        "call": f"{contract.network_function}({kwargs})",
        "d": sizes[0],
        "n_out": sizes[-1],
        "sizes": sizes,
        "sizes_text": _sizes_text(sizes),
        "layers": len(sizes) - 1,
        "weight_shapes": ", ".join(dict.fromkeys(shapes)),
        "activation": net.activation,
        "activation_module": _MODULES[net.activation],
        "output_activation": output,
        "output_module": _MODULES.get(output, ""),
        "output_text": ", and a linear output layer"
        if output == "linear"
        else f", and {output} after the output layer",
        "loss_text": "½ Σ (p − y)²" if half else "Σ (p − y)²",
        "loss_code": f"{'0.5 * ' if half else ''}((p - y) ** 2).sum()",
        "dl_dp": "activations[-1] - y" if half else "2 * (activations[-1] - y)",
        "y_text": "a float" if sizes[-1] == 1 else f"a float64 NumPy array of shape ({sizes[-1]},)",
        "steps": assignment.training.steps,
        "learning_rate": assignment.training.learning_rate,
        "sig_figs": assignment.significant_figures,
        "data_text": _data_text(assignment),
        "init_text": _init_text(assignment),
        "checks": [
            (NAMES[check], _points(points))
            for check, points in assignment.points.model_dump(by_alias=True).items()
            if points or check != "graph-explanation"
        ],
    }


def _sizes_text(sizes: list[int]) -> str:
    """`10 → 21 → … → 21 → 1 (10 hidden layers of 21)`, or every size when they differ."""
    hidden = sizes[1:-1]
    if len(hidden) > 3 and len(set(hidden)) == 1:
        return (
            f"{sizes[0]} → {hidden[0]} → … → {hidden[0]} → {sizes[-1]} ({len(hidden)} hidden "
            f"layers of {hidden[0]})"
        )
    return " → ".join(map(str, sizes))


def _data_text(assignment: Assignment) -> str:
    data, d = assignment.data, assignment.network.input_dim
    if isinstance(data, UniformData):
        return (
            f"one data point, x drawn uniformly from [{data.low:g}, {data.high:g}]^{d} and "
            f"y = Σ x_i² / {d}; the published one is in `inputs.dat`."
        )
    assert isinstance(data, FixedData)
    return f"one data point, x = {data.x}, y = {data.y} (also in `inputs.dat`)."


def _init_text(assignment: Assignment) -> str:
    init = assignment.init
    if isinstance(init, ConstantInit):
        return f"every weight {init.weight:g} and every bias {init.bias:g}"
    return "drawn as PyTorch's default for nn.Linear, from the assignment's seed"


def _points(points: float) -> str:
    return f"{points:g}"
