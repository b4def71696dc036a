"""Numbers as the report shows them: tensor entries, relative errors, points and shapes."""

from __future__ import annotations

import math
from collections.abc import Sequence


def _number(v: float, spec: str) -> str:
    """`v` in format `spec`; exact zeros as 0, NaN and inf spelled out."""
    if math.isnan(v):
        return "NaN"
    if math.isinf(v):
        return "inf" if v > 0 else "-inf"
    return "0" if v == 0 else format(v, spec)


def format_value(v: float) -> str:
    """A tensor entry to 8 significant figures."""
    return _number(v, ".8g")


def format_error(e: float) -> str:
    """A relative error to 2 significant figures (3.2e-05)."""
    return _number(e, ".1e")


def format_score(v: float) -> str:
    """Points as a person writes them: 3, 2.5, 10."""
    return f"{v:g}"


def format_shape(shape: Sequence[int]) -> str:
    """(21, 21) for a matrix, (21) for a vector."""
    return "(" + ", ".join(str(n) for n in shape) + ")"
