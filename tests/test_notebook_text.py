"""A notebook's run in plain text, as Gradescope and GitHub Classroom show it to the student
(grader/exports/notebook_text.py). The NotebookRuns are built by hand, as the core reports
them; tests/test_gradescope.py and tests/test_github.py grade real notebooks."""

from __future__ import annotations

from grader.exports import notebook_text
from grader.result import CellNote, CellRun, NotebookRun, NoteKind

DAT_NOTE = (
    "run top to bottom, your notebook writes a different my_autograd.dat (W1 and 21 more "
    "differ): unseeded random data, or hidden notebook state? The one handed in is graded"
)
NOT_USED = (
    "hw1.ipynb was not used: network.py and backprop.py are graded (a submission's modules "
    "win over a notebook)"
)
MAX_CHARS = 10_000  # the whole text, whatever the notebook
MAX_LINES = 50


def note(line: int, kind: NoteKind, code: str, message: str) -> CellNote:
    return CellNote(line=line, kind=kind, code=code, message=message)


def notebook_run() -> NotebookRun:
    """A Colab notebook without build_network: two cells failed (one on a Colab line), an
    IPython-only cell and a %%bash cell, tensorflow imported, a different my_autograd.dat
    written, its global `net` graded."""
    return NotebookRun(
        file="hw1.ipynb",
        used=True,
        message="5 code cells run top to bottom: 2 ran, 2 failed, 1 skipped",
        cells=[
            CellRun(
                cell=2,
                first_line="from google.colab import drive",
                status="failed",
                error="NameError: name 'drive' is not defined",
                line=2,
                frames=["hw1.ipynb, cell 2, line 2, in <module>"],
                notes=[
                    note(
                        1,
                        "colab",
                        "from google.colab import drive",
                        "google.colab exists only on Google Colab; the rest of the cell ran",
                    ),
                    note(
                        2,
                        "colab",
                        "drive.mount('/content/drive')",
                        "runs only on Google Colab; grading went on",
                    ),
                ],
            ),
            CellRun(
                cell=3,
                first_line="!pip install torchviz",
                status="ran",
                notes=[
                    note(
                        1,
                        "shell",
                        "!pip install torchviz",
                        "not run: a shell command (IPython only)",
                    ),
                    note(2, "magic", "%matplotlib inline", "not run: a magic (IPython only)"),
                ],
            ),
            CellRun(
                cell=4,
                first_line="import tensorflow as tf",
                status="ran",
                notes=[
                    note(
                        1,
                        "missing-import",
                        "import tensorflow as tf",
                        "tensorflow is not installed here; the rest of the cell ran",
                    ),
                ],
            ),
            CellRun(
                cell=6,
                first_line="def scale(values, by):",
                status="failed",
                error="ZeroDivisionError: float division by zero",
                line=2,
            ),
            CellRun(
                cell=7,
                first_line="%%bash",
                status="skipped",
                notes=[
                    note(
                        1,
                        "cell-magic",
                        "%%bash",
                        "not run: %%bash makes the cell something other than Python (IPython)",
                    )
                ],
            ),
        ],
        network="net",
        notes=[DAT_NOTE],
    )


def not_used_run() -> NotebookRun:
    """A notebook beside the modules, which are graded instead."""
    return NotebookRun(file="hw1.ipynb", used=False, message=NOT_USED)


def thousands_failed_run(cells: int = 2000) -> NotebookRun:
    """`cells` cells that all fail with 2,000-character errors of 20 lines, each with a
    note of every kind; 100 long notes; a file name, message and global of hundreds of
    characters."""
    kinds: tuple[NoteKind, ...] = (
        "magic",
        "cell-magic",
        "shell",
        "help",
        "missing-import",
        "colab",
        "windows-path",
    )
    return NotebookRun(
        file="n" * 250 + ".ipynb",
        used=True,
        message="M" * 3000,
        cells=[
            CellRun(
                cell=number,
                first_line="x" * 80,
                status="failed",
                error=("E" * 99 + "\n") * 20,
                line=3,
                frames=["f" * 300] * 20,
                notes=[note(n, kinds[n - 1], "c" * 200, "m" * 300) for n in range(1, 8)],
                source="y" * 10_000,
            )
            for number in range(1, cells + 1)
        ],
        network="g" * 5000,
        notes=["note " * 500] * 100,
    )


