"""The child process: imports a student's modules, runs them, and sends back data, never verdicts.

Run as `python -I -m grader.sandbox.child RESULT_FD` inside a private copy of the submission,
with the request as JSON on stdin. Each stage writes one JSON line to RESULT_FD as soon as it
is done, so a stage that hangs or crashes loses only itself. The parent validates every
array and does all comparing; nothing here decides a grade.

Stages: `network` (build it, trace its operations by running it), `autograd` (the reference's
parameters loaded into the student's network, forward, torch autograd) and `backprop` (the
student's function on every call, with autograd made unusable while it runs).
"""

from __future__ import annotations

import contextlib
import difflib
import importlib
import inspect
import json
import os
import sys
import traceback
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

Json = dict[str, Any]
FOLDER = os.getcwd()  # the private copy of the submission, the child's working directory


class AutogradForbidden(RuntimeError):
    """Raised inside the student's backprop when it reaches for autograd."""


def main(argv: list[str]) -> int:
    result_fd = int(argv[1])
    request = json.loads(sys.stdin.read())
    with os.fdopen(result_fd, "w", encoding="utf-8") as channel:

        def send(stage: str, payload: Json) -> None:
            channel.write(json.dumps({"stage": stage, **payload}) + "\n")
            channel.flush()

        import torch

        torch.set_num_threads(1)
        sys.path.insert(0, FOLDER)
        traced = _run_stage(send, "network", lambda: _network_stage(request))
        if traced is not None:
            _run_stage(send, "autograd", lambda: _autograd_stage(request, traced))
        _run_stage(send, "backprop", lambda: _backprop_stage(request))
    return 0


def _run_stage(
    send: Callable[[str, Json], None], stage: str, run: Callable[[], tuple[Json, Any]]
) -> Any:
    """Run one stage; any exception of the student's code becomes data for the parent."""
    send(stage, {"started": True})  # if the process dies now, the parent knows where
    try:
        payload, keep = run()
    except BaseException as error:  # SystemExit, KeyboardInterrupt too: the student's, not ours
        send(stage, {"ok": False, "error": _describe(error)})
        return None
    send(stage, {"ok": True, **payload})
    return keep


def _describe(error: BaseException) -> str:
    """`file.py, line N, in f: Type: message`, naming the deepest frame in the student's files."""
    if isinstance(error, InterfaceError):
        return str(error)
    where = ""
    for frame in traceback.extract_tb(error.__traceback__):
        if frame.filename.startswith(FOLDER + os.sep):
            name = os.path.relpath(frame.filename, FOLDER)
            where = f"{name}, line {frame.lineno}, in {frame.name}: "
    if isinstance(error, SyntaxError) and error.filename:
        where = f"{os.path.basename(error.filename)}, line {error.lineno}: "
    text = f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
    return where + text[:2000]


def _import(module: str, function: str) -> Callable[..., Any]:
    """Import module.function from the submission, with messages naming both."""
    try:
        loaded = importlib.import_module(module)
    except ModuleNotFoundError as error:
        if error.name == module.split(".")[0]:
            raise InterfaceError(f"{module.replace('.', '/')}.py is missing") from None
        raise
    target = getattr(loaded, function, None)
    if target is None:
        defined = [n for n, v in vars(loaded).items() if callable(v) and not n.startswith("_")]
        close = difflib.get_close_matches(function, defined, n=1, cutoff=0.6)
        hint = f"; it defines {close[0]}(): rename it to {function}()" if close else ""
        raise InterfaceError(f"{module}.py defines no {function}(){hint}")
    if not callable(target):
        raise InterfaceError(
            f"{module}.py: {function} is a {type(target).__name__}, not a function"
        )
    return target  # type: ignore[no-any-return]


class InterfaceError(Exception):
    """The student's module does not offer what the contract asks for."""


def _check_signature(
    function: Callable[..., Any], module: str, shown: str, *args: Any, **kwargs: Any
) -> None:
    """Refuse a function that cannot take the contract's arguments, before calling it."""
    try:
        signature = inspect.signature(function)
    except (TypeError, ValueError):
        return
    try:
        signature.bind(*args, **kwargs)
    except TypeError as error:
        raise InterfaceError(
            f"{module}.py: {function.__name__}{signature} cannot be called as {shown}: {error}"
        ) from None


# --- network ---------------------------------------------------------------------------------


