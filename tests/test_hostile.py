"""Untrusted code: every hostile submission gets the right verdict, and nothing else is touched.

The hostile fixtures are graded in the same session batch as the correct students
(tests/conftest.py, `batch`), under tight limits: 10 s per call, 512 MiB of memory.
"""

from __future__ import annotations

import json
import re

import classroom
import pytest
from classroom import message, statuses
from conftest import Batch

from grader.sandbox import isolation


def only_when(behaviour: str) -> pytest.MarkDecorator:
    return pytest.mark.skipif(
        not classroom.runnable(behaviour),
        reason=f"{behaviour} runs only where bubblewrap (or a process cap) is in force",
    )


def test_correct_students_keep_full_marks(batch: Batch) -> None:
    """Graded beside every hostile submission, the correct students still get full marks."""
    for name in ("correct", "biases_as_rows", "relu_as_clamp", "relu_as_mask"):
        result = batch.results[name]
        assert result.score == result.max_score, [c.message for c in result.checks]


def test_no_file_under_the_submissions_changed(batch: Batch) -> None:
    """After the batch every file under the class folder is byte-identical to before."""
    assert classroom.fingerprint(batch.students) == batch.before


EXPECTED = {
    "relu_result_discarded": (
        "network-architecture",
        "fail",
        "no activation after Linear 1 (10→21); expected relu",
    ),
    "segfault_in_backprop": (
        "backprop-gradients",
        "error",
        "could not run backprop: crashed with signal 11 (segmentation fault) while calling "
        "backprop() on data point 1",
    ),
    "exits_importing_backprop": (
        "backprop-gradients",
        "error",
        "could not run backprop: the student's code exited with code 3 while importing backprop.py",
    ),
    "system_exit_in_backprop": (
        "backprop-gradients",
        "error",
        "could not run backprop: backprop.py, line 5, in backprop: SystemExit: giving up",
    ),
    "keyboard_interrupt_in_network": (
        "network-architecture",
        "error",
        "could not build and run the network: network.py, line 2, in build_network: "
        "KeyboardInterrupt",
    ),
    "fills_its_copy_past_the_memory_cap": (
        "backprop-gradients",
        "error",
        "could not run backprop: stopped: memory limit of 512 MiB reached while importing "
        "backprop.py",
    ),
    "memory_blowup": (
        "backprop-gradients",
        "error",
        "backprop failed on the published inputs: stopped: memory limit of 512 MiB reached "
        "(backprop.py, line 7, in backprop)",
    ),
    "returns_nan": (
        "backprop-gradients",
        "fail",
        "22 of 22 gradients disagree on the published inputs; the first from the output is "
        "W11: 21 entries are NaN or infinite; worst entry [0, 0]: reference ",
    ),
    "returns_arrays_of_eleven_dimensions": (
        "backprop-gradients",
        "error",
        "backprop failed on the published inputs: backprop(): db[0] has 11 dimensions "
        "(1×1×1×1×1×1×1×1×1×1×21); a gradient of a Linear layer has 2 (dW) or 1 (db)",
    ),
    "ignores_its_arguments": (
        "backprop-gradients",
        "fail",
        "backprop's gradients are right on the published inputs and exactly the same on the 3 "
        "other data points: they are not computed from its arguments",
    ),
    "returns_wrong_shapes": (
        "backprop-gradients",
        "fail",
        "backprop on the published inputs: returned 10 weight gradients; the network has 11 "
        "Linear layers",
    ),
    "patches_numpy_torch_builtins": (
        "backprop-gradients",
        "fail",
        "22 of 22 gradients disagree on the published inputs; the first from the output is "
        "W11: 21 of 21 entries differ by more than one unit in the 5th significant figure",
    ),
    "fork_bomb": (
        "backprop-gradients",
        "error",
        "backprop failed on the published inputs: backprop.py, line 9, in backprop: "
        "BlockingIOError: [Errno 11] Resource temporarily unavailable (the sandbox allows 64 "
        "processes and threads: limits.processes)",
    ),
    "starts_200_threads_at_import": (
        "network-architecture",
        "error",
        "could not build and run the network: network.py, line 7, in <module>: RuntimeError: "
        "can't start new thread (the sandbox allows 64 processes and threads: limits.processes)",
    ),
    "autograd_in_a_subprocess": (
        "no-autograd",
        "fail",
        "at run time, backprop reached for autograd: started a program through subprocess.run, "
        "called in backprop.py, line 28, in backprop (autograd in another interpreter is "
        "autograd all the same). ",
    ),
    "runs_classmates_backprop": (
        "backprop-gradients",
        "error",
        "backprop failed on the published inputs: backprop() returned None; expected (dW, db)",
    ),
    "torch_func_grad_via_importlib": (
        "no-autograd",
        "fail",
        "at run time, backprop reached for autograd: torch.func.grad, called in backprop.py, "
        "line 20, in backprop. ",
    ),
    "jacfwd_in_helper_module": (
        "no-autograd",
        "fail",
        "helpers.py, line 18, in gradients(): uses jacfwd (imported from torch.func). ",
    ),
    "jacfwd_alias_at_import": (
        "no-autograd",
        "fail",
        "backprop.py, line 19, in backprop(): uses differentiate (set to torch.func.jacfwd at "
        "line 5). ",
    ),
    "array_method_runs_backward": (
        "no-autograd",
        "fail",
        "at run time, backprop reached for autograd: torch.Tensor.backward, called in "
        "backprop.py, line 20, in __array__. ",
    ),
    "backprop_package_beside_module": (
        "no-autograd",
        "fail",
        "backprop/__init__.py, line 18, in backprop(): uses jacfwd (imported from torch.func). "
        "Backprop must compute dL/dW and dL/db by the chain rule, without autograd "
        "(backprop/__init__.py ran, not backprop.py: a package named backprop takes precedence)",
    ),
    "plants_result_files": (
        "backprop-gradients",
        "error",
        "backprop failed on the published inputs: backprop() returned None; expected (dW, db)",
    ),
    "sends_malformed_backprop_then_exits": (
        "backprop-gradients",
        "error",
        "could not run backprop: the student's code sent a malformed backprop answer (results: "
        "Input should be a valid list); then the student's code ended the process early",
    ),
    "raises_lone_surrogate": (
        "backprop-gradients",
        "error",
        "backprop failed on the published inputs: backprop.py, line 30, in backprop: "
        "ValueError: \\udc80",
    ),
    "fakes_progress": (
        "network-architecture",
        "error",
        "could not build and run the network: the network stage ran past its limit of 20 s "
        "(10 s for its one call and 10 s to start) while importing network.py",
    ),
}


