"""The class outputs: index.html, grades.csv (Canvas), summary.csv and junit.xml, built from
real graded submissions, checked as a spreadsheet, Canvas, a CI dashboard and a browser read them.
"""

from __future__ import annotations

import csv
import io
import json
import re
import shutil
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import unquote

import pytest

from grader import api
from grader.assignment import Assignment, load_assignment
from grader.cli import main
from grader.errors import GradeError
from grader.exports.canvas import POINTS_POSSIBLE, canvas_csv, grade_column
from grader.exports.class_outputs import CLASS_OUTPUTS, write_class_outputs
from grader.exports.junit import junit_xml, xml_text
from grader.exports.roster import CanvasStudent, RosterError, load_roster
from grader.exports.summary import points, safe_cell, summary_csv
from grader.report.class_page import class_view, render_class_page
from grader.result import CHECK_IDS, CheckResult, GradeResult

if TYPE_CHECKING:
    from playwright.sync_api import Page

ROOT = Path(__file__).parent.parent
GOLDENS = Path(__file__).parent / "goldens" / "class"
OUTPUT = Path(__file__).parent / "output" / "class"
EXAMPLES = ("correct", "missing_first_relu", "transposed_weight_grads")
# A folder name cannot hold "/", so not "</b>"; this one starts a formula, holds a comma and a
# quote for CSV, tags and & for HTML, and ? # % for URLs.
HOSTILE = '=cmd,<b>x<b> "q" ?#%&'
CANVAS_HEADER = ["Student", "ID", "SIS User ID", "SIS Login ID", "Section"]
TITLE = "BS6207 Assignment 1: backprop through a 10-layer ReLU MLP"


@dataclass(frozen=True)
class Graded:
    """A small class, graded for real: its results, by student, and its reports folder."""

    assignment: Assignment
    reports: Path
    results: list[GradeResult]

    def by_student(self) -> dict[str, GradeResult]:
        return {r.student: r for r in self.results}


@pytest.fixture(scope="module")
def graded(tmp_path_factory: pytest.TempPathFactory) -> Graded:
    """Three example students and a copy of the correct one under a hostile folder name."""
    root = tmp_path_factory.mktemp("class")
    students = root / "students"
    for name in EXAMPLES:
        shutil.copytree(ROOT / "submissions" / name, students / name)
    shutil.copytree(ROOT / "submissions" / "correct", students / HOSTILE)
    assignment = load_assignment("bs6207-a1")
    reports = root / "reports"
    results = [
        api.grade_submission(students / name, assignment, reports) for name in (HOSTILE, *EXAMPLES)
    ]
    return Graded(assignment, reports, results)


def normalised(results: list[GradeResult]) -> list[GradeResult]:
    """`results` without what varies between runs and machines: timings, versions, isolation,
    and the last digits of the student's own float32 autograd (the CPU's matrix kernels)."""
    return [
        r.model_copy(
            update={
                "timings": {},
                "versions": {},
                "isolation": "normalised",
                "checks": [_float32_normalised(c) for c in r.checks],
            }
        )
        for r in results
    ]


def _float32_normalised(check: CheckResult) -> CheckResult:
    """The autograd check's message with the student's float32 values cut to 6 figures."""
    if check.id != "autograd-gradients":
        return check
    message = re.sub(
        r"yours (-?[0-9.]+(?:e[-+]?[0-9]+)?)",
        lambda number: f"yours {float(number[1]):.6g}",
        check.message,
    )
    return check.model_copy(update={"message": message})


def rows(data: bytes) -> list[list[str]]:
    """A CSV file as a spreadsheet reads it."""
    return list(csv.reader(io.StringIO(data.decode("utf-8"), newline="")))


def write_roster(tmp_path: Path, text: str, name: str = "roster.csv") -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode("utf-8"))
    return path


def result_check(graded: Graded, student: str, check_id: str = "backprop-gradients") -> CheckResult:
    """One check of one student's result."""
    return next(c for c in graded.by_student()[student].checks if c.id == check_id)


# --- the entry point ----------------------------------------------------------------------


