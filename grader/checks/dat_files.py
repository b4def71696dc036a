"""dat-files: torch_autograd.dat and my_autograd.dat exist, read, have the assignment's shapes,
carry enough figures, and agree with the reference and with each other (the homework's step 8).

Files are read from the submission as text, never run. `grader.dat_match` matches their blocks
to W1, b1, ... (canonical names, or labels, orders, layouts and appended runs as students print
them) and its notes go into the details. Each file is compared with the reference, and the two
with each other, by `judge` (the rule of grader.compare); a tensor that disagrees only where
its print rounds away the figures is a precision problem and is said as one, not as a wrong
value. Weights written in (in, out) layout are read, compared, and fail as a layout problem.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from grader import files
from grader.checks import (
    DETAILED_TABLES,
    Context,
    describe_disagreement,
    result,
    tensor_table,
)
from grader.compare import compare
from grader.dat import Blocks
from grader.dat_match import MAX_BYTES, Match, PrintedTensor, match_blocks, printed_blocks
from grader.dat_verdict import judge_each
from grader.errors import DatFormatError
from grader.result import CheckResult, TensorTable

CHECK = "dat-files"


@dataclass
class DatFile:
    """One student file, read and matched to the assignment's gradients."""

    name: str
    match: Match | None = None
    problem: str = ""  # why it could not be read at all

    @property
    def blocks(self) -> Blocks:
        return self.match.blocks if self.match is not None else {}


def check(context: Context) -> CheckResult:
    contract = context.assignment.contract
    expected = context.truths[0].gradient_blocks
    sig_figs = context.assignment.significant_figures
    names = (contract.torch_dat, contract.my_dat)
    dats = [read(context.folder, name, expected, sig_figs) for name in names]
    details = [f"{f.name}: {note}" for f in dats if f.match for note in f.match.notes]
    problems = [f"{f.name}: {f.problem}" for f in dats if f.problem]
    tables: list[TensorTable] = []
    for dat in dats:
        if dat.match is not None:
            problems += _against_reference(dat.name, dat.match, expected, sig_figs, tables)
    first, second = dats
    if first.match is not None and second.match is not None:
        a, b = second.match, first.match
        both = [n for n in b.blocks if n in a.blocks]
        for verdict in judge_each([(n, a.tensor(n), b.tensor(n)) for n in both], sig_figs):
            if verdict.verdict != "disagree":  # printed too coarsely: said above
                continue
            text = describe_disagreement(verdict.comparison, a.blocks, b.blocks)
            problems.append(f"{second.name} against {first.name}: {text}")
    if problems:
        extra = len(problems) - 1
        more = f" (and {extra} more problem{'s' * (extra > 1)} below)" if extra else ""
        return result(context, CHECK, "fail", problems[0] + more, details + problems, tables)
    return result(
        context,
        CHECK,
        "pass",
        f"{first.name} and {second.name}: all {len(expected)} gradients agree with the reference "
        f"and with each other to {sig_figs} significant figures",
        details,
    )


def read(folder: Path, name: str, expected: Blocks, sig_figs: int) -> DatFile:
    """Read one file of the submission and match its blocks to the expected names; problems
    become data. A link is not read, nor a FIFO or a device (grader.files)."""
    dat = DatFile(name=name)
    try:
        data = files.read(folder, name, MAX_BYTES + 1)
    except files.NotAFile as error:
        missing = "missing; write it with your gradients on the published inputs"
        dat.problem = missing if error.kind == "missing" else error.reason
        return dat
    try:
        blocks = printed_blocks(data, folder / name)
    except DatFormatError as error:
        dat.problem = (f"line {error.line}: " if error.line else "") + error.reason
        return dat
    shapes = {name: values.shape for name, values in expected.items()}
    dat.match = match_blocks(blocks, shapes, sig_figs=sig_figs)
    return dat


def _against_reference(
    name: str, match: Match, expected: Blocks, sig_figs: int, tables: list[TensorTable]
) -> list[str]:
    """The problems of one matched file against the reference, most telling first: missing
    blocks, a transposed layout, wrong values, then figures too few to show agreement."""
    missing, layout, wrong, coarse = [], [], [], []
    if match.missing:
        shown = ", ".join(match.missing[:6]) + (", ..." if len(match.missing) > 6 else "")
        misfit = next((n for n in match.notes if ", but " in n and " is named " in n), "")
        missing.append(f"{name}: has no block {shown}" + (f" ({misfit})" if misfit else ""))
    verdicts = judge_each(
        [
            (n, match.tensor(n), PrintedTensor.exact(want))
            for n, want in expected.items()
            if n in match.blocks
        ],
        sig_figs,
        b_exact=True,
    )
    for verdict in verdicts:
        tensor, got, want = verdict.comparison, match.blocks[verdict.name], expected[verdict.name]
        if verdict.verdict == "cannot show":
            coarse.append(tensor.name)
        if verdict.verdict != "disagree":
            continue
        text = describe_disagreement(tensor, match.blocks, expected)
        if got.ndim == 2 and got.shape[0] == got.shape[1] > 1 and compare(got.T, want).agree:
            text += " (transposed, it agrees: write it in PyTorch's (out, in) layout)"
        wrong.append(f"{name} against the reference: {text}")
        table = tensor_table(tensor, match.blocks, expected, len(tables) < DETAILED_TABLES)
        tables.append(table.model_copy(update={"name": f"{name}: {tensor.name}"}))
    if match.transposed:
        first, shape = match.transposed[0], expected[match.transposed[0]].shape
        right = all(v.comparison.agree for v in verdicts if v.name in match.transposed)
        verb = "is" if len(match.transposed) == 1 else "are"
        layout.append(
            f"{name} against the reference: {first}: shape {shape[::-1]} differs from expected "
            f"{shape}: {_listed(match.transposed)} {verb} written transposed, in (in, out) "
            "layout; write PyTorch's (out, in)"
            + (" (transposed, the values agree with the reference)" if right else "")
        )
    if coarse:
        problem = match.precision_problem(sig_figs) or "printed with too few figures"
        coarse = [f"{name}: {problem} ({_listed(coarse)})"]
    return missing + layout + wrong + coarse


def _listed(names: list[str]) -> str:
    return (
        ", ".join(names) if len(names) <= 4 else f"{', '.join(names[:3])} and {len(names) - 3} more"
    )
