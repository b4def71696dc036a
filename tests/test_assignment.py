"""Tests of grader.assignment: the presets, TOML loading, and the messages a bad file gets."""

from __future__ import annotations

import re
import types
import typing
from pathlib import Path

import pytest
from pages import DOCS, section
from pydantic import BaseModel

from grader.assignment import (
    Assignment,
    ConstantInit,
    DefaultInit,
    FixedData,
    UniformData,
    load_assignment,
    parse_assignment,
    width_from_rule,
)
from grader.errors import AssignmentError
from grader.presets import PRESETS, preset_names
from reference import Problem

# --- the presets ----------------------------------------------------------------------------


def test_preset_names_are_the_three_that_ship() -> None:
    """preset_names lists the shipped presets, sorted."""
    assert preset_names() == ["bs6207-a1", "hw02-1", "sigmoid-d2"]


@pytest.mark.parametrize("name", preset_names())
def test_every_preset_loads_under_its_own_name(name: str) -> None:
    """Each preset loads and its `name` field is its file name."""
    assert load_assignment(name).name == name


PRESET_FACTS = {
    "bs6207-a1": {
        "sizes": (10, *[21] * 10, 1),
        "activation": "relu",
        "output_activation": "linear",
        "loss": "squared_error",
        "steps": 0,
        "network_kwargs": {"d": 10, "K": 10},
    },
    "sigmoid-d2": {
        "sizes": (2, 10, 10, 1),
        "activation": "sigmoid",
        "output_activation": "linear",
        "loss": "squared_error",
        "steps": 0,
        "network_kwargs": {"d": 2},
    },
    "hw02-1": {
        "sizes": (1, 2, 2, 1),
        "activation": "relu",
        "output_activation": "linear",
        "loss": "half_squared_error",
        "steps": 2,
        "network_kwargs": {},
    },
}


@pytest.mark.parametrize(("name", "facts"), PRESET_FACTS.items(), ids=list(PRESET_FACTS))
def test_preset_network_loss_training_and_contract(name: str, facts: dict[str, object]) -> None:
    """Each preset has the layer sizes, activations, loss, steps and network kwargs it promises."""
    a = load_assignment(name)
    assert a.network.sizes == facts["sizes"]
    assert a.network.activation == facts["activation"]
    assert a.network.output_activation == facts["output_activation"]
    assert a.loss == facts["loss"]
    assert a.training.steps == facts["steps"]
    assert a.contract.network_kwargs == facts["network_kwargs"]


@pytest.mark.parametrize("name", ["bs6207-a1", "sigmoid-d2"])
def test_seeded_presets_draw_x_uniformly_from_0_to_1_with_default_init(name: str) -> None:
    """bs6207-a1 and sigmoid-d2 draw x from U[0, 1]^d and use PyTorch's default init."""
    a = load_assignment(name)
    assert a.data == UniformData(kind="uniform", low=0.0, high=1.0)
    assert isinstance(a.init, DefaultInit)


def test_bs6207_a1_gives_hidden_widths_by_rule() -> None:
    """bs6207-a1 declares K = 10 hidden layers of width 2d+1, which is 21 for d = 10."""
    net = load_assignment("bs6207-a1").network
    assert (net.hidden_layers, net.hidden_width, net.hidden) == (10, "2d+1", None)
    assert net.hidden_widths == [21] * 10


def test_hw02_1_is_the_handout_problem() -> None:
    """hw02-1 has the handout's fixed point, constant init and learning rate."""
    a = load_assignment("hw02-1")
    assert a.data == FixedData(kind="fixed", x=[2.0], y=[1.0])
    assert a.init == ConstantInit(kind="constant", weight=1.0, bias=-0.5)
    assert a.training.learning_rate == 0.01


@pytest.mark.parametrize("name", preset_names())
def test_preset_loads_the_same_from_a_path(name: str, tmp_path: Path) -> None:
    """A .toml file given by path loads to the same assignment as the preset given by name."""
    copy = tmp_path / "copy.toml"
    copy.write_text((PRESETS / f"{name}.toml").read_text(encoding="utf-8"), encoding="utf-8")
    assert load_assignment(copy) == load_assignment(name)
    assert load_assignment(str(copy)) == load_assignment(name)


