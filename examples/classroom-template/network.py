"""BS6207 Assignment 1: backprop through a 10-layer ReLU MLP: the network.

grade imports this file and calls build_network(d=10, K=10).
It loads the published parameters into the Linear layers of what you return (in the order
the network uses them), so their initial values here do not matter.
"""

import torch.nn as nn


def build_network(d=10, K=10):
    """Return a torch.nn.Module: 11 Linear layers, 10 → 21 → … → 21 → 1 (10 hidden layers of 21),
    relu after each hidden layer, and a linear output layer.

    It takes a batch of one data point, a float tensor of shape (1, 10), and returns
    shape (1, 1).
    """
    raise NotImplementedError("not written yet: write it")
