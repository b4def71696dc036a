"""How much of a printed gradient file's precision is there: the unit of each printed digit,
and the entries printed too coarsely for n significant figures (see grader.dat_match)."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from grader.compare import FLOOR, compare, tolerance
from grader.printed import PrintedBlock, significant_figures

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

_NUMBER = re.compile(r"[+-]?([0-9]*)(?:\.([0-9]*))?(?:[eE]([+-]?[0-9]+))?")


@dataclass(frozen=True)
class _Digits:
    scientific: bool
    exponent: int
    decimals: int  # printed after the point
    zero: bool
    last: int  # power of ten of the last nonzero digit
    lead: int  # power of ten of the first nonzero digit


def _digits(token: str) -> _Digits | None:
    """How a number token is printed; None for nan and inf."""
    number = _NUMBER.fullmatch(token)
    if number is None or not (number[1] or number[2]):
        return None
    whole, fraction, exponent = number[1], number[2] or "", int(number[3] or 0)
    digits = (whole + fraction).lstrip("0")
    if not digits:
        return _Digits(number[3] is not None, exponent, len(fraction), True, 0, 0)
    lead = (
        exponent + len(whole.lstrip("0")) - 1
        if whole.lstrip("0")
        else exponent - 1 - (len(fraction) - len(fraction.lstrip("0")))
    )
    last = lead - len(digits.rstrip("0")) + 1
    return _Digits(number[3] is not None, exponent, len(fraction), False, last, lead)


def half_units(
    blocks: Sequence[PrintedBlock], chosen: list[int], exact: bool
) -> dict[int, tuple[Array, int | None]]:
    """Per block, half a unit of each entry's last printed digit and the decimals printed
    (None when printed to significant figures); see the module docstring."""
    parsed = {i: [d for t in blocks[i].tokens if (d := _digits(t)) is not None] for i in chosen}
    grids: dict[int, int | None] = {}
    for i, digits in parsed.items():
        styles = {d.scientific for d in digits}
        nonzero = [d for d in digits if not d.zero]
        finest = min((d.last for d in nonzero), default=0)
        leads = {d.lead for d in nonzero if d.last == finest}
        grids[i] = -finest if styles == {True} and len(leads) > 1 else None
        figures = Counter(d.lead - d.exponent + d.decimals for d in nonzero).most_common(1)
        places = Counter(d.decimals for d in nonzero).most_common(1)
        if styles == {False} and (not nonzero or places[0][1] > figures[0][1]):
            grids[i] = max(d.decimals for d in digits)  # more alike in decimals than figures
    ranked = Counter(g for g in grids.values() if g is not None).most_common(1)
    for i, digits in parsed.items():  # np.round(x, k) in blocks that cannot show it alone
        common, grid = (ranked[0][0] if ranked else None), grids[i]
        if common is None or any(d.last < -common for d in digits if not d.zero):
            continue
        alone = grid is None and len({d.scientific for d in digits}) < 2
        if alone or (grid is not None and grid < common):
            grids[i] = common  # alone, it could be either; or numpy dropped trailing zeros
    result = {}
    for i in chosen:
        units, grid = [], grids[i]
        for d in map(_digits, blocks[i].tokens):
            own = 0.0 if d is None or d.zero else 10.0 ** (d.exponent - d.decimals)
            if d is not None and grid is not None:  # fixed point, or rounded to decimals
                own = max(own if d.scientific else 0.0, 10.0**-grid)
            units.append(0.0 if exact else own / 2)
        result[i] = (np.array(units).reshape(blocks[i].values.shape), grids[i])
    return result


def short_entries(values: Array, half: Array, sig_figs: int) -> npt.NDArray[np.bool_]:
    """Entries printed too coarsely for the rule: at or above FLOOR of the tensor's largest, a
    unit of the last digit more than the rule allows (fewer than `sig_figs` figures); below
    it, half a unit more than the rule allows (the print alone could break the rule)."""
    rel = compare(values, values + half, sig_figs).relative_error
    assert rel is not None
    largest = float(np.max(np.abs(values), where=np.isfinite(values), initial=0.0))
    need = np.where(np.abs(values) >= FLOOR * largest, tolerance(sig_figs) / 2, tolerance(sig_figs))
    return np.isfinite(values) & (rel > need)


def shortfall(
    values: Array, half: Array, tokens: npt.NDArray[np.object_], sig_figs: int, grid: int | None
) -> ShortPrecision | None:
    short = short_entries(values, half, sig_figs)
    if not short.any():
        return None
    figures = [significant_figures(str(t)) for t in tokens[short & (values != 0)]]
    zeros = int(np.count_nonzero((values == 0) & (half > 0)))
    return ShortPrecision(values.size, len(figures), zeros, min(figures, default=0), grid)


def plural_s(count: int) -> str:
    return "" if count == 1 else "s"


def percent(part: int, whole: int) -> str:
    return f"{100 * part / whole:.0f}%" if whole else "0%"


def listed(names: list[str]) -> str:
    return ", ".join(names[:4]) + (f" and {len(names) - 4} more" if len(names) > 4 else "")
