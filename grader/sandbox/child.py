"""The child process: imports a student's modules, runs them, and sends back data, never verdicts.

Run as `python -I child.py CHANNEL_FD GROUPS` with the private copy of the submission as its
working directory and the request (contract, limits, calls) as JSON on stdin. GROUPS is a
comma-separated list run in order: group `backprop` runs the stage `backprop` (the student's
function on every call, with autograd made unusable while it runs); group `network` runs the
stages `network` (build the network and record its operations by running it, then replay the
record: the architecture), `autograd` (the reference's parameters put into the replay, forward,
torch autograd) and `graph`; group `trace`, asked for after grading when the gradients were
wrong, runs the stage `trace` (the student's function on the request's one call, under the line
tracer of tracer.py, autograd off). Each stage sends JSON lines to CHANNEL_FD: what it is doing
before each step (the parent's watchdog counts these as progress), then its result.

The process started with CHANNEL_FD runs no student code: the student's code runs in a worker
it forks (worker.py), and only what this process decides reaches CHANNEL_FD. The network
comes back from the worker as a record of operations (replay.py), replayed here.

This file and those it loads from beside it import nothing of the grader: inside the sandbox
they are all there is of it.
"""

from __future__ import annotations

import ast
import base64
import contextlib
import difflib
import errno
import importlib
import importlib.abc
import importlib.util
import inspect
import json
import os
import resource
import sys
import traceback
import types
from collections.abc import Callable, Iterator
from types import FrameType
from typing import Any, BinaryIO

import numpy as np
import orjson

Json = dict[str, Any]
STARTING = {
    "notebook": "starting the notebook",
    "graph": "walking the autograd graph of the loss",
    "network": "starting the network stage",
    "autograd": "starting autograd on the network",
    "backprop": "starting the backprop stage",
    "trace": "starting the trace of backprop",
}
MAX_ANSWER = 4 * 2**20  # bytes in a line, beyond twice the request's: run.py's MAX_ANSWER
MAX_DIMS = 8  # of an array in an answer: answers.py's MAX_DIMS
MAX_DOINGS = 10  # progress lines passed on per stage, beyond two per call: honest code sends fewer
FOLDER = ""  # the private copy of the submission, the child's working directory (set by main)
TORCH = True  # whether torch was imported before the student's code (see _needs_torch)
MAX_SCANNED = 200  # modules of the submission read to tell whether backprop imports torch
AUTOGRAD_MODULES = frozenset({"torch", "functorch"})  # where a route to autograd is named
# os's functions that start a program (its other exec* call execv or execve; popen, subprocess)
PROGRAM_STARTERS = ("execv", "execve", "posix_spawn", "posix_spawnp", "system")
WHY_NO_PROGRAMS = "autograd in another interpreter is autograd all the same"


class AutogradForbidden(RuntimeError):
    """Raised inside the student's backprop when it reaches for autograd."""


class _Run:
    """This run's answer pipe to the parent, its memory limit in words and its cap on
    processes and threads."""

    channel: BinaryIO | None = None
    memory_limit = ""
    processes = 0

    def send(self, stage: str, payload: Json) -> None:
        assert self.channel is not None
        message = {"stage": stage, **payload}
        try:
            line = orjson.dumps(message)
        except TypeError:  # what orjson refuses (a lone surrogate in a name): escaped instead
            line = json.dumps(message).encode()
        self.channel.write(line + b"\n")
        self.channel.flush()

    def fileno(self) -> int:
        assert self.channel is not None
        return self.channel.fileno()


RUN = _Run()


