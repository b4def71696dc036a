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
in docs/numerics.md ("The comparison rule") and in tests/test_compare.py.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

Array = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]
IntArray = npt.NDArray[np.intp]

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
    if a.size == 0:
        return np.zeros(a.shape)
    rel, _ = _relative_errors(a.ravel(), b.ravel(), np.array([0]), np.array([a.size]))
    return rel.reshape(a.shape)


def _relative_errors(
    a: Array, b: Array, starts: IntArray, sizes: IntArray
) -> tuple[Array, BoolArray | None]:
    """`relative_error` of several tensors at once, each with its own M: `a` and `b` hold
    their entries end to end, tensor i (not empty) from starts[i] for sizes[i] entries. Also
    which entries are finite in both, None if all are."""
    size = np.maximum(np.abs(a), np.abs(b))
    largest = np.maximum.reduceat(size, starts)  # M of each tensor, if all its entries are finite
    finite = None
    if not np.isfinite(largest).all():
        finite = np.isfinite(a) & np.isfinite(b)
        largest = np.maximum.reduceat(np.where(finite, size, 0.0), starts)
    floor = FLOOR * largest
    with np.errstate(all="ignore"):  # non-finite entries are inf; 1e308 - -1e308 is inf
        diff = np.abs(a - b)
        scale = np.maximum(size, np.repeat(floor, sizes))  # > 0 where diff is not 0
        if floor.min() > 0:  # then scale > 0 everywhere, and 0 / scale is 0
            rel = np.divide(diff, scale)
        else:
            rel = np.divide(diff, scale, out=np.zeros_like(diff), where=diff != 0)
    if finite is not None:
        rel = np.where(finite, rel, np.inf)
    return rel, finite


def compare(
    actual: npt.ArrayLike, expected: npt.ArrayLike, sig_figs: int = 5, name: str = ""
) -> TensorComparison:
    """Apply the rule to two tensors."""
    return _compare_many([(name, actual, expected)], sig_figs)[0]


def _compare_many(
    pairs: list[tuple[str, npt.ArrayLike, npt.ArrayLike]], sig_figs: int
) -> list[TensorComparison]:
    """`compare` on each (name, actual, expected), with the arithmetic done once for all."""
    arrays = [
        (name, np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64))
        for name, a, b in pairs
    ]
    found: list[TensorComparison | None] = [None] * len(arrays)
    same = []  # compared entry by entry: same shape, not empty
    for index, (name, a, b) in enumerate(arrays):
        if a.shape != b.shape:
            reason = f"shape {a.shape} differs from expected {b.shape}"
            found[index] = TensorComparison(name, agree=False, sig_figs=sig_figs, reason=reason)
        elif a.size == 0:
            found[index] = TensorComparison(
                name, agree=True, sig_figs=sig_figs, relative_error=np.zeros(a.shape),
                max_relative_error=0.0,
            )  # fmt: skip
        else:
            same.append(index)
    if not same:
        return [c for c in found if c is not None]
    sizes = np.array([arrays[i][1].size for i in same])
    starts = np.cumsum(sizes) - sizes
    rel, finite = _relative_errors(
        np.concatenate([arrays[i][1].ravel() for i in same]),
        np.concatenate([arrays[i][2].ravel() for i in same]),
        starts,
        sizes,
    )
    tol = tolerance(sig_figs)
    worst = np.maximum.reduceat(rel, starts)  # rel is never NaN
    maxima = np.flatnonzero(rel == np.repeat(worst, sizes))
    at = maxima[np.searchsorted(maxima, starts)] - starts  # the first worst entry, as argmax
    none = [0] * len(same)
    n_bad = (
        np.add.reduceat(rel > tol, starts, dtype=np.intp).tolist() if worst.max() > tol else none
    )
    infinite = none if finite is None else np.add.reduceat(~finite, starts, dtype=np.intp).tolist()
    ordinal = _ordinal(sig_figs)
    for index, start, size, largest, flat, bad, nonfinite in zip(
        same, starts.tolist(), sizes.tolist(), worst.tolist(), at.tolist(), n_bad, infinite,
        strict=True,
    ):  # fmt: skip
        name, a, _ = arrays[index]
        reason = ""
        if nonfinite:
            reason = f"{nonfinite} entries are NaN or infinite"
        elif bad:
            reason = (
                f"{bad} of {size} entries differ by more than one unit in the {ordinal} "
                "significant figure"
            )
        found[index] = TensorComparison(
            name,
            agree=bad == 0,
            sig_figs=sig_figs,
            reason=reason,
            relative_error=rel[start : start + size].reshape(a.shape),
            max_relative_error=largest,
            worst_index=_unravel(flat, a.shape),
            n_disagree=bad,
        )
    return [c for c in found if c is not None]


def _unravel(flat: int, shape: tuple[int, ...]) -> tuple[int, ...]:
    """np.unravel_index for one index of a C-ordered array, in Python ints."""
    if len(shape) == 1:
        return (flat,)
    if len(shape) == 2:
        return divmod(flat, shape[1])
    index = []
    for dim in reversed(shape):
        flat, at = divmod(flat, dim)
        index.append(at)
    return tuple(reversed(index))


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
    return compare_each([(actual, expected)], sig_figs)[0]


def compare_each(
    sets: Sequence[tuple[Mapping[str, npt.ArrayLike], Mapping[str, npt.ArrayLike]]],
    sig_figs: int = 5,
) -> list[Comparison]:
    """`compare_all` on each (actual, expected), with the arithmetic done once for all."""
    named = [
        [(k, actual[k], v) for k, v in expected.items() if k in actual] for actual, expected in sets
    ]
    tensors = _compare_many([pair for pairs in named for pair in pairs], sig_figs)
    comparisons, start = [], 0
    for (actual, expected), pairs in zip(sets, named, strict=True):
        comparisons.append(
            Comparison(
                tensors=tensors[start : start + len(pairs)],
                missing=[k for k in expected if k not in actual],
                unexpected=[k for k in actual if k not in expected],
            )
        )
        start += len(pairs)
    return comparisons
