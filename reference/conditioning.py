"""Is a drawn data point fair to grade at n significant figures in float32?

A correct float32 solution differs from the float64 truth by rounding, and rounding is
amplified where a result comes from cancellation. Three places can make a correct answer
look wrong, and a seed that hits one is redrawn (the assignment's data, not the student,
decides it):

- p ≈ y: every gradient carries the factor dL/dp, and p - y cancels;
- a ReLU pre-activation z ≈ 0: float32 may take the other side of the kink;
- a layer whose gradient cancels far below the magnitudes that flowed into it.

Each is measured against the magnitude the same quantity would have without cancellation:
the forward pass and the backward pass rerun on |W|, |b|, |x|.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from reference.mlp import Array, Trace

# Limits, measured on the bs6207-a1 network over 20,000 seeds (see docs/numerics.md).
MIN_RESIDUAL = 1e-3  # |p - y| relative to the magnitude of the computation of p
MIN_KINK_DISTANCE = 1e-5  # |z| relative to the magnitude of the computation of z (ReLU only)
MAX_CANCELLATION = 1e5  # magnitude flowing into a layer's gradient over its largest entry


@dataclass(frozen=True)
class Conditioning:
    residual: float
    kink_distance: float
    cancellation: float

    @property
    def fair(self) -> bool:
        return (
            self.residual >= MIN_RESIDUAL
            and self.kink_distance >= MIN_KINK_DISTANCE
            and self.cancellation <= MAX_CANCELLATION
        )


def conditioning(
    weights: Sequence[Array], biases: Sequence[Array], trace: Trace, y: Array, hidden: str
) -> Conditioning:
    """Measure the three margins for one data point at the given parameters."""
    n = len(weights)
    magnitudes = [np.abs(W) for W in weights]
    active = [trace.zs[l] > 0 if l < n - 1 and hidden == "relu" else None for l in range(n)]
    kinks = [l for l in range(n) if active[l] is not None]
    scale, scales = np.abs(trace.x), []
    for l, (A, b) in enumerate(zip(magnitudes, biases, strict=True)):
        scale = A @ scale + np.abs(b)  # |z_l| without cancellation
        scales.append(scale)
        mask = active[l]
        if mask is not None:
            scale = scale * mask
    kink = np.inf
    if kinks:
        z = np.abs(np.concatenate([trace.zs[l] for l in kinks]))
        measured = z / np.maximum(np.concatenate([scales[l] for l in kinks]), 1e-300)
        for nearest in _per_layer(np.minimum, measured, [scales[l].size for l in kinks]):
            kink = min(kink, nearest)
    residual = float((np.abs(trace.prediction - y) / np.maximum(scale + np.abs(y), 1e-300)).min())
    flow, exact = np.ones_like(trace.prediction), np.ones_like(trace.prediction)
    flows, exacts = [], []  # from the output layer down
    for l in reversed(range(n)):
        mask = active[l]
        if mask is not None:
            flow, exact = flow * mask, exact * mask
        flows.append(flow)
        exacts.append(exact)
        if l > 0:
            flow, exact = magnitudes[l].T @ flow, weights[l].T @ exact
    sizes = [f.size for f in flows]
    worst = 1.0
    for most, largest in zip(
        _per_layer(np.maximum, np.concatenate(flows), sizes),
        _per_layer(np.maximum, np.abs(np.concatenate(exacts)), sizes),
        strict=True,
    ):
        if largest > 0:
            worst = max(worst, most / largest)
    return Conditioning(residual=residual, kink_distance=kink, cancellation=worst)


def _per_layer(reduce: np.ufunc, values: Array, sizes: list[int]) -> list[float]:
    """`reduce` over each of the consecutive pieces of `values` of the given (nonzero) sizes."""
    reduced: list[float] = reduce.reduceat(values, np.cumsum([0, *sizes[:-1]])).tolist()
    return reduced
