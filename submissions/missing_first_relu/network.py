"""Like the report in seed 000: the first Linear is not followed by a ReLU."""

import torch.nn as nn


def build_network(d=10, K=10):
    width = 2 * d + 1
    layers = [nn.Linear(d, width)]  # the mistake: no nn.ReLU() here
    for _ in range(K - 1):
        layers += [nn.Linear(width, width), nn.ReLU()]
    layers.append(nn.Linear(width, 1))
    return nn.Sequential(*layers)