def test_unknown_preset_lists_the_presets_and_suggests_the_close_one() -> None:
    """A name that is neither preset nor file gets the nearest preset suggested, and the list."""
    with pytest.raises(
        AssignmentError,
        match=re.escape(
            "hw02: no such assignment; did you mean hw02-1? give a preset name "
            "(bs6207-a1, hw02-1, sigmoid-d2) or a path to a .toml file"
        ),
    ):
        load_assignment("hw02")


def test_unknown_preset_with_nothing_close_still_lists_the_presets() -> None:
    """A name close to no preset gets the list of presets without a suggestion."""
    with pytest.raises(
        AssignmentError,
        match=re.escape("zzz: no such assignment; give a preset name (bs6207-a1, hw02-1,"),
    ):
        load_assignment("zzz")


def test_missing_toml_path_says_file_not_found(tmp_path: Path) -> None:
    """A .toml path that does not exist is reported as not found, by its path."""
    path = tmp_path / "missing.toml"
    with pytest.raises(AssignmentError, match=re.escape(f"{path}: file not found")) as caught:
        load_assignment(path)
    assert caught.value.path == path


# --- hidden widths by rule ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rule", "d", "width"),
    [
        pytest.param(21, 10, 21, id="a number"),
        pytest.param("d", 10, 10, id="d"),
        pytest.param("2d+1", 10, 21, id="2d+1"),
        pytest.param("2*d+1", 10, 21, id="2*d+1"),
        pytest.param("3d-2", 4, 10, id="3d-2"),
        pytest.param(" 2 d + 1 ", 3, 7, id="spaces anywhere"),
        pytest.param("d-20", 10, -10, id="negative: the caller checks"),
    ],
)
def test_width_from_rule(rule: int | str, d: int, width: int) -> None:
    """A width rule is a number or a*d+b, written with or without `*` and spaces."""
    assert width_from_rule(rule, d) == width


@pytest.mark.parametrize(
    "rule",
    [
        pytest.param("2x", id="another letter"),
        pytest.param("d^2", id="a power"),
        pytest.param("", id="empty"),
        pytest.param("21", id="a number as a string"),
        pytest.param("d+", id="a dangling sign"),
    ],
)
def test_width_from_rule_refuses_what_is_not_a_rule(rule: str) -> None:
    """Anything but a number or a*d+b raises ValueError naming the rule and the allowed forms."""
    with pytest.raises(
        ValueError,
        match=re.escape(f"hidden_width = {rule!r}; expected a number or a rule like 'd', '2d+1'"),
    ):
        width_from_rule(rule, 10)


# --- bad files ------------------------------------------------------------------------------


def toml(
    *,
    head: str = 'name = "t"\ntitle = "A test"',
    network: str = "input_dim = 2\nhidden = [3]",
    data: str = 'kind = "uniform"',
    tail: str = "",
) -> str:
    """A small assignment TOML, valid unless a part is replaced."""
    return f"{head}\n[network]\n{network}\n[data]\n{data}\n{tail}\n"


def test_the_small_toml_is_valid() -> None:
    """The base of the bad-file table is itself valid, so each case breaks only one thing."""
    assert parse_assignment(toml()).network.sizes == (2, 3, 1)


_FIXED = 'kind = "fixed"\nx = [1.0, 2.0]\ny = [3.0]'

