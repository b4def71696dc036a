"""grade as pip installs it from its source (GitHub Classroom's action does): a real wheel.

An editable install (the one tests run under) reads files from the checkout, so a file the
package needs but the wheel leaves out passes every other test and breaks every installed
grade at import: the starter's templates were such a file."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_the_wheel_holds_every_file_of_the_packages(tmp_path: Path) -> None:
    """Every file under grader/ and reference/ (templates, presets, scripts) is in the wheel."""
    source = tmp_path / "source"  # built from a copy: setuptools writes build/ beside the source
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, source / name)
    for package in ("grader", "reference"):
        shutil.copytree(ROOT / package, source / package,
                        ignore=shutil.ignore_patterns("__pycache__"))  # fmt: skip
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
         "--quiet", "--wheel-dir", str(tmp_path), str(source)],
        check=True, capture_output=True, timeout=300,
    )  # fmt: skip
    [wheel] = tmp_path.glob("grade-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        packed = {name for name in archive.namelist() if not name.startswith("grade-")}
    ours = {
        path.relative_to(ROOT).as_posix()
        for package in ("grader", "reference")
        for path in (ROOT / package).rglob("*")
        if path.is_file() and "__pycache__" not in path.parts
    }
    assert ours - packed == set(), "add them to [tool.setuptools.package-data]"
