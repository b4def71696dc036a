"""Assignments as data: a TOML file validated by pydantic models, and the presets that ship.

Every setting is a field with a description, so the docs can be generated from the models.
A bad file raises `AssignmentError` naming the file, the field, the value and what is allowed.
"""

from __future__ import annotations

import difflib
import re
import tomllib
from pathlib import Path
from typing import Annotated, Literal, get_args

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import ErrorDetails

from grader.errors import AssignmentError
from grader.presets import DEFAULT_POINTS, assignment_file, preset_names
from reference import Problem

Activation = Literal["relu", "sigmoid", "tanh"]
OutputActivation = Literal["linear", "relu", "sigmoid", "tanh"]
Loss = Literal["squared_error", "half_squared_error"]


def _scalar(value: object) -> object:
    if not isinstance(value, bool | int | float | str):
        raise ValueError(f"{value!r} is not a boolean, number or string")
    return value


KwargValue = Annotated[bool | int | float | str, BeforeValidator(_scalar)]

_WIDTH_RULE = re.compile(r"\s*(?:(\d+)\s*\*?\s*)?d\s*(?:([+-])\s*(\d+))?\s*", re.ASCII)
_IDENTIFIER = r"^[A-Za-z_][A-Za-z0-9_]*$"
_MODULE = r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$"
_NAME = r"^[a-z0-9][a-z0-9_.-]*$"
_FILE_NAME = r"^[^/\\\x00.][^/\\\x00]*$"
_PATTERN_HELP = {
    _FILE_NAME: "a file name in the submission folder: no / or \\, not starting with .",
    _IDENTIFIER: "a Python identifier: letters, digits and _, not starting with a digit",
    _MODULE: "a Python module name such as backprop or hw1.backprop",
    _NAME: "lowercase letters, digits, _ . and -, starting with a letter or a digit",
}


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


def width_from_rule(rule: int | str, d: int) -> int:
    """Evaluate a hidden-width rule: an integer, or `a*d+b` written like `2d+1`, `d`, `3*d-2`."""
    if isinstance(rule, int):
        return rule
    match = _WIDTH_RULE.fullmatch(rule)
    if match is None:
        raise ValueError(f"hidden_width = {rule!r}; expected a number or a rule like 'd', '2d+1'")
    a, sign, b = match.groups()
    return int(a or 1) * d + (int(b) if sign == "+" else -int(b) if sign == "-" else 0)


class Network(_Model):
    """The multilayer perceptron students build: Linear layers with an activation after each."""

    input_dim: int = Field(gt=0, description="d: the number of inputs")
    hidden: list[Annotated[int, Field(gt=0)]] | None = Field(
        default=None, description="widths of the hidden layers, in order (or use hidden_layers)"
    )
    hidden_layers: int | None = Field(
        default=None, ge=0, description="K: the number of hidden layers, all of hidden_width"
    )
    hidden_width: int | str | None = Field(
        default=None, description="width of each hidden layer: a number or a rule such as '2d+1'"
    )
    activation: Activation = Field(default="relu", description="after every hidden Linear")
    output_activation: OutputActivation = Field(
        default="linear", description="after the output Linear"
    )
    output_dim: int = Field(default=1, gt=0, description="the number of outputs")

    @model_validator(mode="after")
    def _one_way_to_give_widths(self) -> Network:
        by_rule = self.hidden_layers is not None or self.hidden_width is not None
        if self.hidden is not None and by_rule:
            raise ValueError(
                f"hidden = {self.hidden} and hidden_layers/hidden_width are both given; "
                "give either hidden = [widths...] or hidden_layers and hidden_width, not both"
            )
        if self.hidden is None and (self.hidden_layers is None or self.hidden_width is None):
            given = [
                f"{name} = {value!r}"
                for name, value in (
                    ("hidden_layers", self.hidden_layers),
                    ("hidden_width", self.hidden_width),
                )
                if value is not None
            ]
            found = f"only {given[0]} is given" if given else "no hidden layers are given"
            raise ValueError(
                f"{found}; give hidden = [widths...], or both hidden_layers and hidden_width"
            )
        if self.hidden_width is not None:
            width = width_from_rule(self.hidden_width, self.input_dim)
            if width <= 0:
                raise ValueError(
                    f"hidden_width = {self.hidden_width!r} gives {width} for d = input_dim = "
                    f"{self.input_dim}; a width must be at least 1"
                )
        return self

    @property
    def hidden_widths(self) -> list[int]:
        if self.hidden is not None:
            return list(self.hidden)
        assert self.hidden_layers is not None and self.hidden_width is not None
        return [width_from_rule(self.hidden_width, self.input_dim)] * self.hidden_layers

    @property
    def sizes(self) -> tuple[int, ...]:
        """(d, hidden widths..., output dim): layer l maps sizes[l-1] to sizes[l]."""
        return (self.input_dim, *self.hidden_widths, self.output_dim)


