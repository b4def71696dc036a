"""The canonical .dat format: named blocks of float64 values, read strictly and written exactly.

A file is a sequence of blocks. A header line `NAME DIM [DIM ...]` starts a block and the
values that follow fill it row by row (C order), spread over lines in any way:

    # dL/dW and dL/db of a 2-3-1 network
    W1 3 2
    0.5 -0.25
    1e-05 0.0
    -0.0 nan
    b1 3
    0.1 0.2 0.3

`#` starts a comment anywhere on a line; blank lines are ignored; values are separated by
spaces or tabs. Names match `[A-Za-z_][A-Za-z0-9_.]*` (`W1`, `b3`, `x`, `step1.W2`) and may
not be `nan`, `inf` or `infinity`, which are values. A line whose first token is a name is a
header; any other line holds values. LF, CRLF, CR and CR CR LF line endings all read, as does
a UTF-8 byte-order mark.

The writer prints each value as `repr(float(v))`, the shortest string that reads back to the
same float64, so the same arrays give the same bytes on every machine.
"""

from __future__ import annotations

import codecs
import math
import os
import re
import time
from array import array
from collections.abc import Iterator, Mapping, Sequence
from itertools import islice
from pathlib import Path
from typing import Literal, NamedTuple, TypeAlias

import numpy as np
import numpy.typing as npt

from grader.errors import DatFormatError, DatLimitError
from grader.files import write_atomic

Blocks: TypeAlias = dict[str, npt.NDArray[np.float64]]
"""Arrays by block name, in file order; each float64 with its header's shape."""

NAME_PATTERN = "[A-Za-z_][A-Za-z0-9_.]*"
_NAME = re.compile(NAME_PATTERN, re.ASCII)
_NOT_NAMES = frozenset({"nan", "inf", "infinity"})
# Decimal floats as `repr(float)` writes them and their common variants (`.5`, `5.`, `1E+3`,
# `+1`), nan and inf. Deliberately stricter than float(), which also takes `1_000`, `0x1p3`
# or non-ASCII digits. re.ASCII keeps IGNORECASE from matching U+0131 (dotless i) in `inf`.
_VALUE = re.compile(
    r"[+-]?(?:(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?|nan|inf|infinity)",
    re.ASCII | re.IGNORECASE,
)
# A line of values only, checked at once (the common case): values split by spaces or tabs.
_VALUES = re.compile(
    rf"[ \t]*(?:{_VALUE.pattern})(?:[ \t]+(?:{_VALUE.pattern}))*[ \t]*", re.ASCII | re.IGNORECASE
)
_DIM = re.compile("[0-9]+", re.ASCII)
_MAX_DIM_DIGITS = 18
_TIMES = "\N{MULTIPLICATION SIGN}"
_TOKEN = re.compile(r"[^ \t]+")
# A header line of the plain layout (see _parse_plain), after its newline; blank or comment
# lines, then such a header, start a plain text.
_PLAIN_HEADER = re.compile(rf"\n({NAME_PATTERN})((?:[ \t]+[0-9]+)+)[ \t]*(?=\n|\Z)", re.ASCII)
_PLAIN_VALUE_BYTES = b"0123456789+-.eE \t\n"  # all a plain block's values are made of
_NAME_AT_LINE_START = re.compile(r"\n[ \t]*[eE]")
_COMMENT = re.compile(r"#[^\n]*")
_PLAIN_START = re.compile(rf"(?:[ \t]*(?:#[^\r\n]*)?(?:\r\n|\r|\n))*{NAME_PATTERN}[ \t]+[0-9]")
# Order matters: CR CR LF (what Windows text mode makes of CRLF) is one line ending.
_LINE_END = re.compile(r"\r?\r\n|\r|\n")
_LINE_END_BYTES = re.compile(rb"\r?\r\n|\r|\n")
_VALUE_HINT = "a value is a decimal number such as `0.5`, `-3`, `1e-05`, or `nan`, `inf`, `-inf`"


MAX_BLOCKS = 100_000  # in one file; a gradient file holds one per weight and bias
READ_SECONDS = 10.0  # to read one file


