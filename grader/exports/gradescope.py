"""Gradescope: the autograder zip `grade gradescope` builds, and what runs inside it.

Gradescope unpacks the zip into /autograder/source, runs `setup.sh` once when it builds the
image, then `run_autograder` for every submission, which must leave
/autograder/results/results.json (shared/docs/integrations.md §3):

    {"score", "execution_time", "output", "output_format", "visibility", "stdout_visibility",
     "tests": [{"number", "name", "score", "max_score", "status": "passed"|"failed", "output",
                "tags", "visibility"}]}

`run_autograder` calls `python -m grader.exports.gradescope`, which grades
/autograder/submission and writes results.json once, atomically, whatever happens: a
submission that cannot be graded, or a crash of grade itself, gives a zero with the reason.
$GRADE_AUTOGRADER_ROOT stands in for /autograder (the tests use it).
"""

from __future__ import annotations

import argparse
import io
import json
import os
import re
import sys
import tempfile
import time
import traceback
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from grader import api
from grader.assignment import Assignment, load_assignment
from grader.errors import GradeError
from grader.exports import location_text, notebook_text
from grader.exports.github import feedback
from grader.files import write_atomic
from grader.presets import assignment_file
from grader.result import CheckResult, GradeResult

ROOT_VARIABLE = "GRADE_AUTOGRADER_ROOT"
DEFAULT_ROOT = Path("/autograder")
VISIBILITIES = ("visible", "after_due_date", "after_published", "hidden")
SOURCE = Path(__file__).resolve().parents[2]  # the checkout grade runs from
TEMPLATES = Path(__file__).parent / "autograder"
BUNDLED = ("pyproject.toml", "constraints.txt", "README.md")  # beside grader/ and reference/
PRINTED_CHARS = 4000  # of what the student's code printed, in the overall output
ZIP_TIME = (1980, 1, 1, 0, 0, 0)  # the same zip, byte for byte, from the same source


# --- results.json --------------------------------------------------------------------------


def _where(check: CheckResult) -> list[str]:
    """The line the mistake is on, when one was named (plain text: the test's output is text)."""
    return [] if check.location is None else [location_text.failure_text(check.location)]


def _test(number: int, check: CheckResult, visibility: str) -> dict[str, Any]:
    return {
        "number": str(number),
        "name": check.name,
        "score": check.score,
        "max_score": check.max_score,
        "status": "passed" if check.status == "pass" else "failed",
        "output": "\n".join([feedback(check), *_where(check), *(f"- {d}" for d in check.details)]),
        "tags": [check.id],
        "visibility": visibility,
    }


def _fenced(text: str) -> str:
    """`text` as a Markdown code block no backtick run in it can close."""
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}text\n{text}\n{fence}"


def _overview(result: GradeResult) -> str:
    """The overall output (Markdown): the score, the seeds, the isolation, how a notebook
    ran (the student never sees report.html here) and what was printed; student text only
    inside code blocks."""
    hidden = ", ".join(map(str, result.seeds.hidden)) or "none"
    lines = [
        f"**{result.assignment_title}**: {result.score:g} / {result.max_score:g} points",
        "",
        f"Each check below says what to fix. Gradients were compared to "
        f"{result.sig_figs} significant figures on the published inputs (seed "
        f"{result.seeds.published}) and on hidden seeds {hidden}.",
        "",
        f"Isolation of your code: {result.isolation}.",
    ]
    if result.found:
        lines += ["", f"Your files: {result.found}."]
    if result.notebook is not None:
        lines += ["", "Your notebook:", "", _fenced(notebook_text.text(result.notebook))]
    printed = result.output
    if printed.strip():
        if len(printed) > PRINTED_CHARS:
            half = PRINTED_CHARS // 2
            printed = f"{printed[:half]}\n[... cut ...]\n{printed[-half:]}"
        lines += ["", "What your code printed:", "", _fenced(printed)]
    return "\n".join(lines)


def results_json(
    result: GradeResult, execution_time: float = 0.0, visibility: str = "visible"
) -> dict[str, Any]:
    """Gradescope's results.json for one graded submission: one test per check.

    A test passes when its check passes, and only then earns its points, as in `grade`."""
    return {
        "score": result.score,
        "execution_time": round(execution_time),
        "output": _overview(result),
        "output_format": "md",
        "visibility": visibility,
        "stdout_visibility": "hidden",
        "tests": [_test(n, check, visibility) for n, check in enumerate(result.checks, 1)],
        "extra_data": {
            "student": result.student,
            "assignment": result.assignment,
            "seeds": result.seeds.model_dump(),
            "isolation": result.isolation,
            "versions": result.versions,
        },
    }


def error_results(
    message: str, execution_time: float = 0.0, max_score: float = 0.0, visibility: str = "visible"
) -> dict[str, Any]:
    """results.json when the submission could not be graded: a zero and the reason, as one
    failed test worth the whole assignment, so the student sees what is missing."""
    return {
        "score": 0.0,
        "execution_time": round(execution_time),
        "output": message,
        "output_format": "text",
        "visibility": visibility,
        "stdout_visibility": "hidden",
        "tests": [
            {
                "number": "1",
                "name": "The submission could be graded",
                "score": 0.0,
                "max_score": max_score,
                "status": "failed",
                "output": message,
                "visibility": visibility,
            }
        ],
    }


# --- run_autograder ------------------------------------------------------------------------


def student_name(metadata_path: Path) -> str:
    """The folder name a submission is graded under, which its hidden seeds derive from:
    `gradescope-<user id>[-<user id>...]` from submission_metadata.json, so each student (or
    group) keeps their seeds across resubmissions; `submission` without the file."""
    try:
        metadata = json.loads(metadata_path.read_text(encoding="utf-8"))
        ids = [str(user["id"]) for user in metadata["users"]]
    except (OSError, ValueError, KeyError, TypeError):
        return "submission"
    safe = [re.sub(r"[^A-Za-z0-9]", "", i) for i in ids]
    return "gradescope-" + "-".join(i for i in safe if i) if any(safe) else "submission"


