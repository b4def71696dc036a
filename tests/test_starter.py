"""`grade starter`: the kit, graded as a student would hand it in.

Round trips through the real grader and the real sandbox: the kit as written scores 0 saying
what is not written yet; solved and run (`python write_dat.py`, or the notebook top to
bottom, each in a fresh interpreter as a student runs them) it scores full marks, for every
preset in both forms; a buggy backprop written into it gets the diagnosis the module
fixtures get. examples/classroom-template is the kit for bs6207-a1, byte for byte.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import nbformat
import numpy as np
import pytest
from classroom import ROOT, statuses

from grader import batch, starter
from grader.assignment import load_assignment
from grader.cli import main
from grader.compare import compare
from grader.errors import GradeError
from grader.presets import preset_names
from grader.result import GradeResult

RUN_NOTEBOOK = """
import json, sys
cells = json.load(open(sys.argv[1], encoding="utf-8"))["cells"]
namespace = {"__name__": "__main__"}
for cell in cells:
    if cell["cell_type"] == "code":
        exec(compile("".join(cell["source"]), "cell", "exec"), namespace)
"""


def write_kit(name: str, form: starter.Form, out: Path, solution: bool) -> Path:
    starter.starter(load_assignment(name), form, solution=solution).write(out)
    return out


def run_it(folder: Path, name: str, form: starter.Form) -> str:
    """What a student runs: `python write_dat.py`, or every cell of the notebook in order."""
    command = ["write_dat.py"] if form == "modules" else ["-c", RUN_NOTEBOOK, f"{name}.ipynb"]
    done = subprocess.run(
        [sys.executable, *command], cwd=folder, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def graded(folder: Path, name: str, reports: Path) -> GradeResult:
    return batch.grade_one(folder, load_assignment(name), reports)


@pytest.mark.parametrize("form", starter.FORMS)
@pytest.mark.parametrize("name", preset_names())
def test_the_solved_kit_gets_full_marks(name: str, form: starter.Form, tmp_path: Path) -> None:
    """The kit with --solution, run as a student runs it, then graded: full marks, and
    write_dat.py's own verdict agrees."""
    folder = write_kit(name, form, tmp_path / f"{form}-{name}", solution=True)
    printed = run_it(folder, name, form)
    assert printed.strip().endswith("they agree to 5 significant figures")
    result = graded(folder, name, tmp_path / "reports")
    assert result.score == result.max_score, [c.message for c in result.checks]
    if form == "notebook":
        assert result.notebook is not None and result.notebook.notes == []  # same .dat written


@pytest.mark.parametrize("form", starter.FORMS)
def test_the_kit_as_written_says_what_is_not_written(form: starter.Form, tmp_path: Path) -> None:
    """Handed in untouched: 0 points, every check saying so, no traceback."""
    folder = write_kit("bs6207-a1", form, tmp_path / form, solution=False)
    result = graded(folder, "bs6207-a1", tmp_path / "reports")
    assert result.score == 0
    written = "NotImplementedError: not written yet: write it"
    for check in (
        "network-architecture",
        "autograd-gradients",
        "backprop-gradients",
        "no-autograd",
    ):
        message = next(c.message for c in result.checks if c.id == check)
        assert message.endswith(written), message
    assert all("Traceback" not in c.message for c in result.checks)


@pytest.mark.parametrize("form", starter.FORMS)
def test_a_transposed_dw_in_the_kit_is_named(form: starter.Form, tmp_path: Path) -> None:
    """A student who fills the kit in with dW transposed gets the diagnosis the module
    fixture `transposed_weight_grads` gets, in either form."""
    folder = write_kit("bs6207-a1", form, tmp_path / "kit", solution=True)
    code = folder / ("backprop.py" if form == "modules" else "bs6207-a1.ipynb")
    text = code.read_text()
    assert "np.outer(delta, activations[i])" in text
    mistake = "np.outer(activations[i], delta)"  # (in, out): the example student's mistake
    code.write_text(text.replace("np.outer(delta, activations[i])", mistake))
    result = graded(folder, "bs6207-a1", tmp_path / "reports")
    check = next(c for c in result.checks if c.id == "backprop-gradients")
    assert check.status == "fail"
    assert check.diagnoses and check.diagnoses[0].kind == "transposed"
    assert statuses(result)["network-architecture"] == "pass"


