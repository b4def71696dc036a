"""GitHub Classroom's runners for an assignment, known before grading starts.

The Classroom reporter (classroom-resources/autograding-grading-reporter) reads, for each id in
its `runners` input, the variable `<ID IN CAPITALS>_RESULTS`; if one is missing it prints an
error and sends no points at all, and a payload whose `max_score` is 0 counts for nothing. So
the ids are fixed before grade runs: `grade starter --classroom` writes them into the
workflow (`GRADE_RUNNERS`, the reporter's input), and the action's first step, before grade is
installed, sets every runner's variable to 0 of that check's points with the reason grading
has not finished. grade's own payloads replace them when it finishes (in `$GITHUB_ENV` the last
definition wins); a run that fails to install, is cancelled or times out keeps them, and the
student gets 0 of the real maximum and a reason instead of nothing.

That step runs `python -m grader.exports.runners` with the runner's Python before anything is
installed: this module imports the standard library and `grader.presets` alone.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import re
import sys
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from grader import presets

DECLARED = "GRADE_RUNNERS"  # the workflow's runner ids, the reporter's `runners` input
CRASH_RUNNER = "grade"  # the one runner when the assignment itself cannot be read


def runner_id(check_id: str) -> str:
    """The reporter's runner id for a check: letters and digits only, `networkArchitecture`.

    Its error path rejects any other character, and its variable is the id in capitals."""
    first, *rest = check_id.split("-")
    return re.sub(r"[^A-Za-z0-9]", "", first + "".join(part.capitalize() for part in rest))


def planned(points: Mapping[str, float]) -> dict[str, float]:
    """The runners of an assignment and the points of each: one per check that has points."""
    return {runner_id(check): value for check, value in points.items() if value > 0}


def declared(environ: Mapping[str, str]) -> list[str]:
    """The runner ids the workflow gives the reporter (`GRADE_RUNNERS`), in its order."""
    return [r.strip() for r in environ.get(DECLARED, "").split(",") if r.strip()]


def number(value: float) -> int | float:
    """JSON numbers as the reporter prints them: 2, not 2.0; 2.5 stays, and so does 0.125
    (rounded, the reporter's total would differ from grade's score)."""
    return int(value) if float(value).is_integer() else float(value)


def error_payload(message: str, test_code: str, max_score: float) -> dict[str, Any]:
    """A runner's payload when its check was not graded: status `error`, 0 of `max_score`,
    still a `tests` array (the reporter throws without one). The texts must be log-safe."""
    return {
        "version": 1,
        "status": "error",
        "max_score": number(max_score),
        "tests": [
            {
                "name": "grade",
                "status": "error",
                "score": 0,
                "message": message,
                "test_code": test_code,
                "filename": "",
                "line_no": 0,
                "duration": 0,
            }
        ],
    }


def encode(data: dict[str, Any]) -> str:
    """base64 of the UTF-8 JSON, the standard alphabet with padding, as the reporter decodes."""
    return base64.b64encode(json.dumps(data, ensure_ascii=False).encode()).decode("ascii")


def plan(assignment: str) -> tuple[dict[str, float], str]:
    """The runners of `assignment` (a preset name or a .toml path) and their points; empty,
    with the reason, when the file cannot be read."""
    try:
        return planned(presets.points(assignment)), ""
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError, ValueError) as error:
        return {}, f"the assignment cannot be read, so its points are unknown: {error}"


def runner_ids(plan: Mapping[str, float], declared: list[str]) -> list[str]:
    """The runners to write: the workflow's, then any check with points it lacks (its points
    reach Classroom only once the workflow names it); `grade` when nothing is known."""
    ids = list(declared) or list(plan) or [CRASH_RUNNER]
    return ids + [runner for runner in plan if runner not in ids]


def pending(assignment: str, environ: Mapping[str, str], why: str) -> dict[str, dict[str, Any]]:
    """Every runner's payload before grade has reported: 0 of the check's points, `why`. A
    runner the workflow declares that is no check with points gets 0 of 0."""
    points, problem = plan(assignment)
    why = f"{why} ({problem})" if problem else why
    why = why.replace("\r", " ").replace("\n", " ").replace("##[", "## [")  # one harmless line
    ids = runner_ids(points, declared(environ))
    return {runner: error_payload(why, why, points.get(runner, 0)) for runner in ids}


def main(argv: list[str] | None = None) -> int:
    """Write the pending payloads to `$GITHUB_ENV` and their ids to `$GITHUB_OUTPUT`."""
    parser = argparse.ArgumentParser(prog="python -m grader.exports.runners")
    parser.add_argument("--assignment", required=True, help="a preset name or a .toml path")
    parser.add_argument("--why", required=True, help="why the check was not graded")
    args = parser.parse_args(argv)
    payloads = pending(args.assignment, os.environ, args.why)
    total = sum(p["max_score"] for p in payloads.values())
    whole = next(iter(payloads.values())) | {"max_score": number(total)}  # the one-runner form
    for variable, lines in (
        ("GITHUB_ENV", [f"{r.upper()}_RESULTS={encode(p)}" for r, p in payloads.items()]),
        ("GITHUB_OUTPUT", [f"runners={','.join(payloads)}", f"result={encode(whole)}"]),
    ):
        if os.environ.get(variable):
            with Path(os.environ[variable]).open("a", encoding="utf-8") as file:
                file.write("".join(f"{line}\n" for line in lines))
    print(f"grade: {len(payloads)} runners set to 0 of {total:g} points until grade reports")
    return 0


if __name__ == "__main__":
    sys.exit(main())