class UniformData(_Model):
    """x drawn from the seed, uniformly in [low, high]^d; the label y = Σ x_i² / d."""

    kind: Literal["uniform"] = Field(description="draw x from the seed")
    low: float = Field(default=0.0, description="lower end of each coordinate's range")
    high: float = Field(default=1.0, description="upper end of each coordinate's range")

    @model_validator(mode="after")
    def _ordered(self) -> UniformData:
        if not self.low < self.high:
            raise ValueError(f"low = {self.low} must be less than high = {self.high}")
        return self


class FixedData(_Model):
    """One given data point."""

    kind: Literal["fixed"] = Field(description="use the x and y given here")
    x: list[float] = Field(min_length=1, description="the input, d numbers")
    y: list[float] = Field(min_length=1, description="the target, one number per output")


class DefaultInit(_Model):
    """PyTorch's default for nn.Linear, W and b ~ U(-1/√fan_in, 1/√fan_in), drawn from the seed."""

    kind: Literal["pytorch_default"] = Field(description="PyTorch's default, seeded")


class ConstantInit(_Model):
    """Every weight and every bias set to one constant each."""

    kind: Literal["constant"] = Field(description="constant weights and biases")
    weight: float = Field(description="the value of every weight")
    bias: float = Field(description="the value of every bias")


class Training(_Model):
    """Plain SGD, one data point per step."""

    steps: int = Field(default=0, ge=0, description="SGD updates; 0 means one gradient")
    learning_rate: float = Field(default=0.01, gt=0, description="the SGD learning rate")


class Limits(_Model):
    """What the student's code may use; each is shown in result.json and the report."""

    call_seconds: float = Field(
        default=30, gt=0, le=3600, description="wall-clock seconds per call of the student's code"
    )
    memory_mib: int = Field(
        default=2048, ge=64, description="memory the student's code may allocate, in MiB"
    )
    output_kib: int = Field(
        default=1024,
        ge=1,
        description="printed output kept for the report, in KiB; the middle is cut",
    )
    processes: int = Field(
        default=64, ge=1, description="processes and threads the student's code may run at once"
    )
    submission_mib: int = Field(
        default=64, ge=1, description="the largest submission folder that is graded, in MiB"
    )
    notebook_seconds: float = Field(
        default=60,
        gt=0,
        le=3600,
        description="wall-clock seconds for a notebook's cells, run top to bottom, all together",
    )
    notebook_mib: int = Field(
        default=16, ge=1, description="the largest notebook that is read, stored outputs included"
    )


class Points(_Model):
    """Points per check; the check ids are part of the public result format."""

    model_config = ConfigDict(
        extra="forbid", frozen=True, allow_inf_nan=False, populate_by_name=True
    )

    network_architecture: float = Field(
        default=DEFAULT_POINTS["network-architecture"],
        ge=0,
        alias="network-architecture",
        description="the network has the assignment's layers",
    )
    autograd_gradients: float = Field(
        default=DEFAULT_POINTS["autograd-gradients"],
        ge=0,
        alias="autograd-gradients",
        description="the student's network under autograd matches the reference",
    )
    backprop_gradients: float = Field(
        default=DEFAULT_POINTS["backprop-gradients"],
        ge=0,
        alias="backprop-gradients",
        description="backprop's gradients match the reference",
    )
    no_autograd: float = Field(
        default=DEFAULT_POINTS["no-autograd"],
        ge=0,
        alias="no-autograd",
        description="backprop computes without autograd",
    )
    dat_files: float = Field(
        default=DEFAULT_POINTS["dat-files"],
        ge=0,
        alias="dat-files",
        description="the .dat files exist and follow the format",
    )
    graph_explanation: float = Field(
        default=DEFAULT_POINTS["graph-explanation"],
        ge=0,
        alias="graph-explanation",
        description="graph.md explains every node of the autograd graph (checked whenever the "
        "file is there; give it points to require it)",
    )