BAD_FILES = [
    pytest.param(
        toml(head='name = "t"\ntitle = '),
        None,
        "not valid TOML: Invalid value (at line 2, column 9)",
        id="invalid TOML",
    ),
    pytest.param(
        toml(head='name = "t"'),
        "title",
        "title is missing: the title students and Canvas see",
        id="missing title",
    ),
    pytest.param(
        toml(network="hidden = [3]"),
        "network.input_dim",
        "network.input_dim is missing: d: the number of inputs",
        id="missing network.input_dim",
    ),
    pytest.param(
        toml(network="input_dim = 2\nhiden = [3]"),
        "network.hiden",
        "network.hiden is not a setting; did you mean hidden? allowed here: activation, hidden, "
        "hidden_layers, hidden_width, input_dim, output_activation, output_dim",
        id="unknown network.hiden",
    ),
    pytest.param(
        toml(data='kind = "uniform"\nlo = 0.5'),
        "data.lo",
        "data.lo is not a setting; did you mean low? allowed here: high, kind, low",
        id="unknown data.lo",
    ),
    pytest.param(
        toml(head='name = "t"\ntitle = "A test"\nsead = 1'),
        "sead",
        "sead is not a setting; did you mean seed? allowed here: contract, data, graph, init, "
        "limits, loss, name, network, points, seed, significant_figures, title, training",
        id="unknown top-level sead",
    ),
    pytest.param(
        toml(network='input_dim = 2\nhidden = [3]\nactivation = "relu6"'),
        "network.activation",
        "network.activation = 'relu6'; expected one of relu, sigmoid, tanh",
        id="bad activation",
    ),
    pytest.param(
        toml(network='input_dim = 2\nhidden = [3]\noutput_activation = "softmax"'),
        "network.output_activation",
        "network.output_activation = 'softmax'; expected one of linear, relu, sigmoid, tanh",
        id="bad output_activation",
    ),
    pytest.param(
        toml(head='name = "t"\ntitle = "A test"\nloss = "mse"'),
        "loss",
        "loss = 'mse'; expected one of squared_error, half_squared_error",
        id="bad loss",
    ),
    pytest.param(
        toml(data='kind = "gaussian"'),
        "data.kind",
        "data.kind = 'gaussian'; expected one of uniform, fixed",
        id="bad data.kind",
    ),
    pytest.param(
        toml(data="low = 0.0"),
        "data.kind",
        "data.kind is missing; expected one of uniform, fixed",
        id="missing data.kind",
    ),
    pytest.param(
        toml(tail='[init]\nkind = "xavier"'),
        "init.kind",
        "init.kind = 'xavier'; expected one of pytorch_default, constant",
        id="bad init.kind",
    ),
    pytest.param(
        toml(tail='[init]\nkind = "constant"\nweight = 1.0'),
        "init.bias",
        "init.bias is missing: the value of every bias",
        id="constant init without bias",
    ),
    pytest.param(
        toml(tail="[points]\nno-autograd = -1"),
        "points.no-autograd",
        "points.no-autograd = -1: input should be greater than or equal to 0",
        id="negative points",
    ),
    pytest.param(
        toml(head='name = "t"\ntitle = "A test"\nsignificant_figures = 0'),
        "significant_figures",
        "significant_figures = 0: input should be greater than or equal to 2",
        id="significant_figures 0",
    ),
    pytest.param(
        toml(head='name = "t"\ntitle = "A test"\nsignificant_figures = 16'),
        "significant_figures",
        "significant_figures = 16: input should be less than or equal to 15",
        id="significant_figures 16",
    ),
    pytest.param(
        toml(network="input_dim = 2\nhidden = [3]\nhidden_layers = 2\nhidden_width = 3"),
        "network",
        "network: hidden = [3] and hidden_layers/hidden_width are both given; give either "
        "hidden = [widths...] or hidden_layers and hidden_width, not both",
        id="both hidden and hidden_layers",
    ),
    pytest.param(
        toml(network="input_dim = 2"),
        "network",
        "network: no hidden layers are given; give hidden = [widths...], or both hidden_layers "
        "and hidden_width",
        id="neither hidden nor hidden_layers",
    ),
    pytest.param(
        toml(network="input_dim = 2\nhidden_layers = 2"),
        "network",
        "network: only hidden_layers = 2 is given; give hidden = [widths...], or both "
        "hidden_layers and hidden_width",
        id="hidden_layers without hidden_width",
    ),
    pytest.param(
        toml(network="input_dim = 2\nhidden = [3, 0]"),
        "network.hidden.1",
        "network.hidden.1 = 0: input should be greater than 0",
        id="a hidden width of 0",
    ),
    pytest.param(
        toml(network='input_dim = 2\nhidden_layers = 2\nhidden_width = "2x"'),
        "network",
        "network: hidden_width = '2x'; expected a number or a rule like 'd', '2d+1'",
        id="width rule that is not a rule",
    ),
    pytest.param(
        toml(network='input_dim = 10\nhidden_layers = 2\nhidden_width = "d-20"'),
        "network",
        "network: hidden_width = 'd-20' gives -10 for d = input_dim = 10; "
        "a width must be at least 1",
        id="width rule giving less than 1",
    ),
    pytest.param(
        toml(data='kind = "uniform"\nlow = 1.0\nhigh = 1.0'),
        "data",
        "data: low = 1.0 must be less than high = 1.0",
        id="uniform low == high",
    ),
    pytest.param(
        toml(data='kind = "uniform"\nlow = 2.0\nhigh = 1.0'),
        "data",
        "data: low = 2.0 must be less than high = 1.0",
        id="uniform low > high",
    ),
    pytest.param(
        toml(network="input_dim = 3\nhidden = [3]", data=_FIXED),
        None,
        "data.x = [1.0, 2.0] has 2 numbers; expected one per input, network.input_dim = 3",
        id="fixed x of the wrong length",
    ),
    pytest.param(
        toml(data='kind = "fixed"\nx = [1.0, 2.0]\ny = [3.0, 4.0]'),
        None,
        "data.y = [3.0, 4.0] has 2 numbers; expected one per output, network.output_dim = 1",
        id="fixed y of the wrong length",
    ),
    pytest.param(
        toml(data='kind = "fixed"\nx = []\ny = [3.0]'),
        "data.x",
        "data.x = []: list should have at least 1 item after validation, not 0",
        id="fixed x empty",
    ),
    pytest.param(
        toml(network="input_dim = 2\nhidden = [3]\noutput_dim = 2"),
        None,
        "network.output_dim = 2 with data.kind = 'uniform', whose label y = Σx²/d is one "
        "number; use output_dim = 1, or fixed data",
        id="uniform data with output_dim 2",
    ),
    pytest.param(
        toml(tail='[contract]\nnetwork_module = "back-prop"'),
        "contract.network_module",
        "contract.network_module = 'back-prop'; expected a Python module name such as "
        "backprop or hw1.backprop",
        id="bad module name",
    ),
    pytest.param(
        toml(tail='[contract]\nbackprop_function = "2go"'),
        "contract.backprop_function",
        "contract.backprop_function = '2go'; expected a Python identifier: letters, digits "
        "and _, not starting with a digit",
        id="bad function name",
    ),
    pytest.param(
        toml(tail="[contract]\nnetwork_kwargs = { d = [1, 2] }"),
        "contract.network_kwargs.d",
        "contract.network_kwargs.d: [1, 2] is not a boolean, number or string",
        id="network kwarg that is a list",
    ),
    pytest.param(
        toml(head='name = "Big Name"\ntitle = "A test"'),
        "name",
        "name = 'Big Name'; expected lowercase letters, digits, _ . and -, starting with a "
        "letter or a digit",
        id="bad assignment name",
    ),
    pytest.param(
        toml(head='name = "t"\ntitle = "A test"\nseed = -1'),
        "seed",
        "seed = -1: input should be greater than or equal to 0",
        id="negative seed",
    ),
    pytest.param(
        toml(tail="[training]\nlearning_rate = 0"),
        "training.learning_rate",
        "training.learning_rate = 0: input should be greater than 0",
        id="learning_rate 0",
    ),
    pytest.param(
        toml(tail="[training]\nsteps = -1"),
        "training.steps",
        "training.steps = -1: input should be greater than or equal to 0",
        id="steps -1",
    ),
    pytest.param(
        toml(network='input_dim = "ten"\nhidden = [3]'),
        "network.input_dim",
        "network.input_dim = 'ten': input should be a valid integer, unable to parse string as "
        "an integer",
        id="input_dim of the wrong type",
    ),
    pytest.param(
        toml(tail='[contract]\nmy_dat = "../alice/my_autograd.dat"'),
        "contract.my_dat",
        "contract.my_dat = '../alice/my_autograd.dat'; expected a file name in the submission "
        "folder: no / or \\, not starting with .",
        id="dat file name that leaves the folder",
    ),
    pytest.param(
        toml(data='kind = "uniform"\nhigh = inf'),
        "data.high",
        "data.high = inf: input should be a finite number",
        id="infinite data range",
    ),
    pytest.param(
        'name = "t"\ntitle = "A test"\nnetwork = 3\n[data]\nkind = "uniform"\n',
        "network",
        "network = 3: input should be a valid dictionary or instance of Network",
        id="network that is not a table",
    ),
]