@pytest.mark.parametrize(("behaviour", "expected"), EXPECTED.items(), ids=EXPECTED.keys())
def test_hostile_submission_verdict(
    behaviour: str, expected: tuple[str, str, str], batch: Batch
) -> None:
    """Each hostile submission gets the right status and a message naming what happened
    (pinned up to where it quotes numbers that depend on the seed)."""
    if not classroom.runnable(behaviour):
        pytest.skip(f"{behaviour} needs bubblewrap, a process cap or copies in memory: not here")
    check_id, status, text = expected
    result = batch.results[behaviour]
    assert statuses(result)[check_id] == status
    assert message(result, check_id).startswith(text)


@pytest.mark.parametrize(
    "behaviour", ["segfault_in_backprop", "exits_importing_backprop", "memory_blowup"]
)
def test_a_process_killed_in_backprop_leaves_the_network_graded(
    behaviour: str, batch: Batch
) -> None:
    """Backprop runs first in the student's process; when that process dies there, the network's
    stages run in a fresh one, so only the backprop checks are lost."""
    checks = statuses(batch.results[behaviour])
    assert checks["backprop-gradients"] == "error"
    assert checks["network-architecture"] == checks["autograd-gradients"] == "pass"


def test_answers_forged_through_the_frames_count_for_nothing(batch: Batch) -> None:
    """A network.py that finds the child's channel and request through the call stack, sends
    a correct trace and autograd gradients it computed itself, and then has build_network
    raise, gets no point for the network: there is none."""
    result = batch.results["forges_network_answers_through_frames"]
    checks = statuses(result)
    assert checks["network-architecture"] == checks["autograd-gradients"] == "error"
    assert message(result, "network-architecture") == (
        "could not build and run the network: network.py, line 69, in build_network: "
        "RuntimeError: there is no network"
    )
    assert result.score == 6


