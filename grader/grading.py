"""The pipeline for one submission, in the order data flows:

reference (truth.py) → run the student's code (sandbox/) → the five checks (checks/) → result.
"""

from __future__ import annotations

import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from grader import autograd_graph, files, homework, notebook
from grader.assignment import Assignment
from grader.checks import (
    NAMES,
    Call,
    Context,
    architecture,
    dat_files,
    gradients,
    graph,
    no_autograd,
    result,
)
from grader.files import student_name
from grader.locate import locate
from grader.result import CheckResult, GradeResult, NotebookRun, Seeds
from grader.sandbox import isolation
from grader.sandbox.answers import clean
from grader.sandbox.run import Outcome, run_student
from grader.truth import ground_truth, hidden_seeds, step_blocks
from grader.versions import versions

CHECKS: dict[str, Callable[[Context], CheckResult]] = {
    "network-architecture": architecture.check,
    "autograd-gradients": gradients.check_autograd,
    "backprop-gradients": gradients.check_backprop,
    "no-autograd": no_autograd.check,
    "dat-files": dat_files.check,
    "graph-explanation": graph.check,
}


def grade_submission(folder: Path, assignment: Assignment) -> GradeResult:
    """Grade one submission folder (its homework: the folder, or the one below it holding the
    contract's files, grader.homework); whatever the student's code does, a result comes back.
    The student is named after `folder`."""
    started = time.monotonic()
    student = student_name(folder)
    found = homework.find(folder, assignment.contract)
    folder = found.folder
    hidden = hidden_seeds(assignment, student)
    truths = [ground_truth(assignment, seed) for seed in [assignment.seed, *hidden]]
    calls = [
        Call(
            seed=truth.seed,
            step=k,
            published=i == 0,
            weights=step.weights,
            biases=step.biases,
            x=truth.inputs.x,
            y=truth.inputs.y,
            expected=step_blocks(truth, k),
        )
        for i, truth in enumerate(truths)
        for k, step in enumerate(truth.steps)
    ]
    reference_done = time.monotonic()
    book, view, problem = _notebook(folder, assignment)
    request = _request(assignment, calls, book)
    problem = found.problem or problem
    if problem is None:
        outcome = run_student(folder, request, assignment.limits)
    else:
        outcome = Outcome.refused(problem)
    if book is not None:
        notes = notebook.dat_notes(folder, outcome, truths[0].gradient_blocks, assignment)
        view = notebook.run_view(book, outcome, notes)
    context = Context(
        assignment=assignment,
        folder=folder,
        truths=truths,
        calls=calls,
        outcome=outcome,
        notebook=book,
    )
    checks = [
        _run_check(check_id, check, context)
        for check_id, check in CHECKS.items()
        if check_id != "graph-explanation" or _graph_is_graded(assignment, folder)
    ]
    traced = time.monotonic()
    checks = [_located(check, context) for check in checks]
    answer = outcome.stages.get("graph")
    return GradeResult(
        student=student,
        assignment=assignment.name,
        assignment_title=assignment.title,
        score=sum(c.score for c in checks),
        max_score=sum(c.max_score for c in checks),
        checks=checks,
        seeds=Seeds(published=assignment.seed, hidden=hidden),
        sig_figs=assignment.significant_figures,
        isolation=isolation.description(),
        limits=assignment.limits,
        output=outcome.output,
        graph=autograd_graph.from_answer(answer) if answer and answer["ok"] else None,
        notebook=view,
        folder=found.below,
        found=found.note,
        timings={
            "reference": round(reference_done - started, 3),
            "student_code": round(outcome.seconds, 3),
            "trace": round(time.monotonic() - traced, 3),
            "total": round(time.monotonic() - started, 3),
        },
        versions=dict(versions()),
    )