def test_write_class_outputs_writes_four_files_atomically(graded: Graded, tmp_path: Path) -> None:
    """The four files land in the reports folder, with no temporary file left behind."""
    reports = tmp_path / "reports"
    paths = write_class_outputs(graded.results, graded.assignment, reports)
    assert paths == [reports / name for name in CLASS_OUTPUTS]
    assert sorted(p.name for p in reports.iterdir()) == sorted(CLASS_OUTPUTS)
    again = write_class_outputs(graded.results, graded.assignment, reports)  # replaces them
    assert again == paths
    assert sorted(p.name for p in reports.iterdir()) == sorted(CLASS_OUTPUTS)


def test_a_title_canvas_cannot_import_writes_nothing(graded: Graded, tmp_path: Path) -> None:
    """A title Canvas would drop as a total is refused before any file is written."""
    assignment = graded.assignment.model_copy(update={"title": "Final Score project"})
    with pytest.raises(GradeError, match=r"contains 'Final Score'.*change title"):
        write_class_outputs(graded.results, assignment, tmp_path / "reports")
    assert not (tmp_path / "reports").exists()


def test_a_student_folder_named_like_an_output_is_refused(graded: Graded, tmp_path: Path) -> None:
    """A submission folder called index.html cannot be overwritten by the class page."""
    (tmp_path / "index.html").mkdir()
    with pytest.raises(GradeError, match=r"index\.html: is a folder.*rename the submission"):
        write_class_outputs(graded.results, graded.assignment, tmp_path)


# --- grades.csv -----------------------------------------------------------------------------


def test_grades_csv_is_canvas_import_layout(graded: Graded) -> None:
    """Canvas's header, its Points Possible row, then one row per student sorted by name."""
    data = canvas_csv(graded.results, graded.assignment, canvas_assignment_id=48213)
    table = rows(data)
    assert table[0] == [*CANVAS_HEADER, f"{TITLE} (48213)"]
    assert table[1] == [POINTS_POSSIBLE, "", "", "", "", "10"]
    assert POINTS_POSSIBLE == "    Points Possible"
    assert table[2:] == [
        ["'" + HOSTILE, "", "", "", "", "10"],  # a formula no more
        ["correct", "", "", "", "", "10"],
        ["missing_first_relu", "", "", "", "", "1"],
        ["transposed_weight_grads", "", "", "", "", "5"],
    ]
    assert data.count(b"\r\n") == len(table)  # RFC 4180 line ends


def test_grades_csv_without_an_id_is_headed_by_the_title(graded: Graded) -> None:
    """Without a Canvas assignment id the column is the title alone, never `title ()`."""
    header = rows(canvas_csv(graded.results, graded.assignment))[0]
    assert header[-1] == TITLE


def test_grades_csv_takes_names_and_ids_from_the_roster(graded: Graded, tmp_path: Path) -> None:
    """Roster folders get their Canvas name and ids; a folder the roster lacks keeps blanks."""
    roster = load_roster(
        write_roster(
            tmp_path,
            "folder,Student,ID,SIS User ID,SIS Login ID,Section\n"
            'correct,"Lovelace, Ada",1001,s1234567,alovelace,CS101 A\n'
            "transposed_weight_grads,@Turing,1002,,aturing,CS101 B\n",
        )
    )
    table = rows(canvas_csv(graded.results, graded.assignment, roster, 7))
    assert table[2:] == [
        ["'" + HOSTILE, "", "", "", "", "10"],
        ["Lovelace, Ada", "1001", "s1234567", "alovelace", "CS101 A", "10"],
        ["missing_first_relu", "", "", "", "", "1"],
        ["'@Turing", "1002", "", "aturing", "CS101 B", "5"],
    ]


@pytest.mark.parametrize(
    ("title", "canvas_id", "message"),
    [
        ("", None, "one-line title"),
        ("HW 1\nbackprop", 5, "one-line title"),
        ("Current Points of HW1", 5, "contains 'Current Points'"),
        ("HW1 Final Grade", None, "contains 'Final Grade'"),
        ("HW1", 0, "expected the positive number in the assignment's Canvas address"),
    ],
    ids=["empty", "two-lines", "current-points", "final-grade", "zero-id"],
)
def test_grade_column_refuses_what_canvas_would_misread(
    title: str, canvas_id: int | None, message: str
) -> None:
    """Each header Canvas would not import as this assignment's grades is an error."""
    with pytest.raises(GradeError, match=message):
        grade_column(title, canvas_id)


def test_grade_column() -> None:
    """`title (id)` with an id, the title alone without one."""
    assert grade_column("HW 3", 48213) == "HW 3 (48213)"
    assert grade_column("HW 3") == "HW 3"


