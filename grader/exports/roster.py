"""The class roster: which Canvas student each submission folder belongs to.

Submission folders are named however the students or the hand-in system named them; Canvas
knows students by name and ids. A TA writes a CSV that joins the two (or exports the Canvas
gradebook and adds a column): a `folder` column, plus any of `Student`, `ID`, `SIS User ID`,
`SIS Login ID` and `Section`, spelled in any case, with spaces or underscores. Other columns
(a Canvas export's assignments and totals) are ignored, and so are rows with an empty folder
(its `Points Possible` row, students who handed nothing in).

A roster that cannot be used raises `RosterError`, naming the file, the line and the fix.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from grader.errors import GradeError

__all__ = ["CANVAS_COLUMNS", "CanvasStudent", "Roster", "RosterError", "load_roster"]

# Canvas's student columns, in its gradebook's order, and the CanvasStudent field of each.
CANVAS_COLUMNS = {
    "Student": "name",
    "ID": "id",
    "SIS User ID": "sis_user_id",
    "SIS Login ID": "sis_login_id",
    "Section": "section",
}
FOLDER = "folder"
_IDS = ("ID", "SIS User ID", "SIS Login ID")  # each names one Canvas student: no two rows share one


class RosterError(GradeError):
    """A roster CSV that cannot be used: names the file and, where known, the line."""

    def __init__(self, path: Path, message: str, line: int | None = None) -> None:
        self.path = path
        self.line = line
        where = f"{path}, line {line}" if line is not None else str(path)
        super().__init__(f"{where}: {message}")


@dataclass(frozen=True)
class CanvasStudent:
    """How Canvas knows one student; an empty string is an id the roster does not give."""

    name: str = ""
    id: str = ""
    sis_user_id: str = ""
    sis_login_id: str = ""
    section: str = ""

    def cells(self) -> tuple[str, ...]:
        """The values of Canvas's student columns, in CANVAS_COLUMNS order."""
        return tuple(getattr(self, attribute) for attribute in CANVAS_COLUMNS.values())


@dataclass(frozen=True)
class Roster:
    """Canvas students by submission folder name, as read from `path`."""

    path: Path
    students: Mapping[str, CanvasStudent] = field(default_factory=dict)

    def get(self, folder: str) -> CanvasStudent | None:
        """The Canvas student whose submission is `folder`, or None if the roster lacks it."""
        return self.students.get(folder)


def _key(header: str) -> str:
    """A column name as compared: case, spaces and underscores do not count."""
    return re.sub(r"[\s_]+", "", header).casefold()


_KNOWN = {_key(name): name for name in [FOLDER, *CANVAS_COLUMNS]}


def _columns(path: Path, header: list[str]) -> dict[str, int]:
    """Where each known column is: canonical name → index; errors for what cannot work."""
    found: dict[str, int] = {}
    for index, cell in enumerate(header):
        name = _KNOWN.get(_key(cell))
        if name is None:
            continue
        if name in found:
            raise RosterError(
                path,
                f"two columns are both {name!r} ({header[found[name]]!r} and {cell!r}); "
                "keep one of them",
                line=1,
            )
        found[name] = index
    if FOLDER not in found:
        shown = ", ".join(repr(c) for c in header[:8]) + (", ..." if len(header) > 8 else "")
        hint = (
            "; the file looks separated by semicolons: save it with commas"
            if len(header) == 1 and ";" in header[0]
            else ""
        )
        raise RosterError(
            path,
            f"no {FOLDER!r} column (the columns are {shown}){hint}; add a column named "
            f"{FOLDER} holding each student's submission folder name",
            line=1,
        )
    if not any(name in found for name in ("Student", *_IDS)):
        raise RosterError(
            path,
            "no column names the Canvas student; add at least one of Student, ID, SIS User ID, "
            "SIS Login ID (Canvas matches a row by ID, then SIS User ID, then SIS Login ID, "
            "then the exact name)",
            line=1,
        )
    return found


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8-sig")  # Excel's "CSV UTF-8" starts with a BOM
    except UnicodeDecodeError as error:
        raise RosterError(
            path, f"is not UTF-8 text (byte {error.start}); save it as CSV UTF-8"
        ) from None
    except OSError as error:
        raise RosterError(
            path, f"cannot be read ({error.strerror}); give the path of the roster CSV"
        ) from None


def load_roster(path: Path) -> Roster:
    """Read a roster CSV: a `folder` column and any of Canvas's student columns."""
    rows = csv.reader(_read_text(path).splitlines(keepends=True), strict=True)
    try:
        header = next(rows, None)
        if header is None:
            raise RosterError(
                path,
                f"is empty; expected a header line such as {FOLDER},Student,ID,SIS Login ID",
            )
        columns = _columns(path, [cell.strip() for cell in header])
        students: dict[str, CanvasStudent] = {}
        lines: dict[str, int] = {}  # folder → its line
        owners: dict[tuple[str, str], str] = {}  # (id column, value) → folder
        for cells in rows:
            line = rows.line_num
            if not any(cell.strip() for cell in cells):
                continue  # a blank line
            if len(cells) != len(header):
                raise RosterError(
                    path,
                    f"{len(cells)} values, but the header has {len(header)} columns; "
                    'put a value holding a comma in double quotes ("Lovelace, Ada")',
                    line=line,
                )
            values = {name: cells[index].strip() for name, index in columns.items()}
            folder = values.pop(FOLDER)
            if not folder:
                continue  # no submission: Canvas's Points Possible row, an absent student
            if folder in lines:
                raise RosterError(
                    path,
                    f"folder {folder!r} is already on line {lines[folder]}; "
                    "give each submission folder one row",
                    line=line,
                )
            for column in _IDS:
                value = values.get(column, "")
                if not value:
                    continue
                if (column, value) in owners:
                    other = owners[column, value]
                    raise RosterError(
                        path,
                        f"{column} {value!r} is already on line {lines[other]} (folder "
                        f"{other!r}); one Canvas student takes one grade, so keep one row",
                        line=line,
                    )
                owners[column, value] = folder
            lines[folder] = line
            students[folder] = CanvasStudent(
                **{CANVAS_COLUMNS[name]: value for name, value in values.items()}
            )
    except csv.Error as error:
        raise RosterError(path, f"is not valid CSV ({error})", line=rows.line_num) from None
    return Roster(path=path, students=students)
