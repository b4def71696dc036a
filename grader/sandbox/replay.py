"""A network's forward pass as a list of aten operations: recorded where the student's code runs,
replayed where it never ran.

`record` runs the network once under a TorchDispatchMode, the level autograd records at, and
writes each operation down with where its tensors came from: a parameter (by name), the input,
an earlier operation's output, or a constant (by value). `Replay` checks such a record (known
operations only, references backwards only, sizes bounded) and runs it again through
torch.ops.aten: what it computes depends only on the record, so a forged record is just
another network, graded as such. From the replay come the architecture (Linear layers found as
matrix products with a parameter, and what lies between them identified by evaluating it on
probe values: `clamp(min=0)` is a ReLU, a ReLU whose result is thrown away is nothing), the
gradients autograd gives the reference's parameters, and the autograd graph of the loss.

Like child.py, this file imports nothing of the grader: it runs inside the sandbox.
"""

from __future__ import annotations

import base64
import contextlib
import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
from torch.utils._python_dispatch import TorchDispatchMode

Json = dict[str, Any]
MAX_OPS = 20_000
MAX_ELEMENTS = 4_000_000  # in constants and parameters together: far above any real network
# operations that move or copy values but compute none: a weight reaches a product through them
VIEWS = {"t", "transpose", "permute", "view", "_unsafe_view", "reshape", "_reshape_alias"}
VIEWS |= {"expand", "unsqueeze", "squeeze", "alias", "detach", "numpy_T", "contiguous", "clone"}
VIEWS |= {"_to_copy", "lift_fresh", "lift_fresh_copy", "flatten", "unflatten"}
PRODUCTS = {"addmm", "mm", "mv"}
ALLOWED = VIEWS | PRODUCTS | {"bmm", "add", "sub", "rsub", "mul", "div", "neg", "exp", "expm1"}
ALLOWED |= {"log", "log1p", "relu", "sigmoid", "tanh", "clamp", "clamp_min", "clamp_max"}
ALLOWED |= {"maximum", "minimum", "where", "gt", "ge", "lt", "le", "eq", "ne", "threshold"}
ALLOWED |= {"pow", "sqrt", "rsqrt", "reciprocal", "abs", "sign", "sum", "mean", "square"}
ALLOWED |= {"zeros_like", "ones_like", "full_like", "zeros", "ones", "full", "scalar_tensor"}
ALLOWED |= {"new_zeros", "new_ones", "new_full", "fill", "masked_fill", "copy", "zero"}
ALLOWED |= {"softplus", "leaky_relu", "elu", "gelu", "hardtanh", "silu", "log_sigmoid_forward"}
ALLOWED |= {"_softmax", "_log_softmax", "cat", "stack", "select", "slice", "index_select"}
ALLOWED |= {"logical_not", "logical_and", "logical_or", "_to_copy", "type_as", "mish"}
ALLOWED |= {"split", "split_with_sizes", "chunk", "unbind", "narrow", "repeat", "max", "min"}
ALLOWED |= {"amax", "amin", "hardsigmoid", "hardswish", "celu", "selu", "erf", "sin", "cos"}
ALLOWED |= {"addcmul", "addcdiv", "baddbmm", "_prelu_kernel"}
UNSET = {"empty", "empty_like", "new_empty", "empty_strided"}  # replayed as zeros: no old memory
ALLOWED |= UNSET
ACTIVATIONS: dict[str, Callable[[Any], Any]] = {
    "identity": lambda z: z,
    "relu": torch.relu,
    "sigmoid": torch.sigmoid,
    "tanh": torch.tanh,
}
PROBES = ((-3.0, 3.0), (2.5, -2.0))  # each Linear's output filled evenly from one to the other
DTYPES = {str(d).removeprefix("torch."): d for d in (torch.float16, torch.bfloat16)}
DTYPES |= {str(d).removeprefix("torch."): d for d in (torch.float32, torch.float64, torch.bool)}
DTYPES |= {str(d).removeprefix("torch."): d for d in (torch.int64, torch.int32, torch.uint8)}


