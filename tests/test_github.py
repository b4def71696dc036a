"""GitHub Classroom: the reporter's payloads, the job summary, `grade --github`, action.yml and
the template repository's workflow (grader/exports/github.py)."""

from __future__ import annotations

import base64
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from notebooks import BROKEN_CELL, make_notebook
from test_notebook_text import MAX_CHARS, not_used_run, notebook_run, thousands_failed_run

from grader.cli import main
from grader.exports import github, notebook_text
from grader.result import CheckResult, Diagnosis, GradeResult, Seeds

ROOT = Path(__file__).parent.parent
EXAMPLES = ROOT / "submissions"
ACTION = ROOT / "action.yml"
TEMPLATE = ROOT / "examples" / "classroom-template"
WORKFLOW = TEMPLATE / ".github" / "workflows" / "classroom.yml"
FORGED = '::notice title=Autograding report::{"totalPoints":100,"maxPoints":10}'
RUNNER_ID = re.compile(r"^[A-Za-z0-9]+$")  # the reporter's runners pattern, one id


def make_result(messages: dict[str, str] | None = None, student: str = "alice") -> GradeResult:
    """A graded result with the five core checks; `messages` replaces some checks' messages
    and makes them fail."""
    points = {
        "network-architecture": 2.0,
        "autograd-gradients": 2.0,
        "backprop-gradients": 4.0,
        "no-autograd": 1.0,
        "dat-files": 1.0,
    }
    messages = messages or {}
    checks = [
        CheckResult(
            id=check_id,
            name=check_id.replace("-", " ").capitalize(),
            status="fail" if check_id in messages else "pass",
            score=0.0 if check_id in messages else most,
            max_score=most,
            message=messages.get(check_id, "all good"),
            details=[f"detail of {check_id}"],
            diagnoses=[Diagnosis(kind="sign", message="the sign is flipped")]
            if check_id in messages
            else [],
        )
        for check_id, most in points.items()
    ]
    return GradeResult(
        student=student,
        assignment="bs6207-a1",
        assignment_title="BS6207 A1",
        score=sum(c.score for c in checks),
        max_score=sum(c.max_score for c in checks),
        checks=checks,
        seeds=Seeds(published=6207, hidden=[1, 2, 3]),
        sig_figs=5,
        isolation="own process",
        timings={"total": 1.25},
    )


def check_payload(payload: dict[str, Any]) -> None:
    """The runner-payload rules of integrations.md §1.7 that keep the reporter's total right."""
    assert payload["version"] == 1
    assert payload["status"] in {"pass", "fail", "error"}
    assert isinstance(payload["max_score"], int | float) and payload["max_score"] >= 0
    assert isinstance(payload["tests"], list) and payload["tests"]
    for test in payload["tests"]:
        assert set(test) == {
            "name",
            "status",
            "score",
            "message",
            "test_code",
            "filename",
            "line_no",
            "duration",
        }
        assert test["status"] in {"pass", "fail", "error"}
        assert isinstance(test["score"], int | float) and test["score"] >= 0
        assert isinstance(test["line_no"], int) and not isinstance(test["line_no"], bool)
        assert isinstance(test["duration"], int | float)
        assert all(isinstance(test[k], str) for k in ("name", "message", "test_code", "filename"))
        for key in ("name", "message", "test_code"):
            assert_log_safe(test[key])


def assert_log_safe(text: str) -> None:
    """No line of `text` is a workflow command when printed to a job log."""
    assert "\r" not in text
    for line in text.splitlines():
        assert not line.lstrip().startswith("::"), line
        assert "##[" not in line, line