def _load(name: str) -> Any:
    """A module of the sandbox beside this file (child.py is loaded by path, not as a package)."""
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), f"{name}.py")
    spec = importlib.util.spec_from_file_location(f"grade_{name}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# replay.py imports torch: loaded with it, here in the fork server (which imported torch first),
# else by main when the groups need torch (_needs_torch)
replay: Any = _load("replay") if "torch" in sys.modules else None
worker = _load("worker")
cells = _load("cells")
tracer = _load("tracer")


def main(argv: list[str]) -> int:
    """`child.py CHANNEL_FD GROUPS`: run each group's stages, send the answers, exit. The fork
    server calls this in a freshly forked process too, after walling it in.

    This process never runs student code: the groups run in a worker (worker.py) whose lines
    come back here, and what reaches the grader is decided here."""
    global FOLDER, TORCH, replay
    FOLDER = os.getcwd()
    RUN.channel = os.fdopen(int(argv[1]), "wb")
    sys.dont_write_bytecode = True  # a private copy, deleted after: a cache would never be read
    raw = sys.stdin.buffer.read()
    request = orjson.loads(raw)
    request["calls"] = [_call_arrays(call) for call in request["calls"]]
    groups = argv[2].split(",")
    if _needs_torch(request, groups):
        import torch

        torch.set_num_threads(1)
        replay = replay or _load("replay")
    else:  # the trace of a backprop in numpy: a fresh interpreter (bubblewrap) starts in 0.1 s
        TORCH = False
        os.environ["OMP_NUM_THREADS"] = "1"  # torch imported all the same: one thread
    _limit(request["limits"])
    sys.path[0] = FOLDER  # the student's folder, not this script's
    sys.meta_path.insert(0, _GraderHidden())
    worker.keep_to_itself()
    _groups(request, groups, line_limit=MAX_ANSWER + 2 * len(raw))
    RUN.channel.flush()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    os._exit(0)  # no atexit handlers, no lingering threads: done


def _needs_torch(request: Json, groups: list[str]) -> bool:
    """Whether to import torch before the student's code: always, but for the trace group of
    a backprop whose modules (the backprop module and the submission's modules it imports,
    read, never run) never name torch. Importing torch takes a second; where each child is a
    fresh interpreter (bubblewrap), that is most of a trace's time. Torch imported later, under
    the address-space limit, may fail, and autograd is not switched off for it: either harms
    only this student's trace, never their grade (the backprop stage imported torch first)."""
    if groups != ["trace"] or request.get("notebook") or "torch" in sys.modules:
        return True
    todo, seen = [str(request["backprop"]["module"])], set[str]()
    while todo:
        name = todo.pop()
        path = _module_file(name)
        if path is None or path in seen:
            continue
        seen.add(path)
        if len(seen) > MAX_SCANNED:
            return True
        try:
            with open(path, "rb") as file:
                text = file.read(2**20 + 1).decode("utf-8", errors="replace")
            tree = ast.parse(text)
        except (OSError, SyntaxError, ValueError, RecursionError, MemoryError):
            return True  # what cannot be read might name it
        if len(text) > 2**20 or "torch" in text:
            return True
        package = name if path.endswith("__init__.py") else name.rpartition(".")[0]
        todo += _imported(tree, package)
    return False


def _module_file(name: str) -> str | None:
    """The submission's file for module `name` (`a/b.py` or `a/b/__init__.py`), if any."""
    base = os.path.join(FOLDER, *name.split("."))
    for path in (base + ".py", os.path.join(base, "__init__.py")):
        if os.path.isfile(path):
            return path
    return None


def _imported(tree: ast.Module, package: str) -> list[str]:
    """Every module an import of `tree` may load, its packages too (`a`, `a.b` for `a.b.c`;
    for `from a import b`, `a.b` as well), relative imports resolved against `package`."""
    names: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".") if package else []
                parent = ".".join(parts[: len(parts) - node.level + 1])
                base = ".".join(part for part in (parent, base) if part)
            names += [base] if base else []
            names += [".".join(p for p in (base, alias.name) if p) for alias in node.names]
    return [
        ".".join(name.split(".")[: i + 1]) for name in names for i in range(name.count(".") + 1)
    ]


