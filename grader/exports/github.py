"""GitHub Classroom: what `grade PATH --github` hands to the workflow.

GitHub Classroom reads a student's points from the notices that
`classroom-resources/autograding-grading-reporter@v1` prints; the reporter reads, per runner id
in its `runners` input, an environment variable `<RUNNER ID IN CAPITALS>_RESULTS` holding a
base64 JSON payload (shared/docs/integrations.md §1.6, §1.7):

    {"version": 1, "status": "pass"|"fail"|"error", "max_score": N,
     "tests": [{"name", "status", "score", "message", "test_code", "filename", "line_no",
                "duration"}]}

`grade --github` writes, for the job:

- `$GITHUB_OUTPUT`: `result=<payload of every check>` (one runner), `runners=<one runner id per
  check>`, `points=` and `max-points=`;
- `$GITHUB_ENV`: `<RUNNER>_RESULTS=<payload of one check>` for each id in `runners`, so the
  reporter's table shows each check's points (with one runner it shows the fraction of tests
  passed times the maximum, not the points: the reporter's issue #10);
- `$GITHUB_STEP_SUMMARY`: a Markdown table of points and messages.

The reporter prints test names, `test_code` and (for `error` only) `message` to the job log,
where a line starting with `::` or holding `##[` is a workflow command: student text (messages
quote their files and errors) is passed through `log_safe` before it goes anywhere the log can
see, and `guarded_log` wraps what `grade` itself prints in `::stop-commands::<random token>`.
"""

from __future__ import annotations

import io
import re
import secrets
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, TextIO

from grader.errors import GradeError
from grader.exports import location_text, notebook_text, runners
from grader.exports.runners import encode, runner_id
from grader.printable import printable
from grader.result import CheckResult, GradeResult, Location, NotebookRun

OUTPUT, ENV, SUMMARY = "GITHUB_OUTPUT", "GITHUB_ENV", "GITHUB_STEP_SUMMARY"
ARTIFACT = "GRADE_REPORT_ARTIFACT"  # set by the action to the artifact's name when it uploads one
TEST_CODE_CHARS = 600  # the short feedback the reporter prints under a failed test
MESSAGE_CHARS = 3000  # what it prints for an error; step outputs are capped at 1 MB per job
CELL_CHARS = 1500  # one cell of the step summary (1 MiB per step at most)
NOTEBOOK_CHARS = 2500  # a notebook's summary under the first test in the reporter's log


def _printable(text: str) -> str:
    """`text` with control characters (but newlines and tabs) and direction overrides made �.

    Carriage returns go too: the runner would read `a\\r::notice` as two lines."""
    return printable(text, keep="\n\t", replacement="\ufffd")


def log_safe(text: str) -> str:
    """`text` that cannot be read as a workflow command when it is printed to a job log.

    The runner takes a line whose first non-blank characters are `::` as a command, and `##[`
    anywhere in a line as an old-style one: such lines get a leading `> `, `##[` becomes `## [`.
    """
    lines = []
    for line in _printable(text).splitlines():
        line = line.replace("##[", "## [")
        lines.append(f"> {line}" if line.lstrip().startswith("::") else line)
    return "\n".join(lines)


def cut(text: str, limit: int) -> str:
    """`text`, at most `limit` characters, the cut marked (cutting a log-safe text keeps it so)."""
    return text if len(text) <= limit else text[: limit - 12].rstrip() + " … (cut)"


def cut_lines(text: str, limit: int, more: str) -> str:
    """`text`, at most `limit` characters, cut after its last whole line that fits and
    followed by `more` (which must fit too)."""
    if len(text) <= limit:
        return text
    kept = text[: limit - len(more) - 1].rsplit("\n", 1)[0]
    return f"{kept}\n{more}"


def feedback(check: CheckResult) -> str:
    """The check's message and the mistakes diagnosed that it does not already name."""
    named = [d.message for d in check.diagnoses if d.message not in check.message]
    return "\n".join([check.message, *named])


def _where(check: CheckResult) -> str:
    """`at backprop.py, line 18: SENTENCE` when the check names a line, else ""."""
    return "" if check.location is None else location_text.failure_text(check.location)


def annotation_file(location: Location, folder: str, below: str = "") -> str:
    """The annotated file, relative to the repository root: the submission's folder as given
    (`.` adds nothing), the folder below it that was graded (`hw1`, grader.homework) and the
    file. A notebook's file is the .ipynb itself."""
    return str(PurePosixPath(folder.replace("\\", "/")) / below / location.file)


