"""The public result format: what `grade` writes to <reports>/<student>/result.json.

`GradeResult.model_json_schema()` is the documented schema (docs/result.schema.json).
Check ids are part of the format: network-architecture, autograd-gradients,
backprop-gradients, no-autograd, dat-files.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, WithJsonSchema

from grader import files
from grader.assignment import Limits
from grader.autograd_graph import Graph
from grader.presets import DEFAULT_POINTS

MAX_RESULT = 64 * 2**20  # bytes of a result.json read back: far above any real one
Status = Literal["pass", "fail", "error"]

CHECK_IDS = tuple(DEFAULT_POINTS)  # in the order every output lists them


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", ser_json_inf_nan="strings")


# A number of a tensor: NaN and the infinities are written as strings ("NaN", "Infinity",
# "-Infinity"; ser_json_inf_nan), since JSON has no such numbers; the schema says so.
Value = Annotated[
    float,
    WithJsonSchema({"anyOf": [{"type": "number"}, {"enum": ["NaN", "Infinity", "-Infinity"]}]}),
]


class TensorTable(_Model):
    """One tensor compared entry by entry: what the report draws as a table."""

    name: str = Field(description="block name, e.g. W3 or step1.b2")
    shape: list[int] = Field(description="the reference's shape")
    expected: list[Value] = Field(
        default_factory=list,
        description="reference values, flattened in C order; empty for a tensor that agrees",
    )
    actual: list[Value] | None = Field(
        default=None, description="the student's values, flattened; null if the shape differs"
    )
    actual_shape: list[int] | None = Field(default=None, description="the student's shape")
    relative_error: list[Value] | None = Field(
        default=None, description="per entry: |a - b| / max(|a|, |b|, 0.1 · largest)"
    )
    agree: bool = Field(description="every entry agrees to the assignment's figures")
    max_relative_error: Value = Field(description="the worst entry's relative error")
    note: str = Field(default="", description="why the tensor disagrees, in words")


class Diagnosis(_Model):
    """A named mistake: what went wrong, where, in words a student can act on."""

    kind: str = Field(description="stable id, e.g. transposed, factor, sign, missing-activation")
    tensor: str | None = Field(default=None, description="the tensor it was found in, e.g. W3")
    message: str = Field(description="the mistake and how to fix it")


class Location(_Model):
    """The line of the student's backprop where the first wrong value was formed."""

    file: str = Field(
        description="the file, relative to the submission (backprop.py, helpers/grad.py), or "
        "the notebook's file name"
    )
    cell: int | None = Field(
        default=None, description="for a notebook: the cell, counting every cell from 1"
    )
    line: int = Field(description="the line, from 1, in the file (in the cell for a notebook)")
    end_line: int | None = Field(
        default=None, description="the statement's last line, when it spans several"
    )
    source: str = Field(description="the statement's code as written")
    sentence: str = Field(description="what is wrong on that line, in words")
    layer: int | None = Field(
        default=None, description="the layer whose value was wrong there (a loop's iteration)"
    )
    iteration: int | None = Field(
        default=None, description="which run of the line it was, from 1, when it ran more than once"
    )
    excerpt_start: int = Field(default=1, description="the line number of excerpt[0]")
    excerpt: list[str] = Field(
        default_factory=list, description="the code around the line, a few lines either side"
    )


class CheckResult(_Model):
    """One check's verdict."""

    id: str = Field(description="stable check id, e.g. backprop-gradients")
    name: str = Field(description="a human title for the check")
    status: Status = Field(description="pass; fail: the answer is wrong; error: could not run")
    score: float = Field(description="points earned")
    max_score: float = Field(description="points available")
    message: str = Field(description="what a student reads first")
    details: list[str] = Field(default_factory=list, description="further lines for the report")
    tables: list[TensorTable] = Field(
        default_factory=list, description="per-tensor comparisons behind the verdict"
    )
    diagnoses: list[Diagnosis] = Field(
        default_factory=list, description="the mistakes found, most likely first"
    )
    first_failing: str | None = Field(
        default=None, description="the tensor where the error starts (the first layer to fix)"
    )
    location: Location | None = Field(
        default=None,
        description="backprop-gradients only: the line where the first wrong value was formed, "
        "when one could be named",
    )


