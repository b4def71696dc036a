"""Verdicts on matched gradient files: agree, cannot show (the print is too coarse), or
disagree (see grader.dat_match)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Literal

import numpy as np

from grader.compare import TensorComparison, compare_each, relative_error, tolerance
from grader.dat_match import (
    Array,
    Match,
    PrintedTensor,
    Shape,
    Verdict,
    expected_from,
    match_blocks,
)
from grader.dat_precision import short_entries
from grader.printed import PrintedBlock

# --- verdicts -------------------------------------------------------------------------------

_RANK = {"disagree": 0, "cannot show": 1, "agree": 2}


@dataclass(frozen=True)
class TensorVerdict:
    """Two tensors under the rule, told apart from what their printing can show."""

    name: str
    verdict: Verdict
    comparison: TensorComparison
    turned: str = ""  # which side was read transposed to agree ("A", "B"), if one was


def judge(
    name: str,
    a: Array,
    b: Array,
    half_a: Array,
    half_b: Array,
    sig_figs: int,
    *,
    b_exact: bool = False,
) -> TensorVerdict:
    """`agree`; `cannot show` when the values agree but some are printed too coarsely to show
    it, or disagree only in such entries and by no more than their printing rounds; else
    `disagree`. With `b_exact` (b is the reference), an entry printed exactly is never too
    coarse (`14.0` for 14)."""
    x = PrintedTensor(a, half_a, short_entries(a, half_a, sig_figs))
    y = PrintedTensor(b, half_b, short_entries(b, half_b, sig_figs))
    return judge_each([(name, x, y)], sig_figs, b_exact=b_exact)[0]


def judge_each(
    tensors: Sequence[tuple[str, PrintedTensor, PrintedTensor]],
    sig_figs: int,
    *,
    b_exact: bool = False,
) -> list[TensorVerdict]:
    """`judge` on each (name, a, b), the comparisons made at once (`compare_each`)."""
    sets = [({name: a.values}, {name: b.values}) for name, a, b in tensors]
    comparisons = [c.tensors[0] for c in compare_each(sets, sig_figs)]
    return [
        _verdict(comparison, a, b, sig_figs, b_exact)
        for comparison, (_, a, b) in zip(comparisons, tensors, strict=True)
    ]


def _verdict(
    comparison: TensorComparison,
    a: PrintedTensor,
    b: PrintedTensor,
    sig_figs: int,
    b_exact: bool,
) -> TensorVerdict:
    """The verdict on two printed tensors, given their comparison (see `judge`)."""
    name = comparison.name
    if comparison.relative_error is None:
        return TensorVerdict(name, "disagree", comparison)
    if not a.half.any() and not b.half.any():  # both printed exactly: no entry is short
        return TensorVerdict(name, "agree" if comparison.agree else "disagree", comparison)
    short = a.coarse | b.coarse
    if b_exact:
        short &= np.abs(a.values - b.values) > tolerance(15) * np.abs(b.values)
    if comparison.agree:
        return TensorVerdict(name, "cannot show" if short.any() else "agree", comparison)
    slack = a.half + b.half
    with np.errstate(invalid="ignore"):
        moved = relative_error(a.values + np.clip(b.values - a.values, -slack, slack), b.values)
    bad = comparison.relative_error > tolerance(sig_figs)
    hidden = short & (moved <= tolerance(sig_figs))
    return TensorVerdict(name, "cannot show" if np.all(hidden | ~bad) else "disagree", comparison)


def compare_matches(a: Match, b: Match, sig_figs: int) -> list[TensorVerdict]:
    """Judge the tensors both matches hold, in a's order. If the square weights of the side
    whose file does not show its layout agree better transposed (some better, none worse),
    they are all read so, and `turned` says which side."""
    names = [n for n in a.blocks if n in b.blocks]
    side = "B" if b.layout is None else "A" if a.layout is None else ""
    squares = {
        n
        for n in names
        if a.blocks[n].ndim == 2 and a.blocks[n].shape[0] == a.blocks[n].shape[1] > 1
    }

    def verdicts(turn: bool) -> dict[str, TensorVerdict]:
        tensors = []
        for name in names:
            x, y, flip = a.tensor(name), b.tensor(name), turn and name in squares
            tensors.append(
                (name, x.T if flip and side == "A" else x, y.T if flip and side == "B" else y)
            )
        return {
            v.name: replace(v, turned=side if turn and v.name in squares else "")
            for v in judge_each(tensors, sig_figs)
        }

    plain = verdicts(False)
    if side and squares and any(plain[n].verdict != "agree" for n in squares):
        turned = verdicts(True)
        score = {n: (_score(plain[n]), _score(turned[n])) for n in squares}
        if any(t[0] > p[0] for p, t in score.values()) and all(t >= p for p, t in score.values()):
            return list(turned.values())
    return list(plain.values())


def _score(verdict: TensorVerdict) -> tuple[int, int]:
    return _RANK[verdict.verdict], verdict.comparison.figures


def overall(verdicts: Sequence[TensorVerdict]) -> Verdict:
    """The worst verdict of a set of tensors (agree if there are none)."""
    return min((v.verdict for v in verdicts), key=_RANK.__getitem__, default="agree")


@dataclass(frozen=True)
class Pair:
    """Two files matched to the same names and judged tensor by tensor."""

    expected: dict[str, Shape]
    a: Match
    b: Match
    tensors: list[TensorVerdict]

    @property
    def one_sided(self) -> list[str]:
        """Names one file holds and the other does not."""
        return [n for n in self.expected if (n in self.a.blocks) != (n in self.b.blocks)]

    @property
    def verdict(self) -> Verdict | Literal["nothing to compare"]:
        if not self.tensors and not self.one_sided:
            return "nothing to compare"
        return "disagree" if self.one_sided else overall(self.tensors)


def compare_files(
    a: Sequence[PrintedBlock],
    b: Sequence[PrintedBlock],
    expected: Mapping[str, Shape] | None,
    sig_figs: int,
) -> Pair:
    """Match both files to `expected` (without it, to the names and shapes of a's blocks) and
    judge what they hold."""
    names = dict(expected) if expected is not None else expected_from(a)
    first = match_blocks(a, names, sig_figs=sig_figs)
    second = match_blocks(b, names, sig_figs=sig_figs)
    return Pair(names, first, second, compare_matches(first, second, sig_figs))
