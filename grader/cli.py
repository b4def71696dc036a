"""`grade`: a thin argparse layer over grader.api.

Exit codes: 0 done (whatever the scores), 1 with --strict when a check did not pass,
2 bad input (a usage, assignment or path error, with a one-line message), 130 interrupted
(Ctrl-C) and 143 terminated (SIGTERM): every student graded so far is kept.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import sys
import threading
import traceback
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TextIO

from grader import api, dat_match, dat_verdict, points, starter
from grader.assignment import load_assignment
from grader.compare import agreeing_figures
from grader.errors import GradeError
from grader.exports import github, gradescope, runners
from grader.exports.canvas import grade_column
from grader.exports.class_outputs import CLASS_OUTPUTS, class_results, write_class_outputs
from grader.exports.roster import load_roster
from grader.presets import preset_names
from grader.printable import printable
from grader.result import GradeResult
from grader.truth import ground_truth

EXIT_OK, EXIT_NOT_ALL_PASSED, EXIT_BAD_INPUT = 0, 1, 2
EXIT_INTERRUPTED, EXIT_TERMINATED = 130, 143  # as a shell reports Ctrl-C and SIGTERM
GRADE_USAGE = (
    "grade PATH... --assignment NAME_OR_PATH [--reports DIR] [--strict] [--jobs N] [--force]"
)


def say(text: str, file: TextIO | None = None, flush: bool = False) -> None:
    """Print one line; what it quotes (folder names, paths, messages) cannot drive the terminal."""
    print(printable(text), file=file or sys.stdout, flush=flush)


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


def _canvas_id(text: str) -> int:
    if not text.isdigit():
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a Canvas assignment id; give the number after /assignments/ in "
            "the assignment's Canvas address"
        )
    return int(text)


def _jobs(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of processes, 1 or more")
    return int(text)


def _action(text: str) -> str:
    try:
        return starter.action_reference(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _sig_figs(text: str) -> int:
    if not text.isdigit() or not 2 <= int(text) <= 15:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number from 2 to 15")
    return int(text)


def _assignment_option(command: argparse.ArgumentParser, presets: str) -> None:
    command.add_argument(
        "--assignment", required=True, metavar="NAME_OR_PATH",
        help=f"a preset ({presets}) or an assignment .toml file",
    )  # fmt: skip


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
    _assignment_option(grade, presets)
    grade.add_argument(
        "--reports", type=Path, default=Path("reports"), metavar="DIR",
        help="where the reports go (default: reports)",
    )  # fmt: skip
    grade.add_argument(
        "--strict", action="store_true",
        help="exit 1 if any check of any submission did not pass (for CI)",
    )  # fmt: skip
    grade.add_argument(
        "--jobs", type=_jobs, default=api.default_jobs(), metavar="N",
        help=f"grade N students at a time (default: the cores here, {api.default_jobs()})",
    )  # fmt: skip
    grade.add_argument(
        "--roster", type=Path, metavar="CSV",
        help="a CSV mapping submission folders (column `folder`) to Canvas's Student, ID, "
        "SIS User ID, SIS Login ID and Section, for grades.csv",
    )  # fmt: skip
    grade.add_argument(
        "--canvas-assignment-id", type=_canvas_id, metavar="N",
        help="the assignment's number in its Canvas address, for the grades.csv header",
    )  # fmt: skip
    grade.add_argument(
        "--force", action="store_true",
        help="regrade every student, even those whose submission and assignment are "
        "unchanged since their finished result",
    )  # fmt: skip
    grade.add_argument(
        "--github", action="store_true",
        help="in GitHub Actions, for GitHub Classroom: PATH is one submission; also write the "
        "result to $GITHUB_OUTPUT and $GITHUB_ENV for the Classroom reporter and a table to "
        "$GITHUB_STEP_SUMMARY, and print nothing a workflow could take as a command",
    )  # fmt: skip

    reference = commands.add_parser(
        "reference",
        help="write an assignment's inputs and ground-truth gradients as .dat files",
        description="Write DIR/inputs.dat (x, y and the initial parameters: what students are "
        "given) and DIR/torch_autograd.dat (dL/dW and dL/db in float64).",
    )
    _assignment_option(reference, presets)
    reference.add_argument("--out", required=True, type=Path, metavar="DIR", help="folder to write")
    reference.add_argument(
        "--seed", type=_seed, metavar="N", help="seed of the inputs (default: the assignment's)"
    )

    kit = commands.add_parser(
        "starter",
        help="write the kit students start from: the contract's files, write_dat.py, inputs",
        description="Write into DIR what students start from: network.py and backprop.py with "
        "the contract's functions (raising NotImplementedError), write_dat.py (writes both .dat "
        "files from them), inputs.dat and a README for students; or the same as one notebook.",
    )
    _assignment_option(kit, presets)
    kit.add_argument("--out", required=True, type=Path, metavar="DIR", help="folder to write")
    kit.add_argument(
        "--form", choices=starter.FORMS, default="modules",
        help="modules (network.py, backprop.py, write_dat.py; the default) or one notebook",
    )  # fmt: skip
    kit.add_argument(
        "--classroom", action="store_true",
        help="also the GitHub Classroom workflow (.github/workflows/classroom.yml): DIR is then "
        "the template repository",
    )  # fmt: skip
    kit.add_argument(
        "--action", type=_action, default=starter.ACTION, metavar="OWNER/REPO@REF",
        help="with --classroom: the copy of grade whose action the workflow uses (default: "
        f"{starter.ACTION}, a placeholder to replace)",
    )  # fmt: skip
    kit.add_argument(
        "--solution", action="store_true",
        help="the functions solved, for TAs to check their set-up (keep it private)",
    )  # fmt: skip
    kit.add_argument("--force", action="store_true", help="write into DIR even if it is not empty")

    assignments = commands.add_parser(
        "assignments",
        help="list the preset assignments, or check and show one",
        description="Without an argument, list the presets. With a preset name or a .toml "
        "path, validate it and show the network, data and grading it defines.",
    )
    assignments.add_argument("assignment", nargs="?", metavar="NAME_OR_PATH")

    dat = commands.add_parser(
        "dat",
        help="compare two gradient files to n significant figures and say what was assumed",
        description="Compare two gradient files (canonical .dat, or arrays numpy or torch "
        "printed after free-text labels) tensor by tensor. Prints what was assumed reading "
        "them, a table per tensor and the verdict. Exit 0: they agree; 1: they disagree, or "
        "are printed too coarsely to show it; 2: a file cannot be read.",
    )
    dat.add_argument("a", type=Path, metavar="A", help="a gradient file, e.g. torch_autograd.dat")
    dat.add_argument("b", type=Path, metavar="B", help="the file to compare, e.g. my_autograd.dat")
    dat.add_argument(
        "--assignment", metavar="NAME_OR_PATH",
        help=f"read both as this assignment's W1, b1, ... ({presets}, or a .toml file); "
        "without it, A's blocks give the names and shapes",
    )  # fmt: skip
    dat.add_argument(
        "--sig-figs", type=_sig_figs, metavar="N",
        help="significant figures to agree to (default: the assignment's, else 5)",
    )  # fmt: skip

    autograder = commands.add_parser(
        "gradescope",
        help="build a Gradescope autograder zip for an assignment",
        description="Write a Gradescope autograder zip: setup.sh and run_autograder at its "
        "root, the assignment and grade's own source. Upload it under Configure Autograder; "
        "each submission is graded into results.json, one test per check.",
    )
    autograder.add_argument(
        "--assignment", required=True, metavar="NAME_OR_PATH",
        help=f"a preset ({presets}) or an assignment .toml file (bundled in the zip)",
    )  # fmt: skip
    autograder.add_argument("--out", required=True, type=Path, metavar="ZIP", help="zip to write")
    autograder.add_argument(
        "--visibility", choices=gradescope.VISIBILITIES, default=gradescope.VISIBILITIES[0],
        help="when students see the checks (Gradescope's test visibility; default: visible)",
    )  # fmt: skip
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
        if args.command == "starter":
            return _starter(args)
        if args.command == "dat":
            return _dat(args)
        if args.command == "gradescope":
            return _gradescope(args)
        return _assignments(args)
    except GradeError as error:
        say(f"grade: error: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT


def _commands(parser: argparse.ArgumentParser) -> set[str]:
    for action in parser._actions:  # argparse keeps its subcommands only here
        if isinstance(action, argparse._SubParsersAction):
            return set(action.choices)
    return set()


def _grade(args: argparse.Namespace, graded: list[GradeResult] | None = None) -> int:
    if args.github and graded is None:  # _grade_github guards the log, then calls back here
        return _grade_github(args)
    assignment = load_assignment(args.assignment)
    roster = load_roster(args.roster) if args.roster else None
    grade_column(assignment.title, args.canvas_assignment_id)  # refused now, not after grading
    if args.github:  # one student's repository, its homework found in it when graded
        folders = [api.submission(path, assignment) for path in args.paths]
    else:
        folders = api.find_submissions(args.paths, assignment)
    with ProgressDisplay(len(folders)) as display, _sigterm_as_interrupt():
        try:
            results = api.grade_class(
                folders, assignment, args.reports, args.jobs, args.force, display.show
            )
        except KeyboardInterrupt as stop:
            how = "terminated" if isinstance(stop, Terminated) else "interrupted"
            say(
                f"grade: {how}: {display.done} of {len(folders)} students graded and "
                "kept; run the same command again to grade the rest",
                file=sys.stderr,
            )
            return EXIT_TERMINATED if isinstance(stop, Terminated) else EXIT_INTERRUPTED
    if graded is not None:
        graded += results
    everyone = class_results(results, assignment, args.reports)
    write_class_outputs(
        everyone.results, assignment, args.reports, roster, args.canvas_assignment_id
    )
    for note in everyone.notes(args.reports):
        say(note)
    say(
        f"reports: {args.reports}/<student>/report.html and result.json; for the class, "
        f"{everyone.summary()}: {', '.join(CLASS_OUTPUTS)}"
    )
    if args.strict and not all(result.passed for result in results):
        return EXIT_NOT_ALL_PASSED
    return EXIT_OK


class Terminated(KeyboardInterrupt):
    """SIGTERM to grade, stopping it as Ctrl-C does: workers stopped, what finished kept."""


@contextlib.contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    """While grading, SIGTERM raises Terminated (in the main thread; elsewhere it is left)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def stop(number: int, frame: object) -> None:
        raise Terminated

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


