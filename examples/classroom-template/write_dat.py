"""BS6207 Assignment 1: backprop through a 10-layer ReLU MLP: the two .dat files you hand in.

Run `python write_dat.py` in this folder, beside inputs.dat (the published inputs). It builds
your network with build_network(d=10, K=10) and loads the published parameters into it;
then it writes torch_autograd.dat, dL/dW and dL/db by torch autograd on your network, and
my_autograd.dat, the same by your backprop(),
and says whether the two agree to 5 significant figures, by the rule grade uses.
"""

import numpy as np
import torch
from backprop import backprop
from network import build_network

INPUTS, TORCH_DAT, MY_DAT = "inputs.dat", 'torch_autograd.dat', 'my_autograd.dat'
STEPS, LEARNING_RATE = 0, 0.01  # SGD updates between the gradients
SIG_FIGS = 5


def read_dat(path):
    """The blocks of a .dat file: a header `name dim...`, then the rows of its last dim."""
    lines = [line.split("#")[0].split() for line in open(path, encoding="utf-8")]
    lines = [line for line in lines if line]
    blocks, i = {}, 0
    while i < len(lines):
        name, *dims = lines[i]
        shape = tuple(int(n) for n in dims)
        rows = int(np.prod(shape[:-1]))
        values = [float(v) for line in lines[i + 1 : i + 1 + rows] for v in line]
        blocks[name] = np.array(values).reshape(shape)
        i += 1 + rows
    return blocks


def write_dat(path, blocks):
    """Write blocks in the same format, every value with all its digits (repr)."""
    with open(path, "w", encoding="utf-8") as out:
        for name, values in blocks.items():
            values = np.asarray(values, dtype=np.float64)
            out.write(" ".join([name, *map(str, values.shape)]) + "\n")
            for row in values.reshape(-1, values.shape[-1]):
                out.write(" ".join(repr(float(v)) for v in row) + "\n")


def loss_of(p, y):
    return ((p - y) ** 2).sum()


def autograd_gradients(net, weights, biases, x, y):
    """torch autograd's dL/dW and dL/db, the given parameters loaded into the network."""
    linears = [m for m in net.modules() if isinstance(m, torch.nn.Linear)]
    with torch.no_grad():
        for layer, W, b in zip(linears, weights, biases):
            layer.weight.copy_(torch.from_numpy(W))
            layer.bias.copy_(torch.from_numpy(b))
    net.zero_grad()
    p = net(torch.from_numpy(x).reshape(1, -1)).reshape(-1)
    loss_of(p, torch.from_numpy(y)).backward()
    dW = [m.weight.grad.numpy().copy() for m in linears]
    db = [m.bias.grad.numpy().copy() for m in linears]
    return dW, db


def as_array(value):
    return np.asarray(value.detach() if hasattr(value, "detach") else value, dtype=np.float64)


def agree(a, b):
    """grade's rule: |a - b| <= 10^(1 - SIG_FIGS) * max(|a|, |b|, 0.1 * the largest |entry|)."""
    size = np.maximum(np.abs(a), np.abs(b))
    scale = np.maximum(size, 0.1 * size.max())
    return bool(np.all(np.abs(a - b) <= 10.0 ** (1 - SIG_FIGS) * scale))


def main():
    inputs = read_dat(INPUTS)
    layers = sum(1 for name in inputs if name.startswith("W"))
    x, y = inputs["x"].reshape(-1), inputs["y"].reshape(-1)
    label = float(y[0]) if y.size == 1 else y
    net = build_network(d=10, K=10).double()
    numbers = range(1, layers + 1)
    blocks = {TORCH_DAT: {}, MY_DAT: {}}
    for path in blocks:
        weights = [inputs[f"W{i}"].copy() for i in numbers]
        biases = [inputs[f"b{i}"].reshape(-1).copy() for i in numbers]
        for step in range(STEPS + 1):
            if path == TORCH_DAT:
                dW, db = autograd_gradients(net, weights, biases, x, y)
            else:
                given = [W.copy() for W in weights], [b.copy() for b in biases], x.copy(), label
                dW, db = backprop(*given)
            prefix = f"step{step}." if STEPS else ""
            for i in range(layers):
                blocks[path][f"{prefix}W{i + 1}"] = as_array(dW[i])
                blocks[path][f"{prefix}b{i + 1}"] = as_array(db[i]).reshape(-1)
            weights = [W - LEARNING_RATE * as_array(g) for W, g in zip(weights, dW)]
            biases = [b - LEARNING_RATE * as_array(g).reshape(-1) for b, g in zip(biases, db)]
        write_dat(path, blocks[path])
    differ = [
        name
        for name, value in blocks[TORCH_DAT].items()
        if value.shape != blocks[MY_DAT][name].shape or not agree(value, blocks[MY_DAT][name])
    ]
    if differ:
        print(f"wrote {TORCH_DAT} and {MY_DAT}: they differ in {', '.join(differ)}")
    else:
        print(f"wrote {TORCH_DAT} and {MY_DAT}: they agree to {SIG_FIGS} significant figures")


if __name__ == "__main__":
    main()
