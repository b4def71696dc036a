"""The significant-figure rule, written once.

Two tensors `a` and `b` of the same shape agree to n significant figures when every entry
satisfies

    |a_i - b_i| <= 10^(1-n) * max(|a_i|, |b_i|, FLOOR * M),   M = the largest |entry| of a or b,

that is, they differ by at most one unit in the n-th significant figure, measured against the
entry itself or, for entries far smaller than the rest of their tensor, against FLOOR of the
tensor's largest magnitude. The rule is symmetric, so which file is "expected" never matters.

Why the floor: a correct float32 backprop computes small entries of a layer by cancellation
of terms as large as the layer's largest entries, so their float32 rounding error is relative
to M, not to themselves. Why one unit: a value printed to exactly n significant figures is
off by up to half a unit, and float32 adds a little more. The numbers behind both choices are
in README ("The comparison rule") and in tests/test_compare.py.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

Array = npt.NDArray[np.float64]

FLOOR = 0.1


def tolerance(sig_figs: int) -> float:
    """The largest relative difference that still agrees to `sig_figs` significant figures."""
    return 10.0 ** (1 - sig_figs)


def agreeing_figures(relative_error: float) -> int:
    """How many significant figures a relative difference leaves in agreement (0 to 17)."""
    if relative_error == 0:
        return 17
    if not math.isfinite(relative_error):
        return 0
    return max(0, min(17, math.floor(1 - math.log10(relative_error) + 1e-12)))


def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


@dataclass(frozen=True)
class TensorComparison:
    """The verdict on one tensor, with the per-entry errors a report can draw."""

    name: str
    agree: bool
    sig_figs: int
    reason: str = ""
    relative_error: Array | None = None  # |a - b| / scale, entry by entry; None if shapes differ
    max_relative_error: float = math.inf
    worst_index: tuple[int, ...] | None = None
    n_disagree: int = 0

    @property
    def figures(self) -> int:
        """Significant figures of agreement of the worst entry."""
        return agreeing_figures(self.max_relative_error)


def relative_error(a: Array, b: Array) -> Array:
    """The rule's measure, entry by entry, of two float64 arrays of one shape: |a - b| over
    max(|a|, |b|, FLOOR * M); 0 where they are equal, inf where either is NaN or infinite."""
    finite = np.isfinite(a) & np.isfinite(b)
    size = np.maximum(np.abs(a), np.abs(b))
    largest = float(np.max(size, where=finite, initial=0.0))
    with np.errstate(all="ignore"):  # non-finite entries are inf; 1e308 - -1e308 is inf
        diff = np.abs(a - b)
        scale = np.maximum(size, FLOOR * largest)  # > 0 where diff is not 0
        scaled = np.divide(diff, scale, out=np.zeros_like(diff), where=diff != 0)
    return np.where(finite, scaled, np.inf)


def compare(
    actual: npt.ArrayLike, expected: npt.ArrayLike, sig_figs: int = 5, name: str = ""
) -> TensorComparison:
    """Apply the rule to two tensors."""
    a = np.asarray(actual, dtype=np.float64)
    b = np.asarray(expected, dtype=np.float64)
    if a.shape != b.shape:
        reason = f"shape {a.shape} differs from expected {b.shape}"
        return TensorComparison(name=name, agree=False, sig_figs=sig_figs, reason=reason)
    rel = relative_error(a, b)
    n_bad = int(np.count_nonzero(rel > tolerance(sig_figs)))
    worst = int(np.argmax(rel)) if rel.size else None
    infinite = rel.size - int(np.count_nonzero(np.isfinite(a) & np.isfinite(b)))
    reason = ""
    if infinite:
        reason = f"{infinite} entries are NaN or infinite"
    elif n_bad:
        reason = (
            f"{n_bad} of {rel.size} entries differ by more than one unit in the "
            f"{_ordinal(sig_figs)} significant figure"
        )
    return TensorComparison(
        name=name,
        agree=n_bad == 0,
        sig_figs=sig_figs,
        reason=reason,
        relative_error=rel,
        max_relative_error=float(rel.flat[worst]) if worst is not None else 0.0,
        worst_index=(
            tuple(int(i) for i in np.unravel_index(worst, rel.shape)) if worst is not None else None
        ),
        n_disagree=n_bad,
    )


@dataclass(frozen=True)
class Comparison:
    """The verdict on a set of named tensors (e.g. W1, b1, ... of every step)."""

    tensors: list[TensorComparison]
    missing: list[str] = field(default_factory=list)  # expected but absent
    unexpected: list[str] = field(default_factory=list)  # present but not expected

    @property
    def agree(self) -> bool:
        return not self.missing and not self.unexpected and all(t.agree for t in self.tensors)

    @property
    def first_disagreement(self) -> TensorComparison | None:
        return next((t for t in self.tensors if not t.agree), None)


def compare_all(
    actual: Mapping[str, npt.ArrayLike], expected: Mapping[str, npt.ArrayLike], sig_figs: int = 5
) -> Comparison:
    """Compare tensors by name, in the expected order."""
    return Comparison(
        tensors=[
            compare(actual[k], v, sig_figs, name=k) for k, v in expected.items() if k in actual
        ],
        missing=[k for k in expected if k not in actual],
        unexpected=[k for k in actual if k not in expected],
    )
