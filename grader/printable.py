"""Text that can drive nothing where it is shown: what students wrote (folder names, exception
messages, printed output) quoted on a terminal, in a file a TA may `cat`, or in a CI log."""

from __future__ import annotations

import re

# C0 controls, DEL, C1 controls, bidirectional overrides and isolates, lone surrogates
_UNPRINTABLE = re.compile("[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\ud800-\udfff]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def printable(text: str, keep: str = "", replacement: str | None = None) -> str:
    """`text` safe to show on a terminal, where folder names, paths and messages quote what
    students wrote: each control character, bidirectional override and lone surrogate is
    written out as an escape (`\\x1b`, `\\n`, `\\u202e`, `\\udc80`), or as `replacement` if given,
    so nothing shown can move the cursor, retitle or clear the terminal, or start a line of its
    own; but the characters in `keep` (say newlines and tabs, for a message shown on a page)."""

    def shown(found: re.Match[str]) -> str:
        character = found.group()
        if character in keep:
            return character
        return _escaped(character) if replacement is None else replacement

    return _UNPRINTABLE.sub(shown, text)


def _escaped(character: str) -> str:
    code = ord(character)
    if character in _NAMED:
        return _NAMED[character]
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"
