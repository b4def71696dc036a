"""How much of a printed gradient file's precision is there: the unit of each printed digit,
and the entries printed too coarsely for n significant figures (see grader.dat_match)."""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, fields
from itertools import chain, compress, islice

import numpy as np
import numpy.typing as npt

from grader.compare import FLOOR, relative_error, tolerance
from grader.printed import PrintedBlock

Array = npt.NDArray[np.float64]


@dataclass(frozen=True)
class ShortPrecision:
    """How the printed precision of one tensor falls short of the figures the rule needs."""

    entries: int
    short: int  # entries not 0 printed with too few figures to show agreement
    zeros: int  # entries printed as 0 that a small value would print as too
    fewest: int  # the fewest significant figures among those (0 if none)
    decimals: int | None  # the decimals printed, when printed to a fixed number of them


# --- precision ------------------------------------------------------------------------------

Ints = npt.NDArray[np.int64]  # of Python ints (dtype object) if an exponent outgrows int64
Bools = npt.NDArray[np.bool_]


@dataclass(frozen=True)
class BlockPrecision:
    """How precisely one block is printed, entry by entry."""

    half: Array  # half a unit of each entry's last printed digit (0 if the file prints exactly)
    figures: Ints | None  # significant figures printed (as `significant_figures` counts them);
    # None if the file prints exactly: then no entry falls short
    decimals: int | None  # the decimals printed, when printed to a fixed number of them


@dataclass(frozen=True)
class _Digits:
    """How each of a run of number tokens is printed, one entry per token."""

    number: Bools  # not nan or inf
    scientific: Bools
    exponent: Ints
    decimals: Ints  # printed after the point
    zero: Bools  # no nonzero digit
    last: Ints  # power of ten of the last nonzero digit (0 if zero)
    lead: Ints  # power of ten of the first nonzero digit (0 if zero)

    def __getitem__(self, at: slice | npt.NDArray[np.intp]) -> _Digits:
        return _Digits(*(getattr(self, f.name)[at] for f in fields(self)))

    @property
    def nonzero(self) -> Bools:
        return self.number & ~self.zero

    @property
    def figures(self) -> Ints:
        """Digits from the first nonzero one to the last printed; 0 for zeros, nan and inf."""
        return np.where(self.nonzero, self.lead - self.exponent + self.decimals + 1, 0)


def _digits(tokens: Sequence[str]) -> _Digits:
    """How number tokens (decimal, nan or inf, as grader.printed reads them) are printed, read
    from all their characters at once: the tokens joined, each with a space after it."""
    text = np.frombuffer(" ".join([*tokens, ""]).encode("ascii", "replace"), dtype=np.uint8)
    end = np.fromiter(map(len, tokens), dtype=np.int64, count=len(tokens))
    start = np.cumsum(end + 1) - end - 1
    token = np.repeat(np.arange(len(tokens)), end + 1)
    at = np.arange(text.size) - start[token]  # a character's place in its token

    def place(mask: Bools, none: Ints, reduce: np.ufunc = np.minimum) -> Ints:
        """Per token, the first place where `mask` holds (the last with np.maximum), or none."""
        return reduce.reduceat(np.where(mask, at, none[token]), start)

    e = place((text | 0x20) == ord("e"), end)  # e or E
    point = place(text == ord("."), e)  # where the whole part ends
    mantissa = at < e[token]
    nonzero_digit = mantissa & (text >= ord("1")) & (text <= ord("9"))
    lead_at = place(nonzero_digit, end)
    last_at = place(nonzero_digit, np.full_like(end, -1), np.maximum)
    zero = lead_at == end
    after = (at > e[token]) & (at < end[token])
    exponent = _exponents(tokens, text, after, end[token] - at - 1, start, e)

    def power(digit_at: Ints) -> Ints:
        """The power of ten of each token's mantissa digit at `digit_at`."""
        return np.where(zero, 0, exponent + point - digit_at - (digit_at < point))

    letter = mantissa & ((text | 0x20) >= ord("a")) & ((text | 0x20) <= ord("z"))
    return _Digits(
        number=~np.logical_or.reduceat(letter, start),  # nan, inf
        scientific=e < end,
        exponent=exponent,
        decimals=np.maximum(e - point - 1, 0),
        zero=zero,
        last=power(last_at),
        lead=power(lead_at),
    )


def _exponents(
    tokens: Sequence[str],
    text: npt.NDArray[np.uint8],
    after: Bools,
    rank: Ints,
    start: Ints,
    e: Ints,
) -> Ints:
    """The integer after each token's `e` (0 without one): the digits `after` it times ten to
    their `rank` from the token's end; over 15 characters long, by Python's int. `start` and
    `e` are where each token starts and where its `e` is."""
    digit = text.astype(np.int64) - ord("0")
    digits = after & (digit >= 0) & (digit <= 9)
    size = np.add.reduceat(np.where(digits, digit * 10 ** np.where(digits, rank, 0), 0), start)
    exponent = np.where(np.logical_or.reduceat(after & (text == ord("-")), start), -size, size)
    long = np.flatnonzero(np.add.reduceat(after, start) > 15)
    if long.size:
        exponent = exponent.astype(object)
        exponent[long] = [int(tokens[i][e[i] + 1 :]) for i in long.tolist()]
    return exponent