def _groups(request: Json, groups: list[str], line_limit: int) -> None:
    """Run the groups' student code in one worker, in order, passing on its lines; the
    network comes back as a record, replayed here for the architecture, autograd and (unless
    the assignment has a graph script, which imports the student's code and so runs in the
    worker) the graph."""
    script = request.get("graph_script")
    stages: set[str] = {group for group in ("backprop", "trace") if group in groups}
    if "network" in groups:
        stages |= {"network", "graph"} if script else {"network"}
    notebook = request.get("notebook")
    work = worker.Worker(RUN.fileno(), lambda: _in_worker(request, groups), line_limit)
    done: set[str] = set()
    doings = dict.fromkeys(stages, MAX_DOINGS + 2 * len(request["calls"]))
    if notebook:  # a line naming each cell as it starts
        stages.add("notebook")
        doings["notebook"] = MAX_DOINGS + len(notebook["cells"])
    recording, source = None, ""
    for message in work.lines():
        if message["stage"] == "network" and message.get("ok") is True:
            if recording is None and "network" in stages - done:
                recording, source = message.get("recording"), str(message.get("global", ""))
            continue  # the worker's word for the network is a record to replay, never an answer
        _pass_on(message, stages, done, doings)
    if recording is not None and "network" not in done:
        done.add("network")
        replayed = _run_stage(
            RUN.send, "network", lambda: _replayed_stage(request, recording, source)
        )
        if replayed is not None:
            _run_stage(RUN.send, "autograd", lambda: _autograd_stage(request, replayed))
            if not script:
                _run_stage(RUN.send, "graph", lambda: _graph_stage(request, replayed))
    _ended(work, stages, done)


def _in_worker(request: Json, groups: list[str]) -> None:
    """The student's code, in the worker: a notebook's cells first, if it is one; backprop on
    every call; the network built and recorded, and the assignment's graph script."""
    namespace = None
    if request.get("notebook"):
        namespace = _run_stage(RUN.send, "notebook", lambda: _notebook_stage(request))
        if namespace is None:
            return
    for group in groups:
        if group == "backprop":
            _run_stage(RUN.send, "backprop", lambda: _backprop_stage(request, namespace))
        elif group == "trace":
            _run_stage(RUN.send, "trace", lambda: _trace_stage(request, namespace))
        elif group == "network":
            recorded = _run_stage(RUN.send, "network", lambda: _network_stage(request, namespace))
            if recorded is not None and request.get("graph_script"):
                _run_stage(RUN.send, "graph", lambda: _graph_stage(request, None))


def _pass_on(message: Json, stages: set[str], done: set[str], doings: dict[str, int]) -> None:
    """Send the grader a worker's line for one of `stages`: what it is doing (while `doings`
    lasts: progress without end is no progress), or its first result; anything else is
    dropped."""
    stage = message["stage"]
    if stage not in stages or stage in done:
        return
    if isinstance(message.get("ok"), bool):
        done.add(stage)
        RUN.send(stage, {key: value for key, value in message.items() if key != "stage"})
    elif "doing" in message and doings[stage] > 0:
        doings[stage] -= 1
        RUN.send(stage, {"doing": str(message["doing"])[:200]})


def _ended(work: Any, stages: set[str], done: set[str]) -> None:
    """After the worker: if it died, or ended before answering, this process ends the same way
    (the grader reports that, as it would have had the student's code run here, and runs the
    groups never begun in a fresh child)."""
    if not work.ended_well() or stages - done:
        work.end_like_it()  # every line was sent flushed


def _doing(stage: str, what: str) -> None:
    """Tell the parent what comes next: progress for its watchdog, and where a crash happened."""
    RUN.send(stage, {"doing": what})


def _limit(limits: Json) -> None:
    """rlimits for everything that runs from now on (the student's code): set after importing
    torch, since an address-space limit set earlier breaks its import."""
    mib = int(limits["memory_mib"])
    RUN.memory_limit = f"{mib / 1024:g} GiB" if mib % 1024 == 0 else f"{mib} MiB"
    RUN.processes = int(limits["processes"])
    with open("/proc/self/status") as status:
        size = next(int(line.split()[1]) * 1024 for line in status if line.startswith("VmSize"))
    for limit, value in (
        (resource.RLIMIT_AS, size + mib * 2**20),
        (resource.RLIMIT_FSIZE, 64 * 2**20),
        (resource.RLIMIT_CORE, 0),
        (resource.RLIMIT_NOFILE, 256),
    ):
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(limit, (value, value))


class _GraderHidden(importlib.abc.MetaPathFinder):
    """The grader's own packages are not the student's to import (their ground truth)."""

    def find_spec(self, name: str, path: Any, target: Any = None) -> None:
        top = name.split(".")[0]
        mine = os.path.exists(os.path.join(FOLDER, top + ".py")) or os.path.isdir(
            os.path.join(FOLDER, top)
        )
        if top in {"grader", "reference"} and not mine:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None


