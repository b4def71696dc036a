"""Tests of grader.dat: the canonical .dat format, read strictly and written exactly."""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from grader import dat
from grader.dat import format_dat, param_name, parse_dat, read_dat, write_dat
from grader.errors import DatFormatError

Array = npt.NDArray[np.float64]


def assert_same(actual: Array, expected: Array) -> None:
    """Assert two arrays have the same shape, dtype, values, NaNs and signs of zero."""
    assert actual.dtype == np.float64
    assert actual.shape == expected.shape
    assert np.array_equal(actual, expected, equal_nan=True)
    numbers = ~np.isnan(expected)  # the sign of a NaN is not kept: repr() writes `nan`
    assert np.array_equal(np.signbit(actual[numbers]), np.signbit(expected[numbers]))


def round_trip(blocks: dict[str, Array]) -> dict[str, Array]:
    """Format `blocks` and parse the text back."""
    return parse_dat(format_dat(blocks))


# --- round trips ----------------------------------------------------------------------------

SHAPES = {
    "1-D": (5,),
    "1-D one value": (1,),
    "2-D": (3, 4),
    "2-D column": (4, 1),
    "2-D row": (1, 4),
    "3-D": (2, 3, 4),
    "4-D": (2, 1, 2, 3),
}


@pytest.mark.parametrize("shape", SHAPES.values(), ids=SHAPES.keys())
def test_round_trip_keeps_shape_and_values(shape: tuple[int, ...]) -> None:
    """Formatting then parsing gives back each array with its shape, bit for bit."""
    rng = np.random.default_rng(6207)
    blocks = {"W1": rng.standard_normal(shape), "b1": rng.uniform(-1, 1, shape[-1])}
    parsed = round_trip(blocks)
    assert list(parsed) == ["W1", "b1"]
    for name, array in blocks.items():
        assert_same(parsed[name], array)


EXTREMES = {
    "smallest subnormal": 5e-324,
    "largest finite": 1.7976931348623157e308,
    "smallest normal": 2.2250738585072014e-308,
    "negative zero": -0.0,
    "one third": 1 / 3,
    "0.1": 0.1,
    "2**53 + 2": 2.0**53 + 2,
    "nan": float("nan"),
    "inf": float("inf"),
    "-inf": float("-inf"),
}


@pytest.mark.parametrize("value", EXTREMES.values(), ids=EXTREMES.keys())
def test_round_trip_extreme_floats(value: float) -> None:
    """Extreme and awkward float64 values read back exactly, including -0.0, nan and inf."""
    parsed = round_trip({"x": np.array([value, -value])})["x"]
    assert_same(parsed, np.array([value, -value]))
    if np.isnan(value):
        assert np.isnan(parsed).all()


@settings(max_examples=150, deadline=None)
@given(
    hnp.arrays(
        np.float64,
        hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=5),
        elements=st.floats(allow_nan=True, allow_infinity=True, width=64),
    )
)
def test_round_trip_any_float64_array(array: Array) -> None:
    """Any float64 array survives format then parse, with NaNs in place and zeros' signs kept."""
    assert_same(round_trip({"step0.W1": array})["step0.W1"], array)


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.sampled_from("W1b2x .-+e#nai\t\r\n_0E9\ufeff\x00é"), max_size=60))
def test_parse_raises_only_dat_format_error(text: str) -> None:
    """Arbitrary text either parses or raises DatFormatError, never another exception."""
    try:
        parse_dat(text)
    except DatFormatError as error:
        assert error.line is not None


def test_format_layout() -> None:
    """The writer prints comments, then a header and one line per row of the last dimension."""
    blocks = {
        "W1": np.array([[1.0, -0.5], [1e-05, 0.1]]),
        "b1": np.array([0.0, -0.0]),
        "t": np.arange(8.0).reshape(2, 2, 2),
        "n": np.array([3]),
    }
    assert format_dat(blocks, comments=["seed 0", ""]) == (
        "# seed 0\n"
        "#\n"
        "W1 2 2\n"
        "1.0 -0.5\n"
        "1e-05 0.1\n"
        "b1 2\n"
        "0.0 -0.0\n"
        "t 2 2 2\n"
        "0.0 1.0\n"
        "2.0 3.0\n"
        "4.0 5.0\n"
        "6.0 7.0\n"
        "n 1\n"
        "3.0\n"
    )