def _property(text: str) -> str:
    """A workflow command's property value: % CR LF : , are percent-encoded."""
    return (
        _printable(text)
        .replace("%", "%25")
        .replace("\r", "%0D")
        .replace("\n", "%0A")
        .replace(":", "%3A")
        .replace(",", "%2C")
    )


def _data(text: str) -> str:
    """A workflow command's message: % CR LF are percent-encoded."""
    return _printable(text).replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def workflow_annotations(result: GradeResult, folder: str) -> list[str]:
    """`::error file=...,line=...,title=...::SENTENCE` for each check that names a line, printed
    after the log's commands resume so the runner reads it. A notebook's cell line is not a
    line of the .ipynb file: its annotation names the file alone, the cell in the message."""
    found = []
    for check in result.checks:
        if check.location is None:
            continue
        where = check.location
        line = "" if where.cell is not None else f",line={where.line}"
        if where.cell is None and where.end_line is not None and where.end_line > where.line:
            line += f",endLine={where.end_line}"
        title = f"{check.name}: {location_text.place(where)}"
        message = f"{location_text.place(where)}: {where.sentence}"
        found.append(
            f"::error file={_property(annotation_file(where, folder, result.folder))}{line}"
            f",title={_property(cut(title, 200))}::{_data(cut(message, MESSAGE_CHARS))}"
        )
    return found


def _test(
    check: CheckResult, duration_ms: int, after: str = "", folder: str = "."
) -> dict[str, Any]:
    """The check as the reporter's test; `after` (log-safe) follows its feedback."""
    points = f"{check.score:g}/{check.max_score:g} points"
    where = _where(check)
    text = feedback(check) + (f"\n{where}" if where else "")
    return {
        "name": cut(log_safe(check.name), 200),
        "status": check.status,
        "score": runners.number(check.score),
        "message": cut(log_safe("\n".join([text, *check.details])), MESSAGE_CHARS),
        # the only text the reporter prints for a failed test
        "test_code": cut(log_safe(f"{points}: {text}"), TEST_CODE_CHARS) + after,
        "filename": (
            "" if check.location is None else log_safe(annotation_file(check.location, folder))
        ),
        "line_no": 0 if check.location is None or check.location.cell else check.location.line,
        "duration": duration_ms,
    }


def _status(checks: list[CheckResult]) -> str:
    return "pass" if all(check.status == "pass" for check in checks) else "fail"


def payload(result: GradeResult, folder: str = ".") -> dict[str, Any]:
    """The reporter's payload for one graded submission: one test per check.

    A test passes when its check passes (and so earns its points, the rule `score == max`
    the reporter assumes); `error` (the student's code could not run) keeps its status, so the
    reporter prints the message. `duration` is the whole grading in ms: the checks share one
    run of the student's code. A notebook's summary follows the first test's feedback: the
    reporter prints every test's `test_code`, and that one first."""
    duration = round(result.timings.get("total", 0.0) * 1000)
    notebook = ""
    if result.notebook is not None:
        text = log_safe(notebook_text.text(result.notebook))
        notebook = "\n\n" + cut_lines(text, NOTEBOOK_CHARS, "… (cut: the job summary has it all)")
    tests = [
        _test(c, duration, notebook if i == 0 else "", folder) for i, c in enumerate(result.checks)
    ]
    return {
        "version": 1,
        "status": _status(result.checks),
        "max_score": runners.number(result.max_score),
        "tests": tests,
    }


def runner_payloads(result: GradeResult, folder: str = ".") -> dict[str, dict[str, Any]]:
    """One payload per check, by runner id: the reporter then shows each check's points."""
    whole = payload(result, folder)
    return {
        runner_id(check.id): {
            "version": 1,
            "status": test["status"],
            "max_score": runners.number(check.max_score),
            "tests": [test],
        }
        for check, test in zip(result.checks, whole["tests"], strict=True)
    }


def error_payload(message: str, max_score: float = 0) -> dict[str, Any]:
    """A runner's payload when grading could not finish: 0 of `max_score`, status `error`,
    the message made log-safe (the reporter prints it)."""
    return runners.error_payload(
        cut(log_safe(message), MESSAGE_CHARS), cut(log_safe(message), TEST_CODE_CHARS), max_score
    )


def markdown_cell(text: str) -> str:
    """Text shown as itself in a Markdown table cell: every ASCII punctuation mark
    backslash-escaped (no `|`, code, HTML, links or images get through), lines joined by
    `<br>`."""
    escaped = re.sub(r"([!-/:-@\[-`{-~])", r"\\\1", _printable(text))
    return "<br>".join(line.strip() for line in escaped.splitlines())


