"""Which parameter each block of a printed gradient file holds, and whether its print can show n
significant figures.

`match_blocks` maps the blocks `grader.printed` reads to expected names (W1, b1, ... in PyTorch's
(out, in) layout, or another file's labels) and says in `notes` what it assumed:

* **Labels** are free text. A label gives a kind (`weight`, `bias`, `W2`, `dLdw2`, `db3`,
  `weight_3`, `my_b`) and a layer: a number (`Layer 3`, `hidden.4.weight`, `W2_grad`), an
  ordinal (`First hidden layer`) or `input` / `output`. Text in parentheses is dropped
  (`Linear(in_features=2, ...)`), a leading `7:` is a record number, and a block with a kind
  but no layer takes the layer of the block of the other kind beside it. A CSV header
  (`,dw3,db3,...` from pandas) labels the cells below it.
* **Layers** are aligned, not numbered: sorted by their label's layer, they are matched to the
  expected layers in order where the weight's shape fits, the most that fit, then the closest
  to the label's own place. So labels counted from the second layer still land on W2, b2, ...,
  a layer that is not in the file (the input layer, say) is `missing`, and no name is shifted
  onto a block that does not fit it. Orders do not matter: per-layer pairs, all weights then all
  biases, output first, bias before weight. Without kinds in the labels, blocks are taken in the
  order (W1, b1, W2, ...; all weights then all biases; either from the output) their shapes fit
  best.
* **Shapes**: a bias (1, n) or (n, 1) is read as (n,), flat numbers row by row; a weight is
  read transposed when its shape proves it (W1 printed 10 × 21 for 21 × 10), and a square
  weight only when its label says so (`.T`) or the file's other weights are proved transposed
  and none is proved otherwise. `compare_matches` may also read one file's square weights
  transposed when they agree with the other file only so, and says which.
* **Runs**: when a block's layer and kind come round again, a new run starts; several runs
  (files opened with `'a'`) or records (one per sample, `0:` ... `99:`) are read by their last
  one, the last thing written, and the note says so. With SGD steps expected and none in the
  labels, the last runs are the steps. Blocks whose label names no weight or bias (`Predicted
  y`, an unlabelled tensor after labelled gradients) are ignored with a note.

**Precision.** Each entry gets half a unit of its last printed digit. A block printed to a
number of *decimals* (fixed point alike in decimals more than in figures: torch's `0.0003`,
numpy's `0.` and `0.0069` for 0.00690; or scientific on one decimal grid across decades,
`np.round(x, 5)` printed as `1.0e-05`, `2.8e-04`) has that unit everywhere, zeros included; a
block printed to *figures* (`1.2957e-05`, `%.3g`) has each token's own, and its zeros are exact.
A block that cannot tell alone (all zeros, one decade) takes the file's most common grid. An
entry falls short when its print could break the rule by itself (`grader.compare`): at or
above FLOOR of its tensor's largest, a unit of its last digit more than the rule allows (fewer
than n significant figures); below, half a unit. A file that prints 15 or more figures
anywhere is taken as printed exactly (`repr`). `judge` tells agreement, a print too coarse to
show it (`cannot show`), and a difference beyond what the prints round (`disagree`) apart.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import lru_cache
from pathlib import Path
from typing import Literal, NamedTuple, TypeVar

import numpy as np
import numpy.typing as npt

from grader.dat import Budget
from grader.dat_precision import (
    Bools,
    ShortPrecision,
    half_units,
    listed,
    percent,
    plural_s,
    short_entries,
    shortfall,
)
from grader.errors import DatFormatError, DatLimitError
from grader.printed import PrintedBlock, read_dat_text, read_gradient_text

Array = npt.NDArray[np.float64]
Shape = tuple[int, ...]
Verdict = Literal["agree", "cannot show", "disagree"]
T = TypeVar("T")
G = TypeVar("G", bound=np.generic)


class PrintedTensor(NamedTuple):
    """One tensor as a file printed it."""

    values: Array
    half: Array  # half a unit of each entry's last printed digit
    coarse: Bools  # the entries printed too coarsely for the rule (short_entries)

    @classmethod
    def exact(cls, values: Array) -> PrintedTensor:
        """Values known exactly (the reference)."""
        return cls(values, 0 * values, np.zeros(values.shape, dtype=np.bool_))

    @property
    def T(self) -> PrintedTensor:
        """The tensor transposed."""
        return PrintedTensor(self.values.T, self.half.T, self.coarse.T)


@dataclass(frozen=True)
class Match:
    """A file's blocks matched to the expected names."""

    blocks: dict[str, Array]  # expected name -> values in the expected shape
    notes: list[str]  # what was assumed, one sentence each
    missing: list[str]  # expected names not found
    short: dict[str, ShortPrecision]  # per name, where the printed precision falls short
    half: dict[str, Array] = field(default_factory=dict)  # half a unit of each last digit
    coarse: dict[str, Bools] = field(default_factory=dict)  # short_entries of each tensor
    transposed: list[str] = field(default_factory=list)  # names read transposed
    layout: str | None = None  # "transposed" or "expected" when the file's shapes prove it

    def tensor(self, name: str) -> PrintedTensor:
        """The tensor matched to `name`, as printed."""
        return PrintedTensor(self.blocks[name], self.half[name], self.coarse[name])

    def precision_problem(self, sig_figs: int) -> str | None:
        """One line on how the printing falls short, or None: `values printed with 5 decimals:
        76% of entries read as 0 and 24% carry too few figures; 5 significant figures cannot
        be shown` (the tensors are named when they are the fewer)."""
        if not self.short:
            return None
        weight: Counter[int | None] = Counter()
        for s in self.short.values():
            weight[s.decimals] += s.short + s.zeros
        decimals = weight.most_common(1)[0][0]
        names = [n for n, s in self.short.items() if s.decimals == decimals]
        whole = 2 * len(names) > len(self.blocks)
        total = sum(self.blocks[n].size for n in (self.blocks if whole else names))
        where, of = ("values", "of entries") if whole else (listed(names), "of their entries")
        short = sum(self.short[n].short for n in names)
        if decimals is None:
            fewest = min(self.short[n].fewest for n in names)
            return (
                f"{where} printed with as few as {fewest} significant figure{plural_s(fewest)}; "
                f"{sig_figs} are needed ({percent(short, total)} {of} carry fewer)"
            )
        zeros = sum(self.short[n].zeros for n in names)
        counts = [f"{percent(zeros, total)} {of} read as 0"] if zeros else []
        if short or not zeros:
            counts.append(f"{percent(short, total)} carry too few figures")
        return (
            f"{where} printed with {decimals} decimals: {' and '.join(counts)}; "
            f"{sig_figs} significant figures cannot be shown"
        )