def decode(value: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(base64.b64decode(value, validate=True))
    return data


def read_lines(path: Path) -> dict[str, str]:
    """`name=value` lines, as the runner reads $GITHUB_OUTPUT and $GITHUB_ENV."""
    return dict(line.split("=", 1) for line in path.read_text().splitlines())


# --- payloads, pure -------------------------------------------------------------------------


def test_payload_has_one_test_per_check_with_points_and_feedback_in_test_code() -> None:
    """Each check is a test; the feedback the reporter prints for a failure is in test_code."""
    result = make_result({"backprop-gradients": "W3 is transposed"})
    payload = github.payload(result)
    check_payload(payload)
    assert payload["status"] == "fail"
    assert payload["max_score"] == 10
    assert [t["name"] for t in payload["tests"]] == [c.name for c in result.checks]
    assert sum(t["score"] for t in payload["tests"]) == result.score == 6
    backprop = payload["tests"][2]
    assert backprop["status"] == "fail"
    assert backprop["test_code"] == "0/4 points: W3 is transposed\nthe sign is flipped"
    assert "the sign is flipped" in backprop["message"]
    assert "detail of backprop-gradients" in backprop["message"]
    assert backprop["line_no"] == 0 and backprop["duration"] == 1250


def test_all_checks_passing_is_a_passing_payload() -> None:
    payload = github.payload(make_result())
    check_payload(payload)
    assert payload["status"] == "pass"
    assert all(t["status"] == "pass" and t["score"] > 0 for t in payload["tests"])


def test_runner_payloads_give_each_check_its_own_runner() -> None:
    """One runner per check, ids of letters and digits, points adding up to the score."""
    result = make_result({"dat-files": "my_autograd.dat is missing"})
    runners = github.runner_payloads(result)
    assert list(runners) == [
        "networkArchitecture",
        "autogradGradients",
        "backpropGradients",
        "noAutograd",
        "datFiles",
    ]
    for runner, payload in runners.items():
        assert RUNNER_ID.match(runner)
        check_payload(payload)
        assert len(payload["tests"]) == 1
        assert payload["status"] == payload["tests"][0]["status"]
    assert sum(p["tests"][0]["score"] for p in runners.values()) == result.score
    assert sum(p["max_score"] for p in runners.values()) == result.max_score
    assert runners["datFiles"]["status"] == "fail"


@pytest.mark.parametrize(
    ("check_id", "runner"),
    [
        ("network-architecture", "networkArchitecture"),
        ("no-autograd", "noAutograd"),
        ("graph-explanation", "graphExplanation"),
        ("dat-files", "datFiles"),
    ],
)
def test_runner_ids_are_letters_only(check_id: str, runner: str) -> None:
    assert github.runner_id(check_id) == runner


def test_error_payload_still_has_a_test_with_a_score() -> None:
    """Without a tests array the reporter throws and the student gets no points and no reason."""
    payload = github.error_payload("grade: no network.py\n" + FORGED, 10)
    check_payload(payload)
    assert payload["status"] == "error" and payload["max_score"] == 10
    assert payload["tests"][0]["status"] == "error"
    assert payload["tests"][0]["message"].startswith("grade: no network.py")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param(FORGED, "> " + FORGED, id="command"),
        pytest.param("  ::error::x", ">   ::error::x", id="indented-command"),
        pytest.param("ok\r::warning::x", "ok\ufffd::warning::x", id="carriage-return"),
        pytest.param("a\u2028::debug::x", "a\n> ::debug::x", id="line-separator"),
        pytest.param("x ##[notice]forged", "x ## [notice]forged", id="old-style-command"),
        pytest.param("\x1b[31mred\x1b[0m", "\ufffd[31mred\ufffd[0m", id="ansi"),
        pytest.param("a :: b", "a :: b", id="harmless-colons"),
    ],
)
def test_log_safe_breaks_workflow_commands(text: str, expected: str) -> None:
    assert github.log_safe(text) == expected
    assert_log_safe(github.log_safe(text))


def test_student_text_in_messages_cannot_forge_commands_in_any_payload() -> None:
    """Messages quote the student's files and errors: every field the reporter prints is safe."""
    hostile = f"label 'x\n{FORGED}' in my_autograd.dat\n##[add-mask]secret\r::stop-commands::t"
    result = make_result({"dat-files": hostile, "backprop-gradients": FORGED})
    check_payload(github.payload(result))
    for payload in github.runner_payloads(result).values():
        check_payload(payload)


def test_the_first_test_carries_the_notebook_after_its_feedback() -> None:
    """The reporter prints every test's test_code, the first first: the notebook's summary
    follows that test's feedback, in both the one-runner payload and its own runner; the
    other tests are as without a notebook."""
    plain = make_result({"backprop-gradients": "W3 is transposed"})
    result = plain.model_copy(update={"notebook": notebook_run()})
    payload = github.payload(result)
    check_payload(payload)
    first = payload["tests"][0]["test_code"]
    assert first == "2/2 points: all good\n\n" + notebook_text.text(notebook_run())
    assert payload["tests"][1:] == github.payload(plain)["tests"][1:]
    assert github.runner_payloads(result)["networkArchitecture"]["tests"][0]["test_code"] == first