@pytest.mark.parametrize(
    ("text", "cell"),
    [
        ("alice", "alice"),
        ("=1+2", "'=1+2"),
        ("+1", "'+1"),
        ("-1", "'-1"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\t=1", "'\t=1"),
        (" =1", "' =1"),
        ("a=b", "a=b"),
        ("", ""),
    ],
    ids=["plain", "equals", "plus", "minus", "at", "tab", "space-equals", "inner", "empty"],
)
def test_safe_cell(text: str, cell: str) -> None:
    """A cell that a spreadsheet would run as a formula gets a leading '."""
    assert safe_cell(text) == cell


@pytest.mark.parametrize(
    ("value", "text"),
    [(10.0, "10"), (2.5, "2.5"), (7.333333, "7.33"), (0.0, "0"), (-0.0, "0"), (0.004, "0")],
)
def test_points(value: float, text: str) -> None:
    """Points to at most 2 decimals, as Canvas keeps them."""
    assert points(value) == text


# --- the roster -----------------------------------------------------------------------------


def test_roster_reads_a_canvas_export_with_a_folder_column(tmp_path: Path) -> None:
    """A BOM, other columns, Canvas's Points Possible row and rows without a folder are fine."""
    path = write_roster(
        tmp_path,
        "\ufeffStudent,ID,SIS Login ID,Section,HW1 (5),Current Score,Folder\r\n"
        "    Points Possible,,,,10,(read only),\r\n"
        '"Lovelace, Ada",1001,alovelace,CS101 A,,,ada_l\r\n'
        "Absent Student,1003,absent,CS101 A,,,\r\n"
        "\r\n",
    )
    roster = load_roster(path)
    assert dict(roster.students) == {
        "ada_l": CanvasStudent("Lovelace, Ada", "1001", "", "alovelace", "CS101 A")
    }
    assert roster.get("nobody") is None


def test_roster_column_names_ignore_case_spaces_and_underscores(tmp_path: Path) -> None:
    """sis_login_id, SIS Login ID and sisloginid are one column."""
    roster = load_roster(write_roster(tmp_path, "FOLDER,sis_login_id,student\nbob,bob1,Bob\n"))
    assert roster.get("bob") == CanvasStudent(name="Bob", sis_login_id="bob1")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", r"roster\.csv: is empty; expected a header line such as folder,Student"),
        (
            "name,ID\nbob,1\n",
            r"roster\.csv, line 1: no 'folder' column \(the columns are 'name', 'ID'\); "
            "add a column named folder",
        ),
        ("folder;ID\nbob;1\n", "line 1: no 'folder' column .*separated by semicolons"),
        ("folder,Section\nbob,A\n", "line 1: no column names the Canvas student; add at least"),
        ("folder,ID,id\nbob,1,1\n", r"line 1: two columns are both 'ID' \('ID' and 'id'\)"),
        (
            "folder,ID\nbob,1\nann,2\nbob,3\n",
            "line 4: folder 'bob' is already on line 2; give each submission folder one row",
        ),
        (
            "folder,SIS Login ID\nbob,b1\nann,b1\n",
            r"line 3: SIS Login ID 'b1' is already on line 2 \(folder 'bob'\)",
        ),
        (
            "folder,Student\nbob,Lovelace, Ada\n",
            "line 2: 3 values, but the header has 2 columns; put a value holding a comma in "
            "double quotes",
        ),
        ('folder,Student\nbob,"Ada\n', r"line 2: is not valid CSV \(unexpected end of data\)"),
    ],
    ids=[
        "empty",
        "no-folder",
        "semicolons",
        "no-identity",
        "duplicate-column",
        "duplicate-folder",
        "duplicate-login",
        "unquoted-comma",
        "unclosed-quote",
    ],
)
def test_roster_errors_name_file_line_and_fix(tmp_path: Path, text: str, message: str) -> None:
    """Every roster that cannot be used says where and what to do."""
    path = write_roster(tmp_path, text)
    with pytest.raises(RosterError, match=message) as caught:
        load_roster(path)
    assert str(caught.value).startswith(str(path))
    assert caught.value.path == path


