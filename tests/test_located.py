"""Issue 14's acceptance: each mistake class, in each style, fails the backprop check and is
located on exactly the line that makes it; a correct student never gets a location.

Every case is graded once per session, whole, on the real sandbox (tests/located.py).
"""

from __future__ import annotations

from pathlib import Path

import classroom
import located
import pytest

from grader.assignment import load_assignment
from grader.grading import grade_submission
from grader.result import CheckResult, GradeResult

Marked = located.Marked | None

MISTAKEN = [c for c in located.CASES if c.mistake is not None]
KINDS = {  # the diagnosis each mistake gets today
    "transposed": {"transposed"},
    "half": {"factor"},
    "double": {"factor"},
    "sign": {"sign"},
    "missing-relu-derivative": {"missing-activation-derivative"},
    "missing-sigmoid-derivative": {"missing-activation-derivative"},
    "reversed": {"reversed"},
    "sgd-step": {"sgd-step"},
    # hw02-1 starts from W3 = [1, 1] and dW3 = [8.75, 8.75]: W3 - lr dW3 is a multiple of dW3
    # too (0.104286×), and the updated weights are the mistake that makes it
    "updated": {"updated-weights"},
}
CORRECT = [c for c in located.CASES if c.mistake is None]
Graded = dict[str, tuple[CheckResult, Marked]]  # by case id


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[GradeResult, Marked]]:
    """Every case graded whole, once, and where its mistake was marked; by case id."""
    into = tmp_path_factory.mktemp("located")
    found = {}
    for case in located.CASES:
        folder, marked = located.build(case, into)
        found[case.id] = (grade_submission(folder, load_assignment(case.assignment)), marked)
    return found


@pytest.fixture(scope="module")
def graded(results: dict[str, tuple[GradeResult, Marked]]) -> Graded:
    """Every case's backprop-gradients check, and where its mistake was marked."""
    return {
        case_id: (next(c for c in result.checks if c.id == "backprop-gradients"), marked)
        for case_id, (result, marked) in results.items()
    }


def test_every_mistake_is_marked_once(tmp_path: Path) -> None:
    """The builder finds the marker of every mistaken case and strips it from what it writes."""
    for case in located.CASES:
        folder, marked = located.build(case, tmp_path)
        assert (marked is None) == (case.mistake is None), case.id
        assert not any(
            located.MARK.strip() in p.read_text() for p in folder.iterdir() if p.is_file()
        )


@pytest.mark.parametrize("case", MISTAKEN, ids=lambda c: c.id)
def test_a_mistake_fails_the_backprop_check(graded: Graded, case: located.Case) -> None:
    """The mistaken student's backprop fails, with the diagnosis of its mistake."""
    assert case.mistake is not None
    check, _ = graded[case.id]
    assert check.status == "fail", check.message
    assert check.diagnoses, check.message
    assert check.diagnoses[0].kind in KINDS[case.mistake], check.message


@pytest.mark.parametrize("case", CORRECT, ids=lambda c: c.id)
def test_a_correct_student_passes_without_a_location(graded: Graded, case: located.Case) -> None:
    """A correct backprop, in any style, passes and is never pointed at."""
    check, _ = graded[case.id]
    assert check.status == "pass", check.message
    assert check.location is None


@pytest.mark.parametrize("case", CORRECT, ids=lambda c: c.id)
def test_a_correct_student_of_every_style_gets_full_marks(
    results: dict[str, tuple[GradeResult, Marked]], case: located.Case
) -> None:
    """The corpus's students are whole submissions: a correct one passes every check (torch
    without autograd included), so a mistaken one differs from it in backprop alone."""
    result, _ = results[case.id]
    assert result.score == result.max_score, [
        c.message for c in result.checks if c.score < c.max_score
    ]


@pytest.mark.parametrize("case", MISTAKEN, ids=lambda c: c.id)
def test_the_mistake_is_located_on_its_line(graded: Graded, case: located.Case) -> None:
    """The failing check names exactly the marked file, cell and line, shows its code, and says
    what is wrong there."""
    check, marked = graded[case.id]
    assert marked is not None
    location = check.location
    assert location is not None, f"no location; the check says: {check.message}"
    assert (location.file, location.cell, location.line) == (
        marked.file,
        marked.cell,
        marked.line,
    ), (
        location.source,
        location.sentence,
    )
    assert location.source.strip() == marked.code
    assert location.sentence.strip()


def test_a_backprop_right_for_a_wrong_network_names_no_line() -> None:
    """submissions/missing_first_relu leaves the ReLU out of its network and of its backprop's
    forward pass alike: its backward pass is right for the network it built, so no line of it
    is named (the network check names the mistake); the walk would stop at `z = W @ a + b`,
    whose input is z1 where a1 belongs."""
    folder = Path(__file__).resolve().parent.parent / "submissions" / "missing_first_relu"
    result = grade_submission(folder, load_assignment("bs6207-a1"))
    check = next(c for c in result.checks if c.id == "backprop-gradients")
    assert check.status == "fail"
    assert [d.kind for d in check.diagnoses][:1] == ["forward"]
    assert check.location is None


WRAPPERS = [  # fixtures whose backprop wraps the correct one and marks the line that errs
    path.parent.name
    for path in sorted(
        (Path(__file__).parent / "fixtures" / "submissions").glob("*/backprop.append.py")
    )
    if "# the mistake" in path.read_text()
]


@pytest.mark.parametrize("behaviour", WRAPPERS)
def test_a_wrapper_of_the_correct_backprop_is_located_on_its_own_line(
    behaviour: str, tmp_path: Path
) -> None:
    """A mistake made after the correct backprop returned (sign, factor, SGD step, updated
    weights, reversed, swapped) is named on the wrapper's marked line, never on a line of
    the correct backprop that formed the right value it reuses."""
    folder = classroom.make_submission(behaviour, tmp_path)
    result = grade_submission(folder, load_assignment("bs6207-a1"))
    check = next(c for c in result.checks if c.id == "backprop-gradients")
    lines = (folder / "backprop.py").read_text().splitlines()
    marked = next(n for n, line in enumerate(lines, 1) if "# the mistake" in line)
    assert check.location is not None, check.message
    assert (check.location.file, check.location.line) == ("backprop.py", marked), (
        check.location.sentence
    )