class Budget:
    """What reading one file may take, in blocks and in seconds: past either, DatLimitError
    naming the file and the limit (a hostile file of millions of tiny blocks costs no more)."""

    def __init__(self, path: Path | str | None) -> None:
        self.path = path
        self.seconds = READ_SECONDS
        self.deadline = time.monotonic() + READ_SECONDS
        self.steps = 0

    def block(self, read: int) -> None:
        """One more block, after `read` blocks of this reading."""
        if read >= MAX_BLOCKS:
            raise DatLimitError(
                f"holds more than {MAX_BLOCKS:,} blocks; a gradient file holds one block per "
                "weight and bias (write each run to a fresh file)",
                path=self.path,
            )
        self.step()

    def step(self) -> None:
        """One more step of reading (a line, a block): the clock is looked at every 1,024."""
        self.steps += 1
        if self.steps % 1024 == 0 and time.monotonic() > self.deadline:
            raise DatLimitError(
                f"took more than {self.seconds:g} s to read; a gradient file holds one block "
                "per weight and bias",
                path=self.path,
            )


def is_name(name: str) -> bool:
    """Whether `name` can name a block: it matches NAME_PATTERN and is not nan/inf/infinity."""
    return _NAME.fullmatch(name) is not None and name.lower() not in _NOT_NAMES


def param_name(kind: Literal["W", "b"], layer: int, step: int | None = None) -> str:
    """The block name of a layer's weights or bias: ("W", 1) -> "W1", ("b", 3, 1) -> "step1.b3".

    Layers are numbered from 1 at the input layer; `step` prefixes the SGD step (from 0).
    """
    if kind not in ("W", "b"):
        raise ValueError(f"kind = {kind!r}; expected 'W' or 'b'")
    if layer < 1:
        raise ValueError(f"layer = {layer}; layers are numbered from 1 at the input layer")
    if step is None:
        return f"{kind}{layer}"
    if step < 0:
        raise ValueError(f"step = {step}; steps are numbered from 0")
    return f"step{step}.{kind}{layer}"


def gradient_blocks(
    steps: Sequence[tuple[Sequence[npt.ArrayLike], Sequence[npt.ArrayLike]]], *, prefixed: bool
) -> Blocks:
    """Name each step's (dW, db) as blocks W1, b1, W2, b2, ... (`step0.W1`, ... if prefixed)."""
    blocks: Blocks = {}
    for step, (dW, db) in enumerate(steps):
        for layer, (w, b) in enumerate(zip(dW, db, strict=True), start=1):
            at = step if prefixed else None
            blocks[param_name("W", layer, at)] = np.asarray(w, dtype=np.float64)
            blocks[param_name("b", layer, at)] = np.asarray(b, dtype=np.float64)
    return blocks


# --- reading ------------------------------------------------------------------------------


class DatBlock(NamedTuple):
    """One block as read: its values, and the values as written (to judge their precision)."""

    name: str
    values: npt.NDArray[np.float64]
    tokens: list[str]
    line: int  # of the header


def parse_dat(text: str, *, path: Path | str | None = None) -> Blocks:
    """Parse .dat text into arrays by block name; raise DatFormatError naming the line at fault.

    `path` only labels the errors. Text without blocks (empty, or only comments) gives {}.
    """
    return {block.name: block.values for block in parse_dat_blocks(text, path=path)}


def parse_dat_blocks(
    text: str, *, path: Path | str | None = None, budget: Budget | None = None
) -> list[DatBlock]:
    """parse_dat, block by block with the tokens as written and the header's line; within
    `budget` (a Budget of its own if None)."""
    budget = budget or Budget(path)
    text = text.removeprefix(codecs.BOM_UTF8.decode())
    plain = _parse_plain(text, budget)
    return plain if plain is not None else _parse_lines(text, path, budget)


def _lf_without_comments(text: str) -> str:
    """The lines of the text as _parse_lines reads them: LF endings, comments dropped."""
    text = to_lf(text)
    return _COMMENT.sub("", text) if "#" in text else text