def test_the_classroom_example_is_the_kit(tmp_path: Path) -> None:
    """examples/classroom-template is `grade starter --assignment bs6207-a1 --classroom`."""
    kit = starter.starter(load_assignment("bs6207-a1"), "modules", classroom=True)
    example = ROOT / "examples" / "classroom-template"
    on_disk = {
        p.relative_to(example).as_posix(): p.read_bytes()
        for p in sorted(example.rglob("*"))
        if p.is_file() and "__pycache__" not in p.parts
    }
    command = "grade starter --assignment bs6207-a1 --classroom --force --out"
    assert on_disk == kit.files, f"regenerate it: {command} examples/classroom-template"


@pytest.mark.parametrize("name", preset_names())
def test_the_notebook_is_valid(name: str) -> None:
    """The notebook form passes nbformat's validation: Jupyter and Colab open it as it is."""
    data = starter.starter(load_assignment(name), "notebook").files[f"{name}.ipynb"]
    nbformat.validate(nbformat.reads(data.decode(), as_version=nbformat.NO_CONVERT))


def test_the_kit_is_the_same_every_time() -> None:
    assignment = load_assignment("hw02-1")
    for form in starter.FORMS:
        assert starter.starter(assignment, form).files == starter.starter(assignment, form).files


def test_a_folder_that_is_not_empty_is_kept(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("mine")
    kit = starter.starter(load_assignment("sigmoid-d2"))
    with pytest.raises(GradeError, match="is not empty; give an empty or new folder, or --force"):
        kit.write(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]
    kit.write(tmp_path, force=True)
    assert (tmp_path / "notes.txt").read_text() == "mine" and (tmp_path / "network.py").exists()


def test_the_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`grade starter` writes the kit and lists it; a folder in use is refused, exit 2."""
    out = tmp_path / "kit"
    argv = ["starter", "--assignment", "hw02-1", "--out", str(out), "--form", "notebook"]
    assert main(argv) == 0
    assert sorted(p.name for p in out.iterdir()) == ["README.md", "hw02-1.ipynb", "inputs.dat"]
    assert "hw02-1, the notebook kit (for students):" in capsys.readouterr().out
    assert main(argv) == 2
    assert "is not empty" in capsys.readouterr().err


def test_the_kit_gives_no_answer_away() -> None:
    """Unsolved, no file computes a gradient or builds a layer."""
    kit = starter.starter(load_assignment("bs6207-a1"), "modules")
    for name in ("network.py", "backprop.py"):
        text = kit.files[name].decode()
        body = text.split('"""')[-1]  # after the last docstring
        assert "nn.Linear(" not in body and "np.outer" not in body and "@" not in body


OWN = """
name = "own-tanh"
title = "Own: a 3-4-2 tanh network with a sigmoid output"
loss = "half_squared_error"
significant_figures = 6

[network]
input_dim = 3
hidden = [4]
activation = "tanh"
output_activation = "sigmoid"
output_dim = 2

[data]
kind = "fixed"
x = [0.5, -1.0, 2.0]
y = [0.25, 0.75]

[training]
steps = 1
learning_rate = 0.1

[contract]
network_module = "hw1.net"
network_function = "make_mlp"
network_kwargs = { width = 4 }
backprop_module = "hw1.grads"
backprop_function = "gradients"
torch_dat = "torch.dat"
my_dat = "mine.dat"
"""


@pytest.mark.parametrize("form", starter.FORMS)
def test_a_tas_own_assignment_round_trips(form: starter.Form, tmp_path: Path) -> None:
    """A TA's TOML with its own module paths (a package), names, files, activations, two
    outputs, half the squared error and an SGD step: the solved kit gets full marks."""
    toml = tmp_path / "own.toml"
    toml.write_text(OWN)
    assignment = load_assignment(toml)
    folder = tmp_path / form
    starter.starter(assignment, form, solution=True).write(folder)
    if form == "modules":
        assert (folder / "hw1" / "__init__.py").exists() and (folder / "hw1" / "net.py").exists()
    assert run_it(folder, "own-tanh", form).strip().endswith("agree to 6 significant figures")
    result = batch.grade_one(folder, assignment, tmp_path / "reports")
    assert result.score == result.max_score, [c.message for c in result.checks]


def test_write_dat_judges_by_grades_rule() -> None:
    """write_dat.py's `agree` is grade's comparison rule (grader.compare), tensor by tensor:
    the floor of the largest entry, one unit in the last figure, exact zeros."""
    namespace: dict[str, object] = {}
    source = starter.starter(load_assignment("bs6207-a1")).files["write_dat.py"].decode()
    lines = [line for line in source.splitlines() if not line.startswith(("from backprop",
             "from network", "if __name__", "    main()"))]  # fmt: skip
    exec(compile("\n".join(lines), "write_dat", "exec"), namespace)
    agree = namespace["agree"]
    assert callable(agree)
    rng = np.random.default_rng(6207)
    reference = rng.normal(size=(21, 21)) * np.logspace(-8, 0, 21)
    for relative in (0.0, 4e-5, 9.9e-5, 1.01e-4, 3e-4, 1e-2):
        for noisy in (reference * (1 + relative), reference + relative * np.abs(reference).max()):
            assert agree(noisy, reference) == compare(noisy, reference, 5).agree, relative
    zeros = np.zeros((3, 3))
    assert agree(zeros, zeros) and compare(zeros, zeros, 5).agree


def test_the_workflow_uses_the_courses_copy_of_grade(tmp_path: Path) -> None:
    """`--action` writes the course's copy of grade into the workflow; anything that is not an
    action reference (a line break that would add a step, say) is refused, exit 2."""
    out = tmp_path / "kit"
    argv = ["starter", "--assignment", "hw02-1", "--out", str(out), "--classroom"]
    assert main([*argv, "--action", "my-course/grade@v2"]) == 0
    workflow = (out / ".github" / "workflows" / "classroom.yml").read_text()
    assert "        uses: my-course/grade@v2\n" in workflow and "OWNER" not in workflow
    with pytest.raises(SystemExit) as refused:
        main([*argv, "--force", "--action", "my-course/grade@v2\n  run: rm -rf ~"])
    assert refused.value.code == 2


def test_a_title_or_file_name_cannot_break_the_code(tmp_path: Path) -> None:
    """The kit writes Python from the assignment: a title with quotes, backslashes and a line
    break, and .dat names with quotes, stay text in every file and cell, which all compile."""
    toml = tmp_path / "odd.toml"
    title = json.dumps('Odd """ title\\ \n import os; os.system("x") #')  # a TOML string
    toml.write_text(
        OWN.replace('"Own: a 3-4-2 tanh network with a sigmoid output"', title)
        .replace('"torch.dat"', json.dumps('torch""".dat'))
        .replace('"mine.dat"', json.dumps("mine's.dat"))
    )
    assignment = load_assignment(toml)
    assert '"""' in assignment.title and '"""' in assignment.contract.torch_dat
    for form in starter.FORMS:
        kit = starter.starter(assignment, form, solution=True)
        for name, data in kit.files.items():
            if name.endswith(".py"):
                compile(data.decode(), name, "exec")
            elif name.endswith(".ipynb"):
                for cell in nbformat.reads(data.decode(), as_version=4).cells:
                    if cell.cell_type == "code":
                        compile(cell.source, name, "exec")
    folder = tmp_path / "kit"
    starter.starter(assignment, "modules", solution=True).write(folder)
    run_it(folder, "own-tanh", "modules")
    assert (folder / 'torch""".dat').exists() and (folder / "mine's.dat").exists()
