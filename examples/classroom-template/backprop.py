"""BS6207 Assignment 1: backprop through a 10-layer ReLU MLP: backprop by hand.

grade calls backprop(weights, biases, x, y) on the published inputs and on hidden
ones, with autograd switched off while it runs: compute the gradients with the chain rule, in
NumPy (or torch tensors without autograd).
"""

import numpy as np


def backprop(weights, biases, x, y):
    """dL/dW and dL/db of every Linear layer for one data point, with L = Σ (p − y)².

    weights: a list of 11 float64 NumPy arrays, weights[i] of shape (out, in) (PyTorch's
        layout: (21, 10), (21, 21), (1, 21)), from the input layer to the output layer.
    biases: a list of 11 float64 NumPy arrays, biases[i] of shape (out,).
    x: the input, a float64 NumPy array of shape (10,).
    y: the label, a float.

    The network: z_i = weights[i] @ a_(i-1) + biases[i], a_0 = x; a_i = relu(z_i)
    for the hidden layers, and p = linear(z) for the output layer.

    Return (dW, db): two lists in the same order and shapes as weights and biases (NumPy
    arrays, torch tensors or nested lists).
    """
    raise NotImplementedError("not written yet: write it")
