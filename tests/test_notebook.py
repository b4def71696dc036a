"""Notebook submissions end to end, through the real grader and the real sandbox.

A class of notebooks (tests/notebooks.py: the correct code as cells, Colab's lines, a broken
cell, a script-style notebook, hostile ones) is graded once, in one batch, beside two
students who hand in modules, under tight limits: 10 s per call, 512 MiB of memory and
8 s for a notebook's cells (the endless loop costs that, once).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import classroom
import notebooks
import pytest
from classroom import CORE_CHECKS, message, statuses

from grader import api
from grader.assignment import Assignment, load_assignment
from grader.grading import grade_submission
from grader.result import CellRun, GradeResult
from grader.sandbox import isolation

CLASSMATES = ("correct", "missing_first_relu")  # hand in modules, in the same batch


def runnable(behaviour: str) -> bool:
    """Cells that reach outside their copy run only where the sandbox hides the rest."""
    return behaviour not in notebooks.NEEDS_SANDBOX or isolation.mode() != "none"


@dataclass(frozen=True)
class NotebookClass:
    """The graded class: where it is, what was there before, the results by student, the same
    classmates graded alone, and the files the hostile cells would have reached."""

    students: Path
    reports: Path
    before: dict[str, str]
    results: dict[str, GradeResult]
    alone: dict[str, GradeResult]
    canaries: dict[Path, bytes]


def assignment() -> Assignment:
    base = load_assignment("bs6207-a1")
    limits = base.limits.model_copy(
        update={
            "call_seconds": classroom.CALL_SECONDS,
            "memory_mib": classroom.MEMORY_MIB,
            "notebook_seconds": notebooks.NOTEBOOK_SECONDS,
        }
    )
    return base.model_copy(update={"limits": limits})


@pytest.fixture(scope="session")
def notebook_class(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NotebookClass]:
    """Every notebook behaviour and the module classmates, graded in one batch."""
    root = tmp_path_factory.mktemp("notebook-class")
    students = root / "students"
    for name in CLASSMATES:
        shutil.copytree(classroom.EXAMPLES / name, students / name,
                        ignore=shutil.ignore_patterns("__pycache__"))  # fmt: skip
    for behaviour in notebooks.BEHAVIOURS:
        if runnable(behaviour):
            notebooks.make_notebook(behaviour, students)
    marker = f"grade-tests-canary-{os.getpid()}"
    canaries = {Path.home() / f".{marker}": b"home\n", Path("/tmp") / marker: b"tmp\n"}
    for path, data in canaries.items():
        path.write_bytes(data)
    try:
        before = classroom.fingerprint(students)
        graded = api.grade_paths([students], assignment(), root / "reports")
        alone = {name: grade_submission(students / name, assignment()) for name in CLASSMATES}
        results = {r.student: r for r in graded}
        yield NotebookClass(students, root / "reports", before, results, alone, canaries)
    finally:  # the 200 MB notebook is not kept among pytest's last three runs
        shutil.rmtree(students / "stored_output_200mb", ignore_errors=True)
        for path in canaries:
            path.unlink(missing_ok=True)
        notebooks.PWNED.unlink(missing_ok=True)


def cell(result: GradeResult, number: int) -> CellRun:
    assert result.notebook is not None
    return next(c for c in result.notebook.cells if c.cell == number)


def notes(result: GradeResult) -> dict[tuple[int, int], str]:
    """The kind of each note on a line that did not run as written, by (cell, line)."""
    assert result.notebook is not None
    return {(c.cell, n.line): n.kind for c in result.notebook.cells for n in c.notes}


def full_marks(result: GradeResult) -> None:
    assert result.score == result.max_score, [c.message for c in result.checks]


# --- the class as a whole --------------------------------------------------------------------


def test_every_student_has_a_report(notebook_class: NotebookClass) -> None:
    """The batch finishes with a result and a report for every student, hostile or not."""
    names = sorted(p.name for p in notebook_class.students.iterdir())
    assert sorted(notebook_class.results) == names
    for name in names:
        assert (notebook_class.reports / name / "report.html").stat().st_size


def test_classmates_keep_their_scores(notebook_class: NotebookClass) -> None:
    """The students who hand in modules get, beside the hostile notebooks, what they get alone."""
    for name in CLASSMATES:
        graded, alone = notebook_class.results[name], notebook_class.alone[name]
        assert (graded.score, statuses(graded)) == (alone.score, statuses(alone)), name
        assert [c.message for c in graded.checks] == [c.message for c in alone.checks]
    full_marks(notebook_class.results["correct"])


def test_no_file_of_the_class_changed(notebook_class: NotebookClass) -> None:
    """Every file under the class folder is byte-identical after the batch: the notebooks,
    the .dat files the unseeded notebook rewrote in its copy, the 200 MB notebook."""
    assert classroom.fingerprint(notebook_class.students) == notebook_class.before


def test_home_and_tmp_are_untouched(notebook_class: NotebookClass) -> None:
    """`!rm -rf ~`, `os.system("rm -rf ~")` and `os.system("touch /tmp/...")` reach neither
    this machine's home nor its /tmp."""
    for path, data in notebook_class.canaries.items():
        assert path.read_bytes() == data, path
    assert not notebooks.PWNED.exists()