class ReplayError(ValueError):
    """The record cannot be replayed: in words, for the student."""


# --- recording (where the student's code runs) -------------------------------------------------


def record(net: Any, x: Any, forward: Callable[[Any, Any], Any]) -> tuple[Json, Any]:
    """Run `forward(net, x)` once, writing down every aten operation; the record and the output."""
    names = {id(p): name for name, p in net.named_parameters()}
    made: dict[int, Any] = {id(x): {"input": True}}  # tensor id → where it came from
    alive: list[Any] = [x]  # every tensor seen stays alive: no id is reused while recording
    ops: list[Json] = []
    budget = [MAX_ELEMENTS]

    def encode(value: Any) -> Any:
        if isinstance(value, torch.Tensor):
            if id(value) in names:
                return {"param": names[id(value)]}
            if id(value) in made:
                return made[id(value)]
            budget[0] -= value.numel()
            if budget[0] < 0:
                raise ReplayError("the network's constant tensors hold too many values")
            return {"const": tensor_json(value)}
        if isinstance(value, list | tuple):
            return [encode(v) for v in value]
        if isinstance(value, float) and not math.isfinite(value):
            return {"float": repr(value)}
        if value is None or isinstance(value, bool | int | float | str):
            return value
        if isinstance(value, torch.dtype):
            return {"dtype": str(value).removeprefix("torch.")}
        if isinstance(value, torch.device | torch.layout | torch.memory_format):
            return None  # CPU, strided, the default: the replay's own
        raise ReplayError(f"the network passes a {type(value).__name__} to a torch operation")

    def note(func: Any, args: Any, kwargs: Any, out: Any) -> None:
        if len(ops) >= MAX_OPS:
            raise ReplayError(f"the network runs more than {MAX_OPS:,} torch operations")
        entry = {
            "op": f"{func._schema.name.removeprefix('aten::')}.{func._overloadname}",
            "args": encode(list(args)),
            "kwargs": {k: encode(v) for k, v in (kwargs or {}).items()},
        }
        if not torch.is_grad_enabled():
            entry["no_grad"] = True
        number = len(ops)
        ops.append(entry)
        results = out if isinstance(out, tuple | list) else [out]
        for item, result in enumerate(results):
            if isinstance(result, torch.Tensor):
                alive.append(result)
                ref = {"ref": number, "item": item} if isinstance(out, tuple | list) else None
                made[id(result)] = ref or {"ref": number}

    with _Recorder(note):
        output = forward(net, x)
    if not isinstance(output, torch.Tensor):
        raise ReplayError(f"the network returned a {type(output).__name__}; expected a tensor")
    budget[0] -= sum(p.numel() for p in net.parameters())
    if budget[0] < 0:
        raise ReplayError("the network's parameters hold too many values")
    recording = {
        "params": {name: tensor_json(p.detach()) for name, p in net.named_parameters()},
        "frozen": [name for name, p in net.named_parameters() if not p.requires_grad],
        "input": {"dtype": dtype_name(x.dtype), "shape": list(x.shape)},
        "ops": ops,
        "output": encode(output),
    }
    return recording, output


class _Recorder(TorchDispatchMode):  # type: ignore[no-untyped-call]  # torch: untyped
    """Runs each aten operation and tells `note` about it."""

    def __init__(self, note: Callable[[Any, Any, Any, Any], None]) -> None:
        super().__init__()  # type: ignore[no-untyped-call]  # torch: untyped
        self.note = note

    @classmethod
    def _should_skip_dynamo(cls) -> bool:
        return False  # else torch imports torch._dynamo at the first operation: 2 s a child

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):  # type: ignore[no-untyped-def]
        out = func(*args, **(kwargs or {}))
        self.note(func, args, kwargs, out)
        return out


