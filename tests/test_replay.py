"""The network recorded where the student's code runs and replayed where it never ran: the
architecture is read from what the output depends on, activations from what they compute."""

from __future__ import annotations

import importlib.util
import itertools
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pytest
import torch
import torch.nn as nn

import grader.sandbox

spec = importlib.util.spec_from_file_location(
    "grade_replay", Path(grader.sandbox.__file__).with_name("replay.py")
)
assert spec is not None and spec.loader is not None
replay = importlib.util.module_from_spec(spec)
spec.loader.exec_module(replay)


class Between(nn.Module):
    def __init__(self, function: Callable[[Any], Any]) -> None:
        super().__init__()
        self.function = function

    def forward(self, z: Any) -> Any:
        return self.function(z)


def traced(function: Callable[[Any], Any], sizes: tuple[int, ...] = (2, 4, 4, 1)) -> list[str]:
    """The trace of a network of `sizes` with `function` between its Linear layers, recorded,
    sent through JSON and replayed: 'L' for each Linear, then the activations found."""
    torch.manual_seed(0)
    layers: list[nn.Module] = []
    for n_in, n_out in itertools.pairwise(sizes):
        layers += [nn.Linear(n_in, n_out), Between(function)]
    net = nn.Sequential(*layers[:-1])
    x = torch.ones(1, sizes[0])
    recording, _ = replay.record(net, x, lambda net, x: net(x))
    network = replay.Replay(orjson.loads(orjson.dumps(recording)))
    events, _, _ = replay.architecture(network, network.input(np.ones(sizes[0])))
    return ["L" if e["op"] == "linear" else e["op"] for e in events]


RELUS = {
    "torch.relu": torch.relu,
    "clamp(min=0)": lambda z: z.clamp(min=0),
    "torch.maximum(z, 0)": lambda z: torch.maximum(z, torch.tensor(0.0)),
    "torch.where(z > 0, z, 0)": lambda z: torch.where(z > 0, z, 0),
    "z * (z > 0)": lambda z: z * (z > 0),
    "F.threshold(z, 0, 0)": lambda z: nn.functional.threshold(z, 0, 0),
    "in place": lambda z: z.relu_(),
}


@pytest.mark.parametrize("function", RELUS.values(), ids=RELUS.keys())
def test_a_relu_is_a_relu_whatever_it_is_written_as(function: Callable[[Any], Any]) -> None:
    """Every way of writing max(z, 0) is found as relu after each hidden Linear."""
    assert traced(function) == ["L", "relu", "L", "relu", "L"]


def test_a_sigmoid_written_out_is_a_sigmoid() -> None:
    """1 / (1 + exp(-z)) is a sigmoid."""
    assert traced(lambda z: 1 / (1 + torch.exp(-z))) == ["L", "sigmoid", "L", "sigmoid", "L"]


def test_a_relu_whose_result_is_thrown_away_is_no_activation() -> None:
    """torch.relu(z) called, its result unused: the next layer gets z itself."""
    assert traced(lambda z: (torch.relu(z), z)[1]) == ["L", "L", "L"]


def test_a_linear_whose_result_is_thrown_away_is_no_layer() -> None:
    """A Linear computed but not used by the output is not one of the network's layers."""

    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.first, self.unused, self.out = nn.Linear(2, 4), nn.Linear(4, 4), nn.Linear(4, 1)

        def forward(self, x: Any) -> Any:
            z = torch.relu(self.first(x))
            self.unused(z)
            return self.out(z)

    recording, _ = replay.record(Net(), torch.ones(1, 2), lambda net, x: net(x))
    network = replay.Replay(recording)
    events, _, _ = replay.architecture(network, network.input(np.ones(2)))
    assert [(e["op"], e.get("in"), e.get("out")) for e in events] == [
        ("linear", 2, 4), ("relu", None, None), ("linear", 4, 1)
    ]  # fmt: skip


