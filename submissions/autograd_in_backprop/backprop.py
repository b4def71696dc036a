"""A "from scratch" backprop that quietly asks torch's autograd for the answer."""

import torch


def backprop(weights, biases, x, y):
    ws = [torch.tensor(W, requires_grad=True) for W in weights]
    bs = [torch.tensor(b, requires_grad=True) for b in biases]
    a = torch.tensor(x)
    for layer, (W, b) in enumerate(zip(ws, bs)):
        z = W @ a + b
        a = z if layer == len(ws) - 1 else torch.relu(z)
    loss = ((a - y) ** 2).sum()
    loss.backward()  # the mistake: autograd, not backprop by hand
    return [W.grad.numpy() for W in ws], [b.grad.numpy() for b in bs]
