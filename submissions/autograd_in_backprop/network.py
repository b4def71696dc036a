"""BS6207 Assignment 1: d inputs, K hidden layers of 2d+1 nodes with ReLU, one linear output."""

import torch.nn as nn


def build_network(d=10, K=10):
    width = 2 * d + 1
    layers = [nn.Linear(d, width), nn.ReLU()]
    for _ in range(K - 1):
        layers += [nn.Linear(width, width), nn.ReLU()]
    layers.append(nn.Linear(width, 1))
    return nn.Sequential(*layers)