def _run_stage(
    send: Callable[[str, Json], None], stage: str, run: Callable[[], tuple[Json, Any]]
) -> Any:
    """Run one stage; any exception of the student's code becomes data for the parent."""
    send(stage, {"doing": STARTING[stage]})  # if the process dies now, the parent knows where
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
    if isinstance(error, MemoryError) or "can't allocate memory" in str(error):
        where = _where(error)
        return f"stopped: memory limit of {RUN.memory_limit} reached" + (
            f" ({where})" if where else ""
        )
    where = _where(error)
    text = f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
    text = str(cells.with_hint(text))
    cap = (
        f" (the sandbox allows {RUN.processes} processes and threads: limits.processes)"
        if _out_of_processes(error)
        else ""
    )
    return (f"{where}: " if where else "") + text[:2000] + cap


def _out_of_processes(error: BaseException) -> bool:
    """Whether the error is a thread or process refused by the cap on them: a thread that could
    not start, or a fork (the line that raised calls one) that found no room."""
    if isinstance(error, RuntimeError):
        return str(error) == "can't start new thread"
    if not isinstance(error, BlockingIOError) or error.errno != errno.EAGAIN:
        return False
    frames = traceback.extract_tb(error.__traceback__)
    return bool(frames) and "fork" in (frames[-1].line or "")


def _where(error: BaseException) -> str:
    """`file.py, line N, in f`: the deepest frame of the error in the student's files."""
    where = ""
    for frame in traceback.extract_tb(error.__traceback__):
        if frame.filename.startswith(FOLDER + os.sep):
            name = os.path.relpath(frame.filename, FOLDER)
            where = f"{name}, line {frame.lineno}, in {frame.name}"
    if isinstance(error, SyntaxError) and error.filename:
        where = f"{os.path.basename(error.filename)}, line {error.lineno}"
    return where


def _notebook_stage(request: Json) -> tuple[Json, Any]:
    """Run the notebook's cells (cells.py); its namespace is where the contract's functions are
    taken from. The contract's modules are that namespace too, for the graph script."""
    notebook = request["notebook"]
    payload, namespace = cells.run(
        notebook, FOLDER, lambda what: _doing("notebook", what), RUN.memory_limit
    )
    for key in ("network", "backprop"):
        module = types.ModuleType(request[key]["module"])
        module.__dict__.update(namespace)
        sys.modules.setdefault(request[key]["module"], module)
    return payload, namespace


def _contract_function(request: Json, key: str, namespace: Json | None) -> Callable[..., Any]:
    """The contract's function `key` (network or backprop): from its module, or from the
    notebook's namespace when the submission is a notebook."""
    contract = request[key]
    if namespace is None:
        return _import(contract["module"], contract["function"])
    try:
        found: Callable[..., Any] = cells.function(
            namespace, contract["function"], key, request["notebook"]["file"]
        )
        return found
    except cells.Missing as error:
        raise InterfaceError(str(error)) from None


def _import(module: str, function: str) -> Callable[..., Any]:
    """Import module.function from the submission, with messages naming both."""
    try:
        loaded = importlib.import_module(module)
    except ModuleNotFoundError as error:
        if error.name == module.split(".")[0]:
            path = f"{module.replace('.', '/')}.py"
            raise InterfaceError(
                f"{path} is missing: hand in {path}, or one notebook (.ipynb) that defines "
                f"{function}()"
            ) from None
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
    function: Callable[..., Any], where: str, shown: str, *args: Any, **kwargs: Any
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
            f"{where}: {function.__name__}{signature} cannot be called as {shown}: {error}"
        ) from None


# --- network ---------------------------------------------------------------------------------


