"""`grade`: a thin argparse layer over grader.api.

Exit codes: 0 done (whatever the scores), 1 with --strict when a check did not pass,
2 bad input (a usage, assignment or path error, with a one-line message).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from grader import api
from grader.assignment import load_assignment, preset_names
from grader.errors import GradeError
from grader.result import GradeResult

EXIT_OK, EXIT_NOT_ALL_PASSED, EXIT_BAD_INPUT = 0, 1, 2
GRADE_USAGE = "grade PATH... --assignment NAME_OR_PATH [--reports DIR] [--strict]"


def _seed(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a whole number; give e.g. --seed 7"
        ) from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"{value} is negative; a seed is 0 or more")
    return value


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="grade",
        usage=f"{GRADE_USAGE}\n       grade COMMAND ...",
        description="Grade neural-network backprop homework against a float64 reference. "
        "`grade PATH...` grades submissions (short for `grade grade PATH...`).",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND", prog="grade")
    presets = ", ".join(preset_names())

    grade = commands.add_parser(
        "grade",
        usage=GRADE_USAGE,
        help="grade submissions (the default: `grade PATH...`)",
        description="Grade each PATH: a submission folder (holding network.py, backprop.py "
        "and the two .dat files) or a folder of submission folders. Writes "
        "DIR/<student>/result.json and report.html.",
    )
    grade.add_argument("paths", nargs="+", type=Path, metavar="PATH", help="what to grade")
    grade.add_argument(
        "--assignment", required=True, metavar="NAME_OR_PATH",
        help=f"a preset ({presets}) or an assignment .toml file",
    )  # fmt: skip
    grade.add_argument(
        "--reports", type=Path, default=Path("reports"), metavar="DIR",
        help="where the reports go (default: reports)",
    )  # fmt: skip
    grade.add_argument(
        "--strict", action="store_true",
        help="exit 1 if any check of any submission did not pass (for CI)",
    )  # fmt: skip

    reference = commands.add_parser(
        "reference",
        help="write an assignment's inputs and ground-truth gradients as .dat files",
        description="Write DIR/inputs.dat (x, y and the initial parameters: what students are "
        "given) and DIR/torch_autograd.dat (dL/dW and dL/db in float64).",
    )
    reference.add_argument(
        "--assignment", required=True, metavar="NAME_OR_PATH",
        help=f"a preset ({presets}) or an assignment .toml file",
    )  # fmt: skip
    reference.add_argument("--out", required=True, type=Path, metavar="DIR", help="folder to write")
    reference.add_argument(
        "--seed", type=_seed, metavar="N", help="seed of the inputs (default: the assignment's)"
    )

    assignments = commands.add_parser(
        "assignments",
        help="list the preset assignments, or check and show one",
        description="Without an argument, list the presets. With a preset name or a .toml "
        "path, validate it and show the network, data and grading it defines.",
    )
    assignments.add_argument("assignment", nargs="?", metavar="NAME_OR_PATH")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; return the exit code (tests call this in-process)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = _parser()
    commands = _commands(parser)
    if argv and argv[0] not in commands and not argv[0].startswith("-"):
        argv.insert(0, "grade")  # `grade PATH...` is `grade grade PATH...`
    args = parser.parse_args(argv)
    try:
        if args.command == "grade":
            return _grade(args)
        if args.command == "reference":
            return _reference(args)
        return _assignments(args)
    except GradeError as error:
        print(f"grade: error: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT


def _commands(parser: argparse.ArgumentParser) -> set[str]:
    for action in parser._actions:  # argparse keeps its subcommands only here
        if isinstance(action, argparse._SubParsersAction):
            return set(action.choices)
    return set()


def _grade(args: argparse.Namespace) -> int:
    assignment = load_assignment(args.assignment)

    def show(result: GradeResult) -> None:
        missed = [f"{c.id} {c.status}" for c in result.checks if c.status != "pass"]
        summary = ", ".join(missed) if missed else "all checks pass"
        print(f"{result.student:<28} {result.score:>5g} / {result.max_score:g}   {summary}")

    results = api.grade_paths(args.paths, assignment, args.reports, on_result=show)
    print(f"reports: {args.reports}/<student>/report.html and result.json")
    if args.strict and not all(result.passed for result in results):
        return EXIT_NOT_ALL_PASSED
    return EXIT_OK


def _reference(args: argparse.Namespace) -> int:
    assignment = load_assignment(args.assignment)
    written = api.write_reference(assignment, args.out, args.seed)
    seed = assignment.seed if args.seed is None else args.seed
    print(f"{assignment.name}, seed {seed}:")
    for path in written:
        print(f"  wrote {path}")
    return EXIT_OK


def _assignments(args: argparse.Namespace) -> int:
    if args.assignment is None:
        for name in preset_names():
            print(f"{name:<12} {load_assignment(name).title}")
        return EXIT_OK
    a = load_assignment(args.assignment)
    net, data = a.network, a.data
    shown = {
        "name": a.name,
        "title": a.title,
        "network": f"{'-'.join(map(str, net.sizes))}, {net.activation} after each hidden "
        f"Linear, {net.output_activation} output",
        "data": f"x ~ U[{data.low}, {data.high}]^{net.input_dim}, y = sum(x^2)/d, seed {a.seed}"
        if data.kind == "uniform"
        else f"x = {data.x}, y = {data.y}",
        "init": "PyTorch default, seeded" if a.init.kind == "pytorch_default"
        else f"constant: weights {a.init.weight}, biases {a.init.bias}",
        "loss": a.loss,
        "training": f"{a.training.steps} SGD updates, lr {a.training.learning_rate}"
        if a.training.steps
        else "one gradient",
        "significant figures": str(a.significant_figures),
        "points": ", ".join(f"{k} {v:g}" for k, v in a.points.model_dump(by_alias=True).items()),
        "student contract": f"{a.contract.network_module}.{a.contract.network_function}("
        + ", ".join(f"{k}={v!r}" for k, v in a.contract.network_kwargs.items())
        + f"), {a.contract.backprop_module}.{a.contract.backprop_function}"
        f"(weights, biases, x, y)",
    }  # fmt: skip
    width = max(map(len, shown))
    for key, value in shown.items():
        print(f"{key:<{width}}  {value}")
    return EXIT_OK


def entry_point() -> None:
    """The `grade` console script."""
    sys.exit(main())