def test_roster_that_is_not_utf8_or_missing(tmp_path: Path) -> None:
    """A Latin-1 file and a missing file are errors naming the file."""
    latin = tmp_path / "latin.csv"
    latin.write_bytes("folder,Student\nbob,Zoë\n".encode("latin-1"))
    with pytest.raises(RosterError, match=r"latin\.csv: is not UTF-8 text .*save it as CSV UTF-8"):
        load_roster(latin)
    with pytest.raises(RosterError, match=r"nope\.csv: cannot be read \(No such file"):
        load_roster(tmp_path / "nope.csv")


# --- summary.csv --------------------------------------------------------------------------


def test_summary_csv_has_a_row_per_student_and_a_column_per_check(graded: Graded) -> None:
    """Documented columns; a check a student was not given is blank; the first mistake named."""
    table = rows(summary_csv(graded.results))
    assert table[0] == [
        "student",
        *CHECK_IDS,  # every one appears in this class, in this order
        "total",
        "max",
        "passed",
        "not_passed",
        "first_diagnosis",
    ]
    by_student = {row[0]: dict(zip(table[0], row, strict=True)) for row in table[1:]}
    assert list(by_student) == ["'" + HOSTILE, *EXAMPLES]
    correct = by_student["correct"]
    assert (correct["backprop-gradients"], correct["total"], correct["passed"]) == (
        "4",
        "10",
        "true",
    )
    assert correct["graph-explanation"] == "0"  # correct hands in graph.md
    transposed = by_student["transposed_weight_grads"]
    assert transposed["graph-explanation"] == ""  # no graph.md: not checked
    assert transposed["backprop-gradients"] == "0"
    assert transposed["passed"] == "false"
    assert transposed["not_passed"] == "backprop-gradients dat-files"
    assert transposed["first_diagnosis"] == "transposed"


# --- junit.xml ----------------------------------------------------------------------------


def test_junit_has_a_suite_per_student_and_a_case_per_check(graded: Graded) -> None:
    """Counts add up; fail is <failure>, error is <error>; times come from the result."""
    root = ET.fromstring(junit_xml(graded.results, graded.assignment))
    assert root.tag == "testsuites"
    suites = root.findall("testsuite")
    assert [s.get("name") for s in suites] == [HOSTILE, *EXAMPLES]
    by_student = graded.by_student()
    failures = errors = 0
    for suite in suites:
        result = by_student[suite.get("name", "")]
        cases = suite.findall("testcase")
        assert [c.get("name") for c in cases] == [c.id for c in result.checks]
        assert {c.get("classname") for c in cases} == {result.student}
        for case, check in zip(cases, result.checks, strict=True):
            verdict = [child.tag for child in case if child.tag != "properties"]
            assert verdict == {"pass": [], "fail": ["failure"], "error": ["error"]}[check.status]
        n_fail = sum(1 for c in result.checks if c.status == "fail")
        assert suite.get("failures") == str(n_fail) == str(len(suite.findall("testcase/failure")))
        assert suite.get("time") == f"{result.timings['total']:.3f}"
        failures += n_fail
        errors += len(suite.findall("testcase/error"))
    assert root.get("failures") == str(failures) and failures > 0
    assert root.get("errors") == str(errors)
    assert root.get("tests") == str(sum(len(r.checks) for r in graded.results))
    transposed = root.find("testsuite[@name='transposed_weight_grads']")
    assert transposed is not None
    failure = transposed.find("testcase[@name='backprop-gradients']/failure")
    assert failure is not None
    assert failure.get("message") == result_check(graded, "transposed_weight_grads").message
    assert "mistake: transposed in W" in (failure.text or "")


def test_junit_survives_any_student_text(graded: Graded) -> None:
    """Control characters XML 1.0 forbids become #xNN; the file still parses."""
    result = graded.by_student()["transposed_weight_grads"]
    check = result.checks[2].model_copy(
        update={"message": "bad \x00\x1b[31mred\x1b[0m \ud800 \ufffe ]]> <x>", "status": "error"}
    )
    hostile = result.model_copy(update={"student": "s\x07<&>", "checks": [check], "output": "\x00"})
    root = ET.fromstring(junit_xml([hostile], graded.assignment))
    error = root.find("testsuite/testcase/error")
    assert error is not None
    assert error.get("message") == "bad #x00#x1B[31mred#x1B[0m #xD800 #xFFFE ]]> <x>"
    assert root.find("testsuite[@name='s#x07<&>']") is not None


