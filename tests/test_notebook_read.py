"""grader/notebook.py, the grader's side of a notebook: which notebook a folder hands in, its
cells read with nbformat and put in a form that runs (IPython-only lines out of the way), the
notebooks nbformat refuses, and the notes on .dat files a run writes. Fast: no sandbox."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import nbformat
import notebooks
import pytest
from nbformat import v4

from grader import notebook
from grader.assignment import Contract, Limits, load_assignment
from grader.dat import format_dat
from grader.notebook import Cell, Handed, NotebookError
from grader.sandbox.run import Outcome
from grader.truth import ground_truth


def written(folder: Path, *sources: str, name: str = "hw1.ipynb") -> Path:
    """A notebook of one code cell per source, written by nbformat into `folder`."""
    cells = [v4.new_code_cell(source) for source in sources]
    folder.mkdir(parents=True, exist_ok=True)
    nbformat.write(v4.new_notebook(cells=cells), folder / name)
    return folder / name


def read_one(folder: Path, source: str) -> Cell:
    written(folder, source)
    (cell,) = notebook.read(folder, "hw1.ipynb", Limits()).cells
    return cell


# --- IPython-only lines ----------------------------------------------------------------------

TRANSFORMS = {  # source → (code that runs, (line, kind) of each note, skipped)
    "line magic": (
        "%matplotlib inline\nimport numpy as np",
        "pass\nimport numpy as np",
        [(1, "magic")],
        False,
    ),
    "pip install": ("!pip install torchviz\nx = 1", "pass\nx = 1", [(1, "shell")], False),
    "shell output into a variable": (
        "files = !ls\nprint(files)",
        "pass\nprint(files)",
        [(1, "shell")],
        False,
    ),
    "help": ("np.zeros?\n??np.ones\nx = 1", "pass\npass\nx = 1", [(1, "help"), (2, "help")], False),
    "magic indented in a loop": (
        "for i in range(2):\n    %time f(i)\nx = 1",
        "for i in range(2):\n    f(i)\nx = 1",  # IPython runs the statement it times
        [(2, "magic")],
        False,
    ),
    "%%bash is skipped": ("%%bash\nrm -rf ~\nls", "", [(1, "cell-magic")], True),
    "%%writefile is skipped": (
        "%%writefile network.py\nimport torch",
        "",
        [(1, "cell-magic")],
        True,
    ),
    "%%time runs its body": (
        "%%time\nx = 1\ny = x + 1",
        "\nx = 1\ny = x + 1",
        [(1, "magic")],
        False,
    ),
    "%%capture after blank lines runs its body": (
        "\n\n%%capture out\nprint(1)",
        "\n\n\nprint(1)",
        [(3, "magic")],
        False,
    ),
    "% and ! inside the strings of a valid cell": (
        'print("100%")\ns = """\n%matplotlib inline\n!rm -rf ~\n"""\nx = 7 % 3\ny = x != 1',
        'print("100%")\ns = """\n%matplotlib inline\n!rm -rf ~\n"""\nx = 7 % 3\ny = x != 1',
        [],
        False,
    ),
}


@pytest.mark.parametrize(
    ("source", "code", "noted", "skipped"), TRANSFORMS.values(), ids=TRANSFORMS.keys()
)
def test_ipython_lines_are_put_out_of_the_way(
    source: str, code: str, noted: list[tuple[int, str]], skipped: bool, tmp_path: Path
) -> None:
    """Each IPython-only line becomes `pass` (indent and line numbers kept) and is noted; a
    cell magic whose body is not Python skips the cell; a valid cell is run as written."""
    cell = read_one(tmp_path, source)
    assert cell.code == code
    assert [(n.line, n.kind) for n in cell.notes] == noted
    assert cell.skipped is skipped
    assert cell.source == source
    if not skipped:
        assert len(cell.code.split("\n")) == len(source.split("\n"))


def test_notes_quote_the_line_and_say_it_did_not_run(tmp_path: Path) -> None:
    cell = read_one(tmp_path, "import torch\n  !pip install torchviz")
    (note,) = cell.notes
    assert (note.code, note.message) == (
        "!pip install torchviz",
        "not run: a shell command (IPython only)",
    )
    assert cell.code == "import torch\n  pass"


MIS_TRANSFORMS = {  # lines that start with % or ! but are not IPython's, in a cell with a magic
    "inside a triple-quoted string": (
        '%matplotlib inline\nusage = """\n%d items\n!important\n"""',
        'pass\nusage = """\n%d items\n!important\n"""',
    ),
    "a continued expression": ("%matplotlib inline\nr = (7\n     % 3)", "pass\nr = (7\n     % 3)"),
}


@pytest.mark.parametrize(("source", "code"), MIS_TRANSFORMS.values(), ids=MIS_TRANSFORMS.keys())
def test_only_logical_lines_are_ipython_lines(source: str, code: str, tmp_path: Path) -> None:
    """In a cell with a magic, a line inside a string or a bracket is left as written."""
    assert read_one(tmp_path, source).code == code


def test_cells_are_numbered_as_in_the_notebook(tmp_path: Path) -> None:
    """Every cell counts, markdown and raw too, from 1; empty code cells are not run; stored
    outputs are dropped."""
    printed = v4.new_code_cell("print(1)")
    printed.outputs = [v4.new_output("stream", name="stdout", text="1\n")]
    cells = [
        v4.new_markdown_cell("# A1"),
        v4.new_code_cell("x = 1"),
        v4.new_raw_cell("raw"),
        v4.new_code_cell("  \n"),
        printed,
    ]
    nbformat.write(v4.new_notebook(cells=cells), tmp_path / "hw1.ipynb")
    book = notebook.read(tmp_path, "hw1.ipynb", Limits())
    assert [(c.number, c.code) for c in book.cells] == [(2, "x = 1"), (5, "print(1)")]
    assert book.cells[1].first_line == "print(1)"


# --- notebooks that are not read ---------------------------------------------------------------


def refused(folder: Path, data: bytes | str, limits: Limits | None = None) -> str:
    """The message of NotebookError for hw1.ipynb holding `data`."""
    folder.mkdir(exist_ok=True)
    path = folder / "hw1.ipynb"
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    with pytest.raises(NotebookError) as error:
        notebook.read(folder, "hw1.ipynb", limits or Limits())
    return str(error.value)


def test_a_notebook_over_the_limit_is_not_read(tmp_path: Path) -> None:
    """A notebook of 2 MiB over a limit of 1 MiB (the end-to-end test has 200 MB of outputs)."""
    text = nbformat.writes(v4.new_notebook(cells=[v4.new_code_cell("x = '" + "a" * 2**21 + "'")]))
    assert refused(tmp_path, text, Limits(notebook_mib=1)) == (
        "hw1.ipynb is larger than 1 MiB (limits.notebook_mib), so it was not read: clear its "
        "outputs (Edit → Clear All Outputs) and save it again"
    )


UNREADABLE = {  # what the file holds → the message's start
    "empty": (b"", "hw1.ipynb is empty (0 bytes): save the notebook and hand it in again"),
    "blank": (b" \n\n", "hw1.ipynb is empty (3 bytes)"),
    "not UTF-8": (b'{"cells": "\xff"}', "hw1.ipynb is not UTF-8 text (byte 11)"),
    "cut short": (
        b'{"cells": [',
        "hw1.ipynb is not valid JSON (line 1, column 12: Expecting value): it is not a "
        "notebook Jupyter can open; save it again",
    ),
    "a python file": (b"import torch\n", "hw1.ipynb is not valid JSON (line 1, column 1"),
    "a JSON list": (b"[1, 2]", "hw1.ipynb is JSON but not a notebook (list)"),
    "nested too deep": (b"[" * 100_000, "hw1.ipynb is "),
}


@pytest.mark.parametrize(("data", "start"), UNREADABLE.values(), ids=UNREADABLE.keys())
def test_an_unreadable_notebook_says_why(data: bytes, start: str, tmp_path: Path) -> None:
    message = refused(tmp_path, data)
    assert message.startswith(start)
    assert "Traceback" not in message and len(message) < 400


MISNAMED = {  # JSON with a version, which the message must not call versionless (or None)
    "nbformat 5": (
        b'{"nbformat": 5, "nbformat_minor": 0, "cells": [], "metadata": {}}',
        "hw1.ipynb is nbformat 5",
    ),
    "no metadata, no cells": (
        b'{"nbformat": 4, "nbformat_minor": 4, "cells": []}',
        "hw1.ipynb has no code cells",
    ),
    "no list of cells": (
        b'{"nbformat": 4, "nbformat_minor": 4, "metadata": {}, "cells": {}}',
        "hw1.ipynb is not a valid notebook: it has no list of cells",
    ),
    "an empty object": (b"{}", "hw1.ipynb is JSON but not a notebook (an object without nbf"),
}


@pytest.mark.parametrize(("data", "start"), MISNAMED.values(), ids=MISNAMED.keys())
def test_a_notebook_with_a_version_is_not_called_versionless(
    data: bytes, start: str, tmp_path: Path
) -> None:
    assert refused(tmp_path, data).startswith(start)


def test_nbformat_3_is_named(tmp_path: Path) -> None:
    """A notebook of IPython 2 and older: saved again by Jupyter, it would be read."""
    notebooks.nbformat_3(tmp_path)
    with pytest.raises(NotebookError, match=r"^hw1\.ipynb is nbformat 3, written by an old "
                       r"Jupyter; grade reads nbformat 4: open it in Jupyter or Colab and save "
                       r"it again$"):  # fmt: skip
        notebook.read(tmp_path, "hw1.ipynb", Limits())


def test_a_cell_source_not_a_string_fails_validation(tmp_path: Path) -> None:
    notebooks.cell_source_not_a_string(tmp_path)
    with pytest.raises(NotebookError) as error:
        notebook.read(tmp_path, "hw1.ipynb", Limits())
    assert str(error.value) == (
        "hw1.ipynb is not a valid notebook: cell 2's source is int, not text; open it in "
        "Jupyter and save it again"
    )


LENIENT = {  # what Jupyter opens with a warning, grade runs (and says what nbformat found)
    "a code cell without metadata and outputs": (
        '{"cell_type": "code", "source": "x = 1", "execution_count": null}',
        "cell 1: 'metadata' is a required property",
    ),
    "an editor's extra key": (
        '{"cell_type": "code", "source": ["x = ", "1"], "metadata": {}, "outputs": [], '
        '"execution_count": null, "outputExpanded": false}',
        "cell 1: Additional properties are not allowed ('outputExpanded' was unexpected)",
    ),
    "a stored output without its execution_count (outputs are not looked at)": (
        '{"cell_type": "code", "source": "x = 1", "metadata": {}, "execution_count": 1, '
        '"outputs": [{"output_type": "execute_result", "data": {}, "metadata": {}}]}',
        "",
    ),
}


@pytest.mark.parametrize(("cell", "invalid"), LENIENT.values(), ids=LENIENT.keys())
def test_a_notebook_off_the_format_where_it_does_not_matter_is_run(
    cell: str, invalid: str, tmp_path: Path
) -> None:
    data = f'{{"nbformat": 4, "nbformat_minor": 2, "metadata": {{}}, "cells": [{cell}]}}'
    (tmp_path / "hw1.ipynb").write_text(data)
    book = notebook.read(tmp_path, "hw1.ipynb", Limits())
    assert [c.code for c in book.cells] == ["x = 1"]
    assert book.invalid == invalid


def test_a_notebook_without_code_is_refused(tmp_path: Path) -> None:
    cells = [v4.new_markdown_cell("# my answers are in the pdf"), v4.new_code_cell("")]
    nbformat.write(v4.new_notebook(cells=cells), tmp_path / "hw1.ipynb")
    with pytest.raises(NotebookError, match=r"^hw1\.ipynb has no code cells: hand in the "):
        notebook.read(tmp_path, "hw1.ipynb", Limits())


def test_too_many_code_cells_are_refused(tmp_path: Path) -> None:
    written(tmp_path, *["x = 1"] * (notebook.MAX_CELLS + 1))
    with pytest.raises(NotebookError, match=r"has 2,001 code cells; grade runs at most 2,000"):
        notebook.read(tmp_path, "hw1.ipynb", Limits())


def test_a_link_is_not_followed(tmp_path: Path) -> None:
    """A notebook that is a symbolic link (to a classmate's, to /etc/passwd) is not read."""
    written(tmp_path / "elsewhere", "x = 1")
    (tmp_path / "student").mkdir()
    os.symlink(tmp_path / "elsewhere" / "hw1.ipynb", tmp_path / "student" / "hw1.ipynb")
    with pytest.raises(NotebookError, match=r"^hw1\.ipynb is a symbolic link"):
        notebook.read(tmp_path / "student", "hw1.ipynb", Limits())


# --- which notebook ----------------------------------------------------------------------------


def test_handed_in_finds_the_modules_and_the_top_level_notebooks(tmp_path: Path) -> None:
    """Jupyter's checkpoints and hidden files are not notebooks handed in."""
    written(tmp_path, "x = 1", name="b.ipynb")
    written(tmp_path, "x = 1", name="a.ipynb")
    written(tmp_path / ".ipynb_checkpoints", "x = 1", name="a-checkpoint.ipynb")
    written(tmp_path, "x = 1", name=".hidden.ipynb")
    (tmp_path / "network.py").write_text("")
    (tmp_path / "backprop").mkdir()
    (tmp_path / "backprop" / "__init__.py").write_text("")
    assert notebook.handed_in(tmp_path, Contract()) == Handed(
        modules=["network.py", "backprop/__init__.py"], notebooks=["a.ipynb", "b.ipynb"]
    )


def test_handed_in_takes_the_notebook_the_assignment_names(tmp_path: Path) -> None:
    written(tmp_path, "x = 1", name="a.ipynb")
    written(tmp_path, "x = 1", name="A1.ipynb")
    assert notebook.handed_in(tmp_path, Contract(notebook="A1.ipynb")).notebooks == ["A1.ipynb"]
    assert notebook.handed_in(tmp_path, Contract(notebook="A2.ipynb")).notebooks == []


def test_one_notebook_is_chosen(tmp_path: Path) -> None:
    choose = notebook.choose
    assert choose(Handed([], ["hw1.ipynb"]), tmp_path, Contract()) == ("hw1.ipynb", None)
    assert choose(Handed(["network.py"], []), tmp_path, Contract()) == (None, None)
    assert choose(Handed([], []), tmp_path, Contract()) == (None, None)


def test_modules_win_over_a_notebook(tmp_path: Path) -> None:
    both = Handed(["network.py", "backprop.py"], ["hw1.ipynb"])
    chosen, view = notebook.choose(both, tmp_path, Contract())
    assert chosen is None and view is not None and not view.used
    assert view.message == (
        "hw1.ipynb was not used: network.py and backprop.py are graded (a submission's modules "
        "win over a notebook)"
    )
    one = Handed(["network.py"], ["a.ipynb", "b.ipynb"])
    _, two = notebook.choose(one, tmp_path, Contract())
    assert two is not None and two.message == (
        "a.ipynb, b.ipynb were not used: network.py is graded (a submission's modules win over "
        "a notebook); hand in backprop.py too, or only the notebook"
    )


def test_two_notebooks_are_not_a_guess(tmp_path: Path) -> None:
    notebooks.write(tmp_path, notebooks.contract_cells(), name="hw1.ipynb")
    notebooks.write(tmp_path, notebooks.contract_cells()[:1], name="hw1-v2.ipynb")
    handed = Handed([], ["hw1.ipynb", "hw1-v2.ipynb"])
    chosen, view = notebook.choose(handed, tmp_path, Contract())
    assert chosen is None and view is not None and not view.used
    assert view.file == "hw1.ipynb, hw1-v2.ipynb"
    assert view.message == (
        "found hw1.ipynb, hw1-v2.ipynb: hand in one notebook (or your TA names the one to "
        'grade: [contract] notebook = "..." in the assignment)'
    )


def test_two_copies_of_one_notebook_are_one(tmp_path: Path) -> None:
    """A notebook downloaded twice (`hw1 (1).ipynb`, byte for byte the same): either will do."""
    notebooks.write(tmp_path, notebooks.contract_cells(), name="hw1.ipynb")
    shutil.copy(tmp_path / "hw1.ipynb", tmp_path / "hw1 (1).ipynb")
    handed = notebook.handed_in(tmp_path, Contract())
    assert notebook.choose(handed, tmp_path, Contract()) == ("hw1 (1).ipynb", None)


# --- .dat files the run writes -----------------------------------------------------------------

ASSIGNMENT = load_assignment("bs6207-a1")


def dat_notes(folder: Path, written_files: dict[str, str]) -> list[str]:
    truth = ground_truth(ASSIGNMENT, ASSIGNMENT.seed).gradient_blocks
    wrote = [{"file": name, "text": text} for name, text in written_files.items()]
    outcome = Outcome(stages={"notebook": {"ok": True, "written": wrote}}, failures={},
                      output="", seconds=0)  # fmt: skip
    return notebook.dat_notes(folder, outcome, truth, ASSIGNMENT)


def handed(folder: Path) -> str:
    """The correct my_autograd.dat, handed in to `folder`; its text."""
    text = (notebooks.CORRECT / "my_autograd.dat").read_text()
    (folder / "my_autograd.dat").write_text(text)
    return text


def test_the_same_values_written_again_say_nothing(tmp_path: Path) -> None:
    """The same gradients, written in another layout (canonical, other spacing): no note."""
    handed(tmp_path)
    truth = ground_truth(ASSIGNMENT, ASSIGNMENT.seed).gradient_blocks
    assert dat_notes(tmp_path, {"my_autograd.dat": format_dat(truth)}) == []
    spaced = (tmp_path / "my_autograd.dat").read_text().replace(" ", "  ")
    assert dat_notes(tmp_path, {"my_autograd.dat": spaced}) == []


def test_other_values_are_a_note(tmp_path: Path) -> None:
    handed(tmp_path)
    truth = ground_truth(ASSIGNMENT, ASSIGNMENT.seed).gradient_blocks
    other = dict(truth) | {"W11": truth["W11"] * 2}
    assert dat_notes(tmp_path, {"my_autograd.dat": format_dat(other)}) == [
        "run top to bottom, your notebook writes a different my_autograd.dat (W11 differs): "
        "unseeded random data, or hidden notebook state? The one handed in is graded"
    ]
    halved = {name: values / 2 for name, values in truth.items()}
    (note,) = dat_notes(tmp_path, {"my_autograd.dat": format_dat(halved)})
    assert "(W1 and 21 more differ)" in note


def test_a_file_written_but_not_handed_in_is_a_note(tmp_path: Path) -> None:
    text = handed(tmp_path)
    assert dat_notes(tmp_path, {"torch_autograd.dat": text}) == [
        "run top to bottom, your notebook writes torch_autograd.dat, which was not handed in: "
        "hand in the files it writes"
    ]


def test_text_that_is_no_dat_file_is_compared_as_text(tmp_path: Path) -> None:
    handed(tmp_path)
    (note,) = dat_notes(tmp_path, {"my_autograd.dat": "gradients:\nnot computed yet"})
    assert "writes a different my_autograd.dat (its text differs)" in note
    (tmp_path / "my_autograd.dat").write_text("not\na dat file")
    assert dat_notes(tmp_path, {"my_autograd.dat": "not  a\ndat file"}) == []


def test_automagic_pip_is_a_shell_line(tmp_path: Path) -> None:
    """`pip install torchviz` without `!` (IPython's automagic) is not run, and the cell's
    imports after it are."""
    cell = read_one(tmp_path, "pip install torchviz\nimport numpy as np")
    assert cell.code == "pass\nimport numpy as np"
    assert [(n.line, n.kind) for n in cell.notes] == [(1, "shell")]


def test_a_cell_of_many_shell_lines_lists_twenty(tmp_path: Path) -> None:
    """A million `!` lines cost the grader no million notes: twenty, and a count of the rest."""
    cell = read_one(tmp_path, "!echo hi\n" * 1000 + "x = 1")
    assert len(cell.notes) == 21
    assert cell.notes[-1].message == "and 980 more IPython-only lines of this cell, not run"
    assert cell.code.endswith("pass\nx = 1")
