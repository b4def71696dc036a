"""Where a mistake is, in every output: report.html, index.html, --github, JUnit, Gradescope.

submissions/transposed_weight_grads is graded once, for real: its location is line 18. The
outputs are tested on that result with a location set to each shape a location can take (a
range, a notebook cell, hostile text), and with none."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from markupsafe import escape

from grader import api
from grader.assignment import load_assignment
from grader.exports import github, gradescope, junit, location_text
from grader.report import render_report, write_report
from grader.report.class_page import render_class_page
from grader.result import GradeResult, Location

if TYPE_CHECKING:
    from playwright.sync_api import Page

ROOT = Path(__file__).resolve().parent.parent
STUDENT = ROOT / "submissions" / "transposed_weight_grads"
MISTAKE_LINE = 18  # `dW[layer] = np.outer(activations[layer], delta)  # the mistake: (in, out)`
SENTENCE = "dW here equals the reference's dW of this layer transposed"
HOSTILE = '<script>alert(1)</script>\r\n::error::x %0A, "a" & b'


@pytest.fixture(scope="module")
def graded(tmp_path_factory: pytest.TempPathFactory) -> GradeResult:
    """The transposed student, graded for real."""
    assignment = load_assignment("bs6207-a1")
    return api.grade_submission(STUDENT, assignment, tmp_path_factory.mktemp("reports"))


def unlocated(result: GradeResult) -> GradeResult:
    """`result` with no check naming a line: what every output showed before issue 14."""
    checks = [c.model_copy(update={"location": None}) for c in result.checks]
    return result.model_copy(update={"checks": checks})


def located(result: GradeResult, **changes: object) -> GradeResult:
    """`result` with a location on its failing backprop check: line 18, the real excerpt."""
    lines = (STUDENT / "backprop.py").read_text().splitlines()
    fields: dict[str, object] = {
        "file": "backprop.py",
        "line": MISTAKE_LINE,
        "source": lines[MISTAKE_LINE - 1].strip(),
        "sentence": SENTENCE,
        "layer": 3,
        "iteration": 2,
        "excerpt_start": MISTAKE_LINE - 3,
        "excerpt": lines[MISTAKE_LINE - 4 : MISTAKE_LINE + 3],
        **changes,
    }
    where = Location.model_validate(fields)
    checks = [
        c.model_copy(update={"location": where}) if c.id == "backprop-gradients" else c
        for c in result.checks
    ]
    return result.model_copy(update={"checks": checks})


def backprop(result: GradeResult) -> int:
    return next(i for i, c in enumerate(result.checks) if c.id == "backprop-gradients")


def test_the_fixture_is_located_on_its_mistake(graded: GradeResult) -> None:
    """The real result fails the backprop check and names line 18, in the last layer; no other
    check names a line."""
    check = graded.checks[backprop(graded)]
    assert check.status == "fail"
    assert check.location is not None
    assert (check.location.file, check.location.line) == ("backprop.py", MISTAKE_LINE)
    assert check.location.source == "dW[layer] = np.outer(activations[layer], delta)"
    assert check.location.layer == 11
    assert "transpose" in check.location.sentence
    assert [c.id for c in graded.checks if c.location] == ["backprop-gradients"]
    # the sentence opens with the line's code, which the page shows as code
    assert check.location.sentence.startswith(f"`{check.location.source}`: dW[10] here is")
    html = render_report(graded)
    assert f"<code>{escape(check.location.source)}</code>: dW[10] here is" in html


def test_words_for_a_location() -> None:
    """A module's line, a range, a notebook's cell and line, the short form, the loop's run."""
    one = Location(file="backprop.py", line=18, source="x", sentence="s", layer=3, iteration=2)
    assert location_text.place(one) == "backprop.py, line 18"
    assert location_text.short(one) == "backprop.py:18"
    assert location_text.when(one) == "in layer 3, the 2nd time the line ran"
    assert location_text.failure_text(one) == (
        "at backprop.py, line 18 (in layer 3, the 2nd time the line ran): s"
    )
    span = one.model_copy(update={"end_line": 20, "layer": None, "iteration": None})
    assert location_text.place(span) == "backprop.py, lines 18-20"
    assert location_text.failure_text(span) == "at backprop.py, lines 18-20: s"
    cell = Location(file="hw1.ipynb", cell=3, line=4, source="x", sentence="s")
    assert location_text.place(cell) == "hw1.ipynb, cell 3, line 4"
    assert location_text.short(cell) == "hw1.ipynb:3:4"
    assert [location_text.when(one.model_copy(update={"iteration": n})) for n in (1, 11, 23)] == [
        "in layer 3, the 1st time the line ran",
        "in layer 3, the 11th time the line ran",
        "in layer 3, the 23rd time the line ran",
    ]


def test_report_shows_where(graded: GradeResult) -> None:
    """The failing check's card has a Where box: the code around line 18, that line marked,
    the sentence beside it, the layer; without a location the page is exactly as before."""
    html = render_report(located(graded))
    assert '<div class="where">' in html
    assert "Where: backprop.py, line 18, in layer 3, the 2nd time the line ran" in html
    assert (
        '<tr class="hit"><td class="ln"><span class="arrow" aria-label="the mistake">▶</span>18'
        in html
    )
    assert html.count('<tr class="hit">') == 1
    assert str(escape(SENTENCE)) in html
    assert "15</td>" in html and "21</td>" in html  # three lines either side
    assert '<div class="where">' not in render_report(unlocated(graded))