def test_without_a_notebook_the_first_test_is_its_feedback_only() -> None:
    assert github.payload(make_result())["tests"][0]["test_code"] == "2/2 points: all good"


def test_the_notebook_in_the_log_is_bounded_and_cannot_forge_commands() -> None:
    """2,000 failed cells: cut after a whole line, pointing at the job summary; an error
    holding a workflow command is neutralised."""
    run = thousands_failed_run()
    cells = list(run.cells)
    cells[0] = cells[0].model_copy(update={"error": f"x\n{FORGED}\n##[warning]y"})
    result = make_result().model_copy(update={"notebook": run.model_copy(update={"cells": cells})})
    payload = github.payload(result)
    check_payload(payload)
    first = payload["tests"][0]["test_code"]
    assert len(first) <= github.TEST_CODE_CHARS + 2 + github.NOTEBOOK_CHARS
    assert first.endswith("\n… (cut: the job summary has it all)")
    assert "x > ::notice" not in first and "x ::notice title" in first  # one line, harmless


def test_long_messages_are_cut() -> None:
    payload = github.payload(make_result({"backprop-gradients": "x" * 100_000}))
    test = payload["tests"][2]
    assert len(test["test_code"]) <= github.TEST_CODE_CHARS
    assert len(test["message"]) <= github.MESSAGE_CHARS
    assert test["test_code"].endswith("(cut)")


# --- the step summary, pure -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("a | b", r"a \| b", id="pipe"),
        pytest.param("`x`", r"\`x\`", id="backticks"),
        pytest.param("<img src=x>", r"\<img src\=x\>", id="html"),
        pytest.param("![t](http://e/t.png)", r"\!\[t\]\(http\:\/\/e\/t\.png\)", id="image"),
        pytest.param("one\ntwo", "one<br>two", id="newline"),
    ],
)
def test_markdown_cell_shows_text_as_itself(text: str, expected: str) -> None:
    assert github.markdown_cell(text) == expected


def test_summary_is_a_table_with_a_row_per_check() -> None:
    """Student text cannot add columns or rows, or smuggle HTML, into the table."""
    result = make_result({"backprop-gradients": "a | b\n| x | y |\n<script>alert(1)</script>"})
    lines = github.summary_markdown(result).splitlines()
    assert lines[0] == "### BS6207 A1: 6 / 10 points"
    rows = [line for line in lines if line.startswith("|")]
    assert len(rows) == 2 + len(result.checks)
    for row in rows:
        assert len(re.findall(r"(?<!\\)\|", row)) == 5, row
    assert "<script>" not in "\n".join(lines)
    assert rows[4].startswith("| Backprop gradients | 0 / 4 | fail | a \\| b<br>")


def test_summary_shows_the_notebook_after_the_table() -> None:
    """Sentences as paragraphs, cells and lines as a list nested under their cell, every
    character of student text escaped."""
    result = make_result().model_copy(update={"notebook": notebook_run()})
    summary = github.summary_markdown(result)
    table, notebook = summary.split("#### Your notebook\n")
    assert table == github.summary_markdown(make_result()).split("Checked on")[0]
    assert notebook.startswith(
        "\nNotebook hw1\\.ipynb\\: 5 code cells run top to bottom\\: 2 ran\\, 2 failed\\, "
        "1 skipped\n\nThe network graded is the notebook\\'s global \\`net\\`"
    )
    assert "\nCells that raised an error \\(the next cell still ran\\)\\:\n" in notebook
    assert "\n- cell 2\\, line 2\\: NameError\\: name \\'drive\\' is not defined\n" in notebook
    assert "\n  - the cell begins\\: from google\\.colab import drive\n" in notebook
    assert "\n- cell 4\\, line 1\\: import tensorflow as tf\n\nChecked on" in notebook