def tensor_json(tensor: Any) -> Json:
    """A tensor's values, dtype and shape, as JSON."""
    data = tensor.detach().cpu().contiguous()
    raw = data.reshape(-1).view(torch.uint8).numpy().tobytes() if data.numel() else b""
    return {
        "dtype": dtype_name(data.dtype),
        "shape": list(data.shape),
        "data": base64.b64encode(raw).decode("ascii"),
    }


def dtype_name(dtype: Any) -> str:
    return str(dtype).removeprefix("torch.")


# --- replaying (where it never ran) --------------------------------------------------------------


def _tensor(value: Any) -> Any:
    """The tensor tensor_json wrote; ReplayError if it does not add up."""
    if not isinstance(value, dict) or value.get("dtype") not in DTYPES:
        raise ReplayError("a tensor of the record is malformed")
    dtype, shape = DTYPES[value["dtype"]], value.get("shape")
    if not (isinstance(shape, list) and all(type(n) is int and n >= 0 for n in shape)):
        raise ReplayError("a tensor of the record has a malformed shape")
    try:
        raw = base64.b64decode(value.get("data", ""), validate=True)
    except (ValueError, TypeError):
        raise ReplayError("a tensor of the record has malformed data") from None
    size = torch.empty(0, dtype=dtype).element_size()
    if len(raw) != size * math.prod(shape):
        raise ReplayError("a tensor of the record has the wrong number of values")
    if not raw:
        return torch.zeros(shape, dtype=dtype)
    flat = torch.frombuffer(bytearray(raw), dtype=torch.uint8).view(dtype)
    return flat.reshape(shape).clone()