def test_format_empty() -> None:
    """No blocks and no comments format as an empty file, which parses as no blocks."""
    assert format_dat({}) == ""
    assert parse_dat("") == {}
    assert parse_dat("# only a comment\n\n   \n") == {}


BAD_BLOCKS = {
    "bad name": ({"1W": np.ones(2)}, "block name '1W'"),
    "name nan": ({"NaN": np.ones(2)}, "block name 'NaN'"),
    "name with a dash": ({"W-1": np.ones(2)}, "block name 'W-1'"),
    "0-d array": ({"x": np.array(1.0)}, "block 'x' is 0-d"),
    "empty dimension": ({"x": np.ones((2, 0))}, r"block 'x' has shape \(2, 0\)"),
    "complex values": ({"x": np.ones(2, dtype=complex)}, "block 'x' has dtype complex128"),
}


@pytest.mark.parametrize(("blocks", "message"), BAD_BLOCKS.values(), ids=BAD_BLOCKS.keys())
def test_format_rejects_bad_blocks(blocks: dict[str, Array], message: str) -> None:
    """A bad name, a 0-d array, an empty dimension or a non-real dtype is a ValueError."""
    with pytest.raises(ValueError, match=message):
        format_dat(blocks)


def test_format_rejects_comment_with_line_break() -> None:
    """A comment holding a line break would corrupt the file, so it is a ValueError."""
    with pytest.raises(ValueError, match="line break"):
        format_dat({}, comments=["one\nW1 1"])


# --- files ----------------------------------------------------------------------------------


def test_write_then_read(tmp_path: Path) -> None:
    """write_dat then read_dat gives back the blocks, in order, and leaves no temp file."""
    blocks = {"step0.W1": np.eye(3) / 7, "step0.b1": np.array([-0.0, 1e300, -5e-324])}
    path = tmp_path / "grads.dat"
    write_dat(path, blocks, comments=["reference"])
    parsed = read_dat(path)
    assert list(parsed) == list(blocks)
    for name, array in blocks.items():
        assert_same(parsed[name], array)
    assert os.listdir(tmp_path) == ["grads.dat"]


def test_write_is_byte_identical(tmp_path: Path) -> None:
    """Writing the same blocks twice gives byte-identical files with LF endings."""
    rng = np.random.default_rng(0)
    blocks = {"W1": rng.standard_normal((4, 3)), "b1": rng.standard_normal(4)}
    write_dat(tmp_path / "a.dat", blocks, comments=["seed 0"])
    write_dat(tmp_path / "b.dat", {k: v.copy() for k, v in blocks.items()}, comments=["seed 0"])
    first = (tmp_path / "a.dat").read_bytes()
    assert first == (tmp_path / "b.dat").read_bytes()
    assert b"\r" not in first and first.endswith(b"\n")


def test_write_replaces_existing_file(tmp_path: Path) -> None:
    """write_dat replaces a file that is already there."""
    path = tmp_path / "x.dat"
    path.write_text("old contents\n")
    write_dat(path, {"x": np.array([1.5])})
    assert path.read_text() == "x 1\n1.5\n"


def test_read_refuses_big_file(tmp_path: Path) -> None:
    """A file bigger than max_bytes is refused, the message saying its size and the limit."""
    path = tmp_path / "big.dat"
    path.write_text("x 3\n1 2 3\n")  # 10 bytes
    with pytest.raises(DatFormatError, match="the file is 10 bytes; the limit is 9 bytes") as info:
        read_dat(path, max_bytes=9)
    assert info.value.path == path
    assert info.value.line is None
    assert list(read_dat(path, max_bytes=10)) == ["x"]