def failed(folder: Path, assignment: Assignment, error: Exception, doing: str) -> GradeResult:
    """The result of a submission `grade` could not finish `doing` for (a bug in the grader, or
    something it did not foresee): every check `error`, saying what happened and where, for
    the TA; no submission key, so a rerun grades it again."""
    frame = traceback.extract_tb(error.__traceback__)[-1:]
    where = f" in {Path(frame[0].filename).name}, line {frame[0].lineno}" if frame else ""
    message = clean(
        f"grade could not {doing} ({type(error).__name__}{where}: {error}); this is not a "
        "verdict on your code: show this report to your TA",
        1000,
    )
    ids = [c for c in CHECKS if c != "graph-explanation" or assignment.points.graph_explanation]
    checks = [
        CheckResult(
            id=check_id,
            name=NAMES[check_id],
            status="error",
            score=0.0,
            max_score=float(getattr(assignment.points, check_id.replace("-", "_"))),
            message=message,
        )
        for check_id in ids
    ]
    return GradeResult(
        student=student_name(folder),
        assignment=assignment.name,
        assignment_title=assignment.title,
        score=0.0,
        max_score=sum(c.max_score for c in checks),
        checks=checks,
        seeds=Seeds(published=assignment.seed, hidden=[]),
        sig_figs=assignment.significant_figures,
        isolation=isolation.description(),
        limits=assignment.limits,
        versions=dict(versions()),
    )


def _notebook(
    folder: Path, assignment: Assignment
) -> tuple[notebook.Notebook | None, NotebookRun | None, str | None]:
    """The notebook to run, if the submission is one; what the report says about its
    notebooks; and why no student code can run, if the notebook is what stops it."""
    handed = notebook.handed_in(folder, assignment.contract)
    chosen, view = notebook.choose(handed, folder, assignment.contract)
    if chosen is None:
        problem = view.message if view is not None and not handed.modules else None
        return None, view, problem
    try:
        return notebook.read(folder, chosen, assignment.limits), None, None
    except notebook.NotebookError as error:
        return None, notebook.failed_view(chosen, str(error)), str(error)


def _located(check: CheckResult, context: Context) -> CheckResult:
    """The backprop check, with the line where its first wrong value was formed when one can
    be named: the student's backprop run once more on the first call it got wrong, in a
    child of its own with a line tracer, and what it recorded matched against the
    reference here. Any other check, a passing one, or one whose backprop gave no gradients
    to compare, as it is: the trace costs a passing student nothing."""
    if check.id != "backprop-gradients" or check.status != "fail":
        return check
    wrong = gradients.first_wrong(context)
    if wrong is None:
        return check
    request = _request(context.assignment, [wrong.call], context.notebook)
    traced = run_student(context.folder, request, context.assignment.limits, groups=("trace",))
    answer = traced.stages.get("trace", {})
    if answer.get("ok") is not True:
        return check
    location = locate(
        context.assignment, wrong.call, wrong.actual, wrong.start, check.diagnoses,
        answer.get("events", []), _source(context.folder, context.notebook),
    )  # fmt: skip
    return check if location is None else check.model_copy(update={"location": location})


def _source(folder: Path, book: notebook.Notebook | None) -> Callable[[str], str | None]:
    """The code of a file the trace names: a module of the submission (read bounded, never
    through a link), or a notebook's cell (`hw1.ipynb, cell 3`) as written."""

    def source(file: str) -> str | None:
        name, cell, number = file.rpartition(", cell ")
        if book is not None and cell and name == book.shown:
            return next((c.source for c in book.cells if str(c.number) == number), None)
        try:
            return files.read_text(folder, file)
        except (files.SubmissionError, OSError):
            return None

    return source


def _graph_is_graded(assignment: Assignment, folder: Path) -> bool:
    """Q2 is graded when it has points, or when the student explained the graph anyway."""
    return assignment.points.graph_explanation > 0 or graph.explanation_file(folder) is not None


def _run_check(
    check_id: str, check: Callable[[Context], CheckResult], context: Context
) -> CheckResult:
    """One check; whatever came back from the student's code, one result, never a crash."""
    try:
        return check(context)
    except Exception as error:  # a malformed answer the check did not foresee
        message = (
            f"the answer your code sent back could not be checked ({type(error).__name__}: "
            f"{error}); show this report to your TA"
        )
        return result(context, check_id, "error", message)


def _request(
    assignment: Assignment, calls: list[Call], book: notebook.Notebook | None = None
) -> dict[str, Any]:
    """What the child needs: the contract, the loss, every call, and the notebook's cells."""
    contract = assignment.contract
    cells = {"notebook": book.request(assignment)} if book is not None else {}
    return {
        **cells,
        "network": {
            "module": contract.network_module,
            "function": contract.network_function,
            "kwargs": contract.network_kwargs,
        },
        "backprop": {"module": contract.backprop_module, "function": contract.backprop_function},
        "loss": assignment.loss,
        "graph_script": assignment.graph.script if assignment.graph else None,
        "calls": [call.request() for call in calls],
    }