class Replay:
    """A checked record, ready to run again with any parameters and input."""

    def __init__(self, recording: Any) -> None:
        if not isinstance(recording, dict):
            raise ReplayError("the record is malformed")
        params = recording.get("params")
        ops = recording.get("ops")
        spec = recording.get("input")
        if not isinstance(params, dict) or not isinstance(ops, list) or not isinstance(spec, dict):
            raise ReplayError("the record is malformed")
        if len(ops) > MAX_OPS:
            raise ReplayError(f"the network runs more than {MAX_OPS:,} torch operations")
        self.params = {str(name): _tensor(value) for name, value in params.items()}
        if sum(p.numel() for p in self.params.values()) > MAX_ELEMENTS:
            raise ReplayError("the network's parameters hold too many values")
        self.places: dict[tuple[str, tuple[int, ...]], Any] = {}  # _place's, by parameter
        self.frozen = {str(n) for n in recording.get("frozen", []) if isinstance(n, str)}
        self.input_dtype = DTYPES.get(str(spec.get("dtype")), torch.float32)
        self.input_shape = [int(n) for n in spec.get("shape", [])]
        self.ops: list[tuple[Any, str, list[Any], dict[str, Any], bool]] = []
        self.budget = MAX_ELEMENTS - sum(p.numel() for p in self.params.values())
        for number, entry in enumerate(ops):
            if not isinstance(entry, dict) or not isinstance(entry.get("op"), str):
                raise ReplayError("an operation of the record is malformed")
            packet, _, overload = entry["op"].partition(".")
            base = packet[:-1] if packet.endswith("_") and not packet.startswith("_") else packet
            if base not in ALLOWED:
                raise ReplayError(f"the network uses torch's {packet}, which the grader cannot run")
            try:
                func = getattr(getattr(torch.ops.aten, packet), overload or "default")
            except AttributeError:
                raise ReplayError(f"the record names no torch operation {entry['op']}") from None
            args = self._decode(entry.get("args", []), number)
            kwargs = entry.get("kwargs", {})
            if not isinstance(args, list) or not isinstance(kwargs, dict):
                raise ReplayError("an operation of the record is malformed")
            kwargs = {str(k): self._decode(v, number) for k, v in kwargs.items()}
            self.ops.append((func, base, args, kwargs, bool(entry.get("no_grad"))))
        self.output = self._decode(recording.get("output"), len(self.ops))

    def _decode(self, value: Any, before: int) -> Any:
        """An argument as the replay uses it: references stay references, checked to point
        back; constants become tensors."""
        if isinstance(value, list):
            return [self._decode(v, before) for v in value]
        if not isinstance(value, dict):
            if value is None or isinstance(value, bool | int | float | str):
                return value
            raise ReplayError("an argument of the record is malformed")
        if "ref" in value:
            ref, item = value["ref"], value.get("item")
            if (
                type(ref) is not int
                or not 0 <= ref < before
                or not (item is None or type(item) is int)
            ):
                raise ReplayError("an operation of the record uses a value not yet computed")
            return _Ref(ref, item)
        if "param" in value:
            if value["param"] not in self.params:
                raise ReplayError(f"the record names no parameter {value['param']!r}")
            return _Param(str(value["param"]))
        if "input" in value:
            return _Input()
        if "const" in value:
            tensor = _tensor(value["const"])
            self.budget -= tensor.numel()
            if self.budget < 0:
                raise ReplayError("the network's constant tensors hold too many values")
            return tensor
        if "float" in value and str(value["float"]) in {"inf", "-inf", "nan"}:
            return float(value["float"])
        if "dtype" in value and str(value["dtype"]) in DTYPES:
            return DTYPES[str(value["dtype"])]
        raise ReplayError("an argument of the record is malformed")

    def run(
        self,
        params: dict[str, Any],
        x: Any,
        override: dict[int, Any] | None = None,
        tap: dict[int, Any] | None = None,
    ) -> tuple[list[Any], Any]:
        """Every operation's value, and the output, for these parameters and input; an
        operation numbered in `override` gives that value instead of its own, one in `tap` its
        own plus that value."""
        values: list[Any] = []
        override, tap = override or {}, tap or {}
        for number, (func, base, args, kwargs, no_grad) in enumerate(self.ops):
            if number in override:
                values.append(override[number])
                continue
            try:
                with torch.no_grad() if no_grad else contextlib.nullcontext():
                    value = func(*_get(args, values, params, x), **_get(kwargs, values, params, x))
                if base in UNSET:
                    value = value.zero_()
                if number in tap and value.is_floating_point():
                    value = value + tap[number]  # a float64 scalar: the value's dtype stays
                values.append(value)
            except (RuntimeError, TypeError, ValueError, IndexError) as error:
                raise ReplayError(
                    f"the network's operation {number + 1} ({func}) fails on replay: {error}"
                ) from None
        return values, _get(self.output, values, params, x)

    def source(self, arg: Any) -> tuple[str, list[int]] | None:
        """The parameter `arg` is made of by views and copies alone, and those operations."""
        path: list[int] = []
        while isinstance(arg, _Ref) and arg.item is None and self.ops[arg.ref][1] in VIEWS:
            args = self.ops[arg.ref][2]
            if not args:
                return None
            path.insert(0, arg.ref)
            arg = args[0]
        return (arg.name, path) if isinstance(arg, _Param) else None

    def along(self, path: list[int], value: Any) -> Any:
        """`value` taken through the view operations of `path`, as its parameter was."""
        for number in path:
            func, _, args, kwargs, _ = self.ops[number]
            rest = _get(args[1:], [], {}, None)
            value = func(value, *rest, **_get(kwargs, [], {}, None))
        return value

    def leaves(self) -> dict[str, Any]:
        """The parameters as fresh autograd leaves."""
        return {
            name: value.clone().requires_grad_(
                value.is_floating_point() and name not in self.frozen
            )
            for name, value in self.params.items()
        }

    def input(self, x: Any) -> Any:
        """The published input `x` (a NumPy array) as the recorded run took it."""
        tensor = torch.as_tensor(x, dtype=self.input_dtype)
        if tensor.numel() != math.prod(self.input_shape):
            raise ReplayError(
                f"the network took an input of shape {tuple(self.input_shape)}; "
                f"this data point has {tensor.numel()} values"
            )
        return tensor.reshape(self.input_shape)


