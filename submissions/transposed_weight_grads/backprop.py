"""Backprop by hand, with dL/dW built as a_{l-1} delta^T: the (in, out) layout, transposed."""

import numpy as np


def backprop(weights, biases, x, y):
    activations, pre_activations = [x], []
    for layer, (W, b) in enumerate(zip(weights, biases)):
        z = W @ activations[-1] + b
        pre_activations.append(z)
        last = layer == len(weights) - 1
        activations.append(z if last else np.maximum(z, 0))
    delta = 2 * (activations[-1] - y)
    dW, db = [None] * len(weights), [None] * len(weights)
    for layer in reversed(range(len(weights))):
        if layer < len(weights) - 1:
            delta = delta * (pre_activations[layer] > 0)
        dW[layer] = np.outer(activations[layer], delta)  # the mistake: (in, out)
        db[layer] = delta
        delta = weights[layer].T @ delta
    return dW, db
