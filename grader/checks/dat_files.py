"""dat-files: torch_autograd.dat and my_autograd.dat exist, read, have the assignment's shapes,
carry enough figures, and agree with the reference and with each other (the homework's step 8).

Files are read from the submission as text, never run. Canonical .dat blocks are matched by
name; printed arrays (numpy or torch output after free-text labels) by order, W1, b1, W2, ...
A file holding several appended runs is graded on its last run, and says so.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from grader.checks import (
    DETAILED_TABLES,
    Context,
    describe_disagreement,
    result,
    tensor_table,
)
from grader.compare import FLOOR, compare_all, tolerance
from grader.dat import Blocks, parse_dat
from grader.errors import DatFormatError
from grader.printed import PrintedBlock, read_gradient_text, significant_figures
from grader.result import CheckResult, TensorTable

CHECK = "dat-files"
# the first line that is not blank or a comment is a header `NAME DIM [DIM ...]`
_CANONICAL_START = re.compile(
    r"\A(?:[ \t]*(?:#[^\r\n]*)?(?:\r\n|\r|\n))*"
    r"[ \t]*[A-Za-z_][A-Za-z0-9_.]*(?:[ \t]+[0-9]+)+[ \t]*(?:#|\r|\n|\Z)"
)
MAX_BYTES = 16 * 1024 * 1024


@dataclass
class DatFile:
    """One student file, read and matched to the assignment's gradients."""

    name: str
    blocks: Blocks = field(default_factory=dict)
    short: dict[str, int] = field(default_factory=dict)  # tensor -> fewest figures printed
    problem: str = ""
    notes: list[str] = field(default_factory=list)


def check(context: Context) -> CheckResult:
    contract = context.assignment.contract
    expected = context.truths[0].gradient_blocks
    sig_figs = context.assignment.significant_figures
    names = (contract.torch_dat, contract.my_dat)
    files = [read(context.folder / name, expected, sig_figs) for name in names]
    details = [f"{f.name}: {note}" for f in files for note in f.notes]
    problems = [f"{f.name}: {f.problem}" for f in files if f.problem]
    tables: list[TensorTable] = []
    for dat in files:
        if dat.problem:
            continue
        comparison = compare_all(dat.blocks, expected, sig_figs)
        for tensor in comparison.tensors:
            if tensor.agree:
                continue
            text = describe_disagreement(tensor, dat.blocks, expected)
            if tensor.name in dat.short and tensor.relative_error is not None:
                fewest = dat.short[tensor.name]
                text += (
                    f" (printed with as few as {fewest} significant "
                    f"figure{'' if fewest == 1 else 's'}; {sig_figs} are needed)"
                )
            problems.append(f"{dat.name} against the reference: {text}")
            table = tensor_table(tensor, dat.blocks, expected, len(tables) < DETAILED_TABLES)
            tables.append(table.model_copy(update={"name": f"{dat.name}: {tensor.name}"}))
    first, second = files
    if not first.problem and not second.problem:
        between = compare_all(second.blocks, first.blocks, sig_figs)
        for tensor in between.tensors:
            if not tensor.agree:
                text = describe_disagreement(tensor, second.blocks, first.blocks)
                problems.append(f"{second.name} against {first.name}: {text}")
    if problems:
        more = f" (and {len(problems) - 1} more problems below)" if len(problems) > 1 else ""
        return result(context, CHECK, "fail", problems[0] + more, details + problems, tables)
    return result(
        context,
        CHECK,
        "pass",
        f"{first.name} and {second.name}: all {len(expected)} gradients agree with the reference "
        f"and with each other to {sig_figs} significant figures",
        details,
    )


def read(path: Path, expected: Blocks, sig_figs: int) -> DatFile:
    """Read one file and match its blocks to the expected names; problems become data."""
    dat = DatFile(name=path.name)
    if not path.is_file():
        dat.problem = "missing; write it with your gradients on the published inputs"
        return dat
    if path.stat().st_size > MAX_BYTES:
        dat.problem = f"{path.stat().st_size:,} bytes is too big (the limit is {MAX_BYTES:,})"
        return dat
    text = path.read_bytes().decode("utf-8", errors="replace")
    canonical_error = _canonical_error(text, path.name)
    if canonical_error:
        dat.problem = canonical_error
        return dat
    blocks = read_gradient_text(text)
    matched = _match(blocks, list(expected), dat) if blocks else None
    if matched is None:
        dat.problem = dat.problem or "holds no numbers"
        return dat
    for name, block in matched.items():
        want = expected[name]
        values = block.values
        if name.split(".")[-1].startswith("b") and values.size == want.size:
            values = values.reshape(want.shape)  # (1, n) and (n, 1) biases hold the same numbers
        dat.blocks[name] = values
        fewest = _fewest_figures(block, want, sig_figs)
        if fewest is not None:
            dat.short[name] = fewest
    return dat


def _canonical_error(text: str, name: str) -> str | None:
    """If the file starts like canonical .dat (a `NAME DIM ...` header) but breaks the format,
    what is wrong, by line: such a file is held to the format, not read as printed arrays."""
    if not _CANONICAL_START.match(text):
        return None
    try:
        parse_dat(text, path=name)
    except DatFormatError as error:
        return f"{str(error).removeprefix(name + ', ')} (see the .dat format in README)"
    return None


def _match(
    blocks: list[PrintedBlock], names: list[str], dat: DatFile
) -> dict[str, PrintedBlock] | None:
    by_label = {b.label: b for b in blocks}
    if by_label.keys() & set(names):  # canonical names: match by name
        missing = [name for name in names if name not in by_label]
        if missing:
            shown = ", ".join(missing[:6]) + (", ..." if len(missing) > 6 else "")
            dat.problem = f"has no block {shown}"
            return None
        return {name: by_label[name] for name in names}
    runs, extra = divmod(len(blocks), len(names))
    if runs == 0 or extra:
        listed = ", ".join(names[:4]) + (", ..." if len(names) > 4 else "")
        dat.problem = (
            f"holds {len(blocks)} arrays; expected {len(names)} ({listed}, in that order) "
            "or a multiple of that for appended runs"
        )
        return None
    if runs > 1:
        dat.notes.append(f"holds {runs} runs of {len(names)} arrays; the last run was graded")
    return dict(zip(names, blocks[-len(names) :], strict=True))


def _fewest_figures(block: PrintedBlock, want: np.ndarray, sig_figs: int) -> int | None:
    """The fewest figures printed for an entry that needs them; None if every entry has enough.

    An entry needs them when it is not far below its tensor's largest (FLOOR) and its printed
    value is not already exact to within the rule (5.25 printed as `5.25` is fine).
    """
    if len(block.tokens) != want.size:
        return None
    largest = float(np.max(np.abs(want), initial=0.0))
    fewest: int | None = None
    for token, value, truth in zip(block.tokens, block.values.ravel(), want.ravel(), strict=True):
        if abs(truth) < FLOOR * largest:
            continue
        exact = abs(value - truth) <= tolerance(15) * abs(truth)
        figures = significant_figures(token)
        if not exact and figures < sig_figs:
            fewest = figures if fewest is None else min(fewest, figures)
    return fewest
