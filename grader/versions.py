"""The versions a student is graded under, as result.json records them: Python's, grade's,
torch's and numpy's. Each package's is read from its installed metadata, so asking never
imports torch (a rerun of unchanged students keys on them without loading it)."""

from __future__ import annotations

import functools
import platform
from importlib import metadata


@functools.cache
def versions() -> dict[str, str]:
    """{"python": "3.11.9", "grade": ..., "torch": ..., "numpy": ...}, "not installed" for a
    package that is not (copy it before changing it: it is shared)."""
    found = {"python": platform.python_version()}
    for package in ("grade", "torch", "numpy"):
        try:
            found[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            found[package] = "not installed"
    return found