def test_text_says_how_each_part_of_the_notebook_ran() -> None:
    """The message, the global graded, the notes, each failed cell (its line, error, first
    line and Colab lines), the IPython-only lines and the missing imports, in that order."""
    assert notebook_text.text(notebook_run()) == "\n".join(
        [
            "Notebook hw1.ipynb: 5 code cells run top to bottom: 2 ran, 2 failed, 1 skipped",
            "The network graded is the notebook's global `net`: it defines no network "
            "function, so the one network of the assignment's sizes that its cells leave was "
            "graded.",
            "Notes, worth no points:",
            f"- {DAT_NOTE}",
            "Cells that raised an error (the next cell still ran):",
            "- cell 2, line 2: NameError: name 'drive' is not defined",
            "    the cell begins: from google.colab import drive",
            "    line 1 (Colab only): from google.colab import drive — google.colab exists "
            "only on Google Colab; the rest of the cell ran",
            "    line 2 (Colab only): drive.mount('/content/drive') — runs only on Google "
            "Colab; grading went on",
            "- cell 6, line 2: ZeroDivisionError: float division by zero",
            "    the cell begins: def scale(values, by):",
            "3 IPython-only lines not run here (%magic, !shell, x?; a %%bash-like cell is "
            "skipped whole):",
            "- cell 3, line 1: !pip install torchviz",
            "- cell 3, line 2: %matplotlib inline",
            "- cell 7, line 1: %%bash (the whole cell)",
            "1 import of packages not installed here (the rest of each cell ran):",
            "- cell 4, line 1: import tensorflow as tf",
        ]
    )


def test_a_notebook_that_was_not_used_says_why_in_one_line() -> None:
    assert notebook_text.text(not_used_run()) == f"Notebook not graded: {NOT_USED}"


def test_a_notebook_that_could_not_be_read_is_named() -> None:
    """A message that does not name the file (a read error) gets the name in front."""
    run = NotebookRun(file="hw1.ipynb", used=False, message="not JSON (line 3, column 2)")
    assert notebook_text.text(run) == "Notebook hw1.ipynb not graded: not JSON (line 3, column 2)"


def test_a_notebook_where_nothing_went_wrong_is_one_line() -> None:
    run = NotebookRun(
        file="hw1.ipynb",
        used=True,
        message="2 code cells run top to bottom: 2 ran",
        cells=[CellRun(cell=n, first_line="x = 1", status="ran") for n in (1, 2)],
    )
    assert notebook_text.text(run) == "Notebook hw1.ipynb: 2 code cells run top to bottom: 2 ran"


def test_text_is_bounded_whatever_the_notebook() -> None:
    """2,000 failed cells with long errors and notes of every kind: a few dozen lines, each
    cut, each list capped and the rest counted."""
    text = notebook_text.text(thousands_failed_run())
    lines = text.splitlines()
    assert len(text) < MAX_CHARS and len(lines) < MAX_LINES
    assert all(len(line) <= notebook_text.MAX_LINE * 3 for line in lines)
    assert "- … and 1,995 more failed cells" in lines
    assert "- … and 95 more notes" in lines
    assert "8,000 IPython-only lines not run here" in text  # 4 kinds in each of 2,000 cells
    assert "- … and 1,995 more imports" in lines  # missing-import only: Colab is said above


def test_student_text_stays_on_its_line() -> None:
    """Errors and code lines with newlines or control characters cannot start lines of
    their own or drive a terminal."""
    run = notebook_run()
    cells = list(run.cells)
    cells[3] = cells[3].model_copy(update={"error": "ValueError: a\n::notice::x\r\x1b[31mred"})
    text = notebook_text.text(run.model_copy(update={"cells": cells}))
    assert "- cell 6, line 2: ValueError: a ::notice::x \\x1b[31mred" in text.splitlines()
    assert "\x1b" not in text and "\r" not in text


def test_a_failed_cell_keeps_the_note_on_its_failing_line() -> None:
    """Three Colab lines in a cell that failed on the last: two are shown, that one among
    them, in line order."""
    imports = [note(n, "colab", f"from google.colab import m{n}", "Colab only") for n in (1, 2)]
    failing = note(3, "colab", "drive.mount('/content/drive')", "runs only on Google Colab")
    cell = CellRun(
        cell=2,
        first_line="from google.colab import m1",
        status="failed",
        error="NameError: name 'drive' is not defined",
        line=3,
        notes=[*imports, failing],
    )
    run = NotebookRun(file="hw1.ipynb", used=True, message="1 code cell", cells=[cell])
    shown = [line.text for line in notebook_text.lines(run) if line.depth == 2]
    assert [text.split(" (")[0] for text in shown[1:]] == ["line 1", "line 3"]