class ProgressDisplay:
    """A line per student on stdout; on a terminal, a progress bar on stderr as well."""

    def __init__(self, total: int) -> None:
        self.bar = None
        if sys.stderr.isatty():
            from tqdm import tqdm  # only here: its import would cost every rerun 40 ms

            self.bar = tqdm(total=total, unit="student", leave=False)
        self.width = len(str(total))
        self.done = 0

    def __enter__(self) -> ProgressDisplay:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.close()

    def show(self, progress: api.Progress) -> None:
        self.done = progress.done
        result = progress.result
        missed = [f"{c.id} {c.status}" for c in result.checks if c.status != "pass"]
        summary = ", ".join(missed) if missed else "all checks pass"
        if progress.reused:
            summary += " (unchanged: kept)"
        line = f"{result.student:<28} {result.score:>5g} / {result.max_score:g}   {summary}"
        if self.bar is None:
            say(f"[{progress.done:>{self.width}}/{progress.total}] {line}", flush=True)
        else:
            self.bar.write(printable(line), file=sys.stdout)
            self.bar.update()
            if progress.done == progress.total:
                self.bar.refresh()  # the last count is shown, however fast it came


def _grade_github(args: argparse.Namespace) -> int:
    """`grade PATH --github`: grade one student's repository for GitHub Classroom.

    The outputs are written whatever happens (an `error` payload when grading cannot finish,
    so the reporter still has tests to show), and all that is printed is guarded."""
    targets = github.Targets.from_environ(os.environ)  # before grading: names the variable
    # the submission's folder from the job's working directory, the repository's root in Actions
    folder = Path(os.path.relpath(args.paths[0])).as_posix() if len(args.paths) == 1 else "."
    args.paths = [path.absolute() for path in args.paths]  # `.` is named after its folder
    code = EXIT_BAD_INPUT
    # every runner the reporter reads gets a payload whatever happens: the workflow's list,
    # and each check with points (read as the action's first step did, before grade ran)
    declared = runners.declared(os.environ)
    plan, _ = runners.plan(args.assignment)
    with github.guarded_log():
        try:
            load_assignment(args.assignment)  # a broken one is said before the paths
            if len(args.paths) != 1:
                raise GradeError(
                    f"--github grades one submission (a student's repository); "
                    f"{len(args.paths)} were given; grade a class without --github"
                )
            graded: list[GradeResult] = []
            code = _grade(args, graded)
            if not graded:
                raise GradeError("grading was interrupted before it finished")
            artifact = os.environ.get(github.ARTIFACT, "")
            classroom = github.Classroom.graded(graded[0], folder, declared, artifact)
            if classroom.warning:
                say(f"grade: warning: {classroom.warning}", file=sys.stderr)
        except GradeError as error:
            say(f"grade: error: {error}", file=sys.stderr)
            classroom = github.Classroom.failed(f"grade: {error}", plan, declared)
        except Exception as error:  # a bug in grade: the student is told, the trace is logged
            for line in traceback.format_exc().splitlines():
                say(line, file=sys.stderr)  # it may quote the student's strings
            code = EXIT_NOT_ALL_PASSED  # as Python exits on an uncaught exception
            classroom = github.Classroom.failed(
                f"grade crashed ({type(error).__name__}: {error}); show this run to your TA",
                plan,
                declared,
            )
        targets.write(classroom)
    for annotation in classroom.annotations:  # commands again: the runner must read these
        print(annotation)
    return code


