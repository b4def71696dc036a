"""Points that add up (grader/points.py): the Classroom reporter's float64 sum of the payload
is grade's score exactly for points that are multiples of 1/4, and `grade assignments` warns
about any other."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import pytest

from grader import api, points
from grader.assignment import load_assignment
from grader.cli import main
from grader.exports import github, runners
from grader.presets import PRESETS, preset_names
from grader.result import GradeResult

ROOT = Path(__file__).parent.parent
EXAMPLES = ROOT / "submissions"
QUARTERS = {  # every check's points a different multiple of 1/4, none a whole number but one
    "network-architecture": 0.75,
    "autograd-gradients": 1.25,
    "backprop-gradients": 2.5,
    "no-autograd": 0.25,
    "dat-files": 1,
}


def reporter_total(result: GradeResult) -> tuple[float, float]:
    """What autograding-grading-reporter's NotifyClassroom adds up from what `grade --github`
    writes for the workflow `grade starter --classroom` makes (its GRADE_RUNNERS), in the
    reporter's order and arithmetic (JavaScript numbers are float64): a runner whose
    max_score is 0 is skipped; `maxPoints += max_score`, then `totalPoints += score` for each
    test."""
    declared = list(runners.planned({check.id: check.max_score for check in result.checks}))
    total, most = 0.0, 0.0
    for runner in declared:  # the reporter's `runners` input, in its order
        payload = github.Classroom.graded(result, declared=declared).runners[runner]
        if not payload["max_score"]:
            continue
        most += payload["max_score"]
        for test in payload["tests"]:
            total += test["score"]
    return total, most


def with_points(text: str, values: dict[str, float]) -> str:
    """An assignment's TOML with its [points] replaced."""
    head, _, rest = text.partition("[points]\n")
    _, _, tail = rest.partition("\n\n")
    lines = "".join(f"{check} = {value}\n" for check, value in values.items())
    return f"{head}[points]\n{lines}\n{tail}"


@pytest.fixture(scope="module")
def quarter_results(tmp_path_factory: pytest.TempPathFactory) -> list[GradeResult]:
    """Every example student graded, for real, under bs6207-a1 with quarter points."""
    root = tmp_path_factory.mktemp("quarters")
    toml = root / "quarters.toml"
    toml.write_text(with_points((PRESETS / "bs6207-a1.toml").read_text(), QUARTERS))
    return api.grade_paths([EXAMPLES], load_assignment(toml), root / "reports")


def test_the_reporter_adds_up_to_grade_s_score_for_every_example_student(
    quarter_results: list[GradeResult],
) -> None:
    """The reporter's float sum of the payload is grade's score, bit for bit, and the exact
    sum of the points earned: nothing shows as 3.2500000000000004."""
    assert {r.student for r in quarter_results} == {
        p.name for p in EXAMPLES.iterdir() if p.is_dir()
    }
    assert len({r.score for r in quarter_results}) > 1  # passes and fails both
    for result in quarter_results:
        total, most = reporter_total(result)
        assert (total, most) == (result.score, result.max_score) == (total, 5.75), result.student
        assert Fraction(total) == sum(Fraction(c.score) for c in result.checks)
        assert str(total) == repr(float(sum(Fraction(c.score) for c in result.checks)))


def test_tenths_do_not_add_up_in_float64() -> None:
    """Why the warning exists: the issue's total, 0.1 + 0.2 + 0.15 in float64."""
    total = 0.0
    for earned in (0.1, 0.2, 0.15):
        total += earned
    assert str(total) == "0.45000000000000007"
    assert not points.even(0.1) and not points.even(0.45) and points.even(2.75)


@pytest.mark.parametrize("name", preset_names())
def test_every_preset_has_points_that_add_up(name: str) -> None:
    assert points.warnings(load_assignment(name), name) == []


def test_grade_assignments_warns_about_tenths(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """An assignment with 0.1-point checks: a warning on stderr per value, naming the file,
    the check, the value and the fix; the assignment is still shown, exit 0."""
    toml = tmp_path / "tenths.toml"
    tenths = {**QUARTERS, "network-architecture": 0.1, "no-autograd": 0.35}
    toml.write_text(with_points((PRESETS / "bs6207-a1.toml").read_text(), tenths))
    assert main(["assignments", str(toml)]) == 0
    out = capsys.readouterr()
    assert "network-architecture 0.1, autograd-gradients 1.25" in out.out
    assert out.err.splitlines() == [
        f"grade: warning: {toml}: [points] {check} = {value} is not a multiple of 1/4; GitHub "
        "Classroom's reporter adds points in floating point and can show a total such as "
        f"0.30000000000000004 for 0.3: make it a multiple of 1/4, e.g. {check} = {fix}"
        for check, value, fix in [("network-architecture", 0.1, 0.25), ("no-autograd", 0.35, 0.25)]
    ]


def test_grade_assignments_lists_the_presets_without_warnings(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["assignments"]) == 0
    assert capsys.readouterr().err == ""