def test_xml_text_cuts_long_text() -> None:
    """A long text is cut, and says so."""
    assert xml_text("abc", 2) == "ab … (cut; the report has it all)"
    assert xml_text("tab\tnewline\ncr\r") == "tab\tnewline\ncr\r"


# --- index.html ---------------------------------------------------------------------------


def test_class_view_counts_checks_and_mistakes(graded: Graded) -> None:
    """Pass rates per check, the mistakes named with their students, the facts up top."""
    view = class_view(graded.results, graded.assignment)
    rates = {c.id: (c.passed, c.graded, c.rate) for c in view.checks}
    assert rates["network-architecture"] == ("3", "4", "75%")
    assert rates["backprop-gradients"] == ("2", "4", "50%")
    assert rates["graph-explanation"] == ("2", "2", "100%")
    mistakes = {m.kind: m for m in view.mistakes}
    assert mistakes["transposed"].label == "dL/dW transposed"
    assert [link.text for link in mistakes["transposed"].students] == ["transposed_weight_grads"]
    assert mistakes["transposed"].count == "1" and mistakes["transposed"].share == "25%"
    assert dict(view.facts)["students"] == "4"
    assert dict(view.facts)["every check passed"] == "2 (50%)"
    assert [s.name for s in view.students] == [HOSTILE, *EXAMPLES]


def test_histogram_has_a_bar_per_point_or_ten_ranges(graded: Graded) -> None:
    """Whole-point scores get a bar per point; other scores, ten equal ranges."""
    bars = class_view(graded.results, graded.assignment).histogram.bars
    assert [b.tip for b in bars] == [
        "1 point: 1 student",
        "5 points: 1 student",
        "10 points: 2 students",
    ]
    assert bars[-1].css == "bar full"
    halves = [r.model_copy(update={"score": r.score - 0.5}) for r in graded.results]
    labels = class_view(halves, graded.assignment).histogram.labels
    ticks = [label.text for label in labels if label.css == "tick" and "–" in label.text]
    assert ticks[:3] == ["0–1", "1–2", "2–3"] and len(ticks) == 10


def test_index_escapes_and_quotes_folder_names(graded: Graded) -> None:
    """The hostile name is text, never markup, and its link is URL-quoted."""
    html = render_class_page(graded.results, graded.assignment)
    assert "<b>x<b>" not in html
    assert "=cmd,&lt;b&gt;x&lt;b&gt; &#34;q&#34; ?#%&amp;" in html
    assert 'href="%3Dcmd%2C%3Cb%3Ex%3Cb%3E%20%22q%22%20%3F%23%25%26/report.html"' in html
    assert "<script" not in html and "http" not in html.replace("http-equiv", "")


def test_index_is_deterministic(graded: Graded) -> None:
    """The same results render to the same bytes, also after a JSON round trip."""
    again = [GradeResult.model_validate_json(r.model_dump_json()) for r in graded.results]
    html = render_class_page(graded.results, graded.assignment)
    assert html == render_class_page(list(reversed(again)), graded.assignment)


def test_an_empty_class_renders(graded: Graded) -> None:
    """No results still gives a page, empty CSVs with headers and an empty JUnit report."""
    assert "Class results" in render_class_page([], graded.assignment)
    assert len(rows(canvas_csv([], graded.assignment))) == 2
    assert ET.fromstring(junit_xml([], graded.assignment)).get("tests") == "0"


# --- goldens ------------------------------------------------------------------------------


def test_goldens(graded: Graded, golden: Callable[[Path, str], None], tmp_path: Path) -> None:
    """Every class output of the normalised results matches its golden file."""
    roster = load_roster(
        write_roster(tmp_path, 'folder,Student,ID\ncorrect,"Lovelace, Ada",1001\nabsent,Bob,1002\n')
    )
    results = normalised(graded.results)
    for path in write_class_outputs(results, graded.assignment, tmp_path / "out", roster, 48213):
        text = path.read_bytes().decode("utf-8")
        golden(GOLDENS / path.name, text.replace("\r\n", "\n"))  # the golden reader folds CRLF


# --- in a real browser --------------------------------------------------------------------