def _gradescope(args: argparse.Namespace) -> int:
    names = gradescope.build_autograder(args.assignment, args.out, args.visibility)
    say(f"wrote {args.out}: setup.sh, run_autograder, assignment.toml and grade's source")
    say(f"  {len(names)} files; upload it on Gradescope under Configure Autograder")
    return EXIT_OK


def _reference(args: argparse.Namespace) -> int:
    assignment = load_assignment(args.assignment)
    written = api.write_reference(assignment, args.out, args.seed)
    seed = assignment.seed if args.seed is None else args.seed
    say(f"{assignment.name}, seed {seed}:")
    for path in written:
        say(f"  wrote {path}")
    return EXIT_OK


def _starter(args: argparse.Namespace) -> int:
    assignment = load_assignment(args.assignment)
    kit = starter.starter(assignment, args.form, args.classroom, args.solution, args.action)
    written = kit.write(args.out, args.force)
    what = "solved, keep it private" if args.solution else "for students"
    say(f"{assignment.name}, the {args.form} kit ({what}):")
    for path in written:
        say(f"  wrote {path}")
    return EXIT_OK


def _assignments(args: argparse.Namespace) -> int:
    if args.assignment is None:
        for name in preset_names():
            say(f"{name:<12} {load_assignment(name).title}")
            for warning in points.warnings(load_assignment(name), name):
                say(f"grade: warning: {warning}", file=sys.stderr)
        return EXIT_OK
    a = load_assignment(args.assignment)
    for warning in points.warnings(a, args.assignment):
        say(f"grade: warning: {warning}", file=sys.stderr)
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
        say(f"{key:<{width}}  {value}")
    return EXIT_OK


