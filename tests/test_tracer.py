"""The line tracer: what each line of a student's backprop stored, in-process on small real
backprop functions written in files of a folder, and its bounds."""

from __future__ import annotations

import functools
import importlib.util
import itertools
import shutil
import sys
import textwrap
import time
from pathlib import Path
from types import ModuleType
from typing import Any

import notebooks
import numpy as np
import pytest

from grader import grading
from grader.assignment import Assignment, Limits, load_assignment
from grader.checks import Call
from grader.sandbox import child, isolation, tracer
from grader.sandbox.run import Outcome, run_student
from grader.sandbox.tracer import Tracer
from grader.truth import ground_truth, step_blocks

LOOP = """\
import numpy as np


def backprop(weights, biases, x, y):
    activations, zs = [x], []
    for W, b in zip(weights, biases):
        z = W @ activations[-1] + b
        zs.append(z)
        activations.append(np.maximum(z, 0))
    delta = 2 * (activations[-1] - y)
    dW, db = [None] * len(weights), [None] * len(weights)
    for layer in reversed(range(len(weights))):
        delta *= zs[layer] > 0
        dW[layer] = np.outer(delta, activations[layer])
        db[layer] = delta.copy()
        delta = weights[layer].T @ delta
    return dW, db
"""


def _module(folder: Path, name: str, source: str) -> ModuleType:
    """`source` written to `folder/name.py` and imported from there."""
    path = folder / f"{name}.py"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(source))
    spec = importlib.util.spec_from_file_location(f"traced_{name.replace('/', '_')}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _network() -> tuple[list[np.ndarray[Any, Any]], list[np.ndarray[Any, Any]], Any, float]:
    rng = np.random.default_rng(0)
    sizes = [3, 4, 4, 1]
    weights = [rng.normal(size=(o, i)) for i, o in itertools.pairwise(sizes)]
    biases = [rng.normal(size=o) for o in sizes[1:]]
    return weights, biases, rng.normal(size=3), 0.5


def _value(event: dict[str, Any]) -> np.ndarray[Any, Any]:
    import base64

    raw = base64.b64decode(event["value"]["f8"])
    return np.frombuffer(raw, dtype="<f8").reshape(event["value"]["shape"])


def _sets(events: list[dict[str, Any]], name: str) -> list[dict[str, Any]]:
    return [e for e in events if e["e"] == "set" and e["name"] == name]


def test_a_loop_over_layers_records_each_line_and_iteration(tmp_path: Path) -> None:
    """Each line's stores come after it ran, with the line's number: `dW[layer]` once per
    layer on line 14, the argument list's items at the def line, the returned lists as
    `return[0][2]`."""
    module = _module(tmp_path, "backprop", LOOP)
    args = _network()
    returned, error, events, gave_up = Tracer(str(tmp_path)).run(module.backprop, args)
    assert error is None and gave_up is None
    assert events[0] == {"e": "call", "frame": 1, "file": "backprop.py", "line": 4,
                         "function": "backprop"}  # fmt: skip
    assert {e["line"] for e in _sets(events, "weights[1]")} == {4}
    assert [e["line"] for e in _sets(events, "z")] == [7, 7, 7]
    stored = _sets(events, "dW[0]")
    assert [e["line"] for e in stored] == [14]
    np.testing.assert_array_equal(_value(stored[0]), returned[0][0])
    assert [e["line"] for e in _sets(events, "layer")] == [12, 12, 12]
    back = {e["name"]: e for e in events if e["e"] == "return"}
    np.testing.assert_array_equal(_value(back["return[1][2]"]), returned[1][2])
    assert all(e["line"] == 17 for e in back.values())


def test_an_in_place_update_is_a_change(tmp_path: Path) -> None:
    """`delta *= mask` and `delta[0] = 5` change the same object: each is recorded on its line,
    with the value after the line; a line that leaves the contents as they were records
    nothing."""
    module = _module(tmp_path, "backprop", """\
        import numpy as np


        def backprop(weights, biases, x, y):
            delta = np.ones(3)
            delta *= np.array([1.0, 0.0, 2.0])
            delta *= 1.0
            delta[0] = 5
            return [], []
    """)  # fmt: skip
    _, _, events, _ = Tracer(str(tmp_path)).run(module.backprop, _network())
    stored = _sets(events, "delta")
    assert [e["line"] for e in stored] == [5, 6, 8]
    np.testing.assert_array_equal(_value(stored[1]), [1.0, 0.0, 2.0])
    np.testing.assert_array_equal(_value(stored[2]), [5.0, 0.0, 2.0])


def test_dict_items_to_depth_two(tmp_path: Path) -> None:
    """`grads['W1']` and `cache['z'][1]` are names; items deeper than two are not."""
    module = _module(tmp_path, "grads", """\
        import numpy as np


        def backprop(weights, biases, x, y):
            cache = {"z": [], "deep": [[np.zeros(2)]]}
            grads = {}
            for i, W in enumerate(weights):
                cache["z"].append(W @ x if i == 0 else W @ cache["z"][-1])
            grads["W1"] = np.ones(3)
            return grads
    """)  # fmt: skip
    _, _, events, _ = Tracer(str(tmp_path)).run(module.backprop, _network())
    assert [e["line"] for e in _sets(events, "cache['z'][1]")] == [8]
    assert [e["line"] for e in _sets(events, "grads['W1']")] == [9]
    assert not [e for e in events if "deep" in e.get("name", "")]
    assert [e["name"] for e in events if e["e"] == "return"] == ["return['W1']"]


def test_self_attributes_in_a_class(tmp_path: Path) -> None:
    """A method's stores into `self` are `self.delta` and `self.grads[1]`, on the method's
    line, however `self` hides its attributes (__getattribute__ is not run)."""
    module = _module(tmp_path, "net", """\
        import numpy as np


        class Net:
            def __getattribute__(self, name):
                raise RuntimeError("no peeking")

            def backward(self, weights, x):
                object.__setattr__(self, "grads", [None, None])
                object.__setattr__(self, "delta", np.ones(2))
                object.__getattribute__(self, "grads")[1] = np.full(2, 3.0)
                return None


        def backprop(weights, biases, x, y):
            net = object.__new__(Net)
            Net.backward(net, weights, x)
            return [], []
    """)  # fmt: skip
    _, error, events, _ = Tracer(str(tmp_path)).run(module.backprop, _network())
    assert error is None
    assert [e["line"] for e in _sets(events, "self.delta")] == [10]
    assert [e["line"] for e in _sets(events, "self.grads[1]")] == [11]
    calls = [e["function"] for e in events if e["e"] == "call"]
    assert calls == ["backprop", "backward"]


def test_a_helper_in_a_second_module(tmp_path: Path) -> None:
    """A helper module's frames are traced too, named by their path in the submission; each
    frame activation has its own number."""
    helpers = _module(tmp_path, "helpers/grad", """\
        def relu_grad(z):
            mask = (z > 0) * 1.0
            return mask
    """)  # fmt: skip
    sys.modules["helpers_grad_for_test"] = helpers
    module = _module(tmp_path, "backprop", """\
        import sys
        relu_grad = sys.modules["helpers_grad_for_test"].relu_grad


        def backprop(weights, biases, x, y):
            masks = [relu_grad(x), relu_grad(-x)]
            return masks, []
    """)  # fmt: skip
    try:
        _, _, events, _ = Tracer(str(tmp_path)).run(module.backprop, _network())
    finally:
        del sys.modules["helpers_grad_for_test"]
    helper = [e for e in events if e["file"] == "helpers/grad.py"]
    assert {e["frame"] for e in helper} == {2, 3}
    assert [e["line"] for e in helper if e.get("name") == "mask"] == [2, 2]
    assert [e["line"] for e in helper if e["e"] == "return"] == [3, 3]
    assert [e["line"] for e in _sets(events, "masks[1]")] == [6]


def test_a_notebook_cell_is_named_by_its_cell(tmp_path: Path) -> None:
    """Code compiled as a notebook's cell (`<folder>/hw1.ipynb, cell 3`) is the student's:
    FILE is `hw1.ipynb, cell 3`."""
    source = "def backprop(weights, biases, x, y):\n    total = x.sum()\n    return total\n"
    namespace: dict[str, Any] = {}
    exec(compile(source, f"{tmp_path}/hw1.ipynb, cell 3", "exec"), namespace)
    _, _, events, _ = Tracer(str(tmp_path)).run(namespace["backprop"], _network())
    assert {e["file"] for e in events} == {"hw1.ipynb, cell 3"}
    assert [e["line"] for e in _sets(events, "total")] == [2]
    assert [e["line"] for e in events if e["e"] == "return" and "name" not in e] == [3]


def test_torch_tensors_are_read_as_float64(tmp_path: Path) -> None:
    """A float32 tensor, detached, arrives in float64; an in-place change bumps it."""
    module = _module(tmp_path, "backprop", """\
        import torch


        def backprop(weights, biases, x, y):
            delta = torch.ones(3, dtype=torch.float32, requires_grad=True).detach()
            delta.mul_(2)
            return [delta], []
    """)  # fmt: skip
    _, _, events, _ = Tracer(str(tmp_path)).run(module.backprop, _network())
    stored = _sets(events, "delta")
    assert [e["line"] for e in stored] == [5, 6]
    np.testing.assert_array_equal(_value(stored[1]), np.full(3, 2.0))


def test_values_that_are_not_numbers_or_cannot_be_read_are_left_out(tmp_path: Path) -> None:
    """Strings, None, objects, a value too big and an int too big for a float are not
    recorded, and reading them runs none of the student's code."""
    module = _module(tmp_path, "backprop", """\
        import numpy as np


        class Loud:
            def __array__(self, *args, **kwargs):
                raise RuntimeError("read me and fail")


        def backprop(weights, biases, x, y):
            name, nothing, loud = "w", None, Loud()
            huge = np.zeros(200_000)
            big = 10 ** 400
            small = 1.5
            return [], []
    """)  # fmt: skip
    _, error, events, gave_up = Tracer(str(tmp_path)).run(module.backprop, _network())
    assert error is None and gave_up is None
    names = {e.get("name") for e in events if e["e"] == "set"}
    assert names & {"name", "nothing", "loud", "huge", "big"} == set()
    assert "small" in names


def test_a_raising_function_gives_its_error(tmp_path: Path) -> None:
    """The student's exception is returned, not raised; what ran before it is recorded."""
    module = _module(tmp_path, "backprop", """\
        def backprop(weights, biases, x, y):
            partial = x * 2
            raise ValueError("shapes do not align")
    """)  # fmt: skip
    returned, error, events, gave_up = Tracer(str(tmp_path)).run(module.backprop, _network())
    assert returned is None and gave_up is None
    assert isinstance(error, ValueError)
    assert [e["line"] for e in _sets(events, "partial")] == [2]


def test_outside_the_folder_is_not_traced(tmp_path: Path) -> None:
    """Frames of files outside the submission (numpy's, the grader's, a sibling folder whose
    name starts the same) record nothing."""
    (tmp_path / "sub").mkdir()
    module = _module(
        tmp_path, "subling", "def backprop(w, b, x, y):\n    z = x + 1\n    return z\n"
    )
    _, _, events, _ = Tracer(str(tmp_path / "sub")).run(module.backprop, _network())
    assert events == []


BOUNDS = [
    pytest.param("events", "MAX_EVENTS", 50, "the trace passed 50 events", id="events"),
    pytest.param(
        "floats", "MAX_FLOATS", 1000, "the values recorded passed 1,000 numbers", id="floats"
    ),
    pytest.param(
        "lines", "MAX_LINES", 500, "the student's code ran more than 500 lines", id="lines"
    ),
    pytest.param("seconds", "MAX_SECONDS", 0.2, "tracing took more than 0.2 s", id="seconds"),
]


@pytest.mark.parametrize(("kind", "bound", "value", "why"), BOUNDS)
def test_each_bound_gives_up_cleanly(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kind: str, bound: str, value: float, why: str
) -> None:
    """A loop that would pass a bound is stopped there: no events, the reason in words, and
    the student's `except Exception` does not swallow the stop."""
    monkeypatch.setattr(tracer, bound, value)
    module = _module(tmp_path, "backprop", """\
        import numpy as np


        def backprop(weights, biases, x, y):
            i = 0
            while True:
                try:
                    i += 1
                    v = np.zeros(40) + i
                except Exception:
                    pass
    """)  # fmt: skip
    before = sys.gettrace()
    returned, error, events, gave_up = Tracer(str(tmp_path)).run(module.backprop, _network())
    assert (returned, error, events, gave_up) == (None, None, [], why)
    assert sys.gettrace() is before


def test_a_function_that_turns_tracing_off_only_loses_its_trace(tmp_path: Path) -> None:
    """`sys.settrace(None)` inside backprop: what came after is not recorded, the run ends
    normally."""
    module = _module(tmp_path, "backprop", """\
        import sys


        def backprop(weights, biases, x, y):
            before = 1.5
            sys.settrace(None)
            after = 2.5
            return [], []
    """)  # fmt: skip
    returned, error, events, gave_up = Tracer(str(tmp_path)).run(module.backprop, _network())
    assert returned == ([], []) and error is None and gave_up is None
    names = {e.get("name") for e in events}
    assert "before" in names


def test_a_subclass_of_ndarray_is_read_as_its_numbers(tmp_path: Path) -> None:
    """An ndarray subclass whose properties raise is read through ndarray's own: recorded."""
    module = _module(tmp_path, "backprop", """\
        import numpy as np


        class Sly(np.ndarray):
            @property
            def size(self):
                raise RuntimeError("no size for you")

            def __getattribute__(self, name):
                raise RuntimeError("no peeking")


        def backprop(weights, biases, x, y):
            delta = np.ones(3).view(Sly)
            return [], []
    """)  # fmt: skip
    _, error, events, gave_up = Tracer(str(tmp_path)).run(module.backprop, _network())
    assert error is None and gave_up is None
    np.testing.assert_array_equal(_value(_sets(events, "delta")[0]), np.ones(3))


# --- the sandboxed stage: run_student(..., groups=("trace",)) ----------------------------------

SUBMISSIONS = Path(__file__).parent.parent / "submissions"


@functools.cache
def _assignment_call() -> tuple[Assignment, Call]:
    """bs6207-a1 (the 10-layer net) and its published seed's first call, as grading makes it."""
    assignment = load_assignment("bs6207-a1")
    truth = ground_truth(assignment, assignment.seed)
    step = truth.steps[0]
    call = Call(seed=truth.seed, step=0, published=True, weights=step.weights,
                biases=step.biases, x=truth.inputs.x, y=truth.inputs.y,
                expected=step_blocks(truth, 0))  # fmt: skip
    return assignment, call


def _trace(folder: Path, limits: Limits | None = None) -> tuple[dict[str, Any], Outcome]:
    """The trace stage's answer for the submission in `folder` (a notebook's too)."""
    assignment, call = _assignment_call()
    book, _, problem = grading._notebook(folder, assignment)
    assert problem is None
    request = grading._request(assignment, [call], book)
    outcome = run_student(folder, request, limits or assignment.limits, groups=("trace",))
    return outcome.stages.get("trace", {}), outcome


def test_the_sandboxed_trace_of_a_transposed_student_names_its_lines() -> None:
    """The transposed student's dW, stored on line 18 of backprop.py for every layer, is the
    reference's gradient transposed; only the trace group runs."""
    _, call = _assignment_call()
    answer, outcome = _trace(SUBMISSIONS / "transposed_weight_grads")
    assert answer["ok"] is True and answer["gave_up"] is None, outcome.failures
    assert set(outcome.stages) == {"trace"}
    events = answer["events"]
    assert events[0] == {"e": "call", "frame": 1, "file": "backprop.py", "line": 6,
                         "function": "backprop"}  # fmt: skip
    for layer in range(11):
        (stored,) = _sets(events, f"dW[{layer}]")
        assert stored["line"] == 18
        np.testing.assert_allclose(_value(stored), call.expected[f"W{layer + 1}"].T, rtol=1e-12)
    assert {e["line"] for e in _sets(events, "delta")} == {13, 17, 20}


def test_the_sandboxed_trace_of_a_notebook_names_its_cell(tmp_path: Path) -> None:
    """A notebook's backprop, defined in cell 3, is traced there: `hw1.ipynb, cell 3`."""
    folder = notebooks.make_notebook("contract_form", tmp_path)
    answer, outcome = _trace(folder)
    assert answer["ok"] is True and answer["gave_up"] is None, outcome.failures
    assert "notebook" in outcome.stages
    files = {e["file"] for e in answer["events"]}
    assert files == {f"{notebooks.NAME}, cell 3"}
    assert answer["events"][0]["e"] == "call"


def _hostile(tmp_path: Path, body: str) -> Path:
    """A copy of the correct student whose backprop is `body`."""
    folder = tmp_path / "hostile"
    shutil.copytree(SUBMISSIONS / "correct", folder)
    (folder / "backprop.py").write_text(
        "import sys\n\n\ndef backprop(weights, biases, x, y):\n" + textwrap.indent(body, "    ")
    )
    return folder


def test_a_backprop_that_loops_forever_gives_up_under_the_tracer(tmp_path: Path) -> None:
    """A Python loop without end is stopped by the tracer's bounds: the trace gives up, the
    bound in words (the events, for a loop storing a counter; the lines, for an empty one; or
    the clock, whichever comes first on a machine this loaded)."""
    lines = f"the student's code ran more than {tracer.MAX_LINES:,} lines"
    seconds = f"tracing took more than {tracer.MAX_SECONDS:g} s"
    for body, reasons in [
        (
            "i = 0\nwhile True:\n    i += 1\n",
            {f"the trace passed {tracer.MAX_EVENTS:,} events", seconds},
        ),
        ("while True:\n    pass\n", {lines, seconds}),
    ]:
        answer, _ = _trace(_hostile(tmp_path / str(len(body)), body))
        assert answer["events"] == [] and answer["gave_up"] in reasons


def test_a_backprop_that_swallows_the_stop_is_killed_by_the_watchdog(tmp_path: Path) -> None:
    """One that catches the tracer's stop and loops on untraced is the watchdog's: the stage
    fails with its words, and the run does not hang."""
    body = "while True:\n    try:\n        while True:\n            pass\n    except BaseException:\n        pass\n"  # noqa: E501
    started = time.monotonic()
    answer, outcome = _trace(_hostile(tmp_path, body), Limits(call_seconds=2.5))
    assert answer == {}
    assert "timed out" in outcome.failure("trace") or "ran past" in outcome.failure("trace")
    assert time.monotonic() - started < 20


def test_a_backprop_that_replaces_the_trace_function_only_harms_its_own_trace(
    tmp_path: Path,
) -> None:
    """sys.settrace with its own function, then more lines: the answer is still well formed,
    and what it forged is only about itself."""
    body = (
        "before = x * 2\n"
        "sys.settrace(lambda *args: None)\n"
        "after = x * 3\n"
        "return [w * 0 for w in weights], [b * 0 for b in biases]\n"
    )
    answer, _ = _trace(_hostile(tmp_path, body))
    assert answer["ok"] is True and answer["gave_up"] is None
    assert [e["line"] for e in _sets(answer["events"], "before")] == [5]


# --- a trace child without torch, where each child is a fresh interpreter ----------------------


@pytest.mark.parametrize(
    ("files", "needs"),
    [
        pytest.param({"backprop.py": "import numpy as np\nfrom helpers import grad\n",
                      "helpers/__init__.py": "", "helpers/grad.py": "import numpy\n",
                      "network.py": "import torch\n"}, False, id="numpy-only"),
        pytest.param({"backprop.py": "from helpers import grad\n", "helpers/__init__.py": "",
                      "helpers/grad.py": "from . import deep\n",
                      "helpers/deep.py": "import torch as t\n"}, True, id="torch-two-imports-down"),
        pytest.param({"backprop.py": "import importlib\nimportlib.import_module('tor' 'ch')\n"},
                     False, id="hidden-import-is-its-own-trace"),
        pytest.param({"backprop.py": "def backprop(:\n"}, True, id="unparsable"),
    ],
)  # fmt: skip
def test_a_trace_child_imports_torch_when_backprop_names_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, files: dict[str, str], needs: bool
) -> None:
    """The backprop module and the submission's modules it imports are read (never run):
    torch named in any of them, or one that cannot be read, and torch is imported first; the
    network module, never imported by backprop, does not count."""
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    monkeypatch.setattr(child, "FOLDER", str(tmp_path))
    monkeypatch.delitem(sys.modules, "torch")  # as in a fresh interpreter: restored after
    request = {"backprop": {"module": "backprop", "function": "backprop"}}
    assert child._needs_torch(request, ["trace"]) is needs
    assert child._needs_torch(request, ["backprop", "network"]) is True
    assert child._needs_torch(request | {"notebook": {"cells": []}}, ["trace"]) is True