NoteKind = Literal[
    "magic", "cell-magic", "shell", "help", "missing-import", "colab", "windows-path"
]


class CellNote(_Model):
    """A line of a notebook's cell that did not run as written, and why."""

    line: int = Field(description="the line within the cell, from 1")
    kind: NoteKind = Field(
        description="magic, cell-magic, shell, help: IPython-only, not run; missing-import: a "
        "package not installed here; colab, windows-path: runs only on the student's machine"
    )
    code: str = Field(description="the line as written")
    message: str = Field(description="what happened, in words")


class CellRun(_Model):
    """One code cell of a notebook, as `grade` ran it."""

    cell: int = Field(description="the cell's position in the notebook, counting every cell")
    first_line: str = Field(description="its first line of code, to find it by")
    status: Literal["ran", "failed", "skipped", "not run"] = Field(
        description="failed: raised (the next cell still ran); skipped: IPython-only (a %% "
        "cell magic); not run: the notebook stopped before it"
    )
    error: str = Field(default="", description="the exception that stopped the cell")
    line: int | None = Field(default=None, description="the line of the cell that raised")
    frames: list[str] = Field(
        default_factory=list, description="the student's frames of the error, outermost first"
    )
    notes: list[CellNote] = Field(default_factory=list, description="lines that did not run")
    source: str = Field(default="", description="the cell's code (long cells are cut)")


class NotebookRun(_Model):
    """A notebook handed in: whether it was graded, and how its cells ran."""

    file: str = Field(description="the notebook's file name")
    used: bool = Field(description="whether its code was graded (modules win over a notebook)")
    message: str = Field(description="what happened to it, in one sentence")
    cells: list[CellRun] = Field(default_factory=list, description="its code cells, in order")
    network: str = Field(
        default="",
        description="the global that was graded as the network when the notebook defines no "
        "network function",
    )
    notes: list[str] = Field(
        default_factory=list, description="what running it showed, worth no points"
    )


class Seeds(_Model):
    """The seeds graded, so a TA can reproduce every number."""

    published: int = Field(description="seed of the inputs students were given")
    hidden: list[int] = Field(description="seeds derived from the assignment and the student")


class GradeResult(_Model):
    """Everything `grade` concluded about one submission."""

    student: str = Field(description="the submission folder's name")
    assignment: str = Field(description="the assignment's name")
    assignment_title: str = Field(description="the assignment's title")
    score: float = Field(description="sum of the checks' scores")
    max_score: float = Field(description="sum of the checks' max scores")
    checks: list[CheckResult]
    seeds: Seeds
    sig_figs: int = Field(description="significant figures the gradients must agree to")
    isolation: str = Field(description="how the student's code was isolated")
    limits: Limits = Field(
        default_factory=Limits, description="the limits the student's code ran under"
    )
    output: str = Field(default="", description="what the student's code printed (truncated)")
    graph: Graph | None = Field(default=None, description="the autograd graph of the loss")
    notebook: NotebookRun | None = Field(
        default=None, description="the notebook handed in, if there is one"
    )
    folder: str = Field(
        default="",
        description="the folder graded, relative to the submission (`/`-separated), when its "
        "files were found below its top, e.g. hw1; empty for the top",
    )
    found: str = Field(
        default="",
        description="where the files graded were found, when not at the top of the submission: "
        "graded hw1/, the one folder holding network.py and backprop.py",
    )
    timings: dict[str, float] = Field(default_factory=dict, description="seconds per stage")
    versions: dict[str, str] = Field(default_factory=dict, description="grade, python, torch")
    submission_key: str = Field(
        default="",
        description="sha256 of the files graded, the folder name, the assignment and the "
        "grader's code: a rerun reuses this result while it is unchanged",
    )

    @property
    def passed(self) -> bool:
        return all(check.status == "pass" for check in self.checks)

    @classmethod
    def read(cls, out: Path) -> GradeResult:
        """The result.json that `grade` wrote in `out` (a student's reports folder), read back
        without following a link and up to MAX_RESULT bytes (one cut short is not valid).
        files.NotAFile if there is none; ValueError (a ValidationError) if it is not whole."""
        return cls.model_validate_json(files.read(out, "result.json", MAX_RESULT))