def test_other_functions_are_named_by_their_operations() -> None:
    """What is no activation the assignment knows is named by the operations computing it."""
    assert traced(torch.nn.functional.softplus) == ["L", "softplus", "L", "softplus", "L"]
    assert traced(lambda z: torch.sigmoid(torch.sigmoid(z)))[:3] == ["L", "sigmoid", "sigmoid"]


def test_identity_and_relu_differ_where_every_z_is_positive() -> None:
    """hw02-1's net at its one data point: every z positive, so only probes tell relu from
    nothing (constant weights 1, biases -0.5, x = 2)."""

    def tiny(function: Callable[[Any], Any]) -> list[str]:
        net = nn.Sequential(nn.Linear(1, 2), Between(function), nn.Linear(2, 2),
                            Between(function), nn.Linear(2, 1))  # fmt: skip
        for name, p in net.named_parameters():
            nn.init.constant_(p, 1.0 if name.endswith("weight") else -0.5)
        recording, _ = replay.record(net, torch.tensor([[2.0]]), lambda net, x: net(x))
        network = replay.Replay(recording)
        events, _, _ = replay.architecture(network, network.input(np.array([2.0])))
        return ["L" if e["op"] == "linear" else e["op"] for e in events]

    assert tiny(torch.relu) == ["L", "relu", "L", "relu", "L"]
    assert tiny(lambda z: z) == ["L", "L", "L"]


def test_autograd_on_the_replay_matches_autograd_on_the_network() -> None:
    """The reference's parameters put into the replay give the gradients torch gives the
    network itself, weights held transposed (x @ W) included."""

    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.w1 = nn.Parameter(torch.zeros(3, 4))  # in × out: used as x @ w1
            self.b1 = nn.Parameter(torch.zeros(4))
            self.out = nn.Linear(4, 1)

        def forward(self, x: Any) -> Any:
            return self.out(torch.tanh(x @ self.w1 + self.b1))

    rng = np.random.default_rng(0)
    call = {"weights": [rng.normal(size=(4, 3)), rng.normal(size=(1, 4))],
            "biases": [rng.normal(size=4), rng.normal(size=1)],
            "x": rng.random(3), "y": np.array([0.5])}  # fmt: skip
    net = Net().double()
    recording, _ = replay.record(net, torch.ones(1, 3, dtype=torch.float64), lambda n, x: n(x))
    network = replay.Replay(recording)
    _, _, layers = replay.architecture(network, network.input(call["x"]))
    got = replay.gradients(network, layers, call, "squared_error")
    with torch.no_grad():
        net.w1.copy_(torch.tensor(call["weights"][0].T))
        net.b1.copy_(torch.tensor(call["biases"][0]))
        net.out.weight.copy_(torch.tensor(call["weights"][1]))
        net.out.bias.copy_(torch.tensor(call["biases"][1]))
    loss = ((net(torch.tensor(call["x"]).reshape(1, -1)).reshape(-1) - 0.5) ** 2).sum()
    loss.backward()
    assert net.w1.grad is not None and net.out.bias.grad is not None
    np.testing.assert_allclose(got["dW"][0], net.w1.grad.numpy().T)
    np.testing.assert_allclose(got["db"][1], net.out.bias.grad.numpy())


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda r: r["ops"].append({"op": "set_.source_Tensor", "args": []}), "set_"),
        (lambda r: r["ops"][0]["args"].__setitem__(0, {"ref": 99}), "not yet computed"),
        (lambda r: r.__setitem__("output", {"param": "nothing"}), "no parameter"),
    ],
    ids=["an operation not allowed", "a reference forward", "a parameter it does not have"],
)
def test_a_forged_record_is_refused(change: Callable[[Any], Any], message: str) -> None:
    """A record is data: unknown operations, references ahead, unknown names are refused."""
    recording, _ = replay.record(nn.Linear(2, 1), torch.ones(1, 2), lambda net, x: net(x))
    change(recording)
    with pytest.raises(replay.ReplayError, match=message):
        replay.Replay(recording)
