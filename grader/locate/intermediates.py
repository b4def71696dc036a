"""The reference's intermediates for one call, and what a student's value matches among them.

Every value a correct backward pass holds (z, a, dL/da, δ = dL/dz, f'(z), dW, db of every
layer; x, y, p, p − y, the loss, the parameters) is a candidate, and so is each of them
gone wrong in a classic way: transposed, scaled by −1, 2, ½, −2, times the learning rate, the
updated parameters instead of the gradient, and δ (and what is built from it) without the
activation derivative. A student's value that matches a wrong one says what went wrong.
Candidates of one shape sit in one matrix, so matching a value is one vectorised test; the
test is compare's rule, and the match found is confirmed by `compare` itself.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from grader.assignment import Assignment
from grader.checks import Call
from grader.compare import FLOOR, compare, tolerance
from reference import ACTIVATIONS, LOSSES, Array, forward

SCALES = {-1.0: "−1×", 2.0: "2×", 0.5: "½×", -2.0: "−2×"}
GRADIENTS = {"dL/da", "delta", "dW", "db", "dL/dp", "p-y"}


@dataclass(frozen=True)
class Match:
    """A reference intermediate a value agrees with: what it is, its layer, and how it was
    changed ("" for the value itself)."""

    what: str  # z, a, dL/da, delta, f'(z), dW, db, W, b, x, y, p, p-y, dL/dp, loss
    layer: int
    variant: str = ""  # "", transposed, −1×, 2×, ½×, −2×, lr×, updated, no-derivative

    @property
    def correct(self) -> bool:
        return self.variant == ""


def key(shape: tuple[int, ...]) -> tuple[int, ...]:
    """Shapes that hold the same numbers in the same order are one: (n,), (n, 1), (1, n)."""
    if len(shape) == 2 and shape[0] > 1 and shape[1] > 1:
        return shape
    return (int(np.prod(shape)),)


class Intermediates:
    """The candidates of one call, grouped by shape."""

    def __init__(self, assignment: Assignment, call: Call) -> None:
        self.sig = assignment.significant_figures
        self.lr = assignment.training.learning_rate
        self.loss = assignment.loss
        net = assignment.network
        self.activations: list[str] = [net.activation] * (len(call.weights) - 1)
        self.activations.append(net.output_activation)
        self.values: dict[Match, Array] = {}
        self._build(assignment, call)
        groups: dict[tuple[int, ...], list[tuple[Match, Array]]] = {}
        for match, value in self.values.items():
            groups.setdefault(key(value.shape), []).append((match, value))
        self.groups = {
            k: (
                [m for m, _ in items],
                np.stack([v.reshape(k) for _, v in items]).reshape(len(items), -1),
            )
            for k, items in groups.items()
        }

    def _add(self, what: str, layer: int, value: Array, scaled: bool = True) -> None:
        value = np.asarray(value, dtype=np.float64)
        self.values.setdefault(Match(what, layer), value)
        if value.ndim == 2 and min(value.shape) > 1:
            self.values.setdefault(Match(what, layer, "transposed"), value.T.copy())
        if scaled:
            for factor, name in SCALES.items():
                self.values.setdefault(Match(what, layer, name), factor * value)

    def _build(self, assignment: Assignment, call: Call) -> None:
        net = assignment.network
        kinds = {"hidden": net.activation, "output": net.output_activation, "loss": self.loss}
        trace = forward(call.weights, call.biases, call.x, call.y, **kinds)
        n = len(call.weights)
        p, y = trace.prediction, np.asarray(call.y, dtype=np.float64).reshape(-1)
        self._add("x", 0, call.x, scaled=False)
        self._add("y", 0, y, scaled=False)
        self._add("p", n, p, scaled=False)
        self._add("p-y", n, p - y)
        self._add("loss", n, np.array(trace.loss), scaled=False)
        grad = LOSSES[self.loss][1](p, y)
        for l in range(n, 0, -1):
            W, b, z, a = (
                call.weights[l - 1],
                call.biases[l - 1],
                trace.zs[l - 1],
                trace.outputs[l - 1],
            )
            a_prev = trace.outputs[l - 2] if l > 1 else trace.x
            slope = ACTIVATIONS[self.activations[l - 1]][1](z, a)
            delta = grad * slope
            dW = delta[:, None] * a_prev
            self._add("W", l, W, scaled=False)
            self._add("b", l, b, scaled=False)
            self._add("z", l, z)
            self._add("a", l, a)
            self._add("f'(z)", l, slope, scaled=False)
            if l == n:
                self._add("dL/dp", n, grad)
            self._add("dL/da", l, grad)
            self._add("delta", l, delta)
            self._add("dW", l, dW)
            self._add("db", l, delta)
            for what, value in (("dW", dW), ("db", delta)):
                self.values.setdefault(Match(what, l, "lr×"), self.lr * value)
            self.values.setdefault(Match("W", l, "updated"), W - self.lr * dW)
            self.values.setdefault(Match("b", l, "updated"), b - self.lr * delta)
            if not np.array_equal(slope, np.ones_like(slope)):  # δ without f'(z): dL/da itself
                self.values.setdefault(Match("delta", l, "no-derivative"), grad)
                self.values.setdefault(Match("dW", l, "no-derivative"), grad[:, None] * a_prev)
                self.values.setdefault(Match("db", l, "no-derivative"), grad)
                if l > 1:
                    self.values.setdefault(Match("dL/da", l - 1, "no-derivative"), W.T @ grad)
            grad = W.T @ delta

    def matches(self, value: Array) -> list[Match]:
        """The candidates `value` agrees with under compare's rule, the correct ones first."""
        if value.size == 0 or not np.isfinite(value).all():
            return []
        group = self.groups.get(key(value.shape))
        if group is None:
            return []
        labels, table = group
        q = value.reshape(-1)
        size = np.maximum(np.abs(table), np.abs(q))
        scale = np.maximum(size, FLOOR * size.max(axis=1, keepdims=True))
        close = (np.abs(table - q) <= tolerance(self.sig) * scale).all(axis=1)
        found = [
            labels[i]
            for i in np.flatnonzero(close)
            if compare(q, table[i], self.sig).agree  # the rule itself has the last word
        ]
        return sorted(found, key=lambda m: not m.correct)

    def value(self, match: Match) -> Array:
        return self.values[match]