def test_read_refuses_non_utf8(tmp_path: Path) -> None:
    """Bytes that are not UTF-8 are refused, naming the byte, its offset and its line."""
    path = tmp_path / "latin1.dat"
    path.write_bytes(b"# caf\xe9\r\nx 1\r\n1\r\n")
    with pytest.raises(DatFormatError, match="byte 0xe9 at byte offset 5 is not UTF-8") as info:
        read_dat(path)
    assert info.value.line == 1
    path.write_bytes(b"\xef\xbb\xbfx 1\n\n\xff\n")
    with pytest.raises(DatFormatError, match="byte 0xff at byte offset 8 ") as info:
        read_dat(path)
    assert info.value.line == 3


def test_read_strips_bom_and_keeps_utf8_comments(tmp_path: Path) -> None:
    """A UTF-8 byte-order mark is ignored and UTF-8 comments are fine."""
    path = tmp_path / "bom.dat"
    path.write_bytes("\ufeff# écrit par Zoë\nx 2\n1 2\n".encode())
    assert_same(read_dat(path)["x"], np.array([1.0, 2.0]))


# --- what the reader accepts ----------------------------------------------------------------

LAYOUTS = {
    "LF": "W1 2 2\n1 2\n3 4\nb1 2\n5 6\n",
    "CRLF": "W1 2 2\r\n1 2\r\n3 4\r\nb1 2\r\n5 6\r\n",
    "CR": "W1 2 2\r1 2\r3 4\rb1 2\r5 6\r",
    "CR CR LF": "W1 2 2\r\r\n1 2\r\r\n3 4\r\r\nb1 2\r\r\n5 6\r\r\n",
    "mixed endings": "W1 2 2\n1 2\r\n3 4\rb1 2\r\r\n5 6",
    "no final newline": "W1 2 2\n1 2\n3 4\nb1 2\n5 6",
    "BOM": "\ufeffW1 2 2\n1 2\n3 4\nb1 2\n5 6\n",
    "tabs and trailing spaces": "W1\t2 2  \n\t1\t2\t\n  3    4 \t\nb1 2\n5 6   \n",
    "comment lines": "# gradients\nW1 2 2\n# row 1\n1 2\n3 4\n  # indented\nb1 2\n5 6\n#",
    "end-of-line comments": "W1 2 2 # dL/dW1\n1 2 # first row\n3 4#no space\nb1 2#\n5 6\n",
    "blank lines": "\n\nW1 2 2\n\n1 2\n   \n\t\n3 4\n\nb1 2\n5 6\n\n\n",
    "one value per line": "W1 2 2\n1\n2\n3\n4\nb1 2\n5\n6\n",
    "all on one line": "W1 2 2\n1 2 3 4\nb1 2\n5 6\n",
    "rows split oddly": "W1 2 2\n1\n2 3\n4\nb1 2\n5\n6\n",
    "leading zeros in dims": "W1 02 2\n1 2\n3 4\nb1 002\n5 6\n",
    "value spellings": "W1 2 2\n+1 2.\n3.0E0 .4e1\nb1 2\n5.000 6e+0\n",
}


@pytest.mark.parametrize("text", LAYOUTS.values(), ids=LAYOUTS.keys())
def test_reader_accepts_layouts(text: str) -> None:
    """Line endings, BOM, tabs, comments, blank lines and any spread of values all read."""
    parsed = parse_dat(text)
    assert list(parsed) == ["W1", "b1"]
    assert_same(parsed["W1"], np.array([[1.0, 2.0], [3.0, 4.0]]))
    assert_same(parsed["b1"], np.array([5.0, 6.0]))


