"""Tests of the `grade` CLI, run in-process through grader.cli.main."""

from __future__ import annotations

import argparse
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
from pages import README, pages, section

from grader.assignment import load_assignment
from grader.cli import _parser, main
from grader.dat import read_dat

EXAMPLES = Path(__file__).parent.parent / "submissions"


def _subcommands() -> dict[str, str | None]:
    """Each subcommand of `grade` with its help text, from the parser itself."""
    parser = _parser()
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    helps = {choice.dest: choice.help for choice in action._choices_actions}
    assert set(helps) == set(action.choices)
    return helps


SUBCOMMANDS = list(_subcommands())


# --- grade reference ------------------------------------------------------------------------


def test_reference_hw02_1_writes_inputs_and_three_steps_of_gradients(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`grade reference` writes the inputs and the gradients at every SGD step, and says so."""
    out = tmp_path / "ref"
    assert main(["reference", "--assignment", "hw02-1", "--out", str(out)]) == 0
    stdout = capsys.readouterr().out
    assert stdout == (
        f"hw02-1, seed 0:\n  wrote {out / 'inputs.dat'}\n  wrote {out / 'torch_autograd.dat'}\n"
    )

    inputs = read_dat(out / "inputs.dat")
    assert {name: a.shape for name, a in inputs.items()} == {
        "x": (1,),
        "y": (1,),
        "W1": (2, 1),
        "b1": (2,),
        "W2": (2, 2),
        "b2": (2,),
        "W3": (1, 2),
        "b3": (1,),
    }
    assert inputs["x"].tolist() == [2.0]
    assert inputs["W2"].tolist() == [[1.0, 1.0], [1.0, 1.0]]
    assert inputs["b1"].tolist() == [-0.5, -0.5]

    gradients = read_dat(out / "torch_autograd.dat")
    assert list(gradients) == [
        f"step{step}.{kind}{layer}" for step in range(3) for layer in (1, 2, 3) for kind in "Wb"
    ]
    assert gradients["step0.W1"].tolist() == [[14.0], [14.0]]


def test_reference_bs6207_a1_writes_one_gradient_per_layer_without_step_prefix(
    tmp_path: Path,
) -> None:
    """With no SGD steps the gradient blocks are W1, b1, ..., W11, b11 in PyTorch's layout."""
    out = tmp_path / "ref"
    assert main(["reference", "--assignment", "bs6207-a1", "--out", str(out)]) == 0
    gradients = read_dat(out / "torch_autograd.dat")
    sizes = (10, *[21] * 10, 1)
    expected = {}
    for layer in range(1, 12):
        expected[f"W{layer}"] = (sizes[layer], sizes[layer - 1])
        expected[f"b{layer}"] = (sizes[layer],)
    assert {name: a.shape for name, a in gradients.items()} == expected
    assert list(gradients) == list(expected)
    assert gradients["W1"].shape == (21, 10) and gradients["W11"].shape == (1, 21)


def _reference_bytes(out: Path, *seed: str) -> dict[str, bytes]:
    """Run `grade reference` for bs6207-a1 into `out` and return the files it wrote."""
    assert main(["reference", "--assignment", "bs6207-a1", "--out", str(out), *seed]) == 0
    return {name: (out / name).read_bytes() for name in ("inputs.dat", "torch_autograd.dat")}


def test_reference_seed_changes_the_values(tmp_path: Path) -> None:
    """`--seed 7` draws other inputs, hence other gradients, than the assignment's own seed."""
    _reference_bytes(tmp_path / "default")
    _reference_bytes(tmp_path / "seed7", "--seed", "7")
    for name in ("inputs.dat", "torch_autograd.dat"):
        default = read_dat(tmp_path / "default" / name)
        seeded = read_dat(tmp_path / "seed7" / name)
        assert list(default) == list(seeded)
        assert not np.array_equal(default["W1"], seeded["W1"])


def test_reference_same_seed_gives_byte_identical_files(tmp_path: Path) -> None:
    """Generating the reference twice from one seed gives byte-identical files."""
    first = _reference_bytes(tmp_path / "first", "--seed", "7")
    second = _reference_bytes(tmp_path / "second", "--seed", "7")
    assert first == second


def test_reference_seed_is_named_in_the_output(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The first line of output names the assignment and the seed used, default or given."""
    main(["reference", "--assignment", "sigmoid-d2", "--out", str(tmp_path / "a")])
    default_seed = load_assignment("sigmoid-d2").seed
    assert capsys.readouterr().out.startswith(f"sigmoid-d2, seed {default_seed}:\n")
    main(["reference", "--assignment", "sigmoid-d2", "--out", str(tmp_path / "b"), "--seed", "3"])
    assert capsys.readouterr().out.startswith("sigmoid-d2, seed 3:\n")


def test_reference_out_that_is_a_file_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`--out` naming an existing regular file exits 2 with a message naming that path."""
    out = tmp_path / "taken"
    out.write_text("not a folder\n")
    assert main(["reference", "--assignment", "hw02-1", "--out", str(out)]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == (
        f"grade: error: {out}: exists and is not a folder; give --out a folder to write into\n"
    )
    assert out.read_text() == "not a folder\n"


@pytest.mark.parametrize(
    ("seed", "reason"),
    [
        pytest.param("-1", "-1 is negative; a seed is 0 or more", id="negative"),
        pytest.param("abc", "'abc' is not a whole number; give e.g. --seed 7", id="not a number"),
        pytest.param("1.5", "'1.5' is not a whole number; give e.g. --seed 7", id="fraction"),
    ],
)
def test_reference_bad_seed_is_an_argparse_error(
    seed: str, reason: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A `--seed` that is not a whole number of 0 or more exits 2, naming --seed and why."""
    argv = ["reference", "--assignment", "hw02-1", "--out", str(tmp_path), f"--seed={seed}"]
    with pytest.raises(SystemExit) as caught:
        main(argv)
    assert caught.value.code == 2
    assert f"error: argument --seed: {reason}\n" in capsys.readouterr().err


def test_reference_unknown_assignment_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """An assignment that is neither a preset nor a file exits 2 and writes nothing."""
    out = tmp_path / "ref"
    assert main(["reference", "--assignment", "hw2", "--out", str(out)]) == 2
    assert re.match(r"grade: error: hw2: no such assignment; ", capsys.readouterr().err)
    assert not out.exists()


# --- grade assignments ----------------------------------------------------------------------


def test_assignments_lists_the_presets(capsys: pytest.CaptureFixture[str]) -> None:
    """`grade assignments` prints one line per preset: its name, then its title."""
    assert main(["assignments"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in lines] == ["bs6207-a1", "hw02-1", "sigmoid-d2"]
    assert lines[1].endswith(load_assignment("hw02-1").title)


def test_assignments_shows_one_preset(capsys: pytest.CaptureFixture[str]) -> None:
    """`grade assignments hw02-1` shows the 1-2-2-1 network, its data, init and training."""
    assert main(["assignments", "hw02-1"]) == 0
    shown = dict(
        re.split(r"\s{2,}", line, maxsplit=1) for line in capsys.readouterr().out.splitlines()
    )
    assert shown["network"] == "1-2-2-1, relu after each hidden Linear, linear output"
    assert shown["data"] == "x = [2.0], y = [1.0]"
    assert shown["init"] == "constant: weights 1.0, biases -0.5"
    assert shown["training"] == "2 SGD updates, lr 0.01"


def test_assignments_shows_a_uniform_preset(capsys: pytest.CaptureFixture[str]) -> None:
    """A preset with drawn data shows its range, its seed and its network kwargs."""
    assert main(["assignments", "bs6207-a1"]) == 0
    out = capsys.readouterr().out
    assert "x ~ U[0.0, 1.0]^10, y = sum(x^2)/d, seed 6207" in out
    assert "network.build_network(d=10, K=10)" in out


def test_assignments_bad_file_names_file_and_field(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`grade assignments bad.toml` exits 2 naming the file, the field and what is allowed."""
    bad = tmp_path / "bad.toml"
    bad.write_text(
        'name = "bad"\ntitle = "Bad"\n[network]\ninput_dim = 2\nhidden = [3]\n'
        'activation = "relu6"\n[data]\nkind = "uniform"\n'
    )
    assert main(["assignments", str(bad)]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == (
        f"grade: error: {bad}: network.activation = 'relu6'; expected one of relu, sigmoid, tanh\n"
    )


# --- help -----------------------------------------------------------------------------------


def test_a_command_is_required(capsys: pytest.CaptureFixture[str]) -> None:
    """`grade` with no subcommand exits 2 and shows the usage."""
    with pytest.raises(SystemExit) as caught:
        main([])
    assert caught.value.code == 2
    assert capsys.readouterr().err.startswith("usage: grade")


@pytest.mark.parametrize("name", SUBCOMMANDS)
def test_every_subcommand_has_help_text(name: str) -> None:
    """Each subcommand has a one-line help for the top-level `grade --help`."""
    assert (_subcommands()[name] or "").strip()


@pytest.mark.parametrize(
    "argv",
    [
        pytest.param(["--help"], id="top-level"),
        *(pytest.param([n, "--help"], id=n) for n in SUBCOMMANDS),
    ],
)
def test_help_exits_0(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    """`--help`, top-level or of a subcommand, prints the usage and exits 0."""
    with pytest.raises(SystemExit) as caught:
        main(argv)
    assert caught.value.code == 0
    usage = capsys.readouterr().out
    expected = (
        "usage: grade PATH..." if argv[0] in ("--help", "grade") else f"usage: grade {argv[0]}"
    )
    assert usage.startswith(expected)


def test_top_level_help_lists_every_subcommand(capsys: pytest.CaptureFixture[str]) -> None:
    """`grade --help` names every subcommand with its help."""
    with pytest.raises(SystemExit):
        main(["--help"])
    out = " ".join(capsys.readouterr().out.split())
    for name, help_text in _subcommands().items():
        assert f"{name} {' '.join((help_text or '').split())}" in out


@pytest.mark.parametrize("name", SUBCOMMANDS)
def test_every_subcommand_is_in_the_readme_commands_table(name: str) -> None:
    """README.md's commands table shows every subcommand as `grade <name>`."""
    assert re.search(rf"\bgrade {re.escape(name)}\b", section(README, "Commands"))


@pytest.mark.parametrize("name", SUBCOMMANDS)
def test_every_subcommand_is_documented(name: str) -> None:
    """Every subcommand is shown as `grade <name>` in README.md or a page of docs/."""
    text = "\n".join(page.read_text(encoding="utf-8") for page in pages())
    assert re.search(rf"\bgrade {re.escape(name)}\b", text)


# --- what `grade` prints ----------------------------------------------------------------------


def test_folder_names_cannot_drive_the_terminal(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """An escape sequence in a folder name (retitle, clear the screen) and a newline that would
    forge a progress line are printed as escapes; so is a path quoted in an error message."""
    evil = "evil\x1b]0;pwned\x07\x1b[2J\x9b31m"
    forged = "forged\n[9] mallory                          10 / 10   all checks pass"
    for name in (evil, forged):
        shutil.copytree(EXAMPLES / "correct", tmp_path / "class" / name)
    reports = tmp_path / "reports"
    argv = [str(tmp_path / "class"), "--assignment", "bs6207-a1", "--reports", str(reports)]
    assert main([*argv, "--jobs", "1"]) == 0
    out = capsys.readouterr().out
    assert not re.search("[\x00-\x09\x0b-\x1f\x7f-\x9f]", out)
    lines = out.splitlines()
    assert [line[:5] for line in lines[:2]] == ["[1/2]", "[2/2]"]
    assert not any(line.startswith("[9]") for line in lines)
    assert "evil\\x1b]0;pwned\\x07\\x1b[2J\\x9b31m" in out
    assert "forged\\n[9] mallory" in out
    assert main([str(tmp_path / "no\x1b[2Jsuch"), "--assignment", "bs6207-a1"]) == 2
    assert "no\\x1b[2Jsuch: no such folder" in capsys.readouterr().err