def _network_stage(request: Json) -> tuple[Json, Any]:
    import torch

    contract = request["network"]
    build = _import(contract["module"], contract["function"])
    kwargs = contract["kwargs"]
    shown = ", ".join(f"{k}={v!r}" for k, v in contract["kwargs"].items())
    _check_signature(build, contract["module"], f"{contract['function']}({shown})", **kwargs)
    net = build(**kwargs)
    if not isinstance(net, torch.nn.Module):
        raise InterfaceError(
            f"{contract['module']}.py: {contract['function']}() returned "
            f"{type(net).__name__}; expected a torch.nn.Module"
        )
    x = torch.tensor(request["calls"][0]["x"], dtype=torch.float32).reshape(1, -1)
    events, output = _trace(net, x)
    payload = {"trace": events, "output_shape": list(output.shape)}
    return payload, (net, events)


def _trace(net: Any, x: Any) -> tuple[list[Json], Any]:
    """Run the network once, recording every torch operation; Linear layers with their shapes."""
    from torch.overrides import TorchFunctionMode

    owners = {id(p): name for name, p in net.named_parameters()}
    events: list[Json] = []

    class Recorder(TorchFunctionMode):
        def __torch_function__(self, func, types, args=(), kwargs=None):  # type: ignore[no-untyped-def]
            name = getattr(func, "__name__", str(func))
            if name == "linear" and len(args) >= 2:
                weight, bias = args[1], args[2] if len(args) > 2 else (kwargs or {}).get("bias")
                events.append(
                    {
                        "op": "linear",
                        "in": int(weight.shape[-1]),
                        "out": int(weight.shape[0]),
                        "weight": owners.get(id(weight), ""),
                        "bias": owners.get(id(bias), "") if bias is not None else None,
                    }
                )
            elif not name.startswith("__") and name not in {"size", "dim", "numel"}:
                events.append({"op": name})
            return func(*args, **(kwargs or {}))

    with Recorder():
        output = _forward(net, x)
    return events, output


def _forward(net: Any, x: Any) -> Any:
    """Run the network on one data point, as a batch of one or, failing that, as a vector."""
    try:
        return net(x)
    except Exception:
        return net(x.reshape(-1))


# --- autograd ----------------------------------------------------------------------------------


def _autograd_stage(request: Json, traced: tuple[Any, list[Json]]) -> tuple[Json, Any]:
    import torch

    net, events = traced
    by_name = dict(net.named_parameters())
    results: list[Json] = []
    linears = [e for e in events if e["op"] == "linear"]
    for call in request["calls"]:
        try:
            if len(linears) != len(call["weights"]):
                raise InterfaceError(
                    f"the network applies {len(linears)} Linear layers; the assignment has "
                    f"{len(call['weights'])}"
                )
            for layer, (event, w, b) in enumerate(
                zip(linears, call["weights"], call["biases"], strict=True), start=1
            ):
                weight = by_name[event["weight"]]
                if list(weight.shape) != [len(w), len(w[0])]:
                    raise InterfaceError(
                        f"Linear {layer} is {event['in']}→{event['out']}; the reference's W{layer} "
                        f"is {len(w[0])}→{len(w)}"
                    )
                with torch.no_grad():
                    weight.copy_(torch.tensor(w, dtype=weight.dtype).reshape(weight.shape))
                    if event["bias"]:
                        bias = by_name[event["bias"]]
                        bias.copy_(torch.tensor(b, dtype=bias.dtype).reshape(bias.shape))
            net.zero_grad(set_to_none=True)
            dtype = by_name[linears[0]["weight"]].dtype
            x = torch.tensor(call["x"], dtype=dtype).reshape(1, -1)
            p = _forward(net, x).reshape(-1)
            y = torch.tensor(call["y"], dtype=p.dtype)
            loss = ((p - y) ** 2).sum()
            if request["loss"] == "half_squared_error":
                loss = loss / 2
            loss.backward()
            dW, db = [], []
            for event in linears:
                grad = by_name[event["weight"]].grad
                dW.append(None if grad is None else grad.double().tolist())
                bias_grad = by_name[event["bias"]].grad if event["bias"] else None
                db.append(None if bias_grad is None else bias_grad.double().tolist())
            results.append({"dW": dW, "db": db})
        except Exception as error:
            results.append({"error": _describe(error)})
    return {"results": results}, None


# --- backprop ----------------------------------------------------------------------------------