VALUES = {
    "integer": ("1", 1.0),
    "negative zero integer": ("-0", -0.0),
    "negative zero": ("-0.0", -0.0),
    "positive zero": ("+0", 0.0),
    "explicit plus": ("+1.5", 1.5),
    "leading dot": (".5", 0.5),
    "trailing dot": ("5.", 5.0),
    "small exponent": ("1e-05", 1e-05),
    "capital exponent": ("1E+3", 1000.0),
    "repr of third": ("0.3333333333333333", 1 / 3),
    "subnormal": ("5e-324", 5e-324),
    "largest finite": ("1.7976931348623157e+308", 1.7976931348623157e308),
    "overflow": ("1e999", float("inf")),
    "inf": ("inf", float("inf")),
    "minus inf": ("-inf", float("-inf")),
    "Infinity": ("Infinity", float("inf")),
    "minus INFINITY": ("-INFINITY", float("-inf")),
    "plus Inf": ("+Inf", float("inf")),
    "nan": ("nan", float("nan")),
    "NaN": ("NaN", float("nan")),
    "minus nan": ("-nan", float("nan")),
}


@pytest.mark.parametrize(("token", "value"), VALUES.values(), ids=VALUES.keys())
def test_reader_value_spellings(token: str, value: float) -> None:
    """Each spelling of a value reads as the float it means, keeping the sign of zero."""
    parsed = parse_dat(f"x 1\n{token}\n")["x"]
    if np.isnan(value):
        assert np.isnan(parsed[0])
    else:
        assert_same(parsed, np.array([value]))


def test_negative_zero_keeps_sign() -> None:
    """`-0` and `-0.0` read as negative zero, `0` as positive zero."""
    parsed = parse_dat("z 3\n-0 -0.0 0\n")["z"]
    assert list(np.signbit(parsed)) == [True, True, False]
    assert (parsed == 0).all()


NAMES = {
    "weights": "W1",
    "bias": "b12",
    "input": "x",
    "step prefix": "step0.W1",
    "underscore": "_hidden_2",
    "nan-like name": "nanny",
    "inf-like name": "info",
    "letter e": "e5",
}


@pytest.mark.parametrize("name", NAMES.values(), ids=NAMES.keys())
def test_reader_header_names(name: str) -> None:
    """Names matching `[A-Za-z_][A-Za-z0-9_.]*`, other than nan/inf/infinity, start blocks."""
    assert list(parse_dat(f"{name} 1\n7\n")) == [name]


def test_reader_returns_writable_c_arrays() -> None:
    """The arrays are float64, C-contiguous and writable, so callers may use them freely."""
    array = parse_dat("W1 2 3\n1 2 3 4 5 6\n")["W1"]
    assert array.dtype == np.float64 and array.flags.c_contiguous and array.flags.writeable
    assert array.tolist() == [[1, 2, 3], [4, 5, 6]]


# --- what the reader refuses ----------------------------------------------------------------