@pytest.mark.parametrize(("text", "field", "message"), BAD_FILES)
def test_bad_file_names_the_file_field_value_and_what_is_allowed(
    text: str, field: str | None, message: str, tmp_path: Path
) -> None:
    """A bad assignment file raises AssignmentError naming the file, the field and the value."""
    path = tmp_path / "a.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(AssignmentError, match=f"^{re.escape(f'{path}: {message}')}") as caught:
        load_assignment(path)
    assert (caught.value.path, caught.value.field) == (path, field)


def test_parse_assignment_labels_messages_with_the_given_path() -> None:
    """parse_assignment uses its `path` argument only to label the message."""
    with pytest.raises(AssignmentError, match=r"^course/a1\.toml: loss = 'mse'"):
        parse_assignment(toml(head='name = "t"\ntitle = "A test"\nloss = "mse"'), "course/a1.toml")


def test_file_that_is_not_utf8_cannot_be_read(tmp_path: Path) -> None:
    """A file that is not UTF-8 is reported as unreadable, by its path."""
    path = tmp_path / "latin1.toml"
    path.write_bytes(toml(head='name = "t"\ntitle = "Übung"').encode("latin-1"))
    with pytest.raises(AssignmentError, match=re.escape(f"{path}: cannot be read: ")):
        load_assignment(path)


