"""Forward and backward pass of a multilayer perceptron in float64, for one data point.

Read it like micrograd: each forward operation stands beside its chain-rule step, and the
comments state the mathematics. Layer l computes

    z_l = W_l a_{l-1} + b_l,   a_l = f_l(z_l),   a_0 = x,   p = a_n,

with W_l in PyTorch's (out, in) layout. Every sum is `math.fsum` of IEEE products and every
exp and tanh is Python's `math`, so results are the same bits on every run and machine
(BLAS kernels and numpy's SIMD `exp` may differ in the last bit between processors).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

Array = npt.NDArray[np.float64]


def _sigmoid(z: float) -> float:
    # 1 / (1 + e^-z), written so that exp never overflows
    if z >= 0:
        return 1.0 / (1.0 + math.exp(-z))
    e = math.exp(z)
    return e / (1.0 + e)


def _entrywise(f: Callable[[float], float]) -> Callable[[Array], Array]:
    """f applied to every entry, in Python floats."""
    return lambda z: np.array([f(v) for v in z.tolist()], dtype=np.float64)


# name -> (f(z), f'(z) given z and a = f(z)), entry by entry
ACTIVATIONS: dict[str, tuple[Callable[[Array], Array], Callable[[Array, Array], Array]]] = {
    "linear": (lambda z: z.copy(), lambda z, a: np.ones_like(z)),
    # f'(0) = 0
    "relu": (lambda z: np.where(z > 0, z, 0.0), lambda z, a: np.where(z > 0, 1.0, 0.0)),
    "sigmoid": (_entrywise(_sigmoid), lambda z, a: a * (1.0 - a)),
    "tanh": (_entrywise(math.tanh), lambda z, a: 1.0 - a * a),
}

# name -> (L(p, y), dL/dp)
LOSSES: dict[str, tuple[Callable[[Array, Array], float], Callable[[Array, Array], Array]]] = {
    "squared_error": (  # L = Σ (p - y)²
        lambda p, y: math.fsum((p - y) ** 2),
        lambda p, y: 2.0 * (p - y),
    ),
    "half_squared_error": (  # L = ½ Σ (p - y)²
        lambda p, y: 0.5 * math.fsum((p - y) ** 2),
        lambda p, y: p - y,
    ),
}


def matvec(W: Array, v: Array) -> Array:
    """W @ v with every row summed exactly (then rounded once)."""
    return np.array([math.fsum(row) for row in (W * v).tolist()], dtype=np.float64)


@dataclass(frozen=True)
class Trace:
    """Everything the forward pass computed: pre-activations z_l and outputs a_l of each layer."""

    x: Array
    zs: list[Array]
    outputs: list[Array]
    loss: float

    @property
    def prediction(self) -> Array:
        return self.outputs[-1]


def forward(
    weights: Sequence[Array],
    biases: Sequence[Array],
    x: Array,
    y: Array,
    *,
    hidden: str,
    output: str,
    loss: str,
) -> Trace:
    """Run the network on one data point and evaluate the loss."""
    a, zs, outputs = x, [], []
    for l, (W, b) in enumerate(zip(weights, biases, strict=True)):
        z = matvec(W, a) + b  # z_l = W_l a_{l-1} + b_l
        a = ACTIVATIONS[output if l == len(weights) - 1 else hidden][0](z)  # a_l = f_l(z_l)
        zs.append(z)
        outputs.append(a)
    return Trace(x=x, zs=zs, outputs=outputs, loss=LOSSES[loss][0](a, y))


def backward(
    weights: Sequence[Array],
    trace: Trace,
    y: Array,
    *,
    hidden: str,
    output: str,
    loss: str,
) -> tuple[list[Array], list[Array]]:
    """Return dL/dW_l and dL/db_l for every layer, by the chain rule from the output back."""
    n = len(weights)
    dW: list[Array] = [np.empty(0)] * n
    db: list[Array] = [np.empty(0)] * n
    grad = LOSSES[loss][1](trace.prediction, y)  # dL/da_n = dL/dp
    for l in reversed(range(n)):
        act = output if l == n - 1 else hidden
        # dL/dz_l = dL/da_l ⊙ f'(z_l)
        delta = grad * ACTIVATIONS[act][1](trace.zs[l], trace.outputs[l])
        a_prev = trace.outputs[l - 1] if l > 0 else trace.x
        dW[l] = delta[:, None] * a_prev  # z_l = W_l a_{l-1} + b_l  ⇒  dL/dW_l = δ_l a_{l-1}ᵀ
        db[l] = delta  # ⇒  dL/db_l = δ_l
        if l > 0:
            grad = matvec(weights[l].T, delta)  # ⇒  dL/da_{l-1} = W_lᵀ δ_l
    return dW, db