def notebook_markdown(run: NotebookRun) -> list[str]:
    """The notebook's summary as Markdown lines: sentences as paragraphs, items as a list
    (nested under their item), every line's text escaped as a table cell's is."""
    lines = ["#### Your notebook"]
    for line in notebook_text.lines(run):
        text = markdown_cell(line.text)
        lines += ["", text] if line.depth == 0 else ["  " * (line.depth - 1) + f"- {text}"]
    return lines


def summary_markdown(result: GradeResult, artifact: str = "") -> str:
    """The job summary: the score, then a table of every check's points and message, then
    how a notebook ran, the isolation the student's code ran under, and where report.html is
    (the artifact `artifact` of the run, when the action uploads one)."""
    lines = [
        f"### {markdown_cell(result.assignment_title)}: "
        f"{result.score:g} / {result.max_score:g} points",
        "",
        "| check | points | status | what to fix |",
        "|---|---:|---|---|",
    ]
    for check in result.checks:
        lines.append(
            f"| {markdown_cell(check.name)} | {check.score:g} / {check.max_score:g} "
            f"| {check.status} | {markdown_cell(cut(feedback(check), CELL_CHARS))} |"
        )
    if result.notebook is not None:
        lines += ["", *notebook_markdown(result.notebook)]
    if result.found:  # the homework was in a folder of the repository (grader.homework)
        lines += ["", markdown_cell(result.found[:1].upper() + result.found[1:] + ".")]
    report = (
        f"in the artifact `{markdown_cell(artifact)}` of this run"
        if artifact
        else "not uploaded by this workflow (its `upload-report` is false)"
    )
    lines += [
        "",
        f"Checked on the published inputs and hidden seeds "
        f"{', '.join(map(str, result.seeds.hidden))}, to {result.sig_figs} significant "
        "figures. The full report, every tensor entry by entry, is `report.html`: "
        f"{report}.",
        "",
        f"Your code ran isolated by: {markdown_cell(result.isolation)}.",
        "",
    ]
    return "\n".join(lines)


def error_summary(message: str) -> str:
    """The job summary when grading could not finish."""
    return f"### grade could not grade this repository\n\n{markdown_cell(message)}\n"


def _not_a_check(runner: str, assignment: str) -> dict[str, Any]:
    """A runner the workflow declares that the assignment does not grade: 0 of 0, passed, so
    the reporter neither throws nor fails the student's run for the TA's list."""
    text = log_safe(f"{runner} is not a check of {assignment} with points: no points here")
    test = runners.error_payload(text, text, 0)["tests"][0] | {"name": runner, "status": "pass"}
    return {"version": 1, "status": "pass", "max_score": 0, "tests": [test]}


def declared_mismatch(declared: list[str], payloads: Mapping[str, dict[str, Any]]) -> str:
    """What the TA must fix when the workflow's runner list and the assignment's checks
    differ, or ""."""
    if not declared:
        return ""
    scored = [r for r, p in payloads.items() if p["max_score"]]
    problems = [f"{r} has points but is not listed, so Classroom does not count them"
                for r in scored if r not in declared]  # fmt: skip
    problems += [f"{r} is listed but grades nothing here" for r in declared if r not in payloads]
    if not problems:
        return ""
    return (
        f"The workflow's {runners.DECLARED} does not match the assignment: "
        f"{'; '.join(problems)}. Set it to {','.join(scored)} in "
        ".github/workflows/classroom.yml (`grade starter --classroom` writes it)."
    )


