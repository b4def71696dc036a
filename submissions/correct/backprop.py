"""Forward and backward pass by hand, for L = (p - y)^2 and ReLU hidden layers."""

import numpy as np


def backprop(weights, biases, x, y):
    # forward: z_l = W_l a_{l-1} + b_l, a_l = relu(z_l), except the linear output layer
    activations, pre_activations = [x], []
    for layer, (W, b) in enumerate(zip(weights, biases)):
        z = W @ activations[-1] + b
        pre_activations.append(z)
        last = layer == len(weights) - 1
        activations.append(z if last else np.maximum(z, 0))
    # backward: dL/dp = 2 (p - y), then the chain rule layer by layer
    delta = 2 * (activations[-1] - y)
    dW, db = [None] * len(weights), [None] * len(weights)
    for layer in reversed(range(len(weights))):
        if layer < len(weights) - 1:
            delta = delta * (pre_activations[layer] > 0)  # ReLU'(z)
        dW[layer] = np.outer(delta, activations[layer])  # dL/dW = delta a^T
        db[layer] = delta  # dL/db = delta
        delta = weights[layer].T @ delta  # dL/da_{l-1} = W^T delta
    return dW, db