def test_report_marks_a_range(graded: GradeResult) -> None:
    """A statement over several lines is marked on each of them."""
    html = render_report(located(graded, end_line=MISTAKE_LINE + 1))
    assert html.count('<tr class="hit">') == 2
    assert "backprop.py, lines 18-19" in html


def test_hostile_location_is_escaped_everywhere(graded: GradeResult) -> None:
    """Student text in the file name, code and sentence is text in the page, the class page,
    JUnit XML and the GitHub payload, never markup or a workflow command."""
    result = located(
        graded, file=f"{HOSTILE}.py", source=HOSTILE, sentence=HOSTILE, excerpt=[HOSTILE]
    )
    for html in (render_report(result), render_class_page([result], load_assignment("bs6207-a1"))):
        assert "<script>" not in html
    root = ET.fromstring(junit.junit_xml([result], load_assignment("bs6207-a1")))
    assert any("<script>alert(1)</script>" in (f.text or "") for f in root.iter("failure"))
    test = github.payload(result)["tests"][backprop(result)]
    for key in ("message", "test_code", "filename"):
        assert all(not line.lstrip().startswith("::") for line in test[key].splitlines())
        assert "\r" not in test[key]
    [annotation] = github.workflow_annotations(result, ".")
    assert annotation.count("\n") == 0 and "\r" not in annotation
    command, _, message = annotation.partition("::error ")[2].partition("::")
    # a carriage return is made \ufffd (as in all log-safe text), a newline %0A; properties
    # escape : and , too, the message % CR LF only
    assert "\ufffd%0A%3A%3Aerror%3A%3Ax %250A%2C" in command
    assert message.endswith('\ufffd%0A::error::x %250A, "a" & b')


def test_class_page_names_the_line(graded: GradeResult) -> None:
    """index.html's first-mistake column gains the line; without one it is as before."""
    assignment = load_assignment("bs6207-a1")
    assert "transposed · backprop.py:18</td>" in render_class_page([located(graded)], assignment)
    assert "backprop.py:18" not in render_class_page([unlocated(graded)], assignment)


def test_github_payload_and_annotation(graded: GradeResult) -> None:
    """The failing test carries the file (from the repository root) and line; an ::error
    annotation points at them; a notebook's annotation names the .ipynb without a line."""
    result = located(graded)
    test = github.payload(result, "students/ada")["tests"][backprop(result)]
    assert (test["filename"], test["line_no"]) == ("students/ada/backprop.py", 18)
    assert (
        f"at backprop.py, line 18 (in layer 3, the 2nd time the line ran): {SENTENCE}"
        in (test["test_code"])
    )
    assert github.workflow_annotations(result, ".") == [
        "::error file=backprop.py,line=18,title=Your backprop%3A backprop.py%2C line 18"
        f"::backprop.py, line 18: {SENTENCE}"
    ]
    runner = github.runner_payloads(result, ".")[github.runner_id("backprop-gradients")]
    assert runner["tests"][0]["line_no"] == 18
    notebook = located(graded, file="hw1.ipynb", cell=3, line=4)
    [annotation] = github.workflow_annotations(notebook, ".")
    assert annotation.startswith("::error file=hw1.ipynb,title=")
    assert "line=" not in annotation.split("::")[1]
    assert github.payload(notebook)["tests"][backprop(notebook)]["line_no"] == 0
    plain = github.payload(unlocated(graded))
    assert all((t["filename"], t["line_no"]) == ("", 0) for t in plain["tests"])
    assert github.workflow_annotations(unlocated(graded), ".") == []


def test_junit_and_gradescope_say_where(graded: GradeResult) -> None:
    """The failure text gains `at backprop.py, line 18: SENTENCE`; not without a location."""
    assignment = load_assignment("bs6207-a1")
    words = f"at backprop.py, line 18 (in layer 3, the 2nd time the line ran): {SENTENCE}"
    assert words.encode() in junit.junit_xml([located(graded)], assignment)
    assert b"at backprop.py" not in junit.junit_xml([unlocated(graded)], assignment)
    test = gradescope.results_json(located(graded))["tests"][backprop(graded)]
    assert words in test["output"]
    assert "at backprop.py" not in json.dumps(gradescope.results_json(unlocated(graded)))


def test_where_in_a_real_browser(graded: GradeResult, browser_page: Page, tmp_path: Path) -> None:
    """Chromium shows the Where box with line 18 marked and visible, the sentence beside it."""
    page = browser_page
    page.goto(write_report(located(graded), tmp_path).as_uri())
    hit = page.locator(".where tr.hit")
    assert hit.count() == 1
    hit.scroll_into_view_if_needed()
    assert hit.is_visible()
    assert hit.locator("td.ln").inner_text().endswith("18")
    assert "np.outer(activations[layer], delta)" in hit.locator("td.src").inner_text()
    background = hit.locator("td.src").evaluate("e => getComputedStyle(e).backgroundColor")
    plain = page.locator(".where tr:not(.hit) td.src").first
    assert background != plain.evaluate("e => getComputedStyle(e).backgroundColor")
    assert page.locator(".where-sentence").is_visible()
    assert SENTENCE in page.locator(".where-sentence").inner_text()


def test_classroom_carries_the_annotations_for_the_cli(graded: GradeResult) -> None:
    """What `grade --github` prints after its guarded block: the annotations, none without a
    location."""
    assert github.Classroom.graded(located(graded), ".").annotations == tuple(
        github.workflow_annotations(located(graded), ".")
    )
    assert len(github.Classroom.graded(located(graded), "sub").annotations) == 1
    assert "file=sub/backprop.py," in github.Classroom.graded(located(graded), "sub").annotations[0]
    assert github.Classroom.graded(unlocated(graded)).annotations == ()