def _get(arg: Any, values: list[Any], params: dict[str, Any], x: Any) -> Any:
    """An argument's value in a run: references looked up, constants as they are."""
    if isinstance(arg, _Ref):
        if arg.ref >= len(values):
            raise ReplayError("a view of a parameter depends on a computed value")
        value = values[arg.ref]
        return value if arg.item is None else value[arg.item]
    if isinstance(arg, _Param):
        return params[arg.name]
    if isinstance(arg, _Input):
        return x
    if isinstance(arg, list):
        return [_get(a, values, params, x) for a in arg]
    if isinstance(arg, dict):
        return {k: _get(v, values, params, x) for k, v in arg.items()}
    return arg


class _Ref:
    def __init__(self, ref: int, item: int | None) -> None:
        self.ref, self.item = ref, item


class _Param:
    def __init__(self, name: str) -> None:
        self.name = name


class _Input:
    pass


# --- what the replay computes ------------------------------------------------------------------


class Linear:
    """A matrix product with a parameter (the weight), and the bias added to it."""

    def __init__(self, replay: Replay, number: int, weight: tuple[str, list[int]], slot: int):
        _, base, args, _, _ = replay.ops[number]
        operands = args[1:3] if base == "addmm" else args[0:2]
        self.weight, self.weight_path = weight
        self.slot = slot  # 1: x @ Wᵀ (the weight used as in×out), 0: W @ x (as out×in)
        self.input = operands[1 - slot]
        self.output = number  # the operation whose value is the layer's output, bias added
        self.used = operands[slot]  # the weight as the product uses it
        self.n_in = self.n_out = 0  # known once the replay ran: see measure()
        self.bias, self.bias_path = "", list[int]()
        bias = replay.source(args[0]) if base == "addmm" else None
        for later in range(number + 1, len(replay.ops)) if bias is None else ():
            _, name, later_args, _, _ = replay.ops[later]
            mine = [isinstance(a, _Ref) and a.ref == number and a.item is None for a in later_args]
            if name == "add" and len(later_args) >= 2 and sum(mine[:2]) == 1:
                bias = replay.source(later_args[1] if mine[0] else later_args[0])
                if bias is not None:
                    self.output = later
                break
        if bias is not None:
            self.bias, self.bias_path = bias

    def measure(self, values: list[Any], params: dict[str, Any]) -> None:
        """Take the layer's shapes from a run's values."""
        used = list(_get(self.used, values, params, None).shape)
        self.n_in, self.n_out = (used[0], used[-1]) if self.slot == 1 else (used[-1], used[0])

    def event(self) -> Json:
        return {"op": "linear", "in": self.n_in, "out": self.n_out, "weight": self.weight,
                "bias": self.bias or None}  # fmt: skip


def linears(replay: Replay) -> list[Linear]:
    """Every matrix product of the record with a 2-d parameter as one factor."""
    found = []
    for number, (_, base, args, _, _) in enumerate(replay.ops):
        if base not in PRODUCTS:
            continue
        operands = args[1:3] if base == "addmm" else args[0:2]
        for slot in (1, 0) if base != "mv" else (0,):
            source = replay.source(operands[slot]) if len(operands) > slot else None
            if source and replay.params[source[0]].dim() == 2:
                found.append(Linear(replay, number, source, slot))
                break
    return found


