"""A notebook's code cells run top to bottom in one fresh namespace, in the worker.

As Jupyter's "Restart and Run All" would, but a cell that raises does not stop the run: its
error is recorded (the line of the cell, the exception, the student's frames) and the next cell
runs, so that functions defined after a broken cell are still there to grade. Cells run
statement by statement, so that a top-level `import` of a package not installed here (and
Colab's `google.colab`) is recorded and the rest of its cell still runs. Each cell is compiled
under the name `<folder>/<notebook>, cell N`: a traceback, and every message the child builds
from one, reads `hw1.ipynb, cell 3, line 4`, and linecache holds the cell's lines for it.

The grader (grader/notebook.py) already put IPython-only lines out of the way. The contract's
functions are then taken from the namespace, with a hint naming what looks like them when one
is missing; a notebook written before the contract, with its network as a global, has that
global graded if it is the only network of the right sizes.

Like child.py, this file imports nothing of the grader: it runs inside the sandbox.
"""

from __future__ import annotations

import ast
import builtins
import collections
import contextlib
import copy
import difflib
import inspect
import linecache
import os
import re
import signal
import sys
import traceback
import types
from collections.abc import Callable, Iterator
from typing import Any

MAX_DAT = 2**20  # bytes of a .dat file the notebook wrote that are sent back to compare
MAX_FRAMES = 20
HINTS = {  # words in a name that look like a contract function of each kind
    "network": ("build", "network", "net", "model", "make", "create", "mlp"),
    "backprop": ("backprop", "backward", "grad", "gradient", "manual", "chain"),
}


class Missing(Exception):
    """A contract function the notebook does not define; the message names what looks like it."""


class OutOfTime(BaseException):
    """Raised in the running cell when the notebook's time is up, as Jupyter's interrupt
    would: the cell stops, the cells after it do not run, grading goes on."""


class _Clock:
    """The notebook's time: SIGALRM when it is up interrupts the cell running then (only a
    cell: never the worker's own bookkeeping, which checks `expired` between statements). A
    cell that ignores the interruption is the grader's watchdog's to kill, a little later."""

    def __init__(self, seconds: float) -> None:
        self.seconds, self.expired, self.in_cell = seconds, False, False

    def __enter__(self) -> _Clock:
        self.previous = signal.signal(signal.SIGALRM, self._ring)
        signal.setitimer(signal.ITIMER_REAL, self.seconds)
        return self

    def __exit__(self, *_: object) -> None:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, self.previous)

    def _ring(self, signum: int, frame: Any) -> None:
        self.expired = True
        if self.in_cell:
            self.in_cell = False  # once
            raise OutOfTime

    @contextlib.contextmanager
    def cell(self) -> Iterator[None]:
        if self.expired:
            raise OutOfTime
        self.in_cell = True
        try:
            yield
        finally:
            self.in_cell = False


STOPPED = [""]  # why the cells after one were not run, for the contract functions' messages