def _powers_of_ten(powers: Ints) -> Array:
    """10.0 ** k for each k as Python computes it (numpy's power may round differently); inf
    and 0 beyond float64's range (`1e400` prints its last digit in units of 1e400)."""
    unique, inverse = np.unique(powers, return_inverse=True)
    tens = [math.inf if k > 308 else 0.0 if k < -400 else 10.0**k for k in map(int, unique)]
    return np.array(tens, dtype=np.float64)[inverse]


def _most(values: Ints) -> int:
    """How often the most common value occurs."""
    return int(np.unique(values, return_counts=True)[1].max())


def _grid(d: _Digits) -> int | None:
    """The decimals a block is printed to, told alone: scientific on one decimal grid across
    decades, or fixed point alike in decimals more than in figures; None if to figures."""
    styles, nonzero = d.scientific[d.number], d.nonzero
    if styles.size and styles.all() and nonzero.any():
        finest = d.last[nonzero].min()
        return int(-finest) if np.unique(d.lead[nonzero & (d.last == finest)]).size > 1 else None
    fixed = styles.size and not styles.any()
    if fixed and (not nonzero.any() or _most(d.decimals[nonzero]) > _most(d.figures[nonzero])):
        return int(d.decimals[d.number].max())  # more alike in decimals than figures
    return None


# A number printed with 15 or more significant figures (the file prints exactly): from the
# first nonzero digit of the mantissa, 14 more digits. A file printed with `repr` shows one
# among its first numbers long enough to hold 15 figures; any other file is told by _digits.
_EXACT = re.compile(r"[+-]?[0.]*[1-9](?:\.?[0-9]){14}")


def half_units(blocks: Sequence[PrintedBlock], chosen: list[int]) -> dict[int, BlockPrecision]:
    """Per block, half a unit of each entry's last printed digit, its figures and the decimals
    printed (None when printed to significant figures); see the module docstring. A file that
    prints 15 or more figures anywhere is printed exactly (`repr`): its halves are 0."""
    tokens = list(chain.from_iterable(blocks[i].tokens for i in chosen))
    long = compress(tokens, map((14).__lt__, map(len, tokens)))  # of 15 characters or more
    if any(map(_EXACT.match, islice(long, 100))):  # told at once
        return {i: BlockPrecision(np.zeros(blocks[i].values.shape), None, None) for i in chosen}
    index = {token: k for k, token in enumerate(dict.fromkeys(tokens))}  # most repeat (`0.`):
    # each distinct token is read once
    every = _digits(list(index))[np.fromiter(map(index.__getitem__, tokens), np.intp)]
    powers = _powers_of_ten(np.where(every.nonzero, every.exponent - every.decimals, 0))
    units = np.where(every.nonzero, powers, 0.0)  # of each token's own last digit
    exact = bool(np.any(every.figures >= 15))
    at, done = {}, 0
    for i in chosen:
        at[i], done = slice(done, done + len(blocks[i].tokens)), done + len(blocks[i].tokens)
    digits = {i: every[at[i]] for i in chosen}
    grids = {i: _grid(d) for i, d in digits.items()}
    ranked = Counter(g for g in grids.values() if g is not None).most_common(1)
    for i, d in digits.items():  # np.round(x, k) in blocks that cannot show it alone
        common, grid = (ranked[0][0] if ranked else None), grids[i]
        if common is None or np.any(d.last[d.nonzero] < -common):
            continue
        alone = grid is None and np.unique(d.scientific[d.number]).size < 2
        if alone or (grid is not None and grid < common):
            grids[i] = common  # alone, it could be either; or numpy dropped trailing zeros
    result = {}
    for i, d in digits.items():
        unit, grid, shape = units[at[i]], grids[i], blocks[i].values.shape
        if grid is not None:  # fixed point, or rounded to decimals
            on_grid = np.maximum(np.where(d.scientific, unit, 0.0), 10.0**-grid)
            unit = np.where(d.number, on_grid, unit)
        half = np.zeros_like(unit) if exact else unit / 2
        result[i] = BlockPrecision(half.reshape(shape), d.figures.reshape(shape), grid)
    return result


def short_entries(values: Array, half: Array, sig_figs: int) -> npt.NDArray[np.bool_]:
    """Entries printed too coarsely for the rule: at or above FLOOR of the tensor's largest, a
    unit of the last digit more than the rule allows (fewer than `sig_figs` figures); below
    it, half a unit more than the rule allows (the print alone could break the rule)."""
    if not half.any():  # printed exactly: no entry is short
        return np.zeros(values.shape, dtype=np.bool_)
    rel = relative_error(values, values + half)
    largest = float(np.max(np.abs(values), where=np.isfinite(values), initial=0.0))
    need = np.where(np.abs(values) >= FLOOR * largest, tolerance(sig_figs) / 2, tolerance(sig_figs))
    return np.isfinite(values) & (rel > need)


def shortfall(
    values: Array, half: Array, short: Bools, figures: Ints, grid: int | None
) -> ShortPrecision | None:
    """How the entries `short` (short_entries of values and half) fall short, or None."""
    if not short.any():
        return None
    printed = figures[short & (values != 0)]
    fewest = int(printed.min()) if printed.size else 0
    zeros = int(np.count_nonzero((values == 0) & (half > 0)))
    return ShortPrecision(values.size, int(printed.size), zeros, fewest, grid)


def plural_s(count: int) -> str:
    return "" if count == 1 else "s"


def percent(part: int, whole: int) -> str:
    return f"{100 * part / whole:.0f}%" if whole else "0%"


def listed(names: list[str]) -> str:
    return ", ".join(names[:4]) + (f" and {len(names) - 4} more" if len(names) > 4 else "")
