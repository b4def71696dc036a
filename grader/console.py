"""The `grade` console script.

Grading needs the fork server, whose zygote imports torch (about 2 s of CPU); the grader's own
modules take about 0.4 s more (numpy, pydantic, jinja2). So before importing them, `grade`
starts the fork server from a thread, and the zygote imports torch on the other core
meanwhile: `grade submissions/alice` costs about one `import torch`, not that plus the rest.
"""

from __future__ import annotations

import re
import sys
import threading

NOT_GRADING = {"reference", "assignments", "dat", "gradescope", "-h", "--help"}
# C0 controls, DEL, C1 controls, bidirectional overrides and isolates, lone surrogates
_UNPRINTABLE = re.compile("[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\ud800-\udfff]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def printable(text: str, keep: str = "") -> str:
    """`text` safe to show on a terminal, where folder names, paths and messages quote what
    students wrote: each control character, bidirectional override and lone surrogate is
    written out as an escape (`\\x1b`, `\\n`, `\\u202e`, `\\udc80`), so nothing printed can move
    the cursor, retitle or clear the terminal, or start a line of its own; but the characters
    in `keep` (say newlines and tabs, for a message shown on a page)."""
    return _UNPRINTABLE.sub(
        lambda found: found.group() if found.group() in keep else _escaped(found.group()), text
    )


def _escaped(character: str) -> str:
    code = ord(character)
    if character in _NAMED:
        return _NAMED[character]
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def entry_point() -> None:
    """Start the fork server early when the command grades, then run the CLI."""
    if sys.argv[1:2] and sys.argv[1] not in NOT_GRADING:
        from grader.sandbox import isolation  # the standard library only: light

        threading.Thread(target=isolation.prestart, daemon=True).start()
    from grader.cli import entry_point as run

    run()