TIMES = "\N{MULTIPLICATION SIGN}"
VALUE_HINT = "a value is a decimal number such as `0.5`"
BAD_INPUTS = {
    "values before header": (
        "# comment\n1 2 3\nW1 3\n1 2 3\n",
        2,
        "values before any block header; start a block with a line such as `W1 21 10`",
    ),
    "too few values": (
        "x 1\n0\n\nW1 21 10\n" + "0.5 " * 209 + "\nb1 1\n0\n",
        4,
        re.escape(f"block `W1 21 10` (line 4) holds 209 values; expected 210 = 21 {TIMES} 10"),
    ),
    "too few values at end of file": (
        "b1 3\n1 2\n",
        1,
        r"block `b1 3` \(line 1\) holds 2 values; ",
    ),
    "one value instead of 4": ("W1 2 2\n1\n", 1, f"holds 1 value; expected 4 = 2 {TIMES} 2$"),
    "header then header": ("W1 2 2\nb1 2\n1 2\n", 1, "block `W1 2 2` .* holds 0 values"),
    "too many values": (
        "W1 2 2\n1 2\n3 4\n5 6\nb1 1\n0\n",
        4,
        "block `W1 2 2` \\(line 1\\) has too many values: this line brings the count to 6; "
        f"expected 4 = 2 {TIMES} 2",
    ),
    "too many in the last block": ("W1 1\n1\n2\n3\n", 3, "brings the count to 2; expected 1 "),
    "duplicate name": (
        "W1 1\n1\nb1 1\n2\nW1 1\n3\n",
        5,
        "block `W1` appears twice, on lines 1 and 5; each name may appear once",
    ),
    "header without dims": (
        "W1\n1 2\n",
        1,
        "block header `W1` has no dimensions; write the shape after the name, e.g. `W1 21 10`",
    ),
    "header without dims after comment strip": ("W1 # 2 2\n1 2\n", 1, "`W1` has no dim"),
    "non-integer dim": ("W1 2.0 3\n", 1, "block header `W1 2.0 3`: dimension `2.0` is not a"),
    "word dim": ("W1 two\n", 1, "dimension `two` is not a positive integer"),
    "zero dim": ("W1 3 0\n", 1, "dimension `0` is not a positive integer"),
    "negative dim": ("W1 -3\n", 1, "dimension `-3` is not a positive integer"),
    "signed dim": ("W1 +3\n", 1, "dimension `\\+3` is not a positive integer"),
    "comma dims": ("W1 21,10\n", 1, "dimension `21,10` is not a positive integer"),
    "huge dim": ("W1 1" + "0" * 30 + "\n", 1, "dimension `10{30}` is too large"),
    "bad name": ("W1-2 3\n1 2 3\n", 1, "`W1-2` is neither a value nor a block name; block names"),
    "name starting with digit": ("2W 3\n", 1, "`2W` is neither a value nor a block name"),
    "nan as a name": ("nan 2\n1 2\n", 1, "values before any block header"),
    "underscore digits": ("x 2\n2 1_000\n", 2, f"`1_000` is not a value; {VALUE_HINT}"),
    "comma decimal": ("x 2\n1 0,5\n", 2, "`0,5` is not a value"),
    "comma separated": ("x 2\n1,2\n", 2, "`1,2` is neither a value nor a block name"),
    "hex float": ("x 2\n1 0x1p3\n", 2, "`0x1p3` is not a value"),
    "bare exponent": ("x 2\n1 1e\n", 2, "`1e` is not a value"),
    "lone sign": ("x 2\n1 -\n", 2, "`-` is not a value"),
    "lone dot": ("x 2\n1 .\n", 2, "`\\.` is not a value"),
    "two signs": ("x 2\n1 --1\n", 2, "`--1` is not a value"),
    "brackets": ("x 2\n[1 2]\n", 2, "`\\[1` is neither a value"),
    "trailing junk": ("x 2\n1 2.0f\n", 2, "`2.0f` is not a value"),
    "arabic digits": ("x 2\n1 \u0661\n", 2, "`\u0661` is not a value"),
    "non-breaking space": ("x 2\n1\u00a02\n", 2, r"`1\\xa02` is neither a value"),
    "stray BOM": ("x 2\n1\n\ufeff2\n", 3, r"`\\ufeff2` is neither a value"),
    "tensor repr": (
        "x 1\ntensor(1.)\n",
        2,
        "`tensor\\(1\\.\\)` is neither a value nor a block name",
    ),
    "long token": ("x 1\n1" + "x" * 100 + "\n", 2, "`1x{38}…` is neither"),
    "error on CR line": ("x 2\r1\r\r\n2\rjunk!\r", 4, "`junk!` is neither"),
}


@pytest.mark.parametrize(("text", "line", "message"), BAD_INPUTS.values(), ids=BAD_INPUTS.keys())
def test_reader_refuses_bad_input(text: str, line: int, message: str) -> None:
    """Each malformed input raises DatFormatError naming the line and what is wrong."""
    with pytest.raises(DatFormatError, match=message) as info:
        parse_dat(text, path="grads.dat")
    assert info.value.line == line
    assert str(info.value).startswith(f"grads.dat, line {line}: ")


