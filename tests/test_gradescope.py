"""Gradescope: the autograder zip `grade gradescope` builds, and its run_autograder run for
real against a temporary folder standing in for /autograder (grader/exports/gradescope.py)."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import pytest
from notebooks import COLAB_CELLS, make_notebook
from test_github import make_result
from test_notebook_text import MAX_CHARS, not_used_run, notebook_run, thousands_failed_run

from grader.cli import main
from grader.exports import gradescope, notebook_text
from grader.presets import PRESETS

ROOT = Path(__file__).parent.parent
EXAMPLES = ROOT / "submissions"
VENV_BIN = Path(sys.executable).parent  # this venv's python3 and grade
VISIBILITIES = {"hidden", "after_due_date", "after_published", "visible"}


def check_results(results: dict[str, Any]) -> None:
    """Gradescope's results.json rules (integrations.md §3.2) as `grade` uses them."""
    assert isinstance(results["score"], int | float)
    assert isinstance(results.get("execution_time", 0), int | float)
    assert isinstance(results["output"], str)
    assert results.get("visibility", "visible") in VISIBILITIES
    assert results["tests"]
    for test in results["tests"]:
        assert isinstance(test["name"], str) and test["name"]
        assert isinstance(test["score"], int | float)
        assert isinstance(test["max_score"], int | float)
        assert test["status"] in {"passed", "failed"}
        if test["max_score"] > 0:  # a test passes when, and only when, it earns its points
            assert (test["status"] == "passed") == (test["score"] == test["max_score"])
        assert isinstance(test["output"], str)
        assert test.get("visibility", "visible") in VISIBILITIES
    assert results["score"] == sum(test["score"] for test in results["tests"])


