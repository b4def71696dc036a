"""The library behind the CLI: one function per thing a TA or a platform asks of `grade`."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path

from grader import batch, homework, notebook
from grader.assignment import Assignment
from grader.batch import Progress, default_jobs, grade_class
from grader.dat import write_dat
from grader.errors import GradeError
from grader.files import shown, student_name
from grader.result import GradeResult
from grader.truth import GroundTruth, ground_truth

__all__ = [
    "GroundTruth",
    "Progress",
    "default_jobs",
    "find_submissions",
    "grade_class",
    "grade_paths",
    "grade_submission",
    "ground_truth",
    "submission",
    "write_reference",
]


def write_reference(assignment: Assignment, out: Path, seed: int | None = None) -> list[Path]:
    """Write out/inputs.dat (what students get) and out/torch_autograd.dat (the ground truth)."""
    truth = ground_truth(assignment, seed)
    if out.exists() and not out.is_dir():
        raise GradeError(f"{out}: exists and is not a folder; give --out a folder to write into")
    out.mkdir(parents=True, exist_ok=True)
    about = _about(assignment, truth)
    inputs, gradients = out / "inputs.dat", out / "torch_autograd.dat"
    write_dat(inputs, truth.input_blocks, comments=inputs_comments(assignment, truth))
    steps = assignment.training.steps
    write_dat(
        gradients,
        truth.gradient_blocks,
        comments=[
            "grade reference: the ground truth, in float64",
            *about,
            "dL/dW and dL/db of every Linear layer, each W in PyTorch's (out, in) layout",
            *(
                [
                    f"stepN.: the gradient at SGD step N (0 to {steps}), lr "
                    f"{assignment.training.learning_rate}"
                ]
                if steps
                else []
            ),
        ],
    )
    return [inputs, gradients]


def _about(assignment: Assignment, truth: GroundTruth) -> list[str]:
    net = assignment.network
    return [
        f"assignment {assignment.name}: {' '.join(assignment.title.split())}",  # one line
        f"seed {truth.seed}; network {'-'.join(map(str, net.sizes))}, {net.activation} hidden, "
        f"{net.output_activation} output; loss {assignment.loss}",
    ]


def inputs_comments(assignment: Assignment, truth: GroundTruth) -> list[str]:
    """The comments of inputs.dat, the file students are given (`grade reference`, the kit)."""
    return [
        "grade reference: the inputs",
        *_about(assignment, truth),
        "x: the data point; y: its label; W1 b1 W2 b2 ...: the initial parameters,",
        "numbered from the input layer, each W in PyTorch's (out, in) layout",
    ]


def _markers(assignment: Assignment) -> set[str]:
    """The files of the contract, any of which makes a folder a submission."""
    contract = assignment.contract
    return {
        contract.network_module.replace(".", "/") + ".py",
        contract.backprop_module.replace(".", "/") + ".py",
        contract.torch_dat,
        contract.my_dat,
    }


def _holds_files(path: Path, assignment: Assignment) -> bool:
    return any((path / marker).exists() for marker in _markers(assignment)) or bool(
        notebook.handed_in(path, assignment.contract).notebooks
    )


def find_submissions(paths: Sequence[Path], assignment: Assignment) -> list[Path]:
    """Each PATH is a submission (it holds a contract file or a notebook) or a folder of
    submissions."""
    markers = _markers(assignment)
    found: list[Path] = []
    for path in paths:
        if not path.is_dir():
            raise GradeError(f"{path}: no such folder; give a submission or a folder of them")
        if _holds_files(path, assignment):
            found.append(Path(os.path.abspath(path)))  # `grade .` is named after its folder
            continue
        inside = sorted(
            p for p in path.iterdir() if p.is_dir() and not p.name.startswith((".", "_"))
        )
        if not inside:
            raise GradeError(
                f"{path}: holds neither {' nor '.join(sorted(markers))} nor a notebook "
                f"(*{notebook.SUFFIX}) nor submission folders"
            )
        found += inside
    names: dict[str, Path] = {}
    for folder in found:
        name = student_name(folder)
        if name in names:
            raise GradeError(
                f"two submissions are named {name}: {shown(str(names[name]))} and "
                f"{shown(str(folder))}; reports are kept by folder name, so grade them separately"
            )
        names[name] = folder
    return found


def submission(path: Path, assignment: Assignment) -> Path:
    """PATH as one submission, never a class (`grade PATH --github`, a Gradescope upload): it
    holds the contract's files, or exactly one folder below it does (grader.homework: grading
    finds it again, and names the student after PATH). GradeError if neither, or if several
    folders do."""
    if not path.is_dir():
        raise GradeError(f"{path}: no such folder; give the submission's folder")
    if not _holds_files(path, assignment):
        found = homework.find(path, assignment.contract)
        if found.problem:
            raise GradeError(f"{shown(str(path))}: {found.problem}")
        if not found.below:
            raise GradeError(
                f"{shown(str(path))}: holds neither {' nor '.join(sorted(_markers(assignment)))}"
                f" nor a notebook (*{notebook.SUFFIX}), at its top or in a folder below it"
            )
    return Path(os.path.abspath(path))  # `grade .` is named after its folder


def grade_submission(folder: Path, assignment: Assignment, reports: Path) -> GradeResult:
    """Grade one submission and write reports/<student>/report.html and result.json."""
    return batch.grade_one(folder, assignment, reports)


def grade_paths(
    paths: Sequence[Path],
    assignment: Assignment,
    reports: Path,
    jobs: int = 1,
    force: bool = False,
    on_progress: Callable[[Progress], None] = lambda progress: None,
) -> list[GradeResult]:
    """Grade every submission under `paths` (see grade_class)."""
    folders = find_submissions(paths, assignment)
    return grade_class(folders, assignment, reports, jobs, force, on_progress)
