"""The public result format: its JSON schema is documented and result.json round-trips."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import jsonschema  # nbformat's, and so ours

from grader.result import CHECK_IDS, CheckResult, GradeResult, Seeds, TensorTable

SCHEMA = Path(__file__).parent.parent / "docs" / "result.schema.json"


def test_schema_in_docs_is_current(golden: Callable[[Path, str], None]) -> None:
    """docs/result.schema.json is the GradeResult model's schema."""
    golden(SCHEMA, json.dumps(GradeResult.model_json_schema(), indent=2) + "\n")


def test_result_json_round_trips_with_infinite_errors() -> None:
    """A result with an infinite relative error writes valid JSON and reads back equal."""
    table = TensorTable(
        name="W1", shape=[1], expected=[1.0], actual=[float("nan")],
        relative_error=[float("inf")], agree=False, max_relative_error=float("inf"),
    )  # fmt: skip
    check = CheckResult(
        id=CHECK_IDS[2], name="Your backprop", status="fail", score=0, max_score=4,
        message="W1 disagrees", tables=[table],
    )  # fmt: skip
    result = GradeResult(
        student="alice", assignment="bs6207-a1", assignment_title="A1", score=0, max_score=4,
        checks=[check], seeds=Seeds(published=1, hidden=[2, 3, 4]), sig_figs=5, isolation="x",
    )  # fmt: skip
    text = result.model_dump_json()
    assert json.loads(text)["checks"][0]["tables"][0]["relative_error"] == ["Infinity"]
    again = GradeResult.model_validate_json(text)
    assert again.checks[0].tables[0].max_relative_error == float("inf")
    assert again.model_dump_json() == text
    jsonschema.validate(json.loads(text), json.loads(SCHEMA.read_text()))  # as the docs say it is