def to_lf(text: str) -> str:
    """The text with each line ending (LF, CRLF, CR, or CR CR LF) as one LF."""
    if "\r" not in text:
        return text
    crlf = text.replace("\r\n", "\n")  # the common case, faster than the regex
    return crlf if "\r" not in crlf else _LINE_END.sub("\n", text)


def _parse_plain(text: str, budget: Budget | None = None) -> list[DatBlock] | None:
    """The blocks of text in the writer's plain layout, read a block at a time; None for any
    other text (a header not at the start of its line, a count that is not the header's, nan,
    a bad value, a name twice...), which `_parse_lines` reads, or rejects with the line at
    fault. Where both read a text, they read the same blocks.

    Plain, once line endings are LF and comments dropped: blank lines, then blocks, each a
    header line `NAME DIM ...` and lines of ASCII decimal numbers separated by spaces or tabs.
    """
    if not _PLAIN_START.match(text):
        return None  # told at once for most text that is not plain
    text = "\n" + _lf_without_comments(text)  # so that every header follows a newline
    if not text.isascii():
        return None
    budget = budget or Budget(None)
    headers = list(islice(_PLAIN_HEADER.finditer(text), MAX_BLOCKS + 1))
    if not headers or text[: headers[0].start()].strip(" \t\n"):
        return None  # no blocks, or something before the first
    if len(headers) > MAX_BLOCKS:
        return None  # _parse_lines says so, at the line past the limit
    found: list[tuple[str, tuple[int, ...], list[str], int]] = []  # name, dims, tokens, line
    every: list[str] = []  # the tokens of all blocks, read as numbers at once
    line = counted = 0
    for header, after in zip(headers, [*headers[1:], None], strict=True):
        budget.step()
        name, dim_tokens = header[1], header[2].split()
        if name.lower() in _NOT_NAMES or any(len(t) > _MAX_DIM_DIGITS for t in dim_tokens):
            return None
        dims = tuple(map(int, dim_tokens))
        body = text[header.end() : after.start() if after else len(text)]
        if 0 in dims or body.encode().translate(None, _PLAIN_VALUE_BYTES):
            return None  # a zero dim, or a character that is no part of a number
        if _NAME_AT_LINE_START.search(body):
            return None  # a line starting like a name (`e5`) is a header to _parse_lines
        tokens = body.split()
        if len(tokens) != math.prod(dims):
            return None
        line += text.count("\n", counted, header.start() + 1)  # the header's newline counts
        counted = header.start() + 1
        found.append((name, dims, tokens, line))
        every += tokens
    if len({name for name, *_ in found}) < len(found):
        return None  # a name twice
    try:
        values = to_floats(every)
    except ValueError:  # `1.2.3`, `--1`, `1e`
        return None
    blocks, at = [], 0
    for name, dims, tokens, line in found:
        blocks.append(DatBlock(name, values[at : at + len(tokens)].reshape(dims), tokens, line))
        at += len(tokens)
    return blocks


def lines(text: str, begin: int = 0, end: int | None = None) -> Iterator[str]:
    """The LF-separated lines of text[begin:end], one at a time (a split would hold millions)."""
    end = len(text) if end is None else end
    while (newline := text.find("\n", begin, end)) >= 0:
        yield text[begin:newline]
        begin = newline + 1
    yield text[begin:end]


def to_floats(tokens: list[str]) -> npt.NDArray[np.float64]:
    """float() of each token, each distinct token converted once (most are `0.0`); ValueError
    if one is not a number."""
    distinct = {token: float(token) for token in set(tokens)}
    return np.fromiter(map(distinct.__getitem__, tokens), np.float64, len(tokens))