class Contract(_Model):
    """What the student's files are called and how the grader calls them."""

    network_module: str = Field(default="network", pattern=_MODULE, description="a module name")
    network_function: str = Field(
        default="build_network", pattern=_IDENTIFIER, description="returns a torch.nn.Module"
    )
    network_kwargs: dict[str, KwargValue] = Field(
        default_factory=dict, description="keyword arguments of the network call"
    )
    backprop_module: str = Field(default="backprop", pattern=_MODULE, description="a module name")
    backprop_function: str = Field(
        default="backprop", pattern=_IDENTIFIER, description="(weights, biases, x, y) -> (dW, db)"
    )
    torch_dat: str = Field(
        default="torch_autograd.dat", pattern=_FILE_NAME, description="autograd's gradients"
    )
    my_dat: str = Field(
        default="my_autograd.dat", pattern=_FILE_NAME, description="the student's own gradients"
    )
    notebook: str | None = Field(
        default=None,
        pattern=_FILE_NAME,
        description="the notebook graded when the folder holds none of the modules; by default "
        "the one .ipynb in the folder",
    )


class GraphScript(_Model):
    """The script of the assignment's Q2, whose autograd graph students draw and explain."""

    script: str = Field(
        min_length=1,
        description="Python run in the student's sandbox with their folder importable (e.g. "
        "`from network import build_network`); it must leave the loss tensor in `loss`",
    )

    @field_validator("script")
    @classmethod
    def _compiles(cls, script: str) -> str:
        try:
            compile(script, "graph.script", "exec")
        except SyntaxError as error:
            raise ValueError(f"line {error.lineno}: {error.msg}") from None
        return script


class Assignment(_Model):
    """One homework: the network, the data, the loss, the training and how it is graded."""

    name: str = Field(pattern=_NAME, description="short id, e.g. bs6207-a1")
    title: str = Field(description="the title students and Canvas see")
    seed: int = Field(default=0, ge=0, description="seed of the published inputs")
    network: Network
    data: Annotated[UniformData | FixedData, Field(discriminator="kind")]
    init: Annotated[DefaultInit | ConstantInit, Field(discriminator="kind")] = DefaultInit(
        kind="pytorch_default"
    )
    loss: Loss = Field(
        default="squared_error",
        description="squared_error: L = Σ(p-y)²; half_squared_error: L = ½Σ(p-y)²",
    )
    training: Training = Training()
    significant_figures: int = Field(
        default=5, ge=2, le=15, description="figures the gradients must agree to (2 to 15)"
    )
    points: Points = Points()
    contract: Contract = Contract()
    limits: Limits = Limits()
    graph: GraphScript | None = Field(
        default=None,
        description="Q2's script; without it the graph is that of the student's own network "
        "and the assignment's loss on the published inputs",
    )

    @model_validator(mode="after")
    def _data_fits_network(self) -> Assignment:
        net = self.network
        if isinstance(self.data, FixedData):
            x, y = self.data.x, self.data.y
            if len(x) != net.input_dim:
                raise ValueError(
                    f"data.x = {x} has {_count(x)}; expected one per input, "
                    f"network.input_dim = {net.input_dim}"
                )
            if len(y) != net.output_dim:
                raise ValueError(
                    f"data.y = {y} has {_count(y)}; expected one per output, "
                    f"network.output_dim = {net.output_dim}"
                )
        elif net.output_dim != 1:
            raise ValueError(
                f"network.output_dim = {net.output_dim} with data.kind = 'uniform', whose label "
                "y = Σx²/d is one number; use output_dim = 1, or fixed data"
            )
        return self

    @property
    def problem(self) -> Problem:
        """The mathematics the reference needs."""
        data, init = self.data, self.init
        return Problem(
            sizes=self.network.sizes,
            hidden_activation=self.network.activation,
            output_activation=self.network.output_activation,
            loss=self.loss,
            x_range=(data.low, data.high) if isinstance(data, UniformData) else None,
            x=tuple(data.x) if isinstance(data, FixedData) else None,
            y=tuple(data.y) if isinstance(data, FixedData) else None,
            constant_init=(init.weight, init.bias) if isinstance(init, ConstantInit) else None,
            steps=self.training.steps,
            learning_rate=self.training.learning_rate,
        )

    @property
    def max_score(self) -> float:
        return float(sum(self.points.model_dump().values()))