def architecture(replay: Replay, x: Any) -> tuple[list[Json], list[int], list[Linear]]:
    """The trace the architecture check reads, the output's shape, and the Linear layers the
    output depends on (as autograd sees it), in order.

    Each layer's event is followed by what lies between its output and the next layer's input
    (or the network's output), identified by evaluating that part on probe values of both
    signs: relu, sigmoid or tanh whatever it is written as, nothing if it passes values through
    unchanged, else the names of the operations on the way."""
    found = linears(replay)
    taps = [torch.zeros((), dtype=torch.float64, requires_grad=True) for _ in found]
    with torch.enable_grad():
        values, output = replay.run(
            replay.params, x, tap={layer.output: t for layer, t in zip(found, taps, strict=True)}
        )
        if not isinstance(output, torch.Tensor):
            raise ReplayError("the network's output is not a tensor")
        grads: Sequence[Any] = [None] * len(taps)
        if output.requires_grad:
            grads = torch.autograd.grad(output.sum(), taps, allow_unused=True)
    values = [v.detach() if isinstance(v, torch.Tensor) else v for v in values]
    # the layers the output depends on: those autograd reaches from it
    layers = [layer for layer, grad in zip(found, grads, strict=True) if grad is not None]
    for layer in layers:
        layer.measure(values, replay.params)
    targets = [layer.input for layer in layers[1:]] + [replay.output]
    seen: list[list[bool]] = [[True] * len(ACTIVATIONS) for _ in layers]
    for first, last in PROBES:
        override = {}
        for layer in layers:
            like = values[layer.output]
            spread = torch.linspace(first, last, like.numel(), dtype=like.dtype)
            override[layer.output] = spread.reshape(like.shape)
        probes = [override[layer.output].clone() for layer in layers]
        with torch.no_grad():
            ran, _ = replay.run(replay.params, x, override)
        for number, (probe_value, target) in enumerate(zip(probes, targets, strict=True)):
            got = _get(target, ran, replay.params, x)
            for index, function in enumerate(ACTIVATIONS.values()):
                seen[number][index] &= _same(got, function(probe_value))
    events: list[Json] = []
    names = list(ACTIVATIONS)
    for number, layer in enumerate(layers):
        events.append(layer.event())
        matches = [name for name, ok in zip(names, seen[number], strict=True) if ok]
        if matches and matches[0] != "identity":
            events.append({"op": matches[0]})
        elif not matches:
            events += [{"op": name} for name in _between(replay, layer, targets[number])]
    return events, list(output.shape), layers


def _same(got: Any, wanted: Any) -> bool:
    if not isinstance(got, torch.Tensor) or got.numel() != wanted.numel():
        return False
    got, wanted = got.detach().double().reshape(-1), wanted.detach().double().reshape(-1)
    return bool(torch.allclose(got, wanted, rtol=1e-4, atol=1e-5))


def _between(replay: Replay, layer: Linear, target: Any) -> list[str]:
    """The names of the computing operations on the way from `layer`'s output to `target`."""
    after = {layer.output}
    for number, (_, _, args, kwargs, _) in enumerate(replay.ops):
        if number > layer.output and _refs(args, kwargs) & after:
            after.add(number)
    needed: set[int] = set()
    stack = [target.ref] if isinstance(target, _Ref) else []
    while stack:
        number = stack.pop()
        if number not in needed:
            needed.add(number)
            stack += _refs(replay.ops[number][2], replay.ops[number][3])
    names = [replay.ops[n][1] for n in sorted(needed & after - {layer.output})]
    return [name for name in names if name not in VIEWS] or ["something that is no activation"]


def _refs(*args: Any) -> set[int]:
    found: set[int] = set()
    stack = list(args)
    while stack:
        arg = stack.pop()
        if isinstance(arg, _Ref):
            found.add(arg.ref)
        elif isinstance(arg, list):
            stack += arg
        elif isinstance(arg, dict):
            stack += arg.values()
    return found


def gradients(replay: Replay, layers: list[Linear], call: Json, loss: str) -> Json:
    """Autograd's gradients of the loss for the reference's parameters put into the layers,
    each in the reference's layout (out×in, float64 NumPy arrays)."""
    weights, biases = call["weights"], call["biases"]
    if len(layers) != len(weights):
        raise ReplayError(
            f"the network applies {len(layers)} Linear layers; the assignment has {len(weights)}"
        )
    leaves = replay.leaves()
    places = []
    for number, (layer, w, b) in enumerate(zip(layers, weights, biases, strict=True), start=1):
        if (layer.n_in, layer.n_out) != (w.shape[1], w.shape[0]):
            raise ReplayError(
                f"Linear {number} is {layer.n_in}→{layer.n_out}; the reference's W{number} is "
                f"{w.shape[1]}→{w.shape[0]}"
            )
        target = w.T if layer.slot == 1 else w
        where = _place(replay, leaves, layer.weight, layer.weight_path, target, number)
        bias = (
            _place(replay, leaves, layer.bias, layer.bias_path, b, number) if layer.bias else None
        )
        places.append((layer, where, bias))
    output = replay.run(leaves, replay.input(call["x"]))[1]
    p = output.reshape(-1)
    y = torch.as_tensor(call["y"], dtype=p.dtype)
    value = ((p - y) ** 2).sum()
    if loss == "half_squared_error":
        value = value / 2
    value.backward()
    dW, db = [], []
    for layer, (name, index, shape), bias in places:
        grad = _taken(leaves[name].grad, index, shape)
        dW.append(None if grad is None else (grad.T if layer.slot == 1 else grad))
        db.append(None if bias is None else _taken(leaves[bias[0]].grad, bias[1], bias[2]))
    return {"dW": dW, "db": db}


