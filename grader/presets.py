"""Assignments by name, and the points of each check, read with the standard library alone.

GitHub Classroom's action needs an assignment's checks and points before grade is installed
(a run that stops while installing, or is cancelled, must still report 0 of the real
maximum): `grader.exports.runners` reads them through this module, which imports nothing
but the standard library. `grader.assignment` validates the same file in full.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

PRESETS = Path(__file__).parent / "assignments"

# The checks in the order every output lists them, and the points of each when the
# assignment's [points] table does not give them. Check ids are part of the result format.
DEFAULT_POINTS: dict[str, float] = {
    "network-architecture": 2,
    "autograd-gradients": 2,
    "backprop-gradients": 4,
    "no-autograd": 1,
    "dat-files": 1,
    "graph-explanation": 0,
}


def preset_names() -> list[str]:
    """The assignments that ship with grade, by name."""
    return sorted(p.stem for p in PRESETS.glob("*.toml"))


def assignment_file(name_or_path: str | Path) -> Path | None:
    """The TOML file of a preset name (`bs6207-a1`) or a path; None for a name that is no
    preset. A path is taken as given: whether it exists is for the reader to say."""
    path = Path(name_or_path)
    if path.suffix == ".toml" or path.exists():
        return path
    preset = PRESETS / f"{name_or_path}.toml"
    return preset if preset.exists() else None


def points(name_or_path: str | Path) -> dict[str, float]:
    """The points of every check, by check id, as the assignment gives them (defaults filled
    in). Raises OSError, UnicodeDecodeError, tomllib.TOMLDecodeError, or ValueError naming
    what is wrong; `grader.assignment` says it better, once grade is installed."""
    path = assignment_file(name_or_path)
    if path is None:
        raise ValueError(f"{name_or_path}: no such assignment ({', '.join(preset_names())})")
    given = tomllib.loads(path.read_text(encoding="utf-8")).get("points", {})
    if not isinstance(given, dict):
        raise ValueError(f"{path}: [points] is not a table")
    found = dict(DEFAULT_POINTS)
    for name, value in given.items():
        check = name.replace("_", "-")  # the field's name is accepted too, as in grade
        if check not in found or isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError(f"{path}: [points] {name} = {value!r} is not a check's points")
        found[check] = float(value)
    return found