def messages(result: GradeResult) -> list[str]:
    """Every text of the result a student reads."""
    texts = [text for check in result.checks for text in (check.message, *check.details)]
    texts += [d.message for check in result.checks for d in check.diagnoses]
    if result.notebook is not None:
        texts += [result.notebook.message, *result.notebook.notes]
        for run in result.notebook.cells:
            texts += [run.error, *run.frames, *(n.message for n in run.notes)]
    return texts


def test_no_message_holds_a_traceback(notebook_class: NotebookClass) -> None:
    """Errors are named by cell and line, never shown as Python's traceback."""
    for name, result in notebook_class.results.items():
        for text in messages(result):
            assert "Traceback" not in text and 'File "' not in text, (name, text)
            assert "/submission" not in text and str(notebook_class.students) not in text


# --- well-meaning students ---------------------------------------------------------------------


def test_contract_form_scores_as_the_modules(notebook_class: NotebookClass) -> None:
    """The correct modules' code as two cells gets exactly what the modules get: each check's
    status, score and message (the no-autograd check naming the notebook for backprop.py)."""
    book, modules = notebook_class.results["contract_form"], notebook_class.results["correct"]
    assert (book.score, book.max_score) == (modules.score, modules.max_score)
    assert statuses(book) == statuses(modules)
    for check_id in CORE_CHECKS:
        expected = message(modules, check_id).replace("backprop.py", notebooks.NAME)
        assert message(book, check_id) == expected
    assert book.notebook is not None and book.notebook.used
    assert book.notebook.message == "2 code cells run top to bottom: 2 ran"
    assert [c.status for c in book.notebook.cells] == ["ran", "ran"]


def test_colab_lines_are_named_and_grading_goes_on(notebook_class: NotebookClass) -> None:
    """Drive mounted, `!pip install`, `%matplotlib`, a missing tensorflow before `import torch`,
    a /content/drive path and a %%bash cell are each named; the functions get full marks
    (they rely on the imports after tensorflow's), the %%time cell's body ran."""
    result = notebook_class.results["colab"]
    full_marks(result)
    cells = notebooks.COLAB_CELLS
    found = notes(result)
    expected = {
        (cells["mount"], 1): "colab",
        (cells["mount"], 2): "colab",
        (cells["shell"], 1): "shell",
        (cells["shell"], 2): "magic",
        (cells["imports"], 1): "missing-import",
        (cells["drive_path"], 1): "colab",
        (cells["bash"], 1): "cell-magic",
        (cells["timed_backprop"], 1): "magic",
    }
    assert {key: found.get(key) for key in expected} == expected
    assert cell(result, cells["imports"]).status == "ran"
    assert cell(result, cells["bash"]).status == "skipped"
    assert cell(result, cells["timed_backprop"]).status == "ran"
    mount = cell(result, cells["mount"])
    assert (mount.status, mount.line) == ("failed", 2)
    tensorflow = next(n for n in cell(result, cells["imports"]).notes if n.line == 1)
    assert tensorflow.message == "tensorflow is not installed here; the rest of the cell ran"
    assert "Google Colab" in next(n for n in mount.notes if n.line == 1).message