def test_reader_error_without_path() -> None:
    """Without a path the error says `<dat>` and keeps path None."""
    with pytest.raises(DatFormatError, match=re.escape("<dat>, line 2: `1x` is neither")) as info:
        parse_dat("W1 1\n1x\n")
    assert info.value.path is None


# --- the block reader and the line reader agree --------------------------------------------

EDITS = [" ", "\t", "\n", "\r", "\r\n", "\r\r\n", "#", "# c\n", "e", "E5", "nan", "inf", "x"]
EDITS += [".", "-", "+", "1", "0", "1e", "W9 1\n", "b1 2\n", "\ufeff", "\u00e9", "\x0b", ","]


@settings(max_examples=300, deadline=None)
@given(
    hnp.arrays(np.float64, st.integers(1, 6), elements=st.floats(allow_nan=False, width=64)),
    st.lists(st.tuples(st.floats(0, 1), st.sampled_from(EDITS), st.booleans()), max_size=4),
)
def test_plain_reader_reads_as_the_line_reader(
    values: Array, edits: list[tuple[float, str, bool]]
) -> None:
    """Text the writer wrote, then edited here and there, reads the same block at a time as
    line by line, or the block reader leaves it to the line reader (which may refuse it)."""
    text = format_dat({"W1": values.reshape(1, -1), "b1": values[::-1]}, comments=["c"])
    for where, edit, insert in edits:
        at = int(where * len(text))
        text = text[:at] + edit + text[at + (0 if insert else len(edit)) :]
    plain = dat._parse_plain(text)
    if not edits and np.isfinite(values).all():
        assert plain is not None  # the writer's own text is read a block at a time
    if plain is None:
        return
    lines = dat._parse_lines(text, None)
    assert [(b.name, b.tokens, b.line) for b in plain] == [
        (b.name, b.tokens, b.line) for b in lines
    ]
    for ours, theirs in zip(plain, lines, strict=True):
        assert_same(ours.values, theirs.values)


@given(st.text(alphabet="\r\na", max_size=30))
def test_to_lf_reads_line_endings_as_the_reader_does(text: str) -> None:
    """to_lf turns LF, CRLF, CR and CR CR LF into one LF each, as the line reader splits."""
    assert dat.to_lf(text) == re.sub("\r?\r\n|\r|\n", "\n", text)


# --- names ----------------------------------------------------------------------------------

PARAM_NAMES = {
    "first weights": (("W", 1, None), "W1"),
    "third bias": (("b", 3, None), "b3"),
    "bias at step 1": (("b", 3, 1), "step1.b3"),
    "weights at step 0": (("W", 1, 0), "step0.W1"),
    "layer 12 at step 10": (("W", 12, 10), "step10.W12"),
}


@pytest.mark.parametrize(("args", "name"), PARAM_NAMES.values(), ids=PARAM_NAMES.keys())
def test_param_name(args: tuple[str, int, int | None], name: str) -> None:
    """param_name spells a layer's parameter, optionally prefixed by its SGD step."""
    kind, layer, step = args
    assert param_name(kind, layer, step) == name  # type: ignore[arg-type]  # kind from a table
    assert list(parse_dat(f"{name} 1\n0\n")) == [name]


BAD_PARAMS = {
    "layer 0": (("W", 0, None), "layers are numbered from 1"),
    "negative step": (("b", 1, -1), "steps are numbered from 0"),
    "unknown kind": (("w", 1, None), "expected 'W' or 'b'"),
}


@pytest.mark.parametrize(("args", "message"), BAD_PARAMS.values(), ids=BAD_PARAMS.keys())
def test_param_name_refuses(args: tuple[str, int, int | None], message: str) -> None:
    """A layer below 1, a negative step or a kind other than W/b is a ValueError."""
    kind, layer, step = args
    with pytest.raises(ValueError, match=message):
        param_name(kind, layer, step)  # type: ignore[arg-type]  # deliberately wrong kind