def _backprop_stage(request: Json) -> tuple[Json, Any]:
    contract = request["backprop"]
    function = _import(contract["module"], contract["function"])
    shown = f"{contract['function']}(weights, biases, x, y)"
    _check_signature(function, contract["module"], shown, [], [], None, None)
    attempts: list[str] = []
    results: list[Json] = []
    for call in request["calls"]:
        weights = [np.array(w, dtype=np.float64) for w in call["weights"]]
        biases = [np.array(b, dtype=np.float64) for b in call["biases"]]
        x = np.array(call["x"], dtype=np.float64)
        y = float(call["y"][0]) if len(call["y"]) == 1 else np.array(call["y"], dtype=np.float64)
        try:
            with _autograd_forbidden(attempts):
                returned = function(weights, biases, x, y)
            results.append(_as_gradients(returned, contract))
        except AutogradForbidden as error:
            results.append({"error": f"{error}", "autograd": True})
        except Exception as error:
            results.append({"error": _describe(error)})
    return {"results": results, "autograd_attempts": sorted(set(attempts))}, None


def _as_gradients(returned: Any, contract: Json) -> Json:
    """(dW, db) as nested lists of floats, or an error saying what came back instead."""
    name = f"{contract['function']}()"
    if returned is None:
        return {"error": f"{name} returned None; expected (dW, db)"}
    if not isinstance(returned, tuple | list) or len(returned) != 2:
        kind = f"a {type(returned).__name__}"
        if isinstance(returned, tuple | list):
            kind += f" of {len(returned)} items"
        return {"error": f"{name} returned {kind}; expected two lists (dW, db)"}
    out: Json = {}
    for key, items in zip(("dW", "db"), returned, strict=True):
        if not isinstance(items, tuple | list):
            return {"error": f"{name}: {key} is a {type(items).__name__}; expected a list"}
        arrays = []
        for index, item in enumerate(items):
            try:
                arrays.append(_to_array(item).tolist())
            except (TypeError, ValueError) as error:
                return {"error": f"{name}: {key}[{index}] is not an array of numbers ({error})"}
        out[key] = arrays
    return out


def _to_array(item: Any) -> np.ndarray[Any, np.dtype[np.float64]]:
    if hasattr(item, "detach"):  # a torch tensor, possibly requiring grad
        item = item.detach().cpu().double().numpy()
    array = np.asarray(item, dtype=np.float64)
    if array.dtype == object:
        raise ValueError("ragged")
    return array


@contextlib.contextmanager
def _autograd_forbidden(attempts: list[str]) -> Iterator[None]:
    """Make every route to autograd raise while the student's backprop runs, and note each try.

    Three layers: the public functions (Tensor.backward, autograd.grad, torch.func, ...), the
    engine every Python route goes through, and the saved-tensor hooks that any backward pass
    through a recorded graph must unpack.
    """
    import torch
    import torch.autograd.functional as functional
    from torch.autograd.variable import Variable

    def refuse(what: str) -> Callable[..., Any]:
        def refused(*args: Any, **kwargs: Any) -> Any:
            attempts.append(what)
            raise AutogradForbidden(f"autograd is switched off inside backprop: {what} called")

        return refused

    class Engine:
        def __getattr__(self, name: str) -> Any:
            return refuse(f"the autograd engine ({name})")

    patches: list[tuple[Any, str]] = [
        (torch.Tensor, "backward"),
        (torch.autograd, "backward"),
        (torch.autograd, "grad"),
        *((functional, n) for n in ("jacobian", "hessian", "vjp", "jvp", "hvp", "vhp")),
        *(
            (torch.func, n)
            for n in ("grad", "grad_and_value", "vjp", "jvp", "jacrev", "jacfwd", "hessian")
        ),
    ]
    saved = [(owner, name, getattr(owner, name)) for owner, name in patches]
    saved.append((Variable, "_execution_engine", Variable._execution_engine))
    for owner, name in patches:
        qualified = f"{getattr(owner, '__name__', 'torch.Tensor')}.{name}"
        setattr(owner, name, refuse(qualified.replace("torch.Tensor.", "Tensor.")))
    Variable._execution_engine = Engine()  # type: ignore[assignment]

    def unpack(saved_tensor: Any) -> Any:
        attempts.append("a backward pass through a recorded graph")
        raise AutogradForbidden("autograd is switched off inside backprop: a backward pass ran")

    try:
        with torch.autograd.graph.saved_tensors_hooks(lambda t: t, unpack):
            yield
    finally:
        for owner, name, original in saved:
            setattr(owner, name, original)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