def run(
    notebook: dict[str, Any], folder: str, doing: Callable[[str], None], memory_limit: str
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Run the notebook's cells within its time; what happened to each (only cells with
    something to say) and the .dat files whose bytes it changed, and the namespace the cells
    left. `memory_limit`, in words, names the limit a cell that runs out of memory reached."""
    namespace: dict[str, Any] = {"__name__": "__main__", "__builtins__": builtins}
    namespace["display"] = _display  # IPython's, which notebooks call to show a value
    _ipython_display_module()
    dats = {name: os.path.join(folder, name) for name in notebook["dat_files"]}
    before = {name: _read(path) for name, path in dats.items()}
    cells = []
    seconds = float(notebook["seconds"])
    with _Clock(seconds) as clock:
        for cell in notebook["cells"]:
            number, code = cell["cell"], cell["code"]
            doing(f"cell {number} was running: {_first_line(code)}")
            filename = f"{os.path.join(folder, notebook['file'])}, cell {number}"
            linecache.cache[filename] = (len(code), None, code.splitlines(True), filename)
            record = _run_cell(code, filename, namespace, folder, memory_limit, clock)
            if record:
                cells.append({"cell": number, **record})
            if clock.expired:
                STOPPED[0] = (
                    f"the notebook ran past {seconds:g} s (limits.notebook_seconds) in cell "
                    f"{number}, and the cells after it were not run"
                )
                break
    written = [
        {"file": name, "text": text}
        for name, path in dats.items()
        if (text := _read(path)) is not None and text != before[name]
    ]
    return {"cells": cells, "written": written}, namespace


def _display(*values: Any, **_: Any) -> None:
    for value in values:
        print(repr(value))


def _clear_output(*_: Any, **__: Any) -> None:
    pass


def _ipython_display_module() -> None:
    """`from IPython.display import display, clear_output`, which notebooks use to show
    progress, where IPython is not installed: display prints, clear_output does nothing."""
    try:
        import IPython.display  # type: ignore[import-not-found]  # noqa: F401
    except ImportError:
        ipython = types.ModuleType("IPython")
        shown = types.ModuleType("IPython.display")
        shown.display, shown.clear_output = _display, _clear_output  # type: ignore[attr-defined]
        ipython.display = shown  # type: ignore[attr-defined]
        sys.modules.setdefault("IPython", ipython)
        sys.modules.setdefault("IPython.display", shown)


def _first_line(code: str) -> str:
    line = next((line.strip() for line in code.splitlines() if line.strip()), "")
    return line[:80]


def _read(path: str) -> str | None:
    """A .dat file of the private copy as text (None if it is not there or too big)."""
    try:
        with open(path, "rb") as file:
            data = file.read(MAX_DAT + 1)
    except OSError:
        return None
    return data.decode("utf-8", errors="replace") if len(data) <= MAX_DAT else None


def _run_cell(
    code: str,
    filename: str,
    namespace: dict[str, Any],
    folder: str,
    memory_limit: str,
    clock: _Clock,
) -> dict[str, Any]:
    """One cell, statement by statement; its error (which ends it) and the imports of missing
    packages (which do not), or nothing."""
    try:
        tree = ast.parse(code, filename)
    except SyntaxError as error:
        return {"error": f"SyntaxError: {error.msg}", "line": error.lineno or 1}
    except ValueError as error:  # a null byte
        return {"error": f"SyntaxError: {error}", "line": 1}
    missing: list[dict[str, Any]] = []
    for statement in tree.body:
        try:
            compiled = compile(ast.Module([statement], []), filename, "exec")
            with clock.cell():
                exec(compiled, namespace)
        except BaseException as error:  # SystemExit too: Jupyter shows it and goes on
            module = "" if clock.expired else _not_installed(statement, error, folder)
            if module:
                missing.append({"line": statement.lineno, "module": module})
                continue
            try:
                record = _error(error, filename, statement.lineno, memory_limit)
            except MemoryError:  # the error's own frames are what filled the memory
                limit = f"stopped: memory limit of {memory_limit} reached"
                record = {"error": limit, "line": statement.lineno}
            if clock.expired:
                record["error"] = (
                    f"stopped: the notebook ran past {clock.seconds:g} s "
                    "(limits.notebook_seconds) while this cell ran; the cells after it were "
                    "not run"
                )
                record["stopped"] = True
            return record | ({"missing": missing} if missing else {})
    return {"missing": missing} if missing else {}


def _not_installed(statement: ast.stmt, error: BaseException, folder: str) -> str:
    """The module a top-level import could not find, if that is what failed (and it is not
    one of the student's own files, whose import errors are theirs to see)."""
    if not isinstance(error, ModuleNotFoundError) or not error.name:
        return ""
    if not isinstance(statement, ast.Import | ast.ImportFrom):
        return ""
    top = error.name.split(".")[0]
    if os.path.exists(os.path.join(folder, top + ".py")) or os.path.isdir(
        os.path.join(folder, top)
    ):
        return ""
    if isinstance(statement, ast.ImportFrom) and statement.module and not statement.level:
        return statement.module
    return error.name


def _error(
    error: BaseException, filename: str, default_line: int, memory_limit: str
) -> dict[str, Any]:
    """The error that ended a cell: its type and message, the cell's line, the frames in the
    student's files (cells and modules), outermost first."""
    try:
        text = f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
    except Exception:  # an exception whose __str__ raises
        text = f"{type(error).__name__} (its message could not be read)"
    if isinstance(error, MemoryError) or "can't allocate memory" in text:
        text = f"stopped: memory limit of {memory_limit} reached ({text[:200]})"
    text = with_hint(text)
    folder = os.path.dirname(filename.rsplit(", cell ", 1)[0])
    line = default_line
    frames: collections.deque[list[Any]] = collections.deque(maxlen=MAX_FRAMES)
    for frame, number in traceback.walk_tb(error.__traceback__):  # one at a time: a recursion
        code = frame.f_code  # error has thousands, which a list of them would have to hold
        if code.co_filename == filename:
            line = number
        if code.co_filename.startswith(folder + os.sep):
            place = (os.path.relpath(code.co_filename, folder), number, code.co_name)
            if frames and frames[-1][0] == place:
                frames[-1][1] += 1
            else:
                frames.append([place, 1])
    if isinstance(error, SyntaxError) and error.filename == filename and error.lineno:
        line = error.lineno
    shown = [
        f"{where}, line {number}, in {name}" + (f" ({times:,} times)" if times > 1 else "")
        for (where, number, name), times in frames
    ]
    return {"error": text[:2000], "line": line, "frames": shown}


def with_hint(text: str) -> str:
    """An error's text, with what to do when it is one that only another machine avoids."""
    if "Torch not compiled with CUDA" in text or "no NVIDIA driver" in text:
        return text[:1800] + (
            " (grade runs on a CPU, as most machines do: pick the device with "
            "torch.device('cuda' if torch.cuda.is_available() else 'cpu'))"
        )
    return text


# --- the contract's functions from the namespace ----------------------------------------------


def function(namespace: dict[str, Any], name: str, kind: str, notebook: str) -> Callable[..., Any]:
    """The notebook's function `name`; Missing naming what looks like it if there is none."""
    value = namespace.get(name)
    if callable(value):
        return value  # type: ignore[no-any-return]
    if value is not None:
        raise Missing(f"{notebook}: {name} is a {type(value).__name__}, not a function")
    raise Missing(f"{notebook} defines no {name}(){_looks_like(namespace, name, kind)}{_stopped()}")


def _stopped() -> str:
    return f" ({STOPPED[0]})" if STOPPED[0] else ""


def _looks_like(namespace: dict[str, Any], name: str, kind: str) -> str:
    """`; it defines backward_propagation(X, parameters) in cell 7: rename it or wrap it`."""
    defined = {
        key: value
        for key, value in namespace.items()
        if not key.startswith("_") and _defined_in_cells(value)
    }
    words = HINTS[kind]
    close = difflib.get_close_matches(name, list(defined), n=3, cutoff=0.6)
    close += [key for key in defined if key not in close and any(w in key.lower() for w in words)]
    if not close:
        return ""
    shown = ", ".join(_signature(key, defined[key]) for key in close[:3])
    return f"; it defines {shown}: rename it to {name}() or wrap it in {name}()"


def _defined_in_cells(value: Any) -> bool:
    code = getattr(value, "__code__", None) or getattr(value.__init__, "__code__", None)
    return code is not None and ", cell " in code.co_filename


def _signature(key: str, value: Any) -> str:
    try:
        signature = str(inspect.signature(value))
    except (TypeError, ValueError):
        signature = "(...)"
    cell = re.search(r", (cell \d+)$", getattr(getattr(value, "__code__", None), "co_filename", ""))
    return f"{key}{signature}" + (f" in {cell.group(1)}" if cell else "")


def network_global(
    namespace: dict[str, Any], sizes: list[int], notebook: str, name: str
) -> tuple[Any, str]:
    """The one torch.nn.Module among the globals that maps `sizes[0]` inputs to `sizes[1]`
    outputs (not counting one inside another), as a copy, and its name; Missing saying what
    there is otherwise."""
    import torch

    found: dict[int, list[str]] = {}
    modules: dict[int, Any] = {}
    for key, value in namespace.items():
        if isinstance(value, torch.nn.Module) and not key.startswith("_"):
            found.setdefault(id(value), []).append(key)
            modules[id(value)] = value
    fits = [i for i in found if _fits(modules[i], sizes)]
    inner = {id(m) for i in fits for m in list(modules[i].modules())[1:]}
    fits = [i for i in fits if i not in inner]  # `model = nn.Sequential(net)`: the outer one
    if len(fits) > 1 and len({_architecture(modules[i]) for i in fits}) == 1:
        fits = fits[:1]  # `best_model = copy.deepcopy(net)`: the same network, either will do
    if len(fits) == 1:
        module = modules[fits[0]]
        with contextlib.suppress(Exception):  # the notebook's own stays as the cells left it
            module = copy.deepcopy(module)
        return module, found[fits[0]][0]
    where = f"{sizes[0]} inputs and {sizes[1]} output{'s' * (sizes[1] > 1)}"
    if fits:
        names = ", ".join(found[i][0] for i in fits)
        raise Missing(
            f"{notebook} defines no {name}() and several networks of {where}: {names}; define "
            f"{name}() returning the one to grade"
        )
    others = ", ".join(f"{found[i][0]} ({type(modules[i]).__name__})" for i in found)
    there = f" (its networks, {others}, do not take {where})" if others else ""
    classes = [
        key
        for key, value in namespace.items()
        if isinstance(value, type)
        and issubclass(value, torch.nn.Module)
        and _defined_in_cells(value)
    ]
    hint = _looks_like(namespace, name, "network")
    if classes and not hint:
        hint = f"; it defines class {classes[0]}: define {name}() returning {classes[0]}()"
    raise Missing(
        f"{notebook} defines no {name}() and no global network of {where}{there}{hint}" + _stopped()
    )


def _architecture(module: Any) -> str:
    """What tells two networks apart but their parameters' values: their class, their
    parameters' names and shapes ("" if the module will not say)."""
    try:
        shapes = [(name, tuple(p.shape)) for name, p in module.named_parameters()]
        return f"{type(module).__qualname__}{shapes}"
    except Exception:
        return str(id(module))


def _fits(module: Any, sizes: list[int]) -> bool:
    """Whether the module has parameters, takes `sizes[0]` inputs and gives `sizes[1]` outputs."""
    import torch

    try:
        parameter = next(iter(module.parameters()), None)
        if parameter is None:
            return False
        with torch.no_grad():
            out = module(torch.zeros(1, sizes[0], dtype=parameter.dtype))
        return isinstance(out, torch.Tensor) and out.numel() == sizes[1]
    except Exception:
        return False