def _named(uploaded: Path, into: Path, name: str, spec: Assignment) -> Path:
    """The upload under the name `name`: a link to it, which grading reads as the folder it
    names (nothing of the upload is copied, so what is in it, links and all, is read as
    `grade` reads any submission). Grading finds the homework in it, or in the one folder of
    it that holds the contract's files (students often zip a folder; grader.homework)."""
    (into / name).symlink_to(api.submission(uploaded, spec).resolve(), target_is_directory=True)
    return into / name


def run(root: Path, assignment: str, visibility: str = "visible") -> dict[str, Any]:
    """Grade root/submission and write root/results/results.json; return what was written."""
    started = time.monotonic()
    max_score = 0.0
    try:
        spec = load_assignment(assignment)
        max_score = sum(spec.points.model_dump().values())
        uploaded = root / "submission"
        with tempfile.TemporaryDirectory(prefix="grade-") as temp:
            name = student_name(root / "submission_metadata.json")
            folder = _named(uploaded, Path(temp), name, spec)
            result = api.grade_submission(folder, spec, Path(temp) / "reports")
        print(f"{result.student}: {result.score:g} / {result.max_score:g}")
        results = results_json(result, time.monotonic() - started, visibility)
    except GradeError as error:
        print(f"grade: error: {error}")
        results = error_results(
            f"Your submission could not be graded: {error}",
            time.monotonic() - started,
            max_score,
            visibility,
        )
    except Exception as error:  # a bug in grade: the student still gets results.json
        traceback.print_exc(file=sys.stdout)  # to results/stdout, which only staff see
        results = error_results(
            f"The autograder failed ({type(error).__name__}: {error}); your course staff can "
            "see the details. Your submission was not graded.",
            time.monotonic() - started,
            max_score,
            visibility,
        )
    out = root / "results"
    out.mkdir(parents=True, exist_ok=True)
    write_atomic(out / "results.json", (json.dumps(results, indent=2) + "\n").encode())
    return results


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m grader.exports.gradescope --assignment FILE`: what run_autograder calls."""
    parser = argparse.ArgumentParser(
        prog="python -m grader.exports.gradescope",
        description=f"Grade /autograder/submission and write /autograder/results/results.json, "
        f"as Gradescope expects; ${ROOT_VARIABLE} stands in for /autograder.",
    )
    parser.add_argument("--assignment", required=True, metavar="NAME_OR_PATH")
    parser.add_argument("--visibility", choices=VISIBILITIES, default="visible")
    args = parser.parse_args(argv)
    root = Path(os.environ.get(ROOT_VARIABLE) or DEFAULT_ROOT)
    run(root, args.assignment, args.visibility)
    return 0


# --- the zip -------------------------------------------------------------------------------


def _source_files() -> list[tuple[str, Path]]:
    """grade's own source, as pip installs it: (name in the zip, file)."""
    missing = [name for name in BUNDLED if not (SOURCE / name).is_file()]
    if missing:
        raise GradeError(
            f"{SOURCE}: no {', '.join(missing)}; `grade gradescope` bundles grade's source, so "
            "run it from a checkout of grade (pip install -e .)"
        )
    files = [(f"grade/{name}", SOURCE / name) for name in BUNDLED]
    for package in ("grader", "reference"):
        for path in sorted((SOURCE / package).rglob("*")):
            parts = path.relative_to(SOURCE).parts
            if path.is_file() and not any(p == "__pycache__" or p.startswith(".") for p in parts):
                files.append(("grade/" + "/".join(parts), path))
    return files


def _add(archive: zipfile.ZipFile, name: str, data: bytes, executable: bool = False) -> None:
    info = zipfile.ZipInfo(name, date_time=ZIP_TIME)
    info.create_system = 3  # Unix, so unzip applies the mode below
    info.external_attr = (0o100755 if executable else 0o100644) << 16
    info.compress_type = zipfile.ZIP_DEFLATED
    archive.writestr(info, data)


def build_autograder(assignment: str, out: Path, visibility: str = "visible") -> list[str]:
    """Write the autograder zip for `assignment` (a preset or a .toml path) to `out`.

    At the root: setup.sh and run_autograder (mode 755), assignment.toml (the assignment,
    checked now) and grade/ (pyproject.toml, constraints.txt, README.md, grader/, reference/),
    which setup.sh pip-installs with the CPU build of torch. Returns the names in the zip."""
    if visibility not in VISIBILITIES:
        raise GradeError(f"visibility {visibility!r}; expected one of {', '.join(VISIBILITIES)}")
    load_assignment(assignment)  # a broken assignment fails here, not on Gradescope
    toml = Path(assignment_file(assignment) or assignment).read_bytes()
    if out.is_dir():
        raise GradeError(f"{out}: is a folder; give --out the zip file to write")
    source = _source_files()  # first: it says when grade does not run from a checkout
    run_autograder = (TEMPLATES / "run_autograder").read_text(encoding="utf-8")
    entries = [
        ("setup.sh", (TEMPLATES / "setup.sh").read_bytes(), True),
        ("run_autograder", run_autograder.replace("@VISIBILITY@", visibility).encode(), True),
        ("assignment.toml", toml, False),
        *((name, path.read_bytes(), False) for name, path in source),
    ]
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data, executable in entries:
            _add(archive, name, data, executable)
    out.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(out, buffer.getvalue())
    return [name for name, _, _ in entries]


if __name__ == "__main__":
    sys.exit(main())
