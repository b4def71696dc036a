"""The sentence a student reads beside the line: what the value formed there is, what the
reference's is, and (from the check's diagnosis of the same kind, when there is one) how to
fix it."""

from __future__ import annotations

from grader.locate.intermediates import Match
from grader.result import Diagnosis

WHAT = {
    "z": "the pre-activation z",
    "a": "the activation a",
    "dL/da": "dL/da",
    "delta": "δ = dL/dz",
    "f'(z)": "the activation derivative f'(z)",
    "dW": "dL/dW",
    "db": "dL/db",
    "W": "W",
    "b": "b",
    "p": "the prediction p",
    "p-y": "p − y",
    "dL/dp": "dL/dp",
}
SCALED = {"−1×": "minus {}: the sign is flipped", "2×": "twice {}", "½×": "half of {}",
          "−2×": "−2 × {}: the sign is flipped and the factor is 2"}  # fmt: skip
KINDS = {"transposed": "transposed", "−1×": "sign", "2×": "factor", "½×": "factor",
         "−2×": "factor", "lr×": "sgd-step", "updated": "updated-weights",
         "no-derivative": "missing-activation-derivative"}  # fmt: skip


def thing(match: Match) -> str:
    """An intermediate in words: `dL/dW of layer 3`."""
    what = WHAT.get(match.what, match.what)
    whole = match.what in {"p", "p-y", "dL/dp", "loss", "x", "y"}
    return f"{what} of layer {match.layer}" if match.layer and not whole else what


def sentence(
    code: str,
    name: str,
    wrong: Match | None,
    activation: str,
    diagnoses: list[Diagnosis],
    across: tuple[int, int] | None = None,
) -> str:
    """`delta = W[i].T @ delta`: delta here equals dL/da of layer 3; ... ."""
    shown = code.splitlines()[0] + (" …" if "\n" in code else "")
    head = f"`{shown}`: {name} here"
    if across is not None:
        head = f"`{shown}`: {name}, formed across lines {across[0]}–{across[1]},"
    if wrong is None:
        said = (
            f"{head} matches no value of a correct backward pass, though everything it reads does"
        )
    elif wrong.variant == "no-derivative" and wrong.what == "delta":
        said = (
            f"{head} equals dL/da of layer {wrong.layer}; the reference's δ is dL/da times "
            f"{_derivative(activation, wrong.layer)}: the activation derivative is missing"
        )
    elif wrong.variant == "no-derivative":
        said = (
            f"{head} is {thing(wrong)} built from dL/da instead of δ: the "
            f"{_derivative(activation, wrong.layer)} factor is missing"
        )
    elif wrong.variant == "transposed":
        said = f"{head} is the transpose of {thing(wrong)}"
    elif wrong.variant == "lr×":
        said = f"{head} is lr × {thing(wrong)}: the SGD step, not the gradient"
    elif wrong.variant == "updated":
        said = (
            f"{head} is {wrong.what} − lr·dL/d{wrong.what} of layer {wrong.layer}: the updated "
            "parameters, not the gradient"
        )
    elif wrong.variant in SCALED:
        said = f"{head} is {SCALED[wrong.variant].format(thing(wrong))}"
    else:
        said = f"{head} is {thing(wrong)}"
    kind = KINDS.get(wrong.variant) if wrong is not None else None
    agreeing = next((d for d in diagnoses if kind is not None and d.kind == kind), None)
    return _with(said, agreeing)


def _with(said: str, diagnosis: Diagnosis | None) -> str:
    """Our finding, then the check's diagnosis of the same kind (its how-to-fix)."""
    if diagnosis is None:
        return said
    return f"{said}. {diagnosis.message[:1].upper()}{diagnosis.message[1:]}"


def misplaced_sentence(
    code: str, name: str, match: Match, kind: str, diagnoses: list[Diagnosis]
) -> str:
    """A right gradient put in another's place: another layer's (reversed), or dL/db where
    dL/dW belongs (swapped)."""
    said = f"`{code.splitlines()[0]}`: {name} here is {thing(match)}, in the wrong place"
    mistake = "reversed" if match.what == kind else "swapped"
    return _with(said, next((d for d in diagnoses if d.kind == mistake), None))


def _derivative(activation: str, layer: int) -> str:
    return {"relu": f"ReLU'(z{layer})", "sigmoid": f"σ'(z{layer}) = a{layer}(1 − a{layer})",
            "tanh": f"tanh'(z{layer})"}.get(activation, f"f'(z{layer})")  # fmt: skip
