"""Reading the numbers in a gradient file a student printed instead of writing canonical .dat.

Students print gradients with numpy and torch: `str()` and `repr()` of arrays and tensors,
`np.array2string`, flat `%.18e` lists, each after a free-text label. `read_blocks` finds
every numeric block in such text and never raises:

* An array starts at `[` (not right after a letter, digit or `_`, so `net[1]` is text) or at
  `tensor(` / `array(`, and ends at its matching `]` / `)`. Inside the brackets only numbers,
  spaces, commas, newlines and `...` may appear; anything else makes the `[` plain text.
  The nesting, not the lines, gives the shape; a ragged or summarised (`...`) array becomes
  a flat 1-D block of the numbers printed. Suffixes after the data (`grad_fn=<...>`,
  `dtype=torch.float64`, `requires_grad=True`, `device='cpu'`) are skipped.
* Text outside arrays since the previous block is the next block's label: its lines joined
  with a space, lines without a letter or digit (`-----`) dropped, edge punctuation and a
  trailing `is` stripped (`Layer 3 weight is:` -> `Layer 3 weight`). Header-only lines thus
  join the label (`my_w` then `weight_1` -> `my_w weight_1`), and so does text sharing a line
  with an array (`Output_layer weight gradient: [...]`).
* Numbers outside brackets are read only from whole lines of their own: a run of lines
  holding only numbers (space- or comma-separated; blank lines do not end the run) is one
  1-D block, and a line `LABEL: numbers` or `LABEL = numbers` (`Loss = 0.68349`) is a 1-D
  block labelled LABEL. Numbers inside words or other text (`Layer 3`, `W2_grad`, `0:`) are
  never values.

`read_gradient_text` reads canonical .dat text strictly first and falls back to the above.
"""

from __future__ import annotations

import bisect
import re
from array import array
from dataclasses import dataclass
from pathlib import Path
from typing import TypeAlias, cast

import numpy as np
import numpy.typing as npt

from grader.dat import Budget, lines, parse_dat_blocks, to_floats, to_lf
from grader.errors import DatFormatError, DatLimitError

_NUMBER = r"[+-]?(?:(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?|nan|inf(?:inity)?)"
_NUMBER_RE = re.compile(_NUMBER, re.ASCII | re.IGNORECASE)
# Inside brackets: one token at a time; a number must end at a separator or a bracket.
_IN_ARRAY = re.compile(
    rf"(?P<open>\[)|(?P<close>\])|(?P<number>{_NUMBER})(?=[\s,\]]|\Z)|(?P<skip>[\s,]+)"
    r"|(?P<ellipsis>\.\.\.)",
    re.ASCII | re.IGNORECASE,
)
# An innermost list of numbers only, most of a printed array: read at once.
_ROW = re.compile(rf"\[[\s,]*(?:{_NUMBER}(?=[\s,\]])[\s,]*)*\]", re.ASCII | re.IGNORECASE)
_START = re.compile(r"(?<![A-Za-z0-9_])(?:(?P<call>tensor|array)\(|\[)")
_SCALAR = re.compile(rf"\s*({_NUMBER})(?=[\s,)])", re.ASCII | re.IGNORECASE)
# `, grad_fn=<AddmmBackward0>, dtype=torch.float64)`; one level of parens for `size=(0, 3)`.
_SUFFIX = re.compile(r"\s*(?:,(?:[^()\[\]]|\([^()]*\))*)?\)")
_OPENING = re.compile(r"\s*\[")
_LABEL_EDGES = ":=,;\"'"
_MAX_DEPTH = 64  # numpy's limit on dimensions; deeper nesting is not an array

_Nested: TypeAlias = "str | list[_Nested]"
"""A number token (or `...`), or a bracketed list of them."""


@dataclass(frozen=True)
class PrintedBlock:
    """One numeric block of a printed gradient file."""

    label: str
    """The free text before the array (`Layer 1 weight gradient`), stripped; "" if none."""
    values: npt.NDArray[np.float64]
    """Shaped by the bracket nesting; 1-D for flat lists of numbers."""
    tokens: list[str]
    """The number tokens as printed, in C order, to judge the printed precision."""
    line: int
    """The 1-based line where the array (or the first number) starts."""