def test_summary_of_a_notebook_not_used_says_why() -> None:
    result = make_result().model_copy(update={"notebook": not_used_run()})
    assert "#### Your notebook\n\nNotebook not graded\\: hw1\\.ipynb was not used\\:" in (
        github.summary_markdown(result)
    )


def test_summary_notebook_is_bounded_and_student_text_stays_text() -> None:
    """2,000 failed cells: the section stays short; an error holding table syntax, HTML or
    a list marker adds no row, tag or item."""
    run = thousands_failed_run()
    cells = list(run.cells)
    cells[0] = cells[0].model_copy(update={"error": "| a | b |\n<script>x</script>\n- item"})
    result = make_result().model_copy(update={"notebook": run.model_copy(update={"cells": cells})})
    summary = github.summary_markdown(result)
    section = summary.split("#### Your notebook")[1]
    assert len(section) < 2 * MAX_CHARS  # escaping doubles punctuation at most
    assert "<script>" not in summary
    assert "\n- cell 1\\, line 3\\: \\| a \\| b \\| \\<script\\>" in section
    assert not [line for line in section.splitlines() if line.startswith("|")]


# --- grade --github ---------------------------------------------------------------------------


@pytest.fixture
def actions_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Path]:
    """$GITHUB_OUTPUT, $GITHUB_ENV and $GITHUB_STEP_SUMMARY as GitHub Actions sets them."""
    files = {}
    for name in ("GITHUB_OUTPUT", "GITHUB_ENV", "GITHUB_STEP_SUMMARY"):
        files[name] = tmp_path / "runner" / name.lower()
        files[name].parent.mkdir(exist_ok=True)
        files[name].touch()
        monkeypatch.setenv(name, str(files[name]))
    return files


def assert_guarded(stdout: str, stderr: str) -> None:
    """stdout opens and closes a stop-commands block; no other line is a command but the
    `::error file=...` annotations of a named line, printed after the block so they count."""
    lines = stdout.splitlines()
    start = re.fullmatch(r"::stop-commands::([0-9a-f]{32})", lines[0])
    assert start, lines[0]
    end = lines.index(f"::{start.group(1)}::")
    assert all(line.startswith("::error file=") for line in lines[end + 1 :]), lines[end + 1 :]
    assert_log_safe("\n".join(lines[1:end]))
    assert_log_safe(stderr)


PLAN = {  # bs6207-a1's runners and the points of each, in its order
    "networkArchitecture": 2,
    "autogradGradients": 2,
    "backpropGradients": 4,
    "noAutograd": 1,
    "datFiles": 1,
}


def assert_every_runner_gets_none_of(
    actions_env: dict[str, Path], plan: dict[str, float], why: str
) -> None:
    """Each runner in `runners` has an error payload giving 0 of its check's points and
    saying `why`: the reporter then sends 0 of the real maximum, not nothing."""
    outputs = read_lines(actions_env["GITHUB_OUTPUT"])
    assert outputs["runners"].split(",") == list(plan)
    env = read_lines(actions_env["GITHUB_ENV"])
    for runner, points in plan.items():
        payload = decode(env[f"{runner.upper()}_RESULTS"])
        check_payload(payload)
        assert (payload["status"], payload["max_score"]) == ("error", points)
        assert payload["tests"][0]["score"] == 0 and why in payload["tests"][0]["message"]


