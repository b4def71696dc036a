"""Shared pytest options: `--update-goldens` rewrites golden files instead of comparing."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import classroom
import pytest

from grader import api
from grader.assignment import load_assignment
from grader.result import GradeResult

if TYPE_CHECKING:
    from playwright.sync_api import Page

ROOT = Path(__file__).parent.parent
OUTPUT = Path(__file__).parent / "output"


def pytest_addoption(parser: pytest.Parser) -> None:
    """Register `--update-goldens`."""
    parser.addoption(
        "--update-goldens",
        action="store_true",
        default=False,
        help="rewrite golden files from the current output instead of comparing against them",
    )


@pytest.fixture
def update_goldens(request: pytest.FixtureRequest) -> bool:
    """Whether the run was started with `--update-goldens`."""
    return bool(request.config.getoption("--update-goldens"))


@pytest.fixture
def golden(update_goldens: bool) -> Callable[[Path, str], None]:
    """Compare text with a golden file (or rewrite it); a mismatch goes to tests/output/."""

    def check(path: Path, text: str) -> None:
        if update_goldens:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
        if path.read_text(encoding="utf-8") != text:
            out = OUTPUT / "goldens" / path.relative_to(ROOT)
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_text(text, encoding="utf-8")
            pytest.fail(f"{path} differs from {out}; rerun with --update-goldens if intended")

    return check


CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--no-first-run",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture
def browser_page() -> Iterator[Page]:
    """A page in real headless Chromium (Debian's; `make test` installs it as root)."""
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is missing; `apt-get install chromium` (make test does as root)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield browser.new_page(viewport={"width": 1100, "height": 900})
        finally:
            browser.close()


@dataclass(frozen=True)
class Batch:
    """One graded class: where it is, what was there before, and the results by student."""

    students: Path
    reports: Path
    before: dict[str, str]
    results: dict[str, GradeResult]


@pytest.fixture(scope="session")
def batch(tmp_path_factory: pytest.TempPathFactory) -> Batch:
    """Every example and fixture submission, graded in one batch with tight limits."""
    root = tmp_path_factory.mktemp("class")
    students = root / "students"
    classroom.build(students)
    before = classroom.fingerprint(students)
    base = load_assignment("bs6207-a1")
    limits = base.limits.model_copy(
        update={"call_seconds": classroom.CALL_SECONDS, "memory_mib": classroom.MEMORY_MIB}
    )
    assignment = base.model_copy(update={"limits": limits})
    results = api.grade_paths([students], assignment, root / "reports")
    return Batch(students, root / "reports", before, {r.student: r for r in results})