def test_a_drive_folder_in_a_variable_is_named_as_colab(notebook_class: NotebookClass) -> None:
    """`folder = '/content/drive/...'` then `np.savetxt(folder + 'x.txt', ...)`: the failing
    line is named as Colab-only, as the path written on that line would be."""
    result = notebook_class.results["colab"]
    failed = cell(result, notebooks.COLAB_CELLS["drive_folder"])
    assert failed.status == "failed" and "/content/drive/" in failed.error
    assert notes(result).get((notebooks.COLAB_CELLS["drive_folder"], 2)) == "colab"


def test_a_broken_cell_is_recorded_and_later_cells_graded(notebook_class: NotebookClass) -> None:
    """A cell raising in the middle: its number, line, error and the student's frames are
    recorded, the rest of it does not run, and backprop defined after it gets full marks."""
    result = notebook_class.results["broken_middle_cell"]
    full_marks(result)
    broken = cell(result, notebooks.BROKEN_CELL)
    assert broken.status == "failed"
    assert broken.error == "ZeroDivisionError: float division by zero"
    assert broken.line == 2  # in scale(), called from line 4
    assert broken.frames[:2] == [
        f"{notebooks.NAME}, cell 3, line 4, in <module>",
        f"{notebooks.NAME}, cell 3, line 2, in scale",
    ]
    assert broken.first_line == "def scale(values, by):"
    assert "never printed" not in result.output
    assert cell(result, notebooks.BROKEN_CELL + 1).status == "ran"
    assert result.notebook is not None
    assert result.notebook.message == "3 code cells run top to bottom: 2 ran, 1 failed"


def test_a_script_style_notebook_has_its_global_network_graded(
    notebook_class: NotebookClass,
) -> None:
    """No build_network: the global `net` is graded, and its missing first ReLU named as for
    the same mistake in modules; no backprop: the backprop checks could not run, worth 0,
    naming `backward_propagation(X, parameters)`; the .dat files handed in are graded."""
    result = notebook_class.results["script_style_missing_first_relu"]
    modules = notebook_class.results["missing_first_relu"]
    checks = statuses(result)
    assert checks["network-architecture"] == statuses(modules)["network-architecture"] == "fail"
    architecture = message(result, "network-architecture")
    assert architecture == (
        f"{message(modules, 'network-architecture')} (graded the notebook's global `net`: it "
        "defines no build_network())"
    )
    assert "no activation after Linear 1 (10→21); expected relu" in architecture
    assert result.notebook is not None and result.notebook.network == "net"
    assert checks["autograd-gradients"] == "fail"  # it ran, on the global
    for check_id in ("backprop-gradients", "no-autograd"):
        assert checks[check_id] == "error"
        assert message(result, check_id) == (
            "could not run backprop: hw1.ipynb defines no backprop(); it defines "
            "backward_propagation(X, parameters) in cell 7: rename it to backprop() or wrap it "
            "in backprop()"
        )
    assert checks["dat-files"] == "pass"
    assert result.score == result.max_score - 9  # the dat-files point only
    assert [c.status for c in result.notebook.cells] == ["ran"] * 6


def test_an_unseeded_notebook_is_told_its_dat_files_differ(notebook_class: NotebookClass) -> None:
    """Run top to bottom, the notebook writes .dat files from unseeded data: a note says so,
    worth nothing, and the files handed in are the ones graded."""
    result = notebook_class.results["unseeded_writes_own_dat"]
    full_marks(result)
    assert result.notebook is not None
    written = result.notebook.notes
    assert len(written) == 2
    for name, note in zip(notebooks.DAT_FILES, written, strict=True):
        assert note.startswith(f"run top to bottom, your notebook writes a different {name} (")
        assert "unseeded random data, or hidden notebook state?" in note
        assert note.endswith("The one handed in is graded")