def test_index_in_a_real_browser(graded: Graded, browser_page: Page) -> None:
    """Chromium draws the histogram, every link leads to a file, the hostile name is text."""
    from playwright.sync_api import Request

    page = browser_page
    index = write_class_outputs(graded.results, graded.assignment, graded.reports)[0]
    requests: list[str] = []

    def record(request: Request) -> None:
        requests.append(request.url)

    page.on("request", record)
    page.goto(index.as_uri())
    histogram = page.locator("svg.histogram")
    assert histogram.is_visible()
    box = histogram.bounding_box()
    assert box is not None and box["width"] > 300 and box["height"] > 100
    assert page.locator("svg.histogram rect.bar").count() == 3
    assert HOSTILE in page.locator("#students").inner_text()
    assert page.locator("#students td b").count() == 0  # the name's <b> is not markup
    hrefs = page.eval_on_selector_all("a", "links => links.map(a => a.getAttribute('href'))")
    assert len(hrefs) >= len(graded.results) + 3
    for href in hrefs:
        assert (graded.reports / unquote(href)).is_file(), href
    OUTPUT.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=OUTPUT / "index.png", full_page=True)

    page.set_viewport_size({"width": 375, "height": 812})
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 375, "the page scrolls sideways on a phone"
    assert histogram.is_visible()
    page.screenshot(path=OUTPUT / "index-phone.png", full_page=True)

    page.set_viewport_size({"width": 1100, "height": 900})
    page.locator("#students a", has_text="transposed_weight_grads").click()
    page.wait_for_load_state()
    assert page.url.endswith("/transposed_weight_grads/report.html")
    assert "5 / 10" in page.inner_text("body")
    assert all(url.startswith("file://") for url in requests)


def test_grading_one_student_again_keeps_the_class_in_the_class_outputs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A TA grades a class, then one student again into the same reports folder: grades.csv,
    summary.csv and index.html still hold every student, the regraded one with the new score.
    A result of another assignment there is left out and a damaged one skipped, both said."""
    students = tmp_path / "class"
    for name, example in {"alice": "correct", "bob": "transposed_weight_grads"}.items():
        shutil.copytree(ROOT / "submissions" / example, students / name)
    shutil.copytree(ROOT / "submissions" / "missing_first_relu", students / "cy")
    reports = tmp_path / "reports"
    argv = ["--assignment", "bs6207-a1", "--reports", str(reports), "--jobs", "1"]
    assert main([str(students), *argv]) == 0
    first = {row[0]: row[-1] for row in rows((reports / "grades.csv").read_bytes())[2:]}
    assert first == {"alice": "10", "bob": "5", "cy": first["cy"]}

    other = json.loads((reports / "bob" / "result.json").read_text())
    other.update(student="old", assignment="hw02-1")
    (reports / "old").mkdir()
    (reports / "old" / "result.json").write_text(json.dumps(other))
    (reports / "zed").mkdir()
    (reports / "zed" / "result.json").write_text('{"student": "zed", "assignment": "bs6')
    shutil.copy(
        ROOT / "submissions" / "transposed_weight_grads" / "backprop.py", students / "alice"
    )
    capsys.readouterr()
    roster = write_roster(tmp_path, 'folder,Student,ID\nbob,"Builder, Bob",1002\n')
    assert main([str(students / "alice"), *argv, "--roster", str(roster)]) == 0
    out = capsys.readouterr().out

    alice = GradeResult.model_validate_json((reports / "alice" / "result.json").read_text())
    assert alice.score < 10
    grades = rows((reports / "grades.csv").read_bytes())[2:]
    assert {row[0]: row[-1] for row in grades} == {
        "alice": points(alice.score), "Builder, Bob": "5", "cy": first["cy"]
    }  # fmt: skip
    summary = rows((reports / "summary.csv").read_bytes())
    assert [row[0] for row in summary[1:]] == ["alice", "bob", "cy"]
    suites = ET.parse(reports / "junit.xml").getroot().findall("testsuite")
    assert [suite.get("name") for suite in suites] == ["alice", "bob", "cy"]
    index = (reports / "index.html").read_text()
    for name in ("alice/report.html", "bob/report.html", "cy/report.html"):
        assert name in index
    assert "old/report.html" not in index and "zed/report.html" not in index
    assert "3 students (1 graded now, 2 graded before)" in out
    assert (
        f"{reports}: left out of the class outputs, 1 result of another assignment "
        "(hw02-1): old" in out.splitlines()
    )
    assert (
        f"{reports}: left out of the class outputs, 1 result.json that is not a valid "
        "result: zed/result.json; grade that student again" in out.splitlines()
    )
