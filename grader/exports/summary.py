"""summary.csv: one row per student, one column per check, for a TA's spreadsheet.

Columns, in order:

- `student`: the submission folder's name
- one per check id (`network-architecture`, ...): the points the check earned; empty when the
  student's result has no such check (`graph-explanation` runs only when graph.md or graph.txt
  is there)
- `total`, `max`: the points earned and available
- `passed`: `true` when every check passed, else `false`
- `not_passed`: the ids of the checks that failed or could not run, separated by spaces
- `first_diagnosis`: the kind of the first named mistake (`transposed`, `factor`, ...), in
  check order; empty when none was named

Also the CSV basics every export here shares: numbers as a gradebook reads them, and text cells
guarded against formula injection (a folder or a name starting with `=` must stay text when the
file is opened in a spreadsheet).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence

from grader.result import CHECK_IDS, GradeResult

__all__ = [
    "by_name",
    "check_ids",
    "csv_bytes",
    "first_diagnosis",
    "points",
    "safe_cell",
    "summary_csv",
]

_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(text: str) -> str:
    """`text` as a spreadsheet keeps it: a leading ' when it would start a formula (OWASP)."""
    if text.startswith(_FORMULA_STARTS) or text.lstrip().startswith(_FORMULA_STARTS[:4]):
        return "'" + text
    return text


def points(value: float) -> str:
    """Points to at most 2 decimals, as Canvas exports them, without trailing zeros: 10, 2.5."""
    text = f"{value:.2f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def csv_bytes(rows: Iterable[Sequence[str]]) -> bytes:
    """Rows as UTF-8 CSV with CRLF line ends (RFC 4180), quoting only where needed."""
    buffer = io.StringIO(newline="")
    csv.writer(buffer, lineterminator="\r\n").writerows(rows)
    return buffer.getvalue().encode("utf-8")


def check_ids(results: Sequence[GradeResult]) -> list[str]:
    """Every check id in `results`: the known ones in their usual order, then any others."""
    seen = dict.fromkeys(check.id for result in results for check in result.checks)
    return [c for c in CHECK_IDS if c in seen] + [c for c in seen if c not in CHECK_IDS]


def by_name(results: Sequence[GradeResult]) -> list[GradeResult]:
    """`results` sorted by student, as every class output lists them."""
    return sorted(results, key=lambda result: (result.student.casefold(), result.student))


def first_diagnosis(result: GradeResult) -> str:
    """The kind of the first mistake named in `result`, in check order; "" if none."""
    return next((c.diagnoses[0].kind for c in result.checks if c.diagnoses), "")


def summary_csv(results: Sequence[GradeResult]) -> bytes:
    """summary.csv for `results` (columns in the module docstring)."""
    ids = check_ids(results)
    rows = [["student", *ids, "total", "max", "passed", "not_passed", "first_diagnosis"]]
    for result in by_name(results):
        scores = {check.id: points(check.score) for check in result.checks}
        rows.append(
            [
                safe_cell(result.student),
                *(scores.get(check_id, "") for check_id in ids),
                points(result.score),
                points(result.max_score),
                "true" if result.passed and result.checks else "false",
                safe_cell(" ".join(c.id for c in result.checks if c.status != "pass")),
                safe_cell(first_diagnosis(result)),
            ]
        )
    return csv_bytes(rows)