def _parse_lines(
    text: str, path: Path | str | None, budget: Budget | None = None
) -> list[DatBlock]:
    """parse_dat_blocks line by line: any text, and the error at the first line at fault."""
    budget = budget or Budget(path)
    blocks: list[DatBlock] = []
    header_lines: dict[str, int] = {}
    block: _Block | None = None
    for number, line in enumerate(lines(to_lf(text)), start=1):
        budget.step()
        content = line.partition("#")[0]
        if block is not None and _VALUES.fullmatch(content):  # no value is a name
            block.add(content.split(), number, path)
            continue
        tokens = _TOKEN.findall(content)
        if not tokens:
            continue
        if is_name(tokens[0]):
            if block is not None:
                blocks.append(block.finish(path))
            budget.block(len(blocks))
            block = _Block.start(tokens, number, path)
            if block.name in header_lines:
                raise DatFormatError(
                    f"block `{block.name}` appears twice, on lines {header_lines[block.name]} "
                    f"and {number}; each name may appear once",
                    line=number,
                    path=path,
                )
            header_lines[block.name] = number
            continue
        if not all(map(_VALUE.fullmatch, tokens)):
            raise _bad_token(tokens, number, path)
        if block is None:
            raise DatFormatError(
                "values before any block header; start a block with a line such as `W1 21 10`",
                line=number,
                path=path,
            )
        block.add(tokens, number, path)
    if block is not None:
        blocks.append(block.finish(path))
    return blocks


def read_dat(path: Path | str, *, max_bytes: int = 16 * 1024 * 1024) -> Blocks:
    """Read a UTF-8 .dat file of at most `max_bytes` bytes; see parse_dat.

    A file that is too big or not UTF-8 raises DatFormatError; OSError (a missing file, say)
    propagates for the caller to report.
    """
    with open(path, "rb") as file:
        size = os.fstat(file.fileno()).st_size
        data = file.read(max_bytes + 1) if size <= max_bytes else b""
    if size > max_bytes or len(data) > max_bytes:
        shown = f"{size:,} bytes" if size > max_bytes else f"more than {max_bytes:,} bytes"
        raise DatFormatError(f"the file is {shown}; the limit is {max_bytes:,} bytes", path=path)
    start = len(codecs.BOM_UTF8) if data.startswith(codecs.BOM_UTF8) else 0
    try:
        text = data[start:].decode("utf-8")
    except UnicodeDecodeError as error:
        offset = start + error.start
        line = len(_LINE_END_BYTES.findall(data, 0, offset)) + 1
        raise DatFormatError(
            f"byte 0x{data[offset]:02x} at byte offset {offset} is not UTF-8; "
            "save the file as UTF-8 (plain ASCII is fine)",
            line=line,
            path=path,
        ) from None
    return parse_dat(text, path=path)


class _Block:
    """A block being read: its header and the values so far."""

    def __init__(self, name: str, dims: tuple[int, ...], line: int) -> None:
        self.name = name
        self.dims = dims
        self.line = line
        self.size = math.prod(dims)
        self.values = array("d")
        self.tokens: list[str] = []

    @classmethod
    def start(cls, tokens: list[str], line: int, path: Path | str | None) -> _Block:
        """Check a header line's dims and open its block."""
        name, dim_tokens = tokens[0], tokens[1:]
        if not dim_tokens:
            raise DatFormatError(
                f"block header `{name}` has no dimensions; write the shape after the name, "
                f"e.g. `{name} 21 10`",
                line=line,
                path=path,
            )
        for token in dim_tokens:
            digits = token.lstrip("0")  # int() refuses over 4300 digits, so count them first
            if _DIM.fullmatch(token) is None or not digits:
                reason = "is not a positive integer"
            elif len(digits) > _MAX_DIM_DIGITS:
                reason = f"is too large (at most {_MAX_DIM_DIGITS} digits)"
            else:
                continue
            raise DatFormatError(
                f"block header `{_quote(' '.join(tokens))}`: dimension {_quote_token(token)} "
                f"{reason}",
                line=line,
                path=path,
            )
        return cls(name, tuple(int(token.lstrip("0")) for token in dim_tokens), line)

    @property
    def header(self) -> str:
        """The header as the writer prints it, e.g. `W1 21 10`."""
        return " ".join([self.name, *map(str, self.dims)])

    def expected(self) -> str:
        """The expected count for a message: the size, then for 2-D and up the product of dims."""
        if len(self.dims) == 1:
            return str(self.size)
        return f"{self.size} = {f' {_TIMES} '.join(map(str, self.dims))}"

    def add(self, tokens: list[str], line: int, path: Path | str | None) -> None:
        """Append one line's (already checked) values, refusing more than the header allows."""
        count = len(self.values) + len(tokens)
        if count > self.size:
            raise DatFormatError(
                f"block `{self.header}` (line {self.line}) has too many values: this line "
                f"brings the count to {count}; expected {self.expected()} "
                "(is a block header missing?)",
                line=line,
                path=path,
            )
        self.values.extend(map(float, tokens))
        self.tokens += tokens

    def finish(self, path: Path | str | None) -> DatBlock:
        """The block as read, once its count is checked against the header."""
        if len(self.values) != self.size:
            count = len(self.values)
            raise DatFormatError(
                f"block `{self.header}` (line {self.line}) holds {count} "
                f"value{'' if count == 1 else 's'}; expected {self.expected()}",
                line=self.line,
                path=path,
            )
        values = np.array(self.values, dtype=np.float64).reshape(self.dims)
        return DatBlock(self.name, values, self.tokens, self.line)


