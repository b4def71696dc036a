"""The errors `grade` raises for a person to fix, each keeping its culprit as an attribute.

`str(error)` is the one-line message the CLI prints: it names the thing (a file, a
field, a line) and says what is allowed.
"""

from __future__ import annotations

from pathlib import Path


class GradeError(Exception):
    """A problem in input that a person must fix; the message says what and how."""


class AssignmentError(GradeError):
    """An assignment TOML that cannot be used: names the file and, where known, the field."""

    def __init__(self, path: Path | str, message: str, field: str | None = None) -> None:
        self.path = Path(path)
        self.field = field
        super().__init__(f"{path}: {message}")


class DatFormatError(GradeError):
    """A .dat file that does not follow the format: names the file, the line and the reason."""

    def __init__(self, reason: str, *, line: int | None = None, path: Path | str | None = None):
        self.reason = reason
        self.line = line
        self.path = Path(path) if path is not None else None
        where = str(path) if path is not None else "<dat>"
        if line is not None:
            where += f", line {line}"
        super().__init__(f"{where}: {reason}")


class DatLimitError(DatFormatError):
    """A file past what reading one may take (blocks, seconds): no other reading is tried."""