def _network_stage(request: Json, namespace: Json | None) -> tuple[Json, Any]:
    """Build the student's network and record one run of it on the published inputs. A
    notebook without the network function may have its network as a global: then that."""
    import torch

    contract = request["network"]
    kwargs = contract["kwargs"]
    call = f"{contract['function']}({', '.join(f'{k}={v!r}' for k, v in kwargs.items())})"
    where = f"{contract['module']}.py" if namespace is None else request["notebook"]["file"]
    source = ""
    if namespace is not None and not callable(namespace.get(contract["function"])):
        _doing("network", f"looking for the network among the globals of {where}")
        try:
            net, source = cells.network_global(
                namespace, request["notebook"]["sizes"], where, contract["function"]
            )
        except cells.Missing as error:
            raise InterfaceError(str(error)) from None
    else:
        _doing("network", f"importing {where}" if namespace is None else f"taking it from {where}")
        build = _contract_function(request, "network", namespace)
        _check_signature(build, where, call, **kwargs)
        _doing("network", f"calling {call}")
        net = build(**kwargs)
    if not isinstance(net, torch.nn.Module):
        raise InterfaceError(
            f"{where}: {contract['function']}() returned {type(net).__name__}; expected a "
            "torch.nn.Module"
        )
    dtype = next((p.dtype for p in net.parameters() if p.is_floating_point()), torch.float32)
    x = torch.tensor(request["calls"][0]["x"], dtype=dtype).reshape(1, -1)
    _doing("network", "running the network on the published inputs")
    recording, _ = replay.record(net, x, _forward)
    return {"recording": recording, "global": source}, net


def _forward(net: Any, x: Any) -> Any:
    """Run the network on one data point, as a batch of one or, failing that, as a vector."""
    try:
        return net(x)
    except Exception:
        return net(x.reshape(-1))


def _replayed_stage(request: Json, recording: Json, source: str) -> tuple[Json, Any]:
    """What the network computes, from its record alone: the architecture trace (and, for a
    notebook's global network, the global's name)."""
    _doing("network", "replaying the network's operations")
    try:
        network = replay.Replay(recording)
        x = network.input(request["calls"][0]["x"])
        trace, shape, layers = replay.architecture(network, x)
    except replay.ReplayError as error:
        raise InterfaceError(str(error)) from None
    found = {"global": source[:200]} if source else {}
    return {"trace": trace, "output_shape": shape, **found}, (network, layers)


# --- autograd ----------------------------------------------------------------------------------


def _autograd_stage(request: Json, replayed: tuple[Any, list[Any]]) -> tuple[Json, Any]:
    """torch autograd's gradients for the reference's parameters put into the replayed network."""
    network, layers = replayed
    results: list[Json] = []
    for number, call in enumerate(request["calls"], start=1):
        _doing("autograd", f"running autograd on the network, data point {number}")
        try:
            grads = replay.gradients(network, layers, call, request["loss"])
        except replay.ReplayError as error:
            results.append({"error": str(error)})
            continue
        except Exception as error:
            results.append({"error": _describe(error)})
            continue
        results.append(
            {key: [None if g is None else _packed(g) for g in grads[key]] for key in ("dW", "db")}
        )
    return {"results": results}, None


def _graph_stage(request: Json, replayed: Any) -> tuple[Json, Any]:
    """The autograd graph of the assignment's graph script (in the worker), or else of the
    assignment's loss on the replayed network, node by node."""
    if request.get("graph_script"):
        loss, parameters = _script_loss(request["graph_script"])
    else:
        loss, parameters = replay.graph_loss(replayed[0], request["calls"][0], request["loss"])
    return _walk(loss, parameters), None


def _script_loss(script: str) -> tuple[Any, dict[int, str]]:
    """Run the assignment's graph script (the student's folder importable); its `loss`, and
    names for the parameters it made: `net.0.weight` for a module's, `w` for a leaf tensor."""
    import torch

    _doing("graph", "running the assignment's graph script")
    names: dict[str, Any] = {"__name__": "__graph__"}
    exec(compile(script, "graph script", "exec"), names)  # the instructor's script
    loss = names.get("loss")
    if not isinstance(loss, torch.Tensor):
        raise InterfaceError(
            f"the assignment's graph script left loss = {type(loss).__name__}; expected a tensor"
        )
    parameters: dict[int, str] = {}
    for name, value in names.items():
        if isinstance(value, torch.nn.Module):
            parameters |= {id(p): f"{name}.{n}" for n, p in value.named_parameters()}
        elif isinstance(value, torch.Tensor) and value.requires_grad and value.is_leaf:
            parameters.setdefault(id(value), name)
    return loss, parameters