def _dat(args: argparse.Namespace) -> int:
    assignment = load_assignment(args.assignment) if args.assignment else None
    sig_figs = args.sig_figs or (assignment.significant_figures if assignment else 5)
    expected = None
    if assignment is not None:
        truth = ground_truth(assignment).gradient_blocks
        expected = {name: values.shape for name, values in truth.items()}
    a, b = dat_match.read_printed(args.a), dat_match.read_printed(args.b)
    pair = dat_verdict.compare_files(a, b, expected, sig_figs)
    say(f"A  {args.a}")
    say(f"B  {args.b}")
    names = list(pair.expected)
    shown = ", ".join(names) if len(names) <= 4 else f"{names[0]}, {names[1]}, ..., {names[-1]}"
    source = f"{assignment.name}'s" if assignment else "A's blocks,"
    say(f"read as {source} {shown}; {sig_figs} significant figures")
    for side, match in (("A", pair.a), ("B", pair.b)):
        for note in match.notes:
            say(f"  {side}: {note}")
    rows = [("tensor", "shape", "verdict", "figures", "")]
    for t in pair.tensors:
        figures = agreeing_figures(t.comparison.max_relative_error)
        notes = [f"{t.turned} read transposed"] if t.turned else []
        for side, match in (("A", pair.a), ("B", pair.b)):
            if t.verdict != "agree" and (short := match.short.get(t.name)):
                printed = (
                    f"{short.decimals} decimals" if short.decimals else f"{short.fewest} figures"
                )
                notes.append(f"{side} {printed}")
        worst = t.comparison.worst_index
        if t.verdict != "agree" and worst is not None and t.comparison.max_relative_error:
            x, y = pair.a.blocks[t.name], pair.b.blocks[t.name]
            x, y = (x.T if t.turned == "A" else x)[worst], (y.T if t.turned == "B" else y)[worst]
            notes.append(f"worst {list(worst)}: A {x:.8g}, B {y:.8g}")
        shape = "×".join(map(str, pair.expected[t.name]))
        figures_shown = "all" if figures == 17 else str(figures)
        rows.append((t.name, shape, t.verdict, figures_shown, "; ".join(notes)))
    for name in pair.one_sided:
        where = "A" if name in pair.a.blocks else "B"
        rows.append((name, "×".join(map(str, pair.expected[name])), f"only in {where}", "", ""))
    widths = [max(len(row[k]) for row in rows) for k in range(5)]
    for row in rows if len(rows) > 1 else []:
        say("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())
    neither = [n for n in names if n not in pair.a.blocks and n not in pair.b.blocks]
    if neither and len(neither) < len(names):
        say(f"in neither file, not compared: {', '.join(neither)}")
    for side, match in (("A", pair.a), ("B", pair.b)):
        if problem := match.precision_problem(sig_figs):
            say(f"{side}: {problem}")
    say(_verdict(pair, sig_figs))
    return EXIT_OK if pair.verdict == "agree" else EXIT_NOT_ALL_PASSED


def _verdict(pair: dat_verdict.Pair, sig_figs: int) -> str:
    """The last line of `grade dat`: the verdict and why."""
    verdicts = {t.name: t.verdict for t in pair.tensors}
    if pair.verdict == "nothing to compare":
        return "nothing to compare: no block of A or B fits the names expected"
    if pair.verdict == "agree":
        return f"agree: all {len(verdicts)} tensors agree to {sig_figs} significant figures"
    bad = [n for n, v in verdicts.items() if v == "disagree"]
    coarse = [n for n, v in verdicts.items() if v == "cannot show"]
    also = f"; {len(coarse)} more are printed too coarsely to show it" if coarse else ""
    if bad:
        return (
            f"disagree: {_listed(bad)} ({len(bad)} of {len(verdicts)}) "
            f"{'differs' if len(bad) == 1 else 'differ'} at {sig_figs} significant figures by "
            f"more than the printing rounds{also}"
        )
    if pair.one_sided:
        return f"disagree: {_listed(pair.one_sided)} in one file only{also}"
    return (
        f"cannot show {sig_figs} significant figures: {_listed(coarse)} ({len(coarse)} of "
        f"{len(verdicts)}) are printed too coarsely; no entry differs by more than its "
        "printing rounds"
    )


def _listed(names: list[str]) -> str:
    return ", ".join(names) if len(names) <= 5 else f"{', '.join(names[:5])}, ..."


def entry_point() -> None:
    """The `grade` console script."""
    try:
        sys.exit(main())
    except BrokenPipeError:  # `grade ... | head`: the reader is gone, nothing left to say
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(EXIT_OK)