def _bad_token(tokens: list[str], line: int, path: Path | str | None) -> DatFormatError:
    """The error for the first token of a value line that is not a value."""
    index, token = next((i, t) for i, t in enumerate(tokens) if not _VALUE.fullmatch(t))
    if index == 0:
        reason = (
            f"{_quote_token(token)} is neither a value nor a block name; block names match "
            f"`{NAME_PATTERN}`, and {_VALUE_HINT}"
        )
    else:
        reason = f"{_quote_token(token)} is not a value; {_VALUE_HINT}"
    return DatFormatError(reason, line=line, path=path)


def _quote(text: str, limit: int = 40) -> str:
    """`text` shortened to `limit` characters, with unprintable characters escaped."""
    shown = text if len(text) <= limit else text[: limit - 1] + "…"
    return shown if shown.isprintable() else repr(shown)[1:-1]


def _quote_token(token: str) -> str:
    """A token in backticks, for a message."""
    return f"`{_quote(token)}`"


# --- writing ------------------------------------------------------------------------------


def format_dat(blocks: Mapping[str, npt.ArrayLike], *, comments: Sequence[str] = ()) -> str:
    """The .dat text of `blocks`: `# comment` lines, then per block a header and its rows.

    Each row of the last dimension is one line of `repr(float(v))` values separated by one
    space, with LF endings and a final newline. Bad names, 0-d arrays, empty dimensions,
    non-real values and comments with line breaks raise ValueError (a programming error).
    """
    lines: list[str] = []
    for comment in comments:
        if "\n" in comment or "\r" in comment:
            raise ValueError(f"comment {comment!r} has a line break; pass one string per line")
        lines.append(f"# {comment}" if comment else "#")
    for name, values in blocks.items():
        if not isinstance(name, str) or not is_name(name):
            raise ValueError(
                f"block name {name!r} must match `{NAME_PATTERN}` and not be nan/inf/infinity"
            )
        array_ = np.asarray(values)
        if array_.dtype.kind not in "biuf":
            raise ValueError(f"block {name!r} has dtype {array_.dtype}; expected real numbers")
        if array_.ndim == 0:
            raise ValueError(f"block {name!r} is 0-d; write a scalar as shape (1,)")
        if 0 in array_.shape:
            raise ValueError(f"block {name!r} has shape {array_.shape}; every dim must be >= 1")
        lines.append(" ".join([name, *map(str, array_.shape)]))
        rows = array_.astype(np.float64).reshape(-1, array_.shape[-1]).tolist()
        lines.extend(" ".join(map(repr, row)) for row in rows)
    return "".join(line + "\n" for line in lines)


def write_dat(
    path: Path | str, blocks: Mapping[str, npt.ArrayLike], *, comments: Sequence[str] = ()
) -> None:
    """Write format_dat(blocks, comments=comments) to `path` atomically (temp file, os.replace)."""
    write_atomic(Path(path), format_dat(blocks, comments=comments).encode("utf-8"))
