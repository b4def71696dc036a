"""Backprop that matches its own network: no ReLU after the first layer."""

import numpy as np


def backprop(weights, biases, x, y):
    activations, pre_activations = [x], []
    for layer, (W, b) in enumerate(zip(weights, biases)):
        z = W @ activations[-1] + b
        pre_activations.append(z)
        linear = layer == 0 or layer == len(weights) - 1  # the mistake: layer 0 has no ReLU
        activations.append(z if linear else np.maximum(z, 0))
    delta = 2 * (activations[-1] - y)
    dW, db = [None] * len(weights), [None] * len(weights)
    for layer in reversed(range(len(weights))):
        if 0 < layer < len(weights) - 1:
            delta = delta * (pre_activations[layer] > 0)
        dW[layer] = np.outer(delta, activations[layer])
        db[layer] = delta
        delta = weights[layer].T @ delta
    return dW, db
