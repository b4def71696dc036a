"""The docs hold together: README stays a front door, and every relative link lands."""

from __future__ import annotations

from pathlib import Path

import pytest
from pages import DOCS, README, ROOT, broken_links, links, pages, slug

README_BYTES = 8 * 1024


@pytest.mark.parametrize("page", pages(), ids=lambda page: str(page.relative_to(ROOT)))
def test_every_relative_link_lands(page: Path) -> None:
    """Every relative link names a file that exists and, into a .md file, a heading it has."""
    assert broken_links(page) == []


def test_a_broken_link_or_anchor_is_named(tmp_path: Path) -> None:
    """The link check names a missing file and a missing heading, and nothing in code."""
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "tas.md").write_text("# TAs\n\n## Grading a class\n", encoding="utf-8")
    page = tmp_path / "README.md"
    page.write_text(
        "# grade\n\n"
        "[ok](docs/tas.md#grading-a-class) [self](#grade) [web](https://example.org/x.md)\n"
        "[gone](docs/students.md) and [moved](docs/tas.md#speed)\n"
        "`[in a code span](nowhere.md)`\n"
        "```\n[in a code block](nowhere.md)\n```\n"
        "[up and out](../outside.md)\n",
        encoding="utf-8",
    )
    assert broken_links(page, root=tmp_path) == [
        "README.md, line 4: (docs/students.md) names docs/students.md, which does not exist",
        "README.md, line 4: (docs/tas.md#speed): tas.md has no heading #speed; it has "
        "grading-a-class, tas",
        "README.md, line 9: (../outside.md) names ../outside.md, which does not exist",
    ]


@pytest.mark.parametrize(
    ("heading", "anchor"),
    [
        ("The .dat format", "the-dat-format"),
        ("Comparing two .dat files: grade dat", "comparing-two-dat-files-grade-dat"),
        (
            "Untrusted code: what is defended, and what is not",
            "untrusted-code-what-is-defended-and-what-is-not",
        ),
        ("A template graded by `grade`", "a-template-graded-by-grade"),
        ("One runner instead of one per check", "one-runner-instead-of-one-per-check"),
        ("Speed", "speed"),
    ],
)
def test_anchor_is_githubs_slug(heading: str, anchor: str) -> None:
    """Headings become anchors as GitHub makes them: lowercase, punctuation dropped, - for space."""
    assert slug(heading) == anchor


def test_readme_stays_a_front_door() -> None:
    """README.md holds what a newcomer needs first; the rest belongs in docs/ (under 8 KiB)."""
    assert len(README.read_bytes()) < README_BYTES


def test_readme_links_every_docs_page() -> None:
    """Each page of docs/ is linked from README.md, so nothing moved there is lost."""
    linked = {(README.parent / target.partition("#")[0]).resolve() for _, target in links(README)}
    assert sorted(p.name for p in DOCS.glob("*.md") if p.resolve() not in linked) == []