def significant_figures(token: str) -> int:
    """Digits printed from the first nonzero digit to the last one, trailing zeros included.

    "0.0001" -> 1, "1.5000" -> 5, "1.2345678e-01" -> 8, "14." -> 2; a zero, nan or inf
    carries none. Raises ValueError if `token` is not a number.
    """
    if _NUMBER_RE.fullmatch(token.strip()) is None:
        raise ValueError(f"{token!r} is not a number such as `0.5`, `-1.5e-05` or `nan`")
    digits = re.split("[eE]", token.strip().lstrip("+-"))[0].replace(".", "")
    return len(digits.lstrip("0")) if digits.isdigit() else 0  # nan and inf carry none


def read_gradient_text(text: str, budget: Budget | None = None) -> list[PrintedBlock]:
    """Blocks of canonical .dat text (labels are block names), else of printed text; within
    `budget` (see grader.dat.Budget), which both readings share."""
    budget = budget or Budget(None)
    try:
        return read_dat_text(text, budget=budget)
    except DatLimitError:
        raise
    except DatFormatError:
        return read_blocks(text, budget)


def read_dat_text(
    text: str, *, path: Path | str | None = None, budget: Budget | None = None
) -> list[PrintedBlock]:
    """Blocks of canonical .dat text, labelled with their names; DatFormatError if it is not."""
    return [PrintedBlock(*block) for block in parse_dat_blocks(text, path=path, budget=budget)]


def read_blocks(text: str, budget: Budget | None = None) -> list[PrintedBlock]:
    """Every numeric block in printed text, in file order; see the module docstring. Past
    `budget`'s blocks or seconds, DatLimitError."""
    text = text.removeprefix("\ufeff")
    return _Reader(to_lf(text), budget or Budget(None)).read()


class _Reader:
    """One pass over normalised text: arrays, the text between them, and its flat numbers."""

    def __init__(self, text: str, budget: Budget) -> None:
        self.text = text
        self.budget = budget
        self.newlines = array("q", (match.start() for match in re.finditer("\n", text)))
        self.blocks: list[PrintedBlock] = []
        self.label: list[str] = []  # label text since the last block
        self.run: list[str] = []  # number tokens of the current run of number-only lines
        self.run_start = (0, "")  # line and label of that run
        self.doomed: set[int] = set()  # `[`s a failed parse left open: they fail as well

    def read(self) -> list[PrintedBlock]:
        """Alternate between text and arrays until the end of the text."""
        done = search = 0
        while (start := _START.search(self.text, search)) is not None:
            self.budget.step()
            found = _array_at(self.text, start, self.doomed)
            if found is None:
                search = start.start() + 1  # not an array: the `[` is text
                continue
            self._read_text(done, start.start())
            self._end_run()
            self._add(self._take_label(), found[0], self._line(start.start()))
            done = search = found[1]
        self._read_text(done, len(self.text))
        self._end_run()
        return self.blocks

    def _read_text(self, begin: int, end: int) -> None:
        """Read the text between arrays: label lines, number-only lines, `label: numbers`."""
        first = self._line(begin)
        last = self.text.count("\n", begin, end)  # the index of the last line
        for index, piece in enumerate(lines(self.text, begin, end)):
            self.budget.step()
            tokens = _split(piece)
            after_array = index == 0 and begin > 0 and self.text[begin - 1] != "\n"
            before_array = index == last and end < len(self.text)
            if not tokens:
                continue  # blank lines neither label nor end a run
            if after_array or before_array:
                self._end_run()
                self.label.append(piece)  # text sharing a line with an array is label text
            elif all(_NUMBER_RE.fullmatch(token) for token in tokens):
                if not self.run:
                    self.run_start = (first + index, self._take_label())
                self.run.extend(tokens)
            elif (labelled := _labelled(piece)) is not None:
                self._end_run()
                self.label.append(labelled[0])
                self._add(self._take_label(), labelled[1], first + index)
            else:
                self._end_run()
                self.label.append(piece)

    def _end_run(self) -> None:
        """Close the current run of number-only lines as a 1-D block."""
        if self.run:
            line, label = self.run_start
            self._add(label, self.run, line)
            self.run = []

    def _take_label(self) -> str:
        """The label text gathered since the last block, cleaned; starts a new one."""
        words = [
            word for part in self.label if any(map(str.isalnum, part)) for word in part.split()
        ]
        self.label = []  # parts without a letter or digit are rules (`-----`) or CSV quotes
        while words and words[-1].strip(_LABEL_EDGES) in ("", "is", "are"):
            words.pop()
        return " ".join(words).strip(_LABEL_EDGES)

    def _add(self, label: str, nested: _Nested | list[str], line: int) -> None:
        """Append a block; a ragged or summarised array becomes 1-D."""
        self.budget.block(len(self.blocks))
        tokens: list[str] = []
        shape = _shape(nested, tokens)
        values = to_floats(tokens).reshape(shape if shape is not None else (-1,))
        self.blocks.append(PrintedBlock(label, values, tokens, line))

    def _line(self, position: int) -> int:
        """The 1-based line of a position in the text."""
        return bisect.bisect_left(self.newlines, position) + 1