def test_modules_win_over_a_notebook(notebook_class: NotebookClass) -> None:
    """Modules and a notebook that would exit at once: the modules are graded, full marks,
    and the report says the notebook was not used."""
    result = notebook_class.results["beside_the_modules"]
    full_marks(result)
    assert result.notebook is not None and not result.notebook.used
    assert result.notebook.message == (
        "hw1.ipynb was not used: network.py and backprop.py are graded (a submission's modules "
        "win over a notebook)"
    )


# --- hostile notebooks -------------------------------------------------------------------------

UNREADABLE = {  # the notebook cannot be read: no code runs, the message says why
    "stored_output_200mb": (
        "hw1.ipynb is larger than 16 MiB (limits.notebook_mib), so it was not read: clear its "
        "outputs (Edit → Clear All Outputs) and save it again"
    ),
    "invalid_json": "hw1.ipynb is not valid JSON (line ",
    "cell_source_not_a_string": "hw1.ipynb is not a valid notebook: cell 2's source is int,",
    "nbformat_3": "hw1.ipynb is nbformat 3, written by an old Jupyter; grade reads nbformat 4",
    "empty_file": "hw1.ipynb is empty (0 bytes): save the notebook and hand it in again",
    "two_notebooks": (
        "found hw1-final.ipynb, hw1.ipynb: hand in one notebook (or your TA names the one to "
        'grade: [contract] notebook = "..." in the assignment)'
    ),
}


@pytest.mark.parametrize("behaviour", UNREADABLE)
def test_an_unreadable_notebook_says_why(behaviour: str, notebook_class: NotebookClass) -> None:
    """Every check that needs the code says why the notebook was not run; the .dat files
    handed in are still graded."""
    result = notebook_class.results[behaviour]
    assert result.notebook is not None and not result.notebook.used
    assert result.notebook.message.startswith(UNREADABLE[behaviour])
    for check_id in CORE_CHECKS:
        if check_id == "dat-files":
            assert statuses(result)[check_id] == "pass"
        else:
            assert statuses(result)[check_id] == "error"
            assert result.notebook.message in message(result, check_id)
    assert result.score == 1


def test_an_invalid_cell_is_named_as_the_report_numbers_it(
    notebook_class: NotebookClass,
) -> None:
    """A cell whose source is a number is named `cell 2`, as every other message names it."""
    result = notebook_class.results["cell_source_not_a_string"]
    assert result.notebook is not None
    assert "cell 2" in result.notebook.message


STOPPED = {  # the notebook's run ends in cell 3: nothing is graded but the .dat files
    "os_exit_in_cell": "the student's code exited with code 3; cell 3 was running: import os",
    "ignores_the_interrupt": (
        "your notebook ran past 8 s (limits.notebook_seconds); cell 3 was running: "
        "print('training, whatever happens')"
    ),
}


@pytest.mark.parametrize("behaviour", STOPPED)
def test_a_notebook_that_stops_names_the_cell(
    behaviour: str, notebook_class: NotebookClass
) -> None:
    """os._exit and an endless loop end the run in cell 3: every check that needs the code
    says so, cell 3 is the failed one, cell 4 was not run; the notebook ran once."""
    result = notebook_class.results[behaviour]
    ending = STOPPED[behaviour]
    for check_id in ("network-architecture", "backprop-gradients"):
        assert message(result, check_id).endswith(f"the notebook did not run to its end: {ending}")
    assert statuses(result)["dat-files"] == "pass" and result.score == 1
    assert [cell(result, n).status for n in (2, 3, 4)] == ["ran", "failed", "not run"]
    assert cell(result, 3).error == ending.split("; cell ")[0]
    printed = "leaving" if behaviour == "os_exit_in_cell" else "training, whatever happens"
    assert result.output.count(printed) == 1  # not run again for the other checks