def match_blocks(
    blocks: Sequence[PrintedBlock], expected: Mapping[str, Shape], *, sig_figs: int = 5
) -> Match:
    """Match a file's blocks to the expected names and shapes; see the module docstring."""
    notes: list[str] = []
    start = max(0, len(blocks) - MAX_BLOCKS)
    if start:
        notes.append(f"{len(blocks)} blocks; only the last {MAX_BLOCKS} were read")
    blocks = _csv_labels(list(blocks))
    keys = [_Key(None, None)] * start + [_parse(b.label) for b in blocks[start:]]
    wanted = {name: (_parse(name), tuple(shape)) for name, shape in expected.items()}
    steps = len({key.step for key, _ in wanted.values()})
    chosen = _last_run(blocks, keys, len(expected), notes, steps, start)
    found = {}
    for i in chosen:
        if blocks[i].label in wanted and blocks[i].label not in found:
            name, want = blocks[i].label, wanted[blocks[i].label][1]
            if _fit(blocks[i].values.shape, want):
                found[name] = i
            else:
                shape = " × ".join(map(str, want))
                notes.append(f"{_block(blocks, i)} is named {name}, but {name} is {shape}")
    rest = [i for i in chosen if i not in found.values()]
    names = [name for name in wanted if name not in found]
    labelled = any(keys[i].kind for i in rest)
    if all(wanted[n][0].kind for n in names):  # blocks the labels do not allow are ignored
        ignored = [i for i in rest if keys[i].kind is None and (labelled or blocks[i].label)]
        for i in ignored[:NOTED]:
            why = "its label names no weight or bias" if blocks[i].label else "it has no label"
            notes.append(f"{_block(blocks, i)} ignored: {why}")
        notes += [f"{len(ignored) - NOTED} more blocks ignored"] if len(ignored) > NOTED else []
        rest = [i for i in rest if keys[i].kind or not (labelled or blocks[i].label)]
    if labelled:
        found |= _by_layer(rest, blocks, keys, wanted, names)
    else:
        found |= _by_order(rest, blocks, wanted, names, notes)
    said = {i for i in chosen if blocks[i].label in wanted and i not in found.values()}
    unread = [i for i in rest if i not in found.values() and i not in said]
    return _build(blocks, keys, wanted, found, unread, notes, sig_figs)