@pytest.fixture(scope="module")
def autograder_zip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The zip, built by the CLI."""
    out = tmp_path_factory.mktemp("zip") / "autograder.zip"
    assert main(["gradescope", "--assignment", "bs6207-a1", "--out", str(out)]) == 0
    return out


def unzip(archive: Path, into: Path) -> None:
    """Unpack as Gradescope does, keeping the modes (`unzip` does; zipfile does not)."""
    into.mkdir(parents=True)
    if shutil.which("unzip"):
        subprocess.run(["unzip", "-q", str(archive), "-d", str(into)], check=True)
        return
    with zipfile.ZipFile(archive) as z:
        for info in z.infolist():
            z.extract(info, into)
            (into / info.filename).chmod(info.external_attr >> 16 & 0o777)


def autograder_root(archive: Path, into: Path, submission: Path | None) -> Path:
    """A folder laid out like /autograder: source/ (the zip), submission/, results/ absent."""
    unzip(archive, into / "source")
    (into / "submission").mkdir()
    if submission is not None:
        shutil.copytree(submission, into / "submission", dirs_exist_ok=True)
    return into


def run_autograder(root: Path) -> dict[str, Any]:
    """The real run_autograder script, this venv's python on PATH, root standing in; grade's
    code is the zip's, as on Gradescope (not whichever checkout the venv installed)."""
    env = {
        "PATH": f"{VENV_BIN}:/usr/bin:/bin",
        "GRADE_AUTOGRADER_ROOT": str(root),
        "HOME": str(root),
        "PYTHONPATH": str(root / "source" / "grade"),
    }
    done = subprocess.run(
        [str(root / "source" / "run_autograder")],
        env=env,
        cwd=root,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    results: dict[str, Any] = json.loads((root / "results" / "results.json").read_text())
    check_results(results)
    return results


def test_zip_has_the_scripts_executable_at_its_root(autograder_zip: Path, tmp_path: Path) -> None:
    """setup.sh and run_autograder at the root, mode 755 in the zip and once unpacked."""
    with zipfile.ZipFile(autograder_zip) as z:
        infos = {info.filename: info for info in z.infolist()}
        for script in ("setup.sh", "run_autograder"):
            assert infos[script].external_attr >> 16 == 0o100755
            assert z.read(script).startswith(b"#!/usr/bin/env bash\n")
        assert z.read("assignment.toml") == (PRESETS / "bs6207-a1.toml").read_bytes()
        assert b"torch==2.13.0" in z.read("grade/constraints.txt")
    names = set(infos)
    needed = {"pyproject.toml", "README.md", "grader/cli.py", "reference/__init__.py"}
    assert {f"grade/{name}" for name in needed} <= names
    assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc")]
    unzip(autograder_zip, tmp_path / "source")
    for script in ("setup.sh", "run_autograder"):
        assert os.access(tmp_path / "source" / script, os.X_OK)


def test_zip_is_byte_identical_when_built_twice(autograder_zip: Path, tmp_path: Path) -> None:
    again = tmp_path / "again.zip"
    assert main(["gradescope", "--assignment", "bs6207-a1", "--out", str(again)]) == 0
    assert again.read_bytes() == autograder_zip.read_bytes()


def test_zip_bundles_an_assignment_given_as_a_path(tmp_path: Path) -> None:
    toml = tmp_path / "my-course.toml"
    toml.write_text((PRESETS / "hw02-1.toml").read_text())
    out = tmp_path / "autograder.zip"
    argv = ["gradescope", "--assignment", str(toml), "--out", str(out), "--visibility", "hidden"]
    assert main(argv) == 0
    with zipfile.ZipFile(out) as z:
        assert z.read("assignment.toml") == toml.read_bytes()
        assert b"--visibility hidden" in z.read("run_autograder")


def test_zip_with_a_broken_assignment_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The assignment is validated when the zip is built, not on Gradescope."""
    toml = tmp_path / "broken.toml"
    toml.write_text('name = "x"\n')
    out = tmp_path / "autograder.zip"
    assert main(["gradescope", "--assignment", str(toml), "--out", str(out)]) == 2
    assert str(toml) in capsys.readouterr().err
    assert not out.exists()


def test_run_autograder_grades_a_correct_submission(autograder_zip: Path, tmp_path: Path) -> None:
    """Full points, every check a passed test, written to results/results.json."""
    root = autograder_root(autograder_zip, tmp_path / "autograder", EXAMPLES / "correct")
    results = run_autograder(root)
    assert results["score"] == 10
    assert [t["tags"] for t in results["tests"]][:5] == [
        ["network-architecture"],
        ["autograd-gradients"],
        ["backprop-gradients"],
        ["no-autograd"],
        ["dat-files"],
    ]
    assert all(t["status"] == "passed" for t in results["tests"])
    assert results["output_format"] == "md"
    assert "10 / 10 points" in results["output"]
    assert results["extra_data"]["student"] == "submission"


def test_run_autograder_names_the_mistake_in_a_zipped_folder(
    autograder_zip: Path, tmp_path: Path
) -> None:
    """A submission uploaded as one folder is found; the student keeps their seeds by user id."""
    root = autograder_root(autograder_zip, tmp_path / "autograder", None)
    shutil.copytree(EXAMPLES / "transposed_weight_grads", root / "submission" / "hw1")
    (root / "submission" / "__MACOSX").mkdir()
    metadata = {"id": 99, "users": [{"email": "a@b.c", "id": 1234, "name": "A"}]}
    (root / "submission_metadata.json").write_text(json.dumps(metadata))
    results = run_autograder(root)
    assert results["score"] == 5
    backprop = next(t for t in results["tests"] if t["tags"] == ["backprop-gradients"])
    assert backprop["status"] == "failed" and backprop["score"] == 0
    assert "transposed" in backprop["output"]
    assert results["extra_data"]["student"] == "gradescope-1234"


def test_run_autograder_finds_the_homework_beside_another_folder(
    autograder_zip: Path, tmp_path: Path
) -> None:
    """An upload of a repository (hw1/ beside data/ and a README): hw1/ is graded, and the
    overview says so; two folders holding the files are refused, naming both."""
    root = autograder_root(autograder_zip, tmp_path / "autograder", None)
    shutil.copytree(EXAMPLES / "correct", root / "submission" / "hw1")
    (root / "submission" / "data").mkdir()
    (root / "submission" / "data" / "train.csv").write_text("x,y\n1,1\n")
    (root / "submission" / "README.md").write_text("# hw1\n")
    results = run_autograder(root)
    assert results["score"] == 10, results["output"]
    found = "Your files: graded hw1/, the one folder holding network.py and backprop.py."
    assert found in results["output"]
    shutil.copytree(EXAMPLES / "correct", root / "submission" / "old")
    results = run_autograder(root)
    assert results["score"] == 0
    assert "2 folders hold network.py, backprop.py or a notebook: hw1/, old/" in results["output"]


def test_run_autograder_grades_an_upload_holding_a_fifo(
    autograder_zip: Path, tmp_path: Path
) -> None:
    """A FIFO in the upload (Gradescope's unzip cannot make one, a student's tar can) is left
    out, named, and the rest graded: the upload is read as any submission, never copied."""
    root = autograder_root(autograder_zip, tmp_path / "autograder", EXAMPLES / "correct")
    os.mkfifo(root / "submission" / "notes.fifo")
    results = run_autograder(root)
    assert results["score"] == 10, results


def test_run_autograder_explains_a_submission_it_cannot_grade(
    autograder_zip: Path, tmp_path: Path
) -> None:
    """An upload without the files: a zero and the reason, still a valid results.json."""
    root = autograder_root(autograder_zip, tmp_path / "autograder", None)
    (root / "submission" / "notes.txt").write_text("hello")
    results = run_autograder(root)
    assert results["score"] == 0
    assert results["tests"][0]["max_score"] == 10
    assert "holds neither" in results["output"]


def test_run_autograder_shows_how_a_colab_notebook_ran(
    autograder_zip: Path, tmp_path: Path
) -> None:
    """A notebook from Colab, graded for real: full points, and the overview, all the student
    sees, names the cells that failed on Colab lines, the IPython-only lines and tensorflow."""
    folder = make_notebook("colab", tmp_path / "made")
    root = autograder_root(autograder_zip, tmp_path / "autograder", folder)
    results = run_autograder(root)
    assert results["score"] == 10
    output = results["output"]
    assert "Your notebook:\n\n```text\nNotebook hw1.ipynb: 8 code cells run top to bottom" in output
    assert f"\n- cell {COLAB_CELLS['drive_path']}, line 1: FileNotFoundError: " in output
    assert "(Colab only): with open('/content/drive/" in output
    assert "IPython-only lines not run here" in output
    assert f"\n- cell {COLAB_CELLS['shell']}, line 1: !pip install torchviz\n" in output
    assert f"\n- cell {COLAB_CELLS['imports']}, line 1: import tensorflow as tf\n" in output


def test_run_autograder_writes_results_when_python_cannot_start(
    autograder_zip: Path, tmp_path: Path
) -> None:
    """setup.sh failed, say: run_autograder's own fallback is still valid JSON."""
    root = autograder_root(autograder_zip, tmp_path / "autograder", EXAMPLES / "correct")
    broken = root / "grade-venv" / "bin" / "python"
    broken.parent.mkdir(parents=True)
    broken.write_text("#!/bin/sh\nexit 3\n")
    broken.chmod(broken.stat().st_mode | stat.S_IXUSR)
    results = run_autograder(root)
    assert results["score"] == 0
    assert "exit code 3" in results["output"]


# --- results.json, pure ---------------------------------------------------------------------


def test_results_json_maps_checks_to_tests() -> None:
    result = make_result({"backprop-gradients": "W3 is transposed"})
    results = gradescope.results_json(result, execution_time=2.4, visibility="after_due_date")
    check_results(results)
    assert results["execution_time"] == 2
    assert results["score"] == 6
    backprop = results["tests"][2]
    assert backprop == {
        "number": "3",
        "name": "Backprop gradients",
        "score": 0.0,
        "max_score": 4.0,
        "status": "failed",
        "output": "W3 is transposed\nthe sign is flipped\n- detail of backprop-gradients",
        "tags": ["backprop-gradients"],
        "visibility": "after_due_date",
    }
    assert results["visibility"] == "after_due_date"


def test_overview_shows_how_the_notebook_ran_in_a_code_block() -> None:
    """The notebook's summary, as text in a code block (Markdown cannot reach it), before
    what the code printed; the tests are as without a notebook."""
    plain = make_result().model_copy(update={"output": "hello"})
    results = gradescope.results_json(plain.model_copy(update={"notebook": notebook_run()}))
    check_results(results)
    block = f"Your notebook:\n\n```text\n{notebook_text.text(notebook_run())}\n```"
    assert block in results["output"]
    assert results["output"].index(block) < results["output"].index("What your code printed")
    assert results["tests"] == gradescope.results_json(plain)["tests"]


def test_overview_says_why_a_notebook_was_not_used() -> None:
    result = make_result().model_copy(update={"notebook": not_used_run()})
    output = gradescope.results_json(result)["output"]
    assert "```text\nNotebook not graded: hw1.ipynb was not used: network.py and backprop.py" in (
        output
    )


def test_overview_stays_short_for_2000_failed_cells() -> None:
    """And student text holding a code fence cannot close the block."""
    run = thousands_failed_run()
    cells = list(run.cells)
    cells[0] = cells[0].model_copy(update={"error": "```\n# heading <b>x</b>"})
    result = make_result().model_copy(update={"notebook": run.model_copy(update={"cells": cells})})
    output = gradescope.results_json(result)["output"]
    assert len(output) < len(gradescope.results_json(make_result())["output"]) + MAX_CHARS
    assert "````text\n" in output and "\n- cell 1, line 3: ``` # heading <b>x</b>\n" in output


def test_overview_without_a_notebook_says_nothing_of_one() -> None:
    assert "notebook" not in gradescope.results_json(make_result())["output"].lower()


def test_printed_output_cannot_break_out_of_its_code_block() -> None:
    result = make_result().model_copy(update={"output": "```\n**bold** <b>x</b>\n````"})
    output = gradescope.results_json(result)["output"]
    assert "`````text\n```\n**bold** <b>x</b>\n````\n`````" in output


def test_error_results_are_valid_with_a_reason() -> None:
    results = gradescope.error_results("no network.py", max_score=10)
    check_results(results)
    assert results["tests"][0]["output"] == "no network.py"


@pytest.mark.parametrize(
    ("metadata", "name"),
    [
        pytest.param({"users": [{"id": 7}]}, "gradescope-7", id="one"),
        pytest.param({"users": [{"id": 7}, {"id": 8}]}, "gradescope-7-8", id="group"),
        pytest.param({"users": [{"id": "../x"}]}, "gradescope-x", id="unsafe"),
        pytest.param({"users": []}, "submission", id="nobody"),
        pytest.param(None, "submission", id="no-file"),
        pytest.param("not json", "submission", id="broken"),
    ],
)
def test_student_name_from_submission_metadata(tmp_path: Path, metadata: object, name: str) -> None:
    path = tmp_path / "submission_metadata.json"
    if metadata is not None:
        path.write_text(metadata if isinstance(metadata, str) else json.dumps(metadata))
    assert gradescope.student_name(path) == name
