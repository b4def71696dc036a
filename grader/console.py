"""The `grade` console script.

Grading needs the fork server, whose zygote imports torch (about 2 s of CPU); the grader's own
modules take about 0.4 s more (numpy, pydantic, jinja2). So before importing them, `grade`
starts the fork server from a thread, and the zygote imports torch on the other core
meanwhile: `grade submissions/alice` costs about one `import torch`, not that plus the rest.
"""

from __future__ import annotations

import sys
import threading

NOT_GRADING = {"reference", "assignments", "dat", "gradescope", "-h", "--help"}


def entry_point() -> None:
    """Start the fork server early when the command grades, then run the CLI."""
    if sys.argv[1:2] and sys.argv[1] not in NOT_GRADING:
        from grader.sandbox import isolation  # the standard library only: light

        threading.Thread(target=isolation.prestart, daemon=True).start()
    from grader.cli import entry_point as run

    run()