# --- what the reference is given ------------------------------------------------------------

PROBLEMS = {
    "bs6207-a1": Problem(
        sizes=(10, *[21] * 10, 1),
        hidden_activation="relu",
        output_activation="linear",
        loss="squared_error",
        x_range=(0.0, 1.0),
        steps=0,
        learning_rate=0.01,
    ),
    "sigmoid-d2": Problem(
        sizes=(2, 10, 10, 1),
        hidden_activation="sigmoid",
        output_activation="linear",
        loss="squared_error",
        x_range=(0.0, 1.0),
        steps=0,
        learning_rate=0.01,
    ),
    "hw02-1": Problem(
        sizes=(1, 2, 2, 1),
        hidden_activation="relu",
        output_activation="linear",
        loss="half_squared_error",
        x=(2.0,),
        y=(1.0,),
        constant_init=(1.0, -0.5),
        steps=2,
        learning_rate=0.01,
    ),
}


@pytest.mark.parametrize(("name", "problem"), PROBLEMS.items(), ids=list(PROBLEMS))
def test_preset_problem_is_what_the_reference_needs(name: str, problem: Problem) -> None:
    """Assignment.problem carries sizes, activations, loss, data, init and training over."""
    assert load_assignment(name).problem == problem


# --- documentation --------------------------------------------------------------------------


def _models_in(annotation: object) -> list[type[BaseModel]]:
    """The pydantic models an annotation is, or is a union of."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        return [m for arg in typing.get_args(annotation) for m in _models_in(arg)]
    return []


def _leaf_fields(model: type[BaseModel], prefix: str = "") -> dict[str, str | None]:
    """Every non-model field under `model`, by dotted name, with its description."""
    leaves: dict[str, str | None] = {}
    for name, info in model.model_fields.items():
        key = info.alias or name  # as written in the TOML
        nested = _models_in(info.annotation)
        for sub in nested:
            leaves |= _leaf_fields(sub, f"{prefix}{key}.")
        if not nested:
            leaves[f"{prefix}{key}"] = info.description
    return leaves


def test_walk_finds_fields_of_every_nested_model() -> None:
    """The walk below reaches into nested models and both members of each union."""
    leaves = _leaf_fields(Assignment)
    for field in ("network.input_dim", "data.low", "data.x", "init.weight", "points.no-autograd"):
        assert field in leaves


def test_every_setting_has_a_description() -> None:
    """Every leaf field of Assignment but the `kind` tags has a description, for generated docs."""
    leaves = _leaf_fields(Assignment)
    undescribed = [
        name
        for name, description in leaves.items()
        if not description and not name.endswith(".kind")
    ]
    assert undescribed == []


def test_every_setting_is_documented() -> None:
    """The settings table of docs/tas.md (Assignments) names every field of an assignment TOML."""
    table = section(DOCS / "tas.md", "Assignments")
    missing = [name for name in _leaf_fields(Assignment) if f"`{name}" not in table]
    assert missing == []