def expected_from(blocks: Sequence[PrintedBlock]) -> dict[str, Shape]:
    """Names and shapes a file defines for another to be matched to: its labels (`block 3`
    where there is none) and shapes, from its last run, without blocks its labels ignore."""
    blocks = _csv_labels(list(blocks))
    keys = [_parse(b.label) for b in blocks]
    chosen = _last_run(blocks, keys, len(blocks), [])
    if any(keys[i].kind for i in chosen):
        chosen = [i for i in chosen if keys[i].kind]
    names: dict[str, Shape] = {}
    for i in chosen:
        name = blocks[i].label or f"block {i + 1}"
        name = name if name not in names else f"{name} #{i + 1}"
        names[name] = blocks[i].values.shape
    return names


# --- files ----------------------------------------------------------------------------------

MAX_BYTES = 16 * 1024 * 1024
MAX_BLOCKS = 10_000  # the last ones are read: a hostile file cannot make matching slow
NOTED = 8  # blocks not read, or ignored, named one by one; the rest are counted
# the first line that is not blank or a comment is a header `NAME DIM [DIM ...]`
_CANONICAL_START = re.compile(
    r"\A(?:[ \t]*(?:#[^\r\n]*)?(?:\r\n|\r|\n))*"
    r"[ \t]*[A-Za-z_][A-Za-z0-9_.]*(?:[ \t]+[0-9]+)+[ \t]*(?:#|\r|\n|\Z)"
)


def read_printed(path: Path) -> list[PrintedBlock]:
    """The blocks of a gradient file; DatFormatError (naming the file, and the line where
    there is one) if it is missing, too big, not text, holds no numbers, or starts like
    canonical .dat but breaks the format (such a file is held to it)."""
    try:
        with open(path, "rb") as file:
            data = file.read(MAX_BYTES + 1)
    except FileNotFoundError:
        raise DatFormatError("no such file", path=path) from None
    except IsADirectoryError:
        raise DatFormatError("is a folder; give a file", path=path) from None
    except OSError as error:
        raise DatFormatError(f"cannot be read: {error.strerror}", path=path) from None
    return printed_blocks(data, path)


def printed_blocks(data: bytes, path: Path) -> list[PrintedBlock]:
    """read_printed of a file's bytes (`path` names it in errors); within a Budget of blocks
    and seconds (grader.dat)."""
    if len(data) > MAX_BYTES:
        raise DatFormatError(f"is over {MAX_BYTES:,} bytes; not a gradient file", path=path)
    text = data.decode("utf-8", errors="replace")
    if "\0" in text or text.count("\ufffd") > len(text) / 100:
        raise DatFormatError("is not a text file", path=path)
    budget = Budget(path)
    if _CANONICAL_START.match(text):
        try:
            blocks = read_dat_text(text, path=path, budget=budget)
        except DatLimitError:
            raise
        except DatFormatError as error:
            reason = f"{error.reason} (see the .dat format in grade's docs/students.md)"
            raise DatFormatError(reason, line=error.line, path=path) from None
    else:
        blocks = read_gradient_text(text, budget)
    if not blocks:
        raise DatFormatError("holds no numbers", path=path)
    return blocks


# --- labels -------------------------------------------------------------------------------

_ORDINALS = {
    "first": 1, "second": 2, "third": 3, "fourth": 4, "fifth": 5, "sixth": 6,
    "seventh": 7, "eighth": 8, "ninth": 9, "tenth": 10, "eleventh": 11, "twelfth": 12,
}  # fmt: skip
_KIND = re.compile(r"(?:d|dl|dld|grad)?([wb])([0-9]*)")
_KIND_WORDS = {"weight": "W", "weights": "W", "bias": "b", "biases": "b"}
_SAYS_TRANSPOSED = re.compile(r"\.T\b|\.t\(\)|transpos|\(in, ?out\)", re.IGNORECASE)


@dataclass(frozen=True)
class _Key:
    kind: str | None  # "W" or "b"
    layer: float | None  # from the label: a number, an ordinal, -inf (input), inf (output)
    step: int | None = None
    record: int | None = None
    transposed: bool = False  # the label says the layout is (in, out)

    @property
    def place(self) -> tuple[str | None, float | None, int | None]:
        return self.kind, self.layer, self.step


