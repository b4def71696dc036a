"""Where a submission's homework is: the folder given, or the one folder below it that holds the
contract's modules or a notebook.

A student's repository is often more than the homework: `hw1/` beside `data/` and a README,
or the folder a zip was made of. GitHub Classroom hands grade the repository's root and
Gradescope the upload, so when the folder given holds none of the contract's modules and no
notebook, grade looks down (MAX_DOWN folders deep, never into hidden folders, version
control's, caches, `node_modules` or virtual environments, never through a link) for the
folders that do. Exactly one: it is graded, and the result says so ("graded hw1/, the one
folder holding network.py and backprop.py"). Several: none is, and the student is told which
and how to choose. None: the folder given is graded, and its checks say what is missing.

The student is still named after the folder given (the hidden seeds derive from the name).
A class folder is another matter: `grade submissions/` splits it into its students before
any of this (grader.api.find_submissions).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from grader import files, notebook
from grader.assignment import Contract

MAX_DOWN = 3  # folders below the one given: repo/course/hw1 is two
MAX_LOOKED = 2_000  # folders looked into, in all
SKIPPED = files.CACHES | {"node_modules", "site-packages", "venv", "env"}


@dataclass(frozen=True)
class Homework:
    """The folder to grade; `below`, its path under the folder given ("" for that folder
    itself); `note`, what the result says about it; `problem`, why no folder can be graded
    (several hold the files), then `folder` is the one given."""

    folder: Path
    below: str = ""
    note: str = ""
    problem: str | None = None


def find(folder: Path, contract: Contract) -> Homework:
    """The homework of the submission `folder` (see the module's docstring)."""
    if _holds(folder, contract):
        return Homework(folder)
    found = _below(folder, contract)
    if len(found) == 1:
        below = found[0]
        held = _held(folder / below, contract)
        note = f"graded {files.shown(below)}/, the one folder holding {held}"
        return Homework(folder / below, below, note)
    if found:
        shown = ", ".join(f"{files.shown(path)}/" for path in found)
        first = files.shown(found[0])
        problem = (
            f"{len(found)} folders hold {_wanted(contract)}: {shown}; grade grades one: keep "
            f"only your homework's folder, or name the one to grade (grade the folder {first}/ "
            f"itself; in GitHub Classroom, the grade step's input path: {first})"
        )
        return Homework(folder, problem=problem)
    return Homework(folder)


def _holds(folder: Path, contract: Contract) -> bool:
    handed = notebook.handed_in(folder, contract)
    return bool(handed.modules or handed.notebooks)


def _held(folder: Path, contract: Contract) -> str:
    """What a folder found holds, in words: `network.py and backprop.py`, `hw1.ipynb`."""
    handed = notebook.handed_in(folder, contract)
    return " and ".join(files.shown(name) for name in handed.modules or handed.notebooks)


def _wanted(contract: Contract) -> str:
    modules = [file for file, _ in notebook.module_files(contract)]
    return f"{', '.join(modules)} or {contract.notebook or 'a notebook'}"


def _below(folder: Path, contract: Contract) -> list[str]:
    """The folders under `folder` (relative, `/`-separated, in byte order) that hold the
    contract's modules or a notebook, none looked into below one that does."""
    found: list[str] = []
    level = [""]
    looked = 0
    for _ in range(MAX_DOWN):
        deeper = []
        for path in level:
            for name in _folders(folder / path if path else folder):
                looked += 1
                if looked > MAX_LOOKED:
                    return sorted(found, key=os.fsencode)
                inner = f"{path}/{name}" if path else name
                if _holds(folder / inner, contract):
                    found.append(inner)
                else:
                    deeper.append(inner)
        level = deeper
    return sorted(found, key=os.fsencode)


def _folders(folder: Path) -> list[str]:
    """The folders in `folder` a homework may be in: not links, not hidden, no cache, version
    control, `node_modules` or virtual environment; bounded like grader.files' walk."""
    names = []
    try:
        with os.scandir(folder) as entries:
            for count, entry in enumerate(entries):
                if count > files.MAX_ENTRIES:
                    break
                if (
                    entry.is_dir(follow_symlinks=False)
                    and not entry.name.startswith((".", "_"))  # .git, __MACOSX, __pycache__
                    and entry.name not in SKIPPED
                    and not os.path.lexists(os.path.join(entry.path, "pyvenv.cfg"))
                ):
                    names.append(entry.name)
    except OSError:
        return []  # grading the folder given says what cannot be read
    return sorted(names, key=os.fsencode)
