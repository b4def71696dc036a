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

# Limits, measured on the bs6207-a1 network over 20,000 seeds (see README, "The comparison rule").
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
    active = [trace.zs[l] > 0 if l < n - 1 and hidden == "relu" else None for l in range(n)]
    scale, kink = np.abs(trace.x), np.inf
    for l, (W, b) in enumerate(zip(weights, biases, strict=True)):
        scale = np.abs(W) @ scale + np.abs(b)  # |z_l| without cancellation
        mask = active[l]
        if mask is not None:
            kink = min(kink, float(np.min(np.abs(trace.zs[l]) / np.maximum(scale, 1e-300))))
            scale = scale * mask
    residual = float(np.min(np.abs(trace.prediction - y) / np.maximum(scale + np.abs(y), 1e-300)))
    flow, worst = np.ones_like(trace.prediction), 1.0
    exact = np.ones_like(trace.prediction)
    for l in reversed(range(n)):
        mask = active[l]
        if mask is not None:
            flow, exact = flow * mask, exact * mask
        largest = float(np.max(np.abs(exact)))
        if largest > 0:
            worst = max(worst, float(np.max(flow)) / largest)
        flow, exact = np.abs(weights[l]).T @ flow, weights[l].T @ exact
    return Conditioning(residual=residual, kink_distance=kink, cancellation=worst)
