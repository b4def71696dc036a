"""The `grade` console script.

It starts nothing itself. Grading needs the fork server, whose zygote imports torch (about 2 s
of CPU), but a rerun of unchanged students needs neither it nor the grading modules: so
grader.batch starts the fork server once it finds the first submission that needs grading,
and imports the grading modules while the zygote imports torch on the other core.
"""

from __future__ import annotations

from grader.cli import entry_point

__all__ = ["entry_point"]
