"""Grading end to end: real child processes on the example and fixture submissions."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from classroom import CALL_SECONDS, CORE_CHECKS, EXAMPLES, make_submission, message, statuses
from conftest import Batch

from grader import api
from grader.assignment import load_assignment
from grader.cli import main
from grader.result import GradeResult

if TYPE_CHECKING:
    from playwright.sync_api import Page

ROOT = Path(__file__).parent.parent
OUTPUT = Path(__file__).parent / "output" / "grading"


@pytest.fixture
def graded(batch: Batch) -> dict[str, GradeResult]:
    """The class graded once for the whole session (tests/conftest.py), by student."""
    return batch.results


ALL_PASS = dict.fromkeys(CORE_CHECKS, "pass")


def test_correct_student_gets_full_marks(graded: dict[str, GradeResult]) -> None:
    """The correct example passes every check with every point."""
    result = graded["correct"]
    assert statuses(result) == ALL_PASS
    assert result.score == result.max_score == 10


def test_biases_as_rows_are_accepted(graded: dict[str, GradeResult]) -> None:
    """db returned as (1, n) rows holds the same numbers as (n,): full marks."""
    assert statuses(graded["biases_as_rows"]) == ALL_PASS


def test_transposed_weight_grads(graded: dict[str, GradeResult]) -> None:
    """dL/dW in (in, out) layout fails backprop-gradients and dat-files, naming the shapes."""
    result = graded["transposed_weight_grads"]
    assert statuses(result) == ALL_PASS | {"backprop-gradients": "fail", "dat-files": "fail"}
    assert message(result, "backprop-gradients").startswith(
        "W11 is transposed: dL/dW must be in PyTorch's (out, in) layout (1, 21)"
    )
    assert "my_autograd.dat against the reference: W1: shape (10, 21)" in message(
        result, "dat-files"
    )


def test_missing_first_relu(graded: dict[str, GradeResult]) -> None:
    """No ReLU after the first Linear is named by the architecture check, and the gradients fail."""
    result = graded["missing_first_relu"]
    assert message(result, "network-architecture") == (
        "no activation after Linear 1 (10→21); expected relu"
    )
    assert statuses(result) == ALL_PASS | {
        "network-architecture": "fail",
        "autograd-gradients": "fail",
        "backprop-gradients": "fail",
        "dat-files": "fail",
    }


def test_autograd_in_backprop(graded: dict[str, GradeResult]) -> None:
    """loss.backward() inside backprop is refused at run time, named with its line."""
    result = graded["autograd_in_backprop"]
    assert statuses(result)["no-autograd"] == "fail"
    assert message(result, "no-autograd").startswith(
        "at run time, backprop reached for autograd: torch.Tensor.backward, called in "
        "backprop.py, line 14, in backprop. "
    )
    assert statuses(result)["backprop-gradients"] == "error"
    assert "autograd is switched off inside backprop" in message(result, "backprop-gradients")


def test_backward_method_on_own_class(graded: dict[str, GradeResult]) -> None:
    """A from-scratch backprop written as a class with forward() and backward() methods is not
    autograd: full marks."""
    result = graded["backward_method_on_own_class"]
    assert statuses(result) == ALL_PASS, [c.message for c in result.checks]
    assert result.score == result.max_score


def test_exception_in_backprop_names_file_and_line(graded: dict[str, GradeResult]) -> None:
    """An exception in backprop is an error naming the file, line, function and exception."""
    result = graded["raises_in_backprop"]
    assert message(result, "backprop-gradients") == (
        "backprop failed on the published inputs: backprop.py, line 3, in backprop: "
        "ZeroDivisionError: division by zero"
    )
    assert statuses(result)["no-autograd"] == "error"
    assert statuses(result)["network-architecture"] == "pass"


def test_misnamed_function_is_named(graded: dict[str, GradeResult]) -> None:
    """A backprop under another name is an error that says which name to use."""
    result = graded["misnamed_backprop"]
    assert message(result, "backprop-gradients") == (
        "could not run backprop: backprop.py defines no backprop(); it defines back_prop(): "
        "rename it to backprop()"
    )


def test_returns_none(graded: dict[str, GradeResult]) -> None:
    """A backprop that returns nothing says so, and what it printed reaches the report."""
    result = graded["returns_none"]
    assert message(result, "backprop-gradients") == (
        "backprop failed on the published inputs: backprop() returned None; expected (dW, db)"
    )
    assert "forgot to return them" in result.output


def test_infinite_loop_times_out_and_keeps_earlier_stages(graded: dict[str, GradeResult]) -> None:
    """A hanging backprop times out; the network checks done before it keep their verdicts."""
    result = graded["infinite_loop"]
    assert message(result, "backprop-gradients") == (
        f"could not run backprop: timed out after {CALL_SECONDS:g} s while calling backprop() "
        "on data point 1"
    )
    assert statuses(result)["network-architecture"] == "pass"
    assert statuses(result)["autograd-gradients"] == "pass"


def test_exit_at_import(graded: dict[str, GradeResult]) -> None:
    """os._exit() while importing network.py is an error naming the stage, not a lost student."""
    result = graded["exits_at_import"]
    assert message(result, "network-architecture") == (
        "could not build and run the network: the student's code exited with code 3 while "
        "importing network.py"
    )
    assert statuses(result)["dat-files"] == "pass"


def test_wrong_layer_count(graded: dict[str, GradeResult]) -> None:
    """One hidden layer short is named by the architecture check."""
    result = graded["wrong_layer_count"]
    assert message(result, "network-architecture") == "Linear 10 is 21→1, expected 21→21"
    assert statuses(result)["autograd-gradients"] == "error"


def test_syntax_error_names_the_line(graded: dict[str, GradeResult]) -> None:
    """A syntax error in network.py is an error naming the file and the line."""
    result = graded["syntax_error_in_network"]
    assert message(result, "network-architecture").startswith(
        "could not build and run the network: network.py, line 4: SyntaxError"
    )


def test_reports_are_written(graded: dict[str, GradeResult], batch: Batch) -> None:
    """Each student gets result.json (matching the result) and report.html."""
    reports = batch.reports
    for student, result in graded.items():
        written = json.loads((reports / student / "result.json").read_text())
        assert written["score"] == result.score
        assert [c["id"] for c in written["checks"]][:5] == CORE_CHECKS
        assert (reports / student / "report.html").read_text().startswith("<!doctype html>")


def test_hidden_seeds_depend_on_the_student(graded: dict[str, GradeResult]) -> None:
    """Hidden seeds differ between students and are listed in the result."""
    seeds = {tuple(result.seeds.hidden) for result in graded.values()}
    assert len(seeds) == len(graded)
    assert all(len(s) == 3 for s in seeds)


def test_cli_grades_one_student_and_strict_exit(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`grade PATH` grades one student; --strict exits 1 only when a check did not pass."""
    common = ["--assignment", "bs6207-a1", "--reports", str(tmp_path / "reports")]
    assert main([str(EXAMPLES / "correct"), *common, "--strict"]) == 0
    out = capsys.readouterr().out
    assert "correct" in out and "10 / 10" in out and "all checks pass" in out
    broken = make_submission("raises_in_backprop", tmp_path)
    assert main([str(broken), *common]) == 0
    assert main([str(broken), *common, "--strict"]) == 1


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["nowhere", "--assignment", "bs6207-a1"], "nowhere: no such folder"),
        ([".", "--assignment", "nope"], "no such assignment"),
    ],
    ids=["missing path", "unknown assignment"],
)
def test_cli_bad_input_exits_2(
    args: list[str], needle: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """A bad path or assignment is exit 2 with a one-line message."""
    assert main(args) == 2
    assert needle in capsys.readouterr().err


def test_real_report_in_a_browser(
    graded: dict[str, GradeResult], batch: Batch, browser_page: Page
) -> None:
    """A graded student's report, opened in Chromium, shows the score and what failed."""
    browser_page.goto((batch.reports / "transposed_weight_grads" / "report.html").as_uri())
    text = browser_page.inner_text("body")
    assert "5 / 10" in text
    check = next(
        c for c in graded["transposed_weight_grads"].checks if c.id == "backprop-gradients"
    )
    assert check.diagnoses[0].message in text  # in the diagnoses box; the rest of the message:
    assert "11 of 22 gradients disagree on the published inputs" in text
    assert "The student's shape is (10, 21); expected (21, 10)." in text
    OUTPUT.mkdir(parents=True, exist_ok=True)
    browser_page.screenshot(path=OUTPUT / "transposed_weight_grads.png")


def test_multi_step_assignment_end_to_end(tmp_path: Path) -> None:
    """hw02-1: backprop is called at every SGD step and the step-prefixed .dat files are read."""
    folder = Path(__file__).parent / "fixtures" / "hw02_1" / "correct"
    result = api.grade_submission(folder, load_assignment("hw02-1"), tmp_path)
    assert statuses(result) == ALL_PASS, [c.message for c in result.checks]
    assert result.seeds.hidden == []  # fixed data and constant weights: no hidden seeds
    assert message(result, "backprop-gradients") == (
        "all 6 gradients agree to 5 significant figures on the published inputs at every step"
    )
    assert [line.split(":")[0] for line in result.checks[2].details] == [
        "the published inputs, step 0",
        "the published inputs, step 1",
        "the published inputs, step 2",
    ]