@lru_cache(maxsize=4096)  # the same labels come back in every file
def _parse(label: str) -> _Key:
    """The kind, layer, SGD step and record number a label names."""
    record = re.match(r"\s*([0-9]+)\s*:", label)
    text = re.sub(r"\([^()]*\)|<[^<>]*>", " ", label[record.end() if record else 0 :])
    words = [w for w in re.split("[^a-z0-9]+", text.lower()) if w]
    kinds, layers, step, used = set(), dict[int, float](), None, set()
    for at, word in enumerate(words):
        after = words[at + 1] if at + 1 < len(words) else ""
        near = {words[at - 1] if at else "", after}
        if word.startswith("step") and (word[4:] or after).isdigit() and at not in used:
            step = int(word[4:] or after)
            used.add(at + 1)
        elif word in _KIND_WORDS:
            kinds.add(_KIND_WORDS[word])
        elif kind := _KIND.fullmatch(word):
            kinds.add("W" if kind[1] == "w" else "b")
            if kind[2]:
                layers.setdefault(0, int(kind[2]))
        elif word.startswith("layer") and (word[5:] or after).isdigit():
            layers.setdefault(0, int(word[5:] or after))
            used.add(at + 1)
        elif word in _ORDINALS:
            layers.setdefault(1, _ORDINALS[word])
        elif word in ("input", "output", "last", "final"):
            layers.setdefault(2, -math.inf if word == "input" else math.inf)
        elif word.isdigit() and at not in used:
            close = any(w in _KIND_WORDS or _KIND.fullmatch(w) for w in near)
            layers.setdefault(3 if close else 4, int(word))
    return _Key(
        kind=kinds.pop() if len(kinds) == 1 else None,
        layer=layers[min(layers)] if layers else None,
        step=step,
        record=int(record[1]) if record else None,
        transposed=bool(_SAYS_TRANSPOSED.search(label)),
    )


def _csv_labels(blocks: list[PrintedBlock]) -> list[PrintedBlock]:
    """Blocks under a pandas CSV header (`,dw3,db3,dw2` then a row of cells) get its names."""
    header = blocks[0].label.split()[0].strip(",").split(",") if blocks and blocks[0].label else []
    if len(header) < 2 or len(blocks) % len(header) or any(b.label for b in blocks[1:]):
        return blocks
    return [
        PrintedBlock(header[i % len(header)], b.values, b.tokens, b.line)
        for i, b in enumerate(blocks)
    ]


def _block(blocks: Sequence[PrintedBlock], i: int) -> str:
    text = blocks[i].label if len(blocks[i].label) <= 50 else blocks[i].label[:49] + "…"
    label = f"'{text}'" if text else "unlabelled"
    shape = " × ".join(map(str, blocks[i].values.shape))
    return f"block {i + 1} (line {blocks[i].line}, {label}, {shape})"


# --- runs -----------------------------------------------------------------------------------


def _last_run(
    blocks: Sequence[PrintedBlock],
    keys: list[_Key],
    size: int,
    notes: list[str],
    steps: int = 1,
    start: int = 0,
) -> list[int]:
    """The indices of the last run: a run ends where a block's layer and kind (or, without a
    kind, its label) come round again; unlabelled files split into runs of `size` blocks.
    With `steps` SGD steps expected and none in the labels, the last `steps` runs are read as
    steps 0, 1, ... (their keys get the step)."""
    runs: list[list[int]] = [[]]
    seen: set[object] = set()
    for i, (block, key) in enumerate(zip(blocks, keys, strict=True)):
        if i < start:
            continue
        ident: object = None
        if key.kind and key.layer is not None:
            ident = (key.step, key.kind, key.layer)
        elif key.kind is None and block.label:
            ident = block.label
        if ident is not None and ident in seen:
            runs.append([])
            seen = set()
        seen.add(ident)
        runs[-1].append(i)
    unlabelled = not any(b.label for b in blocks[start:])
    if len(runs) == 1 and unlabelled and size and (len(blocks) - start) % size == 0:
        runs = [list(range(at, at + size)) for at in range(start, len(blocks), size)]
    if steps > 1 and len(runs) >= steps and all(keys[i].step is None for i in runs[-1]):
        for step, run in enumerate(runs[-steps:]):
            keys[run[0] : run[-1] + 1] = [
                replace(key, step=step) for key in keys[run[0] : run[-1] + 1]
            ]
        if len(runs) > steps:
            notes.append(
                f"{len(runs)} runs; the last {steps} were read as SGD steps 0 to {steps - 1}"
            )
        return [i for run in runs[-steps:] for i in run]
    if len(runs) > 1:
        first, last = keys[runs[0][0]].record, keys[runs[-1][0]].record
        notes.append(
            f"{len(runs)} runs of {len(runs[-1])} blocks appended; the last was read"
            if first is None or last is None
            else f"{len(runs)} records of {len(runs[-1])} blocks, '{first}:' to '{last}:' (one "
            "per sample, say); the last was read"
        )
    return runs[-1]


