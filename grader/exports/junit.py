"""junit.xml: the class as a JUnit report, for CI dashboards (GitLab, Jenkins, GitHub actions).

```xml
<testsuites name="bs6207-a1" tests="12" failures="3" errors="1" time="9.120">
  <testsuite name="alice" tests="6" failures="1" errors="0" skipped="0" time="2.280">
    <properties>
      <property name="score" value="8" />
      <property name="max_score" value="10" />
      <property name="report" value="alice/report.html" />
    </properties>
    <testcase classname="alice" name="backprop-gradients" time="0.000">
      <properties>...score and max_score...</properties>
      <failure message="W3 is transposed: ..." type="fail">the message, details, mistakes</failure>
    </testcase>
```

One `<testsuite>` per student and one `<testcase>` per check: `<failure>` when the answer is
wrong, `<error>` when the student's code could not be run, nothing when it passed. Dashboards
show no points, so they are properties (Jenkins reads them; the schema allows them on suites).
`time` is the seconds the student's grading took (`timings.total`); a check's own time when the
result records one under its id, else 0. Student text can hold anything: characters XML 1.0
forbids are written as `#xNN` (as pytest does), and a text is cut at 16 KiB.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Sequence

from grader.assignment import Assignment
from grader.exports import location_text
from grader.exports.summary import by_name, points
from grader.result import CheckResult, GradeResult

__all__ = ["MAX_TEXT", "junit_xml", "xml_text"]

MAX_TEXT = 16 * 1024  # characters of one message or body
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_ELEMENT = {"fail": "failure", "error": "error"}


def xml_text(text: str, limit: int = MAX_TEXT) -> str:
    """`text` as XML 1.0 can hold it: forbidden characters as #xNN, cut at `limit` characters."""
    if len(text) > limit:
        text = text[:limit] + " … (cut; the report has it all)"
    return _NOT_XML.sub(lambda m: f"#x{ord(m[0]):02X}", text)


def _seconds(value: float) -> str:
    return f"{value:.3f}"


def _properties(parent: ET.Element, **values: str) -> None:
    properties = ET.SubElement(parent, "properties")
    for name, value in values.items():
        ET.SubElement(properties, "property", name=name, value=xml_text(value))


def _body(check: CheckResult) -> str:
    """What a CI log shows under a failing check: the message, details and named mistakes."""
    lines = [check.message, *check.details]
    for diagnosis in check.diagnoses:
        where = f" in {diagnosis.tensor}" if diagnosis.tensor else ""
        lines.append(f"mistake: {diagnosis.kind}{where}: {diagnosis.message}")
    if check.first_failing:
        lines.append(f"the error starts at {check.first_failing}")
    if check.location is not None:
        lines.append(location_text.failure_text(check.location))
    return "\n".join(lines)


def _count(result: GradeResult, status: str) -> str:
    return str(sum(1 for check in result.checks if check.status == status))


def junit_xml(results: Sequence[GradeResult], assignment: Assignment) -> bytes:
    """junit.xml for `results`: UTF-8, one testsuite per student, one testcase per check."""
    root = ET.Element("testsuites", name=xml_text(assignment.name))
    totals = {"tests": 0, "failures": 0, "errors": 0}
    time = 0.0
    for result in by_name(results):
        student = xml_text(result.student)
        case_times = [result.timings.get(check.id, 0.0) for check in result.checks]
        suite_time = result.timings.get("total", sum(case_times))
        suite = ET.SubElement(
            root,
            "testsuite",
            name=student,
            tests=str(len(result.checks)),
            failures=_count(result, "fail"),
            errors=_count(result, "error"),
            skipped="0",
            time=_seconds(suite_time),
        )
        _properties(
            suite,
            score=points(result.score),
            max_score=points(result.max_score),
            report=f"{result.student}/report.html",
        )
        for check, case_time in zip(result.checks, case_times, strict=True):
            case = ET.SubElement(
                suite,
                "testcase",
                classname=student,
                name=xml_text(check.id),
                time=_seconds(case_time),
            )
            _properties(case, score=points(check.score), max_score=points(check.max_score))
            if check.status in _ELEMENT:
                first_line = check.message.splitlines()[0] if check.message else check.status
                verdict = ET.SubElement(
                    case,
                    _ELEMENT[check.status],
                    message=xml_text(first_line, 1000),
                    type=check.status,
                )
                verdict.text = xml_text(_body(check))
        totals["tests"] += len(result.checks)
        totals["failures"] += int(suite.get("failures", "0"))
        totals["errors"] += int(suite.get("errors", "0"))
        time += suite_time
    for name, value in totals.items():
        root.set(name, str(value))
    root.set("time", _seconds(time))
    ET.indent(root)
    document = '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode")
    return (document + "\n").encode("utf-8")