def test_github_writes_outputs_env_and_summary(
    tmp_path: Path, actions_env: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    """A correct repository: every check passes, one runner per check, full points."""
    repo = tmp_path / "hw1-alice"
    shutil.copytree(EXAMPLES / "correct", repo)
    reports = tmp_path / "reports"
    argv = [str(repo), "--assignment", "bs6207-a1", "--reports", str(reports), "--github"]
    assert main(argv) == 0
    out = capsys.readouterr()
    assert_guarded(out.out, out.err)
    assert "hw1-alice" in out.out

    outputs = read_lines(actions_env["GITHUB_OUTPUT"])
    assert set(outputs) == {"result", "runners", "points", "max-points"}
    assert (outputs["points"], outputs["max-points"]) == ("10", "10")
    result = decode(outputs["result"])
    check_payload(result)
    assert result["status"] == "pass" and result["max_score"] == 10
    assert sum(test["score"] for test in result["tests"]) == 10

    runners = outputs["runners"].split(",")
    assert all(RUNNER_ID.match(r) for r in runners)
    env = read_lines(actions_env["GITHUB_ENV"])
    assert set(env) == {f"{r.upper()}_RESULTS" for r in runners}
    for runner in runners:
        check_payload(decode(env[f"{runner.upper()}_RESULTS"]))

    summary = actions_env["GITHUB_STEP_SUMMARY"].read_text()
    assert "10 / 10 points" in summary
    assert summary.count("| pass |") == len(result["tests"])
    assert (reports / "hw1-alice" / "report.html").exists()


def test_github_follows_the_workflows_runners(
    tmp_path: Path,
    actions_env: dict[str, Path],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """GRADE_RUNNERS lacking datFiles and naming graphExplanation (0 points in bs6207-a1, and
    not graded without graph.md): each declared runner gets a payload (graphExplanation 0 of
    0, passed, so the reporter neither throws nor fails the run), datFiles comes after them,
    and the TA is told what to set."""
    declared = "networkArchitecture,autogradGradients,backpropGradients,noAutograd,graphExplanation"
    monkeypatch.setenv("GRADE_RUNNERS", declared)
    repo = tmp_path / "hw1-alice"
    shutil.copytree(EXAMPLES / "correct", repo)
    (repo / "graph.md").unlink()
    assert main([str(repo), "--assignment", "bs6207-a1", "--reports", str(tmp_path / "r"),
                 "--github"]) == 0  # fmt: skip
    err = capsys.readouterr().err
    outputs = read_lines(actions_env["GITHUB_OUTPUT"])
    assert outputs["runners"] == f"{declared},datFiles"
    env = read_lines(actions_env["GITHUB_ENV"])
    extra = decode(env["GRAPHEXPLANATION_RESULTS"])
    check_payload(extra)
    assert (extra["status"], extra["max_score"], extra["tests"][0]["score"]) == ("pass", 0, 0)
    assert decode(env["DATFILES_RESULTS"])["max_score"] == 1
    assert "grade: warning: The workflow's GRADE_RUNNERS does not match" in err
    assert "datFiles has points but is not listed, so Classroom does not count them" in err
    summary = actions_env["GITHUB_STEP_SUMMARY"].read_text()
    assert "graphExplanation is listed but grades nothing here" in summary
    assert f"Set it to {github.markdown_cell(','.join(PLAN))} in" in summary


def test_summary_names_the_report_artifact_only_when_it_is_uploaded() -> None:
    """`upload-report: false` uploads nothing: the summary must not send students looking for
    an artifact; either way it says how their code was isolated."""
    result = make_result()
    uploaded = github.summary_markdown(result, "grade-report")
    assert "in the artifact `grade\\-report` of this run" in uploaded
    kept = github.summary_markdown(result, "")
    assert "artifact" not in kept and "not uploaded by this workflow" in kept
    for summary in (uploaded, kept):
        assert f"Your code ran isolated by: {github.markdown_cell(result.isolation)}." in summary


def test_github_student_text_never_reaches_the_log_as_a_command(
    tmp_path: Path, actions_env: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    """A folder named like a notice and a .dat label holding one are neutralised everywhere."""
    repo = tmp_path / FORGED.replace("/", "")
    shutil.copytree(EXAMPLES / "transposed_weight_grads", repo)
    dat = repo / "my_autograd.dat"
    dat.write_text(f"##[notice title=Autograding report]{{}} {FORGED}\n" + dat.read_text())
    assert main([str(repo), "--assignment", "bs6207-a1", "--reports", str(tmp_path / "r"),
                 "--github"]) == 0  # fmt: skip
    out = capsys.readouterr()
    assert_guarded(out.out, out.err)
    outputs = read_lines(actions_env["GITHUB_OUTPUT"])
    result = decode(outputs["result"])
    check_payload(result)
    assert result["status"] == "fail"
    assert outputs["points"] == "5"
    env = read_lines(actions_env["GITHUB_ENV"])
    backprop = decode(env["BACKPROPGRADIENTS_RESULTS"])
    assert backprop["max_score"] == 4 and backprop["tests"][0]["score"] == 0
    assert "transposed" in backprop["tests"][0]["test_code"]


def test_github_shows_how_a_notebook_ran(
    tmp_path: Path, actions_env: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    """A notebook whose middle cell raises, graded for real: full points; the failed cell in
    the job summary and under the first test the reporter prints, in both payloads."""
    repo = make_notebook("broken_middle_cell", tmp_path)
    argv = [str(repo), "--assignment", "bs6207-a1", "--reports", str(tmp_path / "r"), "--github"]
    assert main(argv) == 0
    out = capsys.readouterr()
    assert_guarded(out.out, out.err)
    summary = actions_env["GITHUB_STEP_SUMMARY"].read_text()
    assert "10 / 10 points" in summary
    failed = rf"- cell {BROKEN_CELL}\\, line \d\\: ZeroDivisionError\\: float division by zero"
    assert re.search(rf"#### Your notebook\n\nNotebook hw1\\.ipynb\\: (.*\n)+{failed}\n", summary)
    outputs = read_lines(actions_env["GITHUB_OUTPUT"])
    result = decode(outputs["result"])
    check_payload(result)
    first = result["tests"][0]["test_code"]
    assert re.search(rf"\n\nNotebook hw1\.ipynb: (.*\n)+- cell {BROKEN_CELL}, line \d: Zero", first)
    assert not [t for t in result["tests"][1:] if "Notebook" in t["test_code"]]
    env = read_lines(actions_env["GITHUB_ENV"])
    runner = decode(env["NETWORKARCHITECTURE_RESULTS"])
    check_payload(runner)
    assert runner["tests"][0]["test_code"] == first


def test_github_refuses_a_folder_of_several_submissions(
    tmp_path: Path, actions_env: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    """One payload describes one student: a class folder (its folders each hold the files) is
    an error, still with a payload, naming the folders and the path input."""
    for name in ("correct", "transposed_weight_grads"):
        shutil.copytree(EXAMPLES / name, tmp_path / "class" / name)
    argv = [str(tmp_path / "class"), "--assignment", "bs6207-a1", "--github"]
    assert main(argv) == 2
    out = capsys.readouterr()
    assert_guarded(out.out, out.err)
    assert "2 folders hold network.py, backprop.py or a notebook: correct/, " in out.err
    assert "transposed_weight_grads/; grade grades one" in out.err
    assert "the grade step's input path: correct)" in out.err
    outputs = read_lines(actions_env["GITHUB_OUTPUT"])
    result = decode(outputs["result"])
    check_payload(result)
    assert result["status"] == "error" and result["max_score"] == 10
    assert_every_runner_gets_none_of(actions_env, PLAN, "2 folders hold network.py, backprop.py")
    assert "could not grade" in actions_env["GITHUB_STEP_SUMMARY"].read_text()


def test_github_an_empty_repository_gets_an_error_payload(
    tmp_path: Path, actions_env: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "repo").mkdir()
    (tmp_path / "repo" / "README.md").write_text("hello")
    assert main([str(tmp_path / "repo"), "--assignment", "bs6207-a1", "--github"]) == 2
    capsys.readouterr()
    result = decode(read_lines(actions_env["GITHUB_OUTPUT"])["result"])
    check_payload(result)
    assert "holds neither" in result["tests"][0]["message"]


def test_github_a_crash_of_grade_is_an_error_payload(
    tmp_path: Path,
    actions_env: dict[str, Path],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A bug in grade: the student is told, and the traceback in the log is harmless."""

    def crash(name: str) -> None:
        raise RuntimeError(f"boom\n{FORGED}")

    monkeypatch.setattr("grader.cli.load_assignment", crash)
    assert main([str(tmp_path), "--assignment", "bs6207-a1", "--github"]) == 1
    out = capsys.readouterr()
    assert_guarded(out.out, out.err)
    assert "Traceback" in out.err and "> " + FORGED in out.err
    result = decode(read_lines(actions_env["GITHUB_OUTPUT"])["result"])
    check_payload(result)
    assert result["tests"][0]["test_code"].startswith("grade crashed (RuntimeError: boom")


def test_github_without_github_output_names_the_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("GITHUB_OUTPUT", raising=False)
    assert main([str(tmp_path), "--assignment", "bs6207-a1", "--github"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("grade: error: $GITHUB_OUTPUT is not set")


def test_github_with_an_unwritable_github_output_names_the_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("GITHUB_OUTPUT", str(tmp_path))  # a folder
    assert main([str(tmp_path), "--assignment", "bs6207-a1", "--github"]) == 2
    err = capsys.readouterr().err
    assert re.match(rf"grade: error: \$GITHUB_OUTPUT \({re.escape(str(tmp_path))}\): cannot", err)


# --- action.yml and the template workflow -------------------------------------------------


def load_yaml(path: Path) -> dict[Any, Any]:
    data: dict[Any, Any] = yaml.safe_load(path.read_text(encoding="utf-8"))
    return data


def steps_by_id(steps: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {step["id"]: step for step in steps if "id" in step}


def test_action_is_a_composite_that_installs_from_its_own_checkout() -> None:
    action = load_yaml(ACTION)
    assert action["runs"]["using"] == "composite"
    steps = action["runs"]["steps"]
    ids = steps_by_id(steps)
    assert ids["python"]["uses"].startswith("actions/setup-python@")
    assert ids["python"]["with"]["update-environment"] is False
    install = next(s for s in steps if s.get("name") == "Install grade")
    assert '-c "$GITHUB_ACTION_PATH/constraints.txt"' in install["run"]
    assert '"$GITHUB_ACTION_PATH"' in install["run"]
    assert 'venv="$RUNNER_TEMP/grade-venv"' in install["run"]
    grade = ids["grade"]["run"]
    assert "grade-venv/bin/grade" in grade and "--github" in grade
    assert '--assignment "$GRADE_ASSIGNMENT"' in grade
    assert ids["grade"]["env"]["GRADE_ASSIGNMENT"] == "${{ inputs.assignment }}"
    for step in steps:  # inputs reach scripts through env, never spliced into the script
        assert "${{" not in step.get("run", ""), step.get("name")
        assert step.get("shell", "bash") == "bash"
    used = set(re.findall(r"inputs\.([A-Za-z0-9_-]+)", ACTION.read_text()))
    assert used <= set(action["inputs"])
    outputs = action["outputs"]
    assert "steps.grade.outputs.result" in outputs["result"]["value"]
    assert "steps.grade.outputs.runners" in outputs["runners"]["value"]


def run_step(step: dict[str, Any], tmp_path: Path, **env: str) -> dict[str, str]:
    """Run an action step's script as the runner would (bash -e, its env, GITHUB_ACTION_PATH
    the checkout, Python without site-packages: grade is not installed yet); its outputs."""
    python = tmp_path / "python-without-packages"
    python.write_text(f'#!/bin/sh\nexec {sys.executable} -S "$@"\n')
    python.chmod(0o755)
    values = {"GRADE_PYTHON": str(python), "GRADE_ASSIGNMENT": "bs6207-a1"}
    variables = {name: values.get(name, value) for name, value in step.get("env", {}).items()} | {
        "GITHUB_OUTPUT": str(tmp_path / "out"),
        "GITHUB_ENV": str(tmp_path / "env"),
        "GITHUB_ACTION_PATH": str(ROOT),
        "PATH": "/usr/bin:/bin",
        **env,
    }
    subprocess.run(["bash", "-e", "-c", step["run"]], env=variables, check=True, cwd=tmp_path)
    return read_lines(tmp_path / "out")


@pytest.mark.parametrize("step", ["pending", "fallback"])
def test_action_sets_every_runner_to_none_of_its_points_before_grade_reports(
    step: str, tmp_path: Path
) -> None:
    """Before grade is installed (`pending`, the first step after Python) and when it could
    not run (`fallback`), every check's runner gets 0 of its points and the reason, read with
    the standard library alone: the reporter then sends 0 of 10, never nothing."""
    steps = load_yaml(ACTION)["runs"]["steps"]
    found = steps_by_id(steps)[step]
    if step == "pending":
        assert steps.index(found) == 1 and "if" not in found
    else:
        assert "failure()" in found["if"]
    outputs = run_step(found, tmp_path)
    why = "did not finish" if step == "pending" else "could not be installed"
    written = {"GITHUB_OUTPUT": tmp_path / "out", "GITHUB_ENV": tmp_path / "env"}
    assert_every_runner_gets_none_of(written, PLAN, why)
    whole = decode(outputs["result"])
    check_payload(whole)
    assert (whole["status"], whole["max_score"]) == ("error", 10)


def test_action_pending_follows_the_workflows_runners(tmp_path: Path) -> None:
    """The workflow's GRADE_RUNNERS come first, each with a payload (0 of 0 for one that is no
    check with points); a check with points it lacks is added after them."""
    pending = steps_by_id(load_yaml(ACTION)["runs"]["steps"])["pending"]
    outputs = run_step(pending, tmp_path, GRADE_RUNNERS="datFiles, graphExplanation")
    assert outputs["runners"].split(",") == ["datFiles", "graphExplanation", *list(PLAN)[:-1]]
    env = read_lines(tmp_path / "env")
    assert decode(env["GRAPHEXPLANATION_RESULTS"])["max_score"] == 0
    assert decode(env["DATFILES_RESULTS"])["max_score"] == 1


def test_action_pending_on_an_unreadable_assignment_says_so(tmp_path: Path) -> None:
    """A TOML that cannot be read: one runner, `grade`, whose reason names the file."""
    (tmp_path / "broken.toml").write_text("[points\n")
    pending = steps_by_id(load_yaml(ACTION)["runs"]["steps"])["pending"]
    outputs = run_step(pending, tmp_path, GRADE_ASSIGNMENT="broken.toml")
    assert outputs["runners"] == "grade"
    payload = decode(read_lines(tmp_path / "env")["GRADE_RESULTS"])
    assert "the assignment cannot be read" in payload["tests"][0]["message"]


def test_action_walls_student_code_in_and_caches_its_packages() -> None:
    """The sandbox step lifts Ubuntu 24.04's AppArmor restriction on user namespaces and checks
    that bubblewrap's walls come up; the venv is cached on the pins and the exact Python; the
    report artifact is named to grade only when it is uploaded."""
    steps = load_yaml(ACTION)["runs"]["steps"]
    walls = next(s for s in steps if s.get("name") == "Wall student code in")
    assert "kernel.apparmor_restrict_unprivileged_userns=0" in walls["run"]
    assert "bwrap --unshare-all" in walls["run"]
    ids = steps_by_id(steps)
    assert "constraints.txt" in ids["venv-key"]["run"]
    assert "python-version" in ids["venv-key"]["env"]["GRADE_PYTHON_VERSION"]
    assert ids["venv"]["uses"].startswith("actions/cache@")
    assert ids["grade"]["env"]["GRADE_REPORT_ARTIFACT"] == (
        "${{ inputs.upload-report == 'true' && 'grade-report' || '' }}"
    )


def test_template_workflow_wires_grade_to_the_reporter() -> None:
    """The reporter reads the runners the workflow itself names (known before grading
    starts): bs6207-a1's checks with points; the step ids match; Classroom's triggers and job
    id are kept; the path input is shown."""
    workflow = load_yaml(WORKFLOW)
    assert {"push", "repository_dispatch"} <= set(workflow["on"])
    job = workflow["jobs"]["run-autograding-tests"]
    assert job["env"]["GRADE_RUNNERS"] == ",".join(PLAN)
    steps = job["steps"]
    assert steps[0]["uses"].startswith("actions/checkout@")
    grade = steps_by_id(steps)["grade"]
    assert re.fullmatch(r"[\w.-]+/grade@[\w.-]+", grade["uses"])
    assert grade["with"] == {"assignment": "bs6207-a1", "path": "."}
    reporter = steps[-1]
    assert reporter["uses"] == "classroom-resources/autograding-grading-reporter@v1"
    assert reporter["if"] == "always()"
    assert reporter["with"]["runners"] == "${{ env.GRADE_RUNNERS }}"


def test_template_readme_one_runner_wiring_matches_the_result_output() -> None:
    """The README's alternative: env <RUNNER>_RESULTS from the `result` output, runners grade."""
    text = (ROOT / "docs" / "classroom.md").read_text(encoding="utf-8")
    block = re.search(r"```yaml\n(.*?)```", text, re.DOTALL)
    assert block
    step = yaml.safe_load(block.group(1))[0]
    runner = step["with"]["runners"]
    assert RUNNER_ID.match(runner)
    assert step["env"] == {f"{runner.upper()}_RESULTS": "${{ steps.grade.outputs.result }}"}