def _walk(loss: Any, parameters: dict[int, str]) -> Json:
    """Every node of the graph of `loss`, breadth first from it, and the edges between them."""
    ids: dict[Any, int] = {}
    nodes: list[Json] = []
    edges: list[list[int]] = []
    queue = [loss.grad_fn] if loss.grad_fn is not None else []
    while queue and len(nodes) < 2000:
        function = queue.pop(0)
        if function in ids:
            continue
        ids[function] = len(nodes)
        node: Json = {"id": ids[function], "type": type(function).__name__}
        variable = getattr(function, "variable", None)
        if variable is not None:
            node |= {"parameter": parameters.get(id(variable), ""), "shape": list(variable.shape)}
        nodes.append(node)
        queue += [f for f, _ in function.next_functions if f is not None]
    for function, index in ids.items():
        for child, _ in function.next_functions:
            if child in ids:
                edges.append([index, ids[child]])
    return {"nodes": nodes, "edges": edges}


# --- backprop ----------------------------------------------------------------------------------


def _backprop_stage(request: Json, namespace: Json | None) -> tuple[Json, Any]:
    contract = request["backprop"]
    function, ran = _backprop_function(request, namespace, "backprop")
    attempts: list[str] = []
    results: list[Json] = []
    for number, call in enumerate(request["calls"], start=1):
        _doing("backprop", f"calling {contract['function']}() on data point {number}")
        with _autograd_forbidden(attempts):
            results.append(_gradients_of(function, _arguments(call), contract))
    payload = {"results": results, "autograd_attempts": sorted(set(attempts)), "module_file": ran}
    return payload | _defined_at(function), None


def _trace_stage(request: Json, namespace: Json | None) -> tuple[Json, Any]:
    """The student's backprop once more, on the request's one call (the first whose gradients
    were wrong), under the line tracer (tracer.py): what each line of their files stored.
    Autograd is off as in the backprop stage; whether the call raised is the backprop stage's
    to tell, not this one's."""
    function, _ = _backprop_function(request, namespace, "trace")
    _doing("trace", f"tracing {request['backprop']['function']}() line by line")
    with _autograd_forbidden([]):
        _, _, events, gave_up = tracer.Tracer(FOLDER).run(function, _arguments(request["calls"][0]))
    return {"events": events, "gave_up": gave_up}, None


def _backprop_function(
    request: Json, namespace: Json | None, stage: str
) -> tuple[Callable[..., Any], str]:
    """The contract's backprop (from its module, or the notebook's namespace), checked against
    the contract's call before it is called; and the file that ran as its module ("" if
    unknown)."""
    contract = request["backprop"]
    if namespace is None:
        ran = _origin(contract["module"])
        _doing(stage, f"importing {ran or contract['module'] + '.py'}")
    else:
        ran = request["notebook"]["file"]
    function = _contract_function(request, "backprop", namespace)
    shown = f"{contract['function']}(weights, biases, x, y)"
    _check_signature(function, ran or f"{contract['module']}.py", shown, [], [], None, None)
    return function, ran


def _arguments(call: Json) -> tuple[Any, ...]:
    """A call's (weights, biases, x, y) as the student's backprop takes them: fresh float64
    arrays (what one call did to them in place stays with it), y a float for one output."""
    weights = [np.array(w, dtype=np.float64) for w in call["weights"]]
    biases = [np.array(b, dtype=np.float64) for b in call["biases"]]
    x = np.array(call["x"], dtype=np.float64)
    y = float(call["y"][0]) if len(call["y"]) == 1 else np.array(call["y"], dtype=np.float64)
    return weights, biases, x, y


def _defined_at(function: Any) -> Json:
    """Where the student's function was defined, for the source scan to start there rather than
    at the last `def backprop` (one a flag or a stopped cell kept from running): its code's
    file, relative to the submission (`hw1.ipynb, cell 3` for a notebook's cell), and first
    line. A wrapper made by functools.wraps (`@torch.no_grad()`) is looked through. Nothing for
    what is not a plain function or method (a functools.partial, a callable object, a
    builtin), or is defined outside the submission. Read without running the student's code:
    of types no class can subclass, by their plain attributes. The student's process could
    forge these (a function's __code__ can be replaced): a false place moves only where the
    source scan looks; the run-time check is the strong one."""
    for _ in range(10):  # a __wrapped__ chain, however long or looped
        if type(function) is types.MethodType:
            function = function.__func__
        if type(function) is not types.FunctionType:
            return {}
        wrapped = dict.get(function.__dict__, "__wrapped__")
        if wrapped is None:
            break
        function = wrapped
    else:
        return {}
    code = function.__code__
    if not code.co_filename.startswith(FOLDER + os.sep):
        return {}
    return {
        "function_file": os.path.relpath(code.co_filename, FOLDER),
        "function_line": code.co_firstlineno,
    }