# --- matching -------------------------------------------------------------------------------

_Fit = Literal["same", "reshaped", "transposed"]


def _fit(shape: Shape, want: Shape) -> _Fit | None:
    """How a printed shape holds an expected one, if it does."""
    if shape == want:
        return "same"
    if math.prod(shape) != math.prod(want):
        return None
    if len(shape) == 2 and shape[::-1] == want:
        return "transposed"
    squeezed, wanted = tuple(d for d in shape if d > 1), tuple(d for d in want if d > 1)
    if squeezed == wanted or len(squeezed) == 1:  # flat numbers are read row by row
        return "reshaped"
    return "transposed" if len(squeezed) == 2 and squeezed[::-1] == wanted else None


def _align(n: int, m: int, score: Callable[[int, int], int]) -> list[tuple[int, int]]:
    """Order-preserving pairs (i, j) with the highest total score, then the least |i - j|."""
    best = [[(0, 0)] * (m + 1) for _ in range(n + 1)]
    for i in range(1, n + 1):
        for j in range(1, m + 1):
            s = score(i - 1, j - 1)
            take = (best[i - 1][j - 1][0] + s, best[i - 1][j - 1][1] - abs(i - j))
            best[i][j] = max(best[i - 1][j], best[i][j - 1], *([take] if s else []))
    pairs, i, j = [], n, m
    while i and j:
        if best[i][j] == best[i - 1][j]:
            i -= 1
        elif best[i][j] == best[i][j - 1]:
            j -= 1
        else:
            pairs.append((i - 1, j - 1))
            i, j = i - 1, j - 1
    return pairs[::-1]


def _layers(items: list[tuple[T, _Key]]) -> list[dict[str, T]]:
    """Group (item, key) by layer, sorted by (step, layer); a kind-only key borrows the layer
    of the item of the other kind beside it, and with no layers at all order numbers them."""
    if all(key.layer is None for _, key in items):
        count: Counter[str | None] = Counter()
        numbered = []
        for item, key in items:
            count[key.kind] += 1
            numbered.append((item, _Key(key.kind, count[key.kind], key.step)))
        items = numbered
    layers: dict[tuple[int, float], dict[str, T]] = {}
    for at, (item, key) in enumerate(items):
        layer = key.layer
        for near in (at - 1, at + 1):
            if layer is None and 0 <= near < len(items) and items[near][1].kind != key.kind:
                layer = items[near][1].layer
        if layer is not None and key.kind is not None:
            layers.setdefault((key.step or 0, layer), {}).setdefault(key.kind, item)
    return [layers[k] for k in sorted(layers)]


def _by_layer(
    chosen: list[int],
    blocks: Sequence[PrintedBlock],
    keys: list[_Key],
    wanted: dict[str, tuple[_Key, Shape]],
    names: list[str],
) -> dict[str, int]:
    """Match labelled blocks to names layer by layer (see the module docstring)."""
    got = _layers([(i, keys[i]) for i in chosen])
    want = _layers([(name, wanted[name][0]) for name in names])

    def fits(a: dict[str, int], b: dict[str, str]) -> list[tuple[str, int]]:
        ok = [
            (b[k], a[k])
            for k in "Wb"
            if k in a and k in b and _fit(blocks[a[k]].values.shape, wanted[b[k]][1])
        ]
        return [] if "W" in a and "W" in b and b["W"] not in dict(ok) else ok

    found: dict[str, int] = {}
    for i, j in _align(len(got), len(want), lambda i, j: len(fits(got[i], want[j]))):
        found |= dict(fits(got[i], want[j]))
    return found