def _count(values: list[float]) -> str:
    return f"{len(values)} number{'' if len(values) == 1 else 's'}"


def load_assignment(name_or_path: str | Path) -> Assignment:
    """Load a preset by name (`bs6207-a1`) or a TOML file by path."""
    path = assignment_file(name_or_path)
    if path is None:
        names = ", ".join(preset_names())
        close = difflib.get_close_matches(str(name_or_path), preset_names(), n=1)
        hint = f"did you mean {close[0]}? " if close else ""
        raise AssignmentError(
            name_or_path,
            f"no such assignment; {hint}give a preset name ({names}) or a path to a .toml file",
        )
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise AssignmentError(path, "file not found") from None
    except (OSError, UnicodeDecodeError) as error:
        raise AssignmentError(path, f"cannot be read: {error}") from None
    return parse_assignment(text, path)


def parse_assignment(text: str, path: str | Path = "<assignment>") -> Assignment:
    """Validate the text of an assignment TOML; `path` is only used in messages."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise AssignmentError(path, f"not valid TOML: {error}") from None
    try:
        return Assignment.model_validate(raw)
    except ValidationError as error:
        first = error.errors(include_url=False)[0]
        field = _dotted(first["loc"])
        if first["type"] in {"union_tag_invalid", "union_tag_not_found"}:
            field += ".kind"
        raise AssignmentError(path, _describe(first, field), field=field or None) from None


_TAGS = {"uniform", "fixed", "pytorch_default", "constant"}  # union tags pydantic puts in a loc


def _dotted(loc: tuple[int | str, ...]) -> str:
    return ".".join(str(part) for part in loc if part not in _TAGS)


def _describe(error: ErrorDetails, field: str) -> str:
    kind, message, value = error["type"], error["msg"], error.get("input")
    ctx = error.get("ctx") or {}
    parent_loc = error["loc"][:-1]
    key = str(error["loc"][-1]) if error["loc"] else ""
    if kind == "missing":
        description = _description(_models_at(parent_loc), key)
        return f"{field} is missing" + (f": {description}" if description else "")
    if kind == "extra_forbidden":
        allowed = sorted({k for m in _models_at(parent_loc) for k in _keys(m)})
        close = difflib.get_close_matches(key, allowed, n=1)
        hint = f"did you mean {close[0]}? " if close else ""
        return f"{field} is not a setting; {hint}allowed here: {', '.join(allowed)}"
    if kind == "literal_error":
        expected = str(ctx.get("expected", "")).replace("'", "").replace(" or ", ", ")
        return f"{field} = {value!r}; expected one of {expected}"
    if kind in {"union_tag_invalid", "union_tag_not_found"}:
        tags = ", ".join(_tag(m) for m in _models_at(error["loc"]))
        shown = f" = {ctx['tag']!r}" if "tag" in ctx else " is missing"
        return f"{field}{shown}; expected one of {tags}"
    if kind == "value_error":
        return (f"{field}: " if field else "") + message.removeprefix("Value error, ")
    if kind == "string_pattern_mismatch":
        pattern = str(ctx.get("pattern", ""))
        return f"{field} = {value!r}; expected {_PATTERN_HELP.get(pattern, f'to match {pattern}')}"
    return f"{field} = {value!r}: {message[0].lower()}{message[1:]}"


def _models_at(loc: tuple[int | str, ...]) -> list[type[BaseModel]]:
    """The models that can sit at a location of the TOML (several inside a union)."""
    models: list[type[BaseModel]] = [Assignment]
    for part in loc:
        if part in _TAGS:
            models = [m for m in models if _tag(m) == part]
            continue
        found: list[type[BaseModel]] = []
        for model in models:
            for name, info in model.model_fields.items():
                if part in (name, info.alias):
                    options = (info.annotation, *get_args(info.annotation))
                    found += [
                        o for o in options if isinstance(o, type) and issubclass(o, BaseModel)
                    ]
        models = found
    return models


def _keys(model: type[BaseModel]) -> list[str]:
    return [info.alias or name for name, info in model.model_fields.items()]


def _tag(model: type[BaseModel]) -> str:
    info = model.model_fields.get("kind")
    return str(get_args(info.annotation)[0]) if info is not None else ""


def _description(models: list[type[BaseModel]], key: str) -> str:
    for model in models:
        for name, info in model.model_fields.items():
            if key in (name, info.alias):
                return info.description or ""
    return ""