def _origin(module: str) -> str:
    """The file Python will import for `module`, relative to the submission ("" if none there):
    found before any of the student's code runs, so that the module cannot disguise it."""
    try:
        spec = importlib.util.find_spec(module)
    except Exception:  # a parent package that fails to import: the import reports it
        return ""
    origin = getattr(spec, "origin", None) or ""
    if not origin.startswith(FOLDER + os.sep):
        return ""
    return os.path.relpath(origin, FOLDER)


def _gradients_of(function: Callable[..., Any], args: tuple[Any, ...], contract: Json) -> Json:
    """Call the student's backprop and read what it returned, all with autograd still off:
    reading a returned object runs its code (`__array__`, `__len__`, `__iter__`, ...), and so
    does describing an exception it raised."""
    try:
        return _as_gradients(function(*args), contract)
    except Exception as error:
        return _failure(error)


def _failure(error: Exception) -> Json:
    """A failed call as data. Describing the error runs its `__str__`, the student's code."""
    try:
        if isinstance(error, AutogradForbidden):
            return {"error": str(error), "autograd": True}
        return {"error": _describe(error)}
    except AutogradForbidden as refused:
        return {"error": str(refused), "autograd": True}
    except Exception:
        return {"error": f"{type(error).__name__} (its message could not be read)"}


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
                array = _to_array(item)
            except (TypeError, ValueError) as error:
                return {"error": f"{name}: {key}[{index}] is not an array of numbers ({error})"}
            if array.ndim > MAX_DIMS:  # the grader would refuse the answer, saying less
                shape = "×".join(map(str, array.shape))
                return {"error": f"{name}: {key}[{index}] has {array.ndim} dimensions ({shape}); "
                        "a gradient of a Linear layer has 2 (dW) or 1 (db)"}  # fmt: skip
            arrays.append(_packed(array))
        out[key] = arrays
    return out


def _call_arrays(call: Json) -> Json:
    """A call of the request with its packed arrays (as _packed makes them) unpacked."""

    def unpack(value: Json) -> np.ndarray[Any, Any]:
        raw = base64.b64decode(value["f8"])
        return np.frombuffer(raw, dtype="<f8").reshape(value["shape"]).copy()

    return {
        "weights": [unpack(w) for w in call["weights"]],
        "biases": [unpack(b) for b in call["biases"]],
        "x": unpack(call["x"]),
        "y": unpack(call["y"]),
    }