def _by_order(
    chosen: list[int],
    blocks: Sequence[PrintedBlock],
    wanted: dict[str, tuple[_Key, Shape]],
    names: list[str],
    notes: list[str],
) -> dict[str, int]:
    """Match blocks to names in the order their shapes fit best (see the module docstring)."""
    orders = [names]
    if names and all(wanted[n][0].kind for n in names):
        layers = _layers([(n, wanted[n][0]) for n in names])
        w = [layer["W"] for layer in layers if "W" in layer]
        b = [layer["b"] for layer in layers if "b" in layer]
        back = [layer[k] for layer in layers[::-1] for k in "Wb" if k in layer]
        bias_first = [layer[k] for layer in layers for k in "bW" if k in layer]
        orders += [w + b, back, w[::-1] + b[::-1], bias_first]

    def matched(order: list[str]) -> list[tuple[int, int]]:
        return _align(
            len(chosen),
            len(order),
            lambda i, j: int(_fit(blocks[chosen[i]].values.shape, wanted[order[j]][1]) is not None),
        )

    order = max(orders, key=lambda order: len(matched(order)))
    if order is not orders[0]:
        notes.append(f"unlabelled blocks read in the order {', '.join(order)}: their shapes fit it")
    elif chosen and not any(blocks[i].label for i in chosen):
        notes.append(f"unlabelled blocks read in the expected order ({listed(order)})")
    return {order[j]: chosen[i] for i, j in matched(order)}


def _build(
    blocks: Sequence[PrintedBlock],
    keys: list[_Key],
    wanted: dict[str, tuple[_Key, Shape]],
    found: dict[str, int],
    unread: list[int],
    notes: list[str],
    sig_figs: int,
) -> Match:
    """The matched values in the expected shapes, their precision, and the notes."""
    fits = {name: _fit(blocks[i].values.shape, wanted[name][1]) for name, i in found.items()}
    proofs: dict[_Fit | None, list[str]] = {}
    for name in found:  # a 2-D weight that is not square shows the layout
        if len(shape := wanted[name][1]) == 2 and shape[0] != shape[1]:
            proofs.setdefault(fits[name], []).append(name)
    layout = "transposed" if "transposed" in proofs else "expected" if "same" in proofs else None
    printed = half_units(blocks, sorted(found.values()))
    values, half, coarse, short, flipped, by_file = {}, {}, {}, {}, [], []
    for name in sorted(found, key=list(wanted).index):
        block, want, label = blocks[found[name]], wanted[name][1], keys[found[name]]
        square = len(want) == 2 and want[0] == want[1] > 1 and fits[name] == "same"
        like_file = square and "transposed" in proofs and "same" not in proofs
        turn = fits[name] == "transposed" or (square and label.transposed) or like_file
        precision = printed[found[name]]
        if turn:
            flipped.append(name)
        values[name] = _shaped(block.values, want, turn)
        half[name] = _shaped(precision.half, want, turn)
        coarse[name] = short_entries(values[name], half[name], sig_figs)
        if precision.figures is not None:  # None: printed exactly, nothing falls short
            figures = _shaped(precision.figures, want, turn)
            falls_short = shortfall(
                values[name], half[name], coarse[name], figures, precision.decimals
            )
            if falls_short is not None:
                short[name] = falls_short
        if like_file and not label.transposed:
            by_file.append(name)
        flat = fits[name] == "reshaped" and block.values.ndim == 1 and min(want) > 1
        renamed = block.label and label.place != wanted[name][0].place
        if (turn and not like_file) or flat or renamed:
            how = ", transposed" + (": its label says so" if square else "") if turn else ""
            how += ", row by row" if flat else ""
            notes.append(f"{_block(blocks, found[name])} read as {name}{how}")
    if by_file:
        proof = " and ".join(proofs["transposed"])
        notes.append(
            f"{listed(by_file)} read transposed: square, so taken in the (in, out) layout "
            f"that {proof} prove{'s' if len(proofs['transposed']) == 1 else ''} by shape"
        )
    for i in unread[:NOTED]:
        notes.append(f"{_block(blocks, i)} not read: it fits none of the names left")
    notes += [f"{len(unread) - NOTED} more blocks not read"] if len(unread) > NOTED else []
    missing = [name for name in wanted if name not in found]
    if missing:
        shown = ", ".join(f"{n} ({' × '.join(map(str, wanted[n][1]))})" for n in missing)
        notes.append(f"not found: {shown}")
    return Match(values, notes, missing, short, half, coarse, flipped, layout)


def _shaped(entries: npt.NDArray[G], want: Shape, turn: bool) -> npt.NDArray[G]:
    """A block's entries in the expected shape, read transposed if `turn`."""
    if turn:
        entries = entries.reshape([d for d in entries.shape if d > 1] or [1, 1]).T
    return entries.reshape(want)
