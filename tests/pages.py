"""The documentation as the tests read it: README.md and docs/*.md, their sections and links.

README.md is the front door; the rest lives in docs/ by reader (students, tas, integrations,
security, numerics, ...). A test that checks what the docs say (every subcommand, every
setting, the comparison rule) reads the page and section that hold it through `section`, so
moving text between pages breaks that test loudly instead of letting it pass over stale text;
tests/test_docs.py checks that every relative link between the pages lands.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).parent.parent
README = ROOT / "README.md"
DOCS = ROOT / "docs"

FENCE = re.compile(r"^ {0,3}(```|~~~)")
HEADING = re.compile(r"^ {0,3}(#{1,6})\s+(.*?)\s*#*\s*$")
CODE_SPAN = re.compile(r"`[^`]*`")
LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
EXTERNAL = re.compile(r"^[a-z][a-z0-9+.-]*:", re.IGNORECASE)  # https:, mailto:, ...


def pages() -> list[Path]:
    """README.md and every page of docs/, README first."""
    return [README, *sorted(DOCS.glob("*.md"))]


def prose(text: str) -> Iterator[tuple[int, str]]:
    """(line number, line) of each line outside fenced code blocks, where `#` is a heading."""
    fenced = False
    for number, line in enumerate(text.splitlines(), start=1):
        if FENCE.match(line):
            fenced = not fenced
        elif not fenced:
            yield number, line


def _plain(heading: str) -> str:
    """A heading's text as rendered: links reduced to their text, backticks dropped."""
    return re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading).replace("`", "")


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lowercase, punctuation dropped, each space a hyphen."""
    return re.sub(r"[^\w\- ]", "", _plain(heading).strip().lower()).replace(" ", "-")


def anchors(path: Path) -> set[str]:
    """Every heading's anchor in a Markdown file; a repeated one gets -1, -2, ... as GitHub's."""
    seen: dict[str, int] = {}
    found = set()
    for _, line in prose(path.read_text(encoding="utf-8")):
        if match := HEADING.match(line):
            base = slug(match.group(2))
            count = seen.get(base, 0)
            seen[base] = count + 1
            found.add(base if count == 0 else f"{base}-{count}")
    return found


def section(path: Path, heading: str) -> str:
    """The text under `heading` (exact), up to the next heading of the same or a higher level."""
    text = path.read_text(encoding="utf-8")
    lines = text.splitlines()
    starts = {number: match for number, line in prose(text) if (match := HEADING.match(line))}
    for number, match in starts.items():
        if match.group(2) == heading:
            level = len(match.group(1))
            ends = [n for n, m in starts.items() if n > number and len(m.group(1)) <= level]
            return "\n".join(lines[number : (ends[0] - 1) if ends else len(lines)])
    raise AssertionError(f"{path.relative_to(ROOT)} has no heading {heading!r}")


def links(path: Path) -> Iterator[tuple[int, str]]:
    """(line number, target) of every relative link, outside code blocks and code spans."""
    for number, line in prose(path.read_text(encoding="utf-8")):
        for target in LINK.findall(CODE_SPAN.sub("", line)):
            if not EXTERNAL.match(target):
                yield number, target


def broken_links(path: Path, root: Path = ROOT) -> list[str]:
    """Each relative link of `path` whose file, or whose #anchor in a .md file, does not exist."""
    broken = []
    for number, target in links(path):
        file_part, _, anchor = target.partition("#")
        where = f"{path.relative_to(root)}, line {number}: ({target})"
        linked = (path.parent / file_part).resolve() if file_part else path
        if not linked.is_relative_to(root.resolve()) or not linked.exists():
            broken.append(f"{where} names {file_part}, which does not exist")
        elif anchor and linked.suffix == ".md" and anchor not in anchors(linked):
            known = ", ".join(sorted(anchors(linked)))
            broken.append(f"{where}: {linked.name} has no heading #{anchor}; it has {known}")
    return broken