def _split(text: str) -> list[str]:
    """The tokens of text between whitespace and commas."""
    return text.replace(",", " ").split()


def _labelled(piece: str) -> tuple[str, list[str]] | None:
    """Split `LABEL: 1 2 3` or `LABEL = 0.5` at its last `:` or `=`; None if not that form."""
    cut = max(piece.rfind(":"), piece.rfind("="))
    tokens = _split(piece[cut + 1 :])
    if cut < 0 or not tokens or not all(map(_NUMBER_RE.fullmatch, tokens)):
        return None
    return piece[:cut], tokens


def _array_at(text: str, start: re.Match[str], doomed: set[int]) -> tuple[_Nested, int] | None:
    """The nested tokens of the array at `start` and where it ends, or None if it is not one."""
    if start["call"] is None:
        return _brackets(text, start.start(), doomed)
    scalar = _SCALAR.match(text, start.end())
    opening = _OPENING.match(text, start.end())
    if scalar is not None:
        data: tuple[_Nested, int] | None = (scalar[1], scalar.end(1))
    elif opening is not None:
        data = _brackets(text, opening.end() - 1, doomed)
    else:
        return None
    if data is None:
        return None
    suffix = _SUFFIX.match(text, data[1])  # without a closing `)`, end at the data
    return (data[0], suffix.end()) if suffix else data


def _brackets(text: str, position: int, doomed: set[int]) -> tuple[_Nested, int] | None:
    """Parse the `[...]` at `position` into nested lists of number tokens (and `...` marks).

    On failure every `[` still open fails at the same place, so all go into `doomed` and are
    not parsed again: each character is parsed at most twice (and tried twice as part of a
    row of numbers), however the brackets nest.
    """
    stack: list[tuple[int, list[_Nested]]] = []
    while position not in doomed and (token := _IN_ARRAY.match(text, position)) is not None:
        if token["open"]:
            if len(stack) == _MAX_DEPTH:
                break
            row = _ROW.match(text, position)
            numbers: list[_Nested] = [*_split(row[0][1:-1])] if row else []
            stack.append((position, numbers))
            if row:
                position = row.end() - 1  # its `]` closes it
                continue
        elif token["close"]:
            done = stack.pop()[1]
            if not stack:
                return done, token.end()
            stack[-1][1].append(done)
        elif token["number"] or token["ellipsis"]:
            stack[-1][1].append(token[0])
        position = token.end()
    doomed.update(start for start, _ in stack)
    return None


def _shape(nested: _Nested | list[str], tokens: list[str]) -> tuple[int, ...] | None:
    """Collect the number tokens in order; return the shape, or None if ragged or summarised."""
    if isinstance(nested, str):
        if nested == "...":
            return None
        tokens.append(nested)
        return ()
    if list not in map(type, nested) and "..." not in nested:  # a row of numbers, at once
        tokens.extend(cast("list[str]", nested))
        return (len(nested),)
    shapes = [_shape(item, tokens) for item in nested]
    if not shapes:
        return (0,)
    if shapes[0] is None or any(shape != shapes[0] for shape in shapes):
        return None
    return (len(nested), *shapes[0])