@dataclass(frozen=True)
class Classroom:
    """Everything `grade --github` hands to the workflow for one submission."""

    result: dict[str, Any]  # every check in one runner: the `result` output
    runners: dict[str, dict[str, Any]]  # runner id -> its payload, for $GITHUB_ENV
    summary: str  # Markdown for $GITHUB_STEP_SUMMARY
    points: float
    max_points: float
    annotations: tuple[str, ...] = ()  # printed once the log's commands resume
    warning: str = ""  # for the TA: the workflow's runners do not match the assignment

    @classmethod
    def graded(
        cls,
        result: GradeResult,
        folder: str = ".",
        declared: list[str] | None = None,
        artifact: str = "",
    ) -> Classroom:
        """`folder`: the submission's folder relative to the repository root, as given;
        `declared`: the workflow's runner ids (`GRADE_RUNNERS`), each of which gets a payload;
        `artifact`: the name report.html is uploaded under, if it is."""
        declared = declared or []
        payloads = runner_payloads(result, folder)
        warning = declared_mismatch(declared, payloads)
        payloads |= {r: _not_a_check(r, result.assignment) for r in declared if r not in payloads}
        order = [*declared, *(r for r in payloads if r not in declared)]
        summary = summary_markdown(result, artifact)
        return cls(
            payload(result, folder),
            {r: payloads[r] for r in order},
            summary + (f"\n> {markdown_cell(warning)}\n" if warning else ""),
            result.score,
            result.max_score,
            tuple(workflow_annotations(result, folder)),
            warning,
        )

    @classmethod
    def failed(
        cls,
        message: str,
        plan: Mapping[str, float] | None = None,
        declared: list[str] | None = None,
    ) -> Classroom:
        """Grading could not finish: every runner (the workflow's, and each check with points)
        gets 0 of its points and the reason; one runner, `grade`, when none is known."""
        plan = plan or {}
        ids = runners.runner_ids(plan, declared or [])
        payloads = {r: error_payload(message, plan.get(r, 0)) for r in ids}
        total = sum(plan.values())
        return cls(error_payload(message, total), payloads, error_summary(message), 0, total)


def _target(environ: Mapping[str, str], name: str) -> Path | None:
    """The file $name names, checked to be writable; None when the variable is unset."""
    value = environ.get(name, "")
    if not value:
        return None
    try:
        with Path(value).open("a", encoding="utf-8"):
            pass
    except OSError as error:
        raise GradeError(
            f"${name} ({value}): cannot be written: {error.strerror or error}"
        ) from None
    return Path(value)


@dataclass(frozen=True)
class Targets:
    """The files GitHub Actions names for a step's outputs, environment and summary."""

    output: Path
    env: Path | None
    summary: Path | None

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> Targets:
        """Checked before grading: $GITHUB_OUTPUT must name a writable file; the other two
        are written when set. Raises GradeError naming the variable."""
        output = _target(environ, OUTPUT)
        if output is None:
            raise GradeError(
                f"${OUTPUT} is not set: --github writes the Classroom result to the file GitHub "
                f"Actions names in ${OUTPUT}; run it in a workflow step, or set {OUTPUT}=FILE "
                "to try it locally"
            )
        return cls(output, _target(environ, ENV), _target(environ, SUMMARY))

    def write(self, classroom: Classroom) -> None:
        """Append the outputs; `runners` only with the variables it names ($GITHUB_ENV)."""
        lines = [f"result={encode(classroom.result)}"]
        if self.env is not None:
            _append(
                self.env,
                [f"{r.upper()}_RESULTS={encode(p)}" for r, p in classroom.runners.items()],
            )
            lines.append(f"runners={','.join(classroom.runners)}")
        lines += [f"points={classroom.points:g}", f"max-points={classroom.max_points:g}"]
        _append(self.output, lines)
        if self.summary is not None:
            _append(self.summary, [classroom.summary])


def _append(path: Path, lines: list[str]) -> None:
    with path.open("a", encoding="utf-8") as file:
        file.write("".join(f"{line}\n" for line in lines))


class _SafeLines(io.TextIOBase):
    """A text stream that passes each complete line through `log_safe` to `target`."""

    def __init__(self, target: TextIO) -> None:
        self._target = target
        self._pending = ""

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        *lines, self._pending = (self._pending + text).split("\n")
        for line in lines:
            self._target.write(log_safe(line) + "\n")
        return len(text)

    def flush(self) -> None:
        self._target.flush()

    def finish(self) -> None:
        if self._pending:
            self._target.write(log_safe(self._pending) + "\n")
            self._pending = ""
        self._target.flush()


@contextmanager
def guarded_log() -> Iterator[None]:
    """While inside: workflow commands are off in the job log (`::stop-commands::` with a
    token nobody can guess, resumed at the end), and every line `grade` prints to stdout or
    stderr goes through `log_safe`. Student code never writes here (its output is piped),
    but could reach the log through /proc without a sandbox: the stop covers that."""
    token = secrets.token_hex(16)
    out, err = sys.stdout, sys.stderr
    out.write(f"::stop-commands::{token}\n")
    out.flush()
    safe_out, safe_err = _SafeLines(out), _SafeLines(err)
    sys.stdout, sys.stderr = safe_out, safe_err
    try:
        yield
    finally:
        safe_out.finish()
        safe_err.finish()
        sys.stdout, sys.stderr = out, err
        out.write(f"::{token}::\n")
        out.flush()