def _place(
    replay: Replay, leaves: dict[str, Any], name: str, path: list[int], target: Any, number: int
) -> tuple[str, Any, tuple[int, ...]]:
    """Put `target` (the reference's values, as the layer uses them) into parameter `name`,
    which reaches the layer through the views of `path`; where each value went."""
    leaf = leaves[name]
    problem = ReplayError(
        f"Linear {number}: the grader cannot put the reference's values into {name}, "
        "which the layer uses in a way other than as a weight matrix or bias"
    )
    index = replay.places.get((name, tuple(path)))
    if index is None:
        try:
            with torch.no_grad():
                cells = torch.arange(leaf.numel(), dtype=torch.float64).reshape(leaf.shape)
                index = replay.along(path, cells).reshape(-1).long()
        except (ReplayError, RuntimeError, KeyError, TypeError, ValueError):
            raise problem from None
        if not torch.equal(index.sort().values, torch.arange(leaf.numel())):
            raise problem  # not each value once: a weight the layer uses as no matrix
        index = index.numpy()
        replay.places[(name, tuple(path))] = index
    if index.size != target.size:
        raise problem
    values = np.empty(index.size)
    values[index] = np.asarray(target, dtype=np.float64).reshape(-1)
    with torch.no_grad():
        leaf.copy_(torch.from_numpy(values).reshape(leaf.shape))
    return name, index, tuple(target.shape)


def _taken(grad: Any, index: Any, shape: tuple[int, ...]) -> Any:
    """A parameter's gradient, in the layout of the values `_place` put into it (float64)."""
    if grad is None:
        return None
    return grad.detach().double().reshape(-1).numpy()[index].reshape(shape)


def graph_loss(replay: Replay, call: Json, loss: str) -> tuple[Any, dict[int, str]]:
    """The assignment's loss on the replayed network and the published inputs, with names for
    its parameters (the student's names)."""
    leaves = replay.leaves()
    p = replay.run(leaves, replay.input(call["x"]))[1]
    y = torch.as_tensor(call["y"], dtype=p.dtype).reshape(p.shape)
    value = ((p - y) ** 2).sum()
    if loss == "half_squared_error":
        value = value / 2
    return value, {id(leaf): name for name, leaf in leaves.items()}


def _warm_up() -> None:
    """Record and replay a tiny network once: torch resolves operations and sets up its
    dispatcher lazily, so a process that forks children (the fork server) does it for all."""
    net = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.ReLU(), torch.nn.Linear(2, 1))
    recording, _ = record(net, torch.ones(1, 2), lambda net, x: net(x))
    replay = Replay(recording)
    call = {"weights": [torch.ones(2, 2).numpy(), torch.ones(1, 2).numpy()], "x": [1.0, 1.0],
            "biases": [torch.ones(2).numpy(), torch.ones(1).numpy()], "y": [1.0]}  # fmt: skip
    _, _, layers = architecture(replay, replay.input(call["x"]))
    gradients(replay, layers, call, "squared_error")
    graph_loss(replay, call, "squared_error")[0].backward()
    for name in ALLOWED:
        getattr(torch.ops.aten, name, None)


_warm_up()