@pytest.mark.skipif(not isolation.bwrap_works(), reason="bubblewrap is not available here")
def test_a_numpy_trace_in_bubblewrap_starts_without_torch(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """In a fresh interpreter, a numpy backprop's trace never imports torch (a second saved);
    one whose helper imports torch has its tensors traced, with autograd switched off."""
    monkeypatch.setattr(isolation, "mode", lambda: "bubblewrap")
    numpy_only = _hostile(tmp_path / "a", "loaded = float(('tor' + 'ch') in sys.modules)\n")
    answer, outcome = _trace(numpy_only)
    assert answer["ok"] is True, outcome.failures
    assert [float(_value(e)) for e in _sets(answer["events"], "loaded")] == [0.0]
    with_torch = _hostile(tmp_path / "b", "from helper import through\nreturn through(x)\n")
    (with_torch / "helper.py").write_text(
        "import torch\n\n\ndef through(x):\n"
        "    t = torch.tensor(x, requires_grad=True)\n"
        "    try:\n        (t * t).sum().backward()\n        refused = 0.0\n"
        "    except RuntimeError:\n        refused = 1.0\n"
        "    return t.detach() * 2\n"
    )
    answer, outcome = _trace(with_torch)
    assert answer["ok"] is True, outcome.failures
    events = [e for e in answer["events"] if e["file"] == "helper.py"]
    assert [float(_value(e)) for e in events if e.get("name") == "refused"] == [1.0]
    _, call = _assignment_call()
    returned = next(e for e in events if e["e"] == "return")
    np.testing.assert_allclose(_value(returned), 2 * call.x)


def test_the_sandboxed_answer_has_the_in_process_format(tmp_path: Path) -> None:
    """The events that come through the sandbox's schema are those Tracer.run gives
    in-process, values packed alike: the locator reads one format."""
    _, call = _assignment_call()
    folder = tmp_path / "student"
    shutil.copytree(SUBMISSIONS / "transposed_weight_grads", folder)
    answer, _ = _trace(folder)
    module = _module(tmp_path / "again", "backprop", (folder / "backprop.py").read_text())
    arguments = child._arguments(child._call_arrays(call.request()))
    _, _, events, _ = Tracer(str(tmp_path / "again")).run(module.backprop, arguments)
    assert answer["events"] == events