def _packed(array: np.ndarray[Any, Any]) -> Json:
    """An array as the parent reads it: float64 bytes (NaN and infinities kept) and a shape."""
    data = np.ascontiguousarray(array, dtype="<f8").tobytes()
    return {"f8": base64.b64encode(data).decode("ascii"), "shape": list(array.shape)}


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

    Refused where every route passes at call time, whatever name the student's code reached it
    by (an alias taken at import, getattr, importlib, exec, a helper module): the engine of
    every backward pass run from Python (Tensor.backward, autograd.grad, torch.func's grad,
    vjp, jacrev); torch.func's guard against saved-tensor hooks, which its reverse modes pass
    first; entering a forward-mode level (torch.func's jvp, jacfwd, linearize, forward_ad); a new
    engine. And any backward pass through a graph recorded here must unpack the tensors it
    saved, through hooks that refuse. vmap and torch's operations stay free.

    Starting a program (subprocess, os.exec*, os.posix_spawn, os.system) is refused and noted
    too: autograd in a fresh interpreter is out of reach of every switch here. The worker's
    seccomp filter refuses execve below these, whatever the route (ctypes), but says nothing.
    """
    import _posixsubprocess
    import subprocess

    def refuse(default: str, program: bool = False) -> Callable[..., Any]:
        def refused(*args: Any, **kwargs: Any) -> Any:
            try:
                reached = _reached(default, None if program else AUTOGRAD_MODULES)
            except Exception:  # frames the student's code made to confuse the naming
                reached = default
            if program:
                why = f"{reached} ({WHY_NO_PROGRAMS})"
                attempts.append(f"started a program through {why}")
                off = f"starting a program is switched off inside backprop: {why}"
            else:
                attempts.append(reached)
                off = f"autograd is switched off inside backprop: {reached}"
            raise AutogradForbidden(off)

        return refused

    class Engine:
        def __getattr__(self, name: str) -> Any:
            return refuse(f"the autograd engine ({name})")

    patches: list[tuple[Any, str, Any]] = [
        (subprocess.Popen, "_execute_child", refuse("subprocess.Popen", program=True)),
        (_posixsubprocess, "fork_exec", refuse("_posixsubprocess.fork_exec", program=True)),
        *((os, name, refuse(f"os.{name}", program=True)) for name in PROGRAM_STARTERS),
    ]
    hooks: contextlib.AbstractContextManager[Any] = contextlib.nullcontext()
    if TORCH:  # always, but in a trace child of a backprop that names no torch (_needs_torch)
        import torch
        import torch._functorch.predispatch as predispatch
        from torch.autograd.variable import Variable

        patches += [
            (Variable, "_execution_engine", Engine()),
            (torch._C, "_ImperativeEngine", refuse("torch._C._ImperativeEngine")),
            (torch.autograd.graph, "disable_saved_tensors_hooks", refuse("torch.func")),
            (predispatch, "_enter_dual_level_impl", refuse("forward-mode autograd")),
            (torch._C, "_enter_dual_level", refuse("torch._C._enter_dual_level")),
        ]
        unpack = refuse("a backward pass through a graph recorded in backprop")
        hooks = torch.autograd.graph.saved_tensors_hooks(lambda t: t, unpack)
    saved = [(owner, name, getattr(owner, name)) for owner, name, _ in patches]
    for owner, name, refusal in patches:
        setattr(owner, name, refusal)
    try:
        with hooks:
            yield
    finally:
        for owner, name, original in saved:
            setattr(owner, name, original)


def _reached(default: str, modules: frozenset[str] | None) -> str:
    """What the student's code called to reach autograd, and where: `torch.func.jacfwd, called in
    helpers.py, line 18, in gradients`. The function is the outermost frame below the student's
    code (an exec'd string counts as theirs) of one of `modules` (any, for None); `default` when
    their code called none."""
    frame: FrameType | None = sys._getframe(2)  # whoever called the refusal
    entry = None
    while frame is not None and not _theirs(frame, exec_too=True):
        if modules is None or str(frame.f_globals.get("__name__")).split(".")[0] in modules:
            entry = frame
        frame = frame.f_back
    while frame is not None and not _theirs(frame):
        frame = frame.f_back
    name = default if entry is None else _public_name(entry)
    if frame is None:
        return name
    where = os.path.relpath(frame.f_code.co_filename, FOLDER)
    return f"{name}, called in {where}, line {frame.f_lineno}, in {frame.f_code.co_name}"


def _theirs(frame: FrameType, exec_too: bool = False) -> bool:
    """Whether the frame runs the student's code: a file of the submission, or with `exec_too`,
    a string they compiled (`<string>`)."""
    filename: str = frame.f_code.co_filename
    if exec_too and filename.startswith("<") and not filename.startswith("<frozen"):
        return True
    return filename.startswith(FOLDER + os.sep)


def _public_name(frame: FrameType) -> str:
    """The name a student knows a torch frame's function by: torch.func.jacfwd for the wrapper
    `torch._functorch.eager_transforms.jacfwd.<locals>.wrapper_fn`, torch.Tensor.backward."""
    module = str(frame.f_globals.get("__name__"))
    parts = frame.f_code.co_qualname.split(".<locals>")[0].split(".")
    if len(parts) > 1 and parts[-1].startswith("__"):
        parts.pop()  # dual_level.__enter__: the class is what they used
    if module.startswith(("torch._functorch", "functorch")):
        module = "torch.func"
    elif module == "torch._tensor":
        module = "torch"
    return ".".join([module, *parts])


if __name__ == "__main__":
    sys.exit(main(sys.argv))