def test_forged_answers_are_refused(batch: Batch) -> None:
    """Answers forged by the network's code count for nothing (the worker it runs in holds no
    channel to the grader, and malformed lines are not answers), and reach no other process:
    the correct code behind them gets full marks."""
    result = batch.results["forges_answers"]
    assert result.score == result.max_score, [c.message for c in result.checks]


@pytest.mark.parametrize("behaviour", ["sends_malformed_answers", "sends_oversized_answers"])
def test_malformed_and_oversized_answers_are_not_answers(behaviour: str, batch: Batch) -> None:
    """A graph whose nodes lack `id`, a trace of numbers, results that are a string, three 60 MB
    lines: none is an answer (the class run goes on), and the real answers after them stand."""
    result = batch.results[behaviour]
    assert result.score == result.max_score, [c.message for c in result.checks]
    assert (batch.reports / behaviour / "report.html").stat().st_size


def test_a_lone_surrogate_reaches_the_reports_as_text(batch: Batch) -> None:
    """An exception message no UTF-8 file can hold is written out in the reports, not a crash."""
    out = batch.reports / "raises_lone_surrogate"
    checks = json.loads((out / "result.json").read_text())["checks"]
    assert (
        "ValueError: \\udc80"
        in next(c for c in checks if c["id"] == "backprop-gradients")["message"]
    )
    assert "ValueError: \\udc80" in (out / "report.html").read_text(encoding="utf-8")


def test_a_time_out_names_the_threads_still_running(batch: Batch) -> None:
    """Threads spinning from import starve the network stage: the time-out names the stage that
    was running and the student's threads that were still running."""
    text = message(batch.results["spins_threads_from_import"], "network-architecture")
    assert re.match(
        r"could not build and run the network: timed out after 10 s \(\d+ threads? the "
        r"student's code started still running\) while (importing network\.py|calling build_)",
        text,
    ), text


def test_printing_hundreds_of_mb_is_capped(batch: Batch) -> None:
    """300 MiB printed at import: the output kept is capped, the cut marked, grading unharmed."""
    result = batch.results["prints_hundreds_of_mb"]
    assert result.score == result.max_score
    assert "MiB" not in result.output
    assert "bytes of output cut ...]" in result.output
    assert len(result.output.encode()) < 1024 * 1024 + 200


def test_planted_result_files_change_nothing(batch: Batch) -> None:
    """The result.json in the reports is the grader's, whatever the student wrote."""
    if not classroom.runnable("plants_result_files"):
        pytest.skip("needs bubblewrap")
    written = json.loads((batch.reports / "plants_result_files" / "result.json").read_text())
    assert written["score"] == batch.results["plants_result_files"].score < 10
    assert written["checks"]


def test_classmates_are_invisible(batch: Batch) -> None:
    """Looking for another student's backprop.py finds nothing inside the sandbox."""
    if not classroom.runnable("runs_classmates_backprop"):
        pytest.skip("needs bubblewrap")
    assert "classmate: None" in batch.results["runs_classmates_backprop"].output
    assert "overwrote" not in batch.results["overwrites_classmates"].output
    assert statuses(batch.results["overwrites_classmates"])["network-architecture"] == "pass"


def test_report_says_which_isolation_and_limits(batch: Batch) -> None:
    """result.json names the isolation in force and the limits."""
    result = batch.results["correct"]
    assert result.isolation == isolation.description()
    assert result.limits.call_seconds == classroom.CALL_SECONDS
    assert result.limits.memory_mib == classroom.MEMORY_MIB