def test_a_cell_past_the_notebook_time_is_interrupted(notebook_class: NotebookClass) -> None:
    """An endless loop in cell 3 is interrupted when the notebook's time is up, as Jupyter's
    interrupt would: the network of cell 2 is graded, backprop of cell 4 never ran, and the
    messages say why."""
    result = notebook_class.results["endless_loop"]
    assert statuses(result) == {
        "network-architecture": "pass",
        "autograd-gradients": "pass",
        "backprop-gradients": "error",
        "no-autograd": "error",
        "dat-files": "pass",
    }
    assert message(result, "backprop-gradients") == (
        "could not run backprop: hw1.ipynb defines no backprop() (the notebook ran past 8 s "
        "(limits.notebook_seconds) in cell 3, and the cells after it were not run)"
    )
    assert [cell(result, n).status for n in (2, 3, 4)] == ["ran", "failed", "not run"]
    assert cell(result, 3).error == (
        "stopped: the notebook ran past 8 s (limits.notebook_seconds) while this cell ran; the "
        "cells after it were not run"
    )
    assert cell(result, 3).line in (2, 3)  # the loop, where Python was when interrupted
    assert result.notebook is not None and result.notebook.message.endswith(
        "its time ran out in cell 3 (print('training until the loss is 0')): the cells after it "
        "did not run"
    )


def test_a_cell_filling_memory_fails_alone(notebook_class: NotebookClass) -> None:
    """A cell allocating past the sandbox's memory limit fails; the cells after it run and the
    functions get full marks."""
    result = notebook_class.results["fills_memory"]
    full_marks(result)
    filler = cell(result, notebooks.HOSTILE_CELL)
    assert (filler.status, filler.line) == ("failed", 3)
    assert filler.error.startswith("stopped: memory limit of 512 MiB reached (MemoryError")


def test_a_shell_line_is_not_run(notebook_class: NotebookClass) -> None:
    """`!rm -rf ~` is named as a shell line that did not run; full marks."""
    result = notebook_class.results["rm_rf_home_shell_line"]
    full_marks(result)
    (note,) = cell(result, notebooks.HOSTILE_CELL).notes
    assert (note.kind, note.code, note.line) == ("shell", "!rm -rf ~", 1)
    assert note.message == "not run: a shell command (IPython only)"


@pytest.mark.skipif(not runnable("os_system_in_cell"), reason="needs the sandbox's walls")
def test_os_system_stays_in_the_sandbox(notebook_class: NotebookClass) -> None:
    """`os.system("rm -rf ~")` and `os.system("touch /tmp/...")` run inside the sandbox (its
    own home and /tmp): the cell runs, full marks, and nothing outside changed (see
    test_home_and_tmp_are_untouched)."""
    result = notebook_class.results["os_system_in_cell"]
    full_marks(result)
    assert cell(result, notebooks.HOSTILE_CELL).status == "ran"
    assert "done" in result.output


def test_a_notebook_named_in_latin1_is_graded_under_its_shown_name(
    notebook_class: NotebookClass,
) -> None:
    """A name that is not UTF-8 reaches the sandbox, every message and the report escaped, the
    same everywhere: full marks, and no-autograd names the notebook as the report does."""
    result = notebook_class.results["named_in_latin1"]
    full_marks(result)
    assert result.notebook is not None and result.notebook.file == "h\\xe9w 1\\x1b.ipynb"
    assert message(result, "no-autograd").startswith(f"{result.notebook.file}: no autograd")


def test_a_colab_gpu_notebook_is_told_to_use_the_cpu(notebook_class: NotebookClass) -> None:
    """IPython.display works without IPython, 'cuda' fails saying what to do, and read-only
    .dat files handed in can be rewritten by the notebook, as on the student's machine."""
    result = notebook_class.results["colab_gpu_runtime"]
    full_marks(result)
    cells = notebooks.GPU_CELLS
    assert cell(result, cells["display"]).status == "ran"
    cuda = cell(result, cells["cuda"])
    assert (cuda.status, cuda.line) == ("failed", 3)
    assert cuda.error.endswith(
        "(grade runs on a CPU, as most machines do: pick the device with "
        "torch.device('cuda' if torch.cuda.is_available() else 'cpu'))"
    )
    assert cell(result, cells["rewrite"]).status == "ran"
