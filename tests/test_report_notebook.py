"""The report of a notebook submission: its cells as they ran, and the notebook's code shown
wherever a message names one of its lines; escaped, deterministic, and readable in Chromium."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import pytest
from markupsafe import escape
from test_report import OUTPUT, check, result

from grader.report import render_report, write_report
from grader.report.notebook_view import CONTEXT, MAX_LINE, MAX_PLACES, excerpt, places
from grader.result import CellNote, CellRun, GradeResult, NotebookRun

if TYPE_CHECKING:
    from playwright.sync_api import Page

PAYLOAD = "<script>alert(1)</script></td></table><b>x"
BROKEN = "\n".join(
    [
        "import numpy as np",
        "W = [np.ones((3, 7))]",
        "b = [np.zeros(3)]",
        "x = np.ones(7)",
        "",
        "grads = backprop(W, b, x, 1.0)",  # line 6 raises, in helper (cell 5, line 2)
        "print(grads)",
        "y = 2",
        "z = 3",
        "w = 4",
    ]
)
HELPER = "def helper(W, delta):\n    return W.T.reshape(3, -1) @ delta\n"
FAILED = "ValueError: matmul: size 3 is different from 7"
DAT_NOTE = (
    "run top to bottom, your notebook writes a different my_autograd.dat (W3 differs): "
    "unseeded random data, or hidden notebook state? The one handed in is graded"
)
BACKPROP_MESSAGE = (
    f"backprop failed on the published inputs: hw1.ipynb, cell 5, line 2, in helper: {FAILED}"
)
NOTES = [  # (kind, label, line, code, message)
    ("missing-import", "not installed here", 1, "import tensorflow as tf",
     "tensorflow is not installed here; the rest of the cell ran"),
    ("magic", "IPython only", 3, "%matplotlib inline", "not run: a magic (IPython only)"),
    ("shell", "IPython only", 4, "!pip install torchviz",
     "not run: a shell command (IPython only)"),
    ("help", "IPython only", 5, "np.outer?", "not run: IPython help (IPython only)"),
]  # fmt: skip


def cell_notes(*rows: tuple[str, str, int, str, str]) -> list[CellNote]:
    return [
        CellNote.model_validate({"kind": k, "line": n, "code": c, "message": m})
        for k, _, n, c, m in rows
    ]


def notebook() -> NotebookRun:
    """A notebook of every kind of cell: notes of each kind, a cell that failed in a function
    of another cell, a skipped %%bash cell, a Windows path, a cell the run never reached."""
    imports = "\n".join(
        ["import tensorflow as tf", "import torch", "%matplotlib inline", "!pip install torchviz",
         "np.outer?"]
    )  # fmt: skip
    colab = "from google.colab import drive\ndrive.mount('/content/drive')"
    windows = "open('D:/hw/my_autograd.dat', 'w').write(text)"
    colab_notes = [
        ("colab", "Colab only", 1, "from google.colab import drive",
         "google.colab exists only on Google Colab; the rest of the cell ran"),
        ("colab", "Colab only", 2, "drive.mount('/content/drive')",
         "runs only on Google Colab; grading went on"),
    ]  # fmt: skip
    windows_note = ("windows-path", "Windows path", 1, windows,
                    "a path on the student's own computer; grading went on")  # fmt: skip
    return NotebookRun(
        file="hw1.ipynb",
        used=True,
        message="7 code cells run top to bottom: 3 ran, 2 failed, 1 skipped, 1 not run",
        network="net",
        notes=[DAT_NOTE],
        cells=[
            CellRun(cell=2, first_line="import tensorflow as tf", status="ran",
                    notes=cell_notes(*NOTES), source=imports),
            CellRun(cell=3, first_line="from google.colab import drive", status="failed",
                    error="NameError: name 'drive' is not defined", line=2,
                    frames=["hw1.ipynb, cell 3, line 2, in <module>"],
                    notes=cell_notes(*colab_notes), source=colab),
            CellRun(cell=4, first_line="%%bash", status="skipped", source="%%bash\necho hi",
                    notes=cell_notes(("cell-magic", "IPython only", 1, "%%bash",
                                      "not run: %%bash makes the cell something other than "
                                      "Python (IPython)"))),
            CellRun(cell=5, first_line="def helper(W, delta):", status="ran", source=HELPER),
            CellRun(cell=7, first_line="import numpy as np", status="failed", error=FAILED,
                    line=6, source=BROKEN,
                    frames=["hw1.ipynb, cell 7, line 6, in <module>",
                            "hw1.ipynb, cell 6, line 3, in backprop",
                            "hw1.ipynb, cell 5, line 2, in helper"]),
            CellRun(cell=8, first_line=windows, status="failed", source=windows,
                    error="FileNotFoundError: [Errno 2] No such file or directory: "
                          "'D:/hw/my_autograd.dat'",
                    line=1, frames=["hw1.ipynb, cell 8, line 1, in <module>"],
                    notes=cell_notes(windows_note)),
            CellRun(cell=9, first_line="for epoch in range(10**9):", status="not run",
                    source="for epoch in range(10**9):\n    train()"),
        ],
    )  # fmt: skip


def notebook_result(run: NotebookRun | None = None, **kw: object) -> GradeResult:
    """A notebook student's result: the backprop check failed in a cell's function."""
    backprop = check(
        "backprop-gradients",
        "error",
        score=0,
        max_score=4,
        message=BACKPROP_MESSAGE,
        details=[
            f"hidden seed 1: {BACKPROP_MESSAGE}",  # the same place: its code is shown once
            "called from hw1.ipynb, cell 7, line 6, in <module>",
            "hw1.ipynb, cell 99, line 1: a cell the result does not hold",
            "hw1.ipynb, cell 5, line 40: past the cell's last line",
        ],
    )
    return result([check("network-architecture"), backprop], notebook=run or notebook(), **kw)


def section(html: str) -> str:
    """The notebook's section."""
    return html.split('<section class="card notebook" id="notebook">')[1].split("</section>")[0]


def card(html: str, anchor: str) -> str:
    return html.split(f'id="{anchor}"')[1].split("</section>")[0]


def rows(html: str) -> list[tuple[str, str, str]]:
    """(cell, first line, status) of each row of the cells table."""
    pattern = (
        r'<tr class="cell [a-z]+" id="notebook-cell-\d+"><td class="num">(\d+)</td>'
        r'<td class="first"><code>(.*?)</code></td><td class="state">'
        r'<span class="badge ([a-z]+)">([a-z ]+)</span>'
    )
    return [(n, first, f"{css}:{status}") for n, first, css, status in re.findall(pattern, html)]


def code_lines(html: str) -> list[tuple[bool, str, str]]:
    """(marked, number, text) of each line of the first code excerpt in `html`."""
    table = html.split('<table class="code">')[1].split("</table>")[0]
    pattern = r'<tr( class="hit")?><td class="ln">(\d+)</td><td class="src">(.*?)</td></tr>'
    return [(bool(hit), n, text) for hit, n, text in re.findall(pattern, table)]


def excerpt_captions(html: str) -> list[str]:
    return re.findall(r'<figcaption><a href="#notebook-cell-\d+">([^<]*)</a>, line (\d+)', html)


# --- the notebook section --------------------------------------------------------------------


def test_cells_are_listed_with_first_line_and_status() -> None:
    """Each code cell is a row: its number, its first line as code, its status in colour."""
    nb = section(render_report(notebook_result()))
    assert rows(nb) == [
        ("2", "import tensorflow as tf", "pass:ran"),
        ("3", "from google.colab import drive", "fail:failed"),
        ("4", "%%bash", "skip:skipped"),
        ("5", "def helper(W, delta):", "pass:ran"),
        ("7", "import numpy as np", "fail:failed"),
        ("8", "open(&#39;D:/hw/my_autograd.dat&#39;, &#39;w&#39;).write(text)", "fail:failed"),
        ("9", "for epoch in range(10**9):", "error:not run"),
    ]
    assert "<h2>Notebook <code>hw1.ipynb</code></h2>" in nb
    assert "7 code cells run top to bottom: 3 ran, 2 failed, 1 skipped, 1 not run" in nb


def test_header_links_to_the_section() -> None:
    """The header says how many cells failed and links to the section."""
    html = render_report(notebook_result())
    header = html.split("<main>")[0]
    assert (
        '<p class="nb-link">Notebook <a href="#notebook"><code>hw1.ipynb</code></a>: '
        "of 7 code cells, 3 failed, 1 not run</p>"
    ) in header


def test_notes_of_every_kind_are_listed_under_their_cell() -> None:
    """IPython-only lines, missing imports, Colab lines and Windows paths: each under its
    cell with its label, line, code and message."""
    nb = section(render_report(notebook_result()))
    run = notebook()
    labels = {"missing-import": "not installed here", "colab": "Colab only",
              "windows-path": "Windows path"}  # fmt: skip
    for cell in run.cells:
        row = nb.split(f'id="notebook-cell-{cell.cell}"')[1].split('<tr class="cell ')[0]
        for note in cell.notes:
            label = labels.get(note.kind, "IPython only")
            shown = (
                f'<li><span class="tag">{label}</span>line {note.line}, '
                f"<code>{escape(note.code)}</code>: {escape(note.message)}</li>"
            )
            assert shown in row, shown
    kinds = {n.kind for c in run.cells for n in c.notes}
    assert kinds == {"magic", "cell-magic", "shell", "help", "missing-import", "colab",
                     "windows-path"}  # fmt: skip


def test_failed_cell_shows_its_code_around_the_failing_line() -> None:
    """A failed cell shows its error, its lines CONTEXT either side of the failing one (that one
    marked), the traceback, and the code of the innermost frame when it is another cell."""
    nb = section(render_report(notebook_result()))
    row = nb.split('id="notebook-cell-7"')[1].split('<tr class="cell ')[0]
    assert f'<p class="cell-error">line 6: {FAILED}</p>' in row
    assert code_lines(row) == [
        (n == 6, str(n), str(escape(BROKEN.split("\n")[n - 1])))
        for n in range(6 - CONTEXT, 6 + CONTEXT + 1)
    ]
    assert "<li>hw1.ipynb, cell 6, line 3, in backprop</li>" in row
    assert excerpt_captions(row) == [("hw1.ipynb, cell 7", "6"), ("hw1.ipynb, cell 5", "2")]
    innermost = row.split("</ol>")[1]
    assert code_lines(innermost) == [
        (False, "1", "def helper(W, delta):"),
        (True, "2", "    return W.T.reshape(3, -1) @ delta"),  # the last newline ends line 2
    ]


def test_one_frame_is_not_repeated() -> None:
    """A cell that raised at its own line, not in a function, has no traceback list."""
    nb = section(render_report(notebook_result()))
    row = nb.split('id="notebook-cell-3"')[1].split('<tr class="cell ')[0]
    assert "Traceback" not in row
    assert code_lines(row) == [
        (False, "1", "from google.colab import drive"),
        (True, "2", "drive.mount(&#39;/content/drive&#39;)"),
    ]


def test_cells_without_anything_to_say_have_one_row() -> None:
    """A cell that ran without notes, and one never reached, have no second row."""
    nb = section(render_report(notebook_result()))
    for number in ("5", "9"):
        row = nb.split(f'id="notebook-cell-{number}"')[1].split('<tr class="cell ')[0]
        assert '<tr class="more">' not in row


def test_global_network_and_notes_are_said() -> None:
    """The global graded as the network is named; the notes are worth no points."""
    nb = section(render_report(notebook_result()))
    assert "The network graded is the notebook's global <code>net</code>" in nb
    assert "<h3>Notes, worth no points</h3>" in nb
    assert f"<li>{escape(DAT_NOTE)}</li>" in nb


def test_contract_notebook_names_no_global_and_has_no_notes() -> None:
    """A notebook that defines the contract's functions: no global, no notes box."""
    run = notebook().model_copy(update={"network": "", "notes": []})
    nb = section(render_report(notebook_result(run)))
    assert "The network graded" not in nb
    assert "worth no points" not in nb


@pytest.mark.parametrize(
    "message",
    [
        "hw1.ipynb was not used: network.py and backprop.py are graded (a submission's modules "
        "win over a notebook)",
        "hw1.ipynb is not valid JSON (line 3, column 5: Expecting ',' delimiter): it is not a "
        "notebook Jupyter can open; save it again",
    ],
    ids=["modules-win", "unreadable"],
)
def test_notebook_not_used_shows_only_why(message: str) -> None:
    """A notebook not used (the modules win, or it could not be read): its name and why, no
    cells, no global, no notes, no code under messages, and no notebook limit."""
    run = NotebookRun(file="hw1.ipynb", used=False, message=message)
    html = render_report(notebook_result(run))
    nb = section(html)
    assert f'<p class="message">{escape(message)}</p>' in nb
    assert "<table" not in nb and "The network graded" not in nb and "worth no points" not in nb
    assert 'class="excerpt"' not in html
    assert ": not graded</p>" in html.split("<main>")[0]
    assert "notebook" not in html.split("<dt>limits</dt>")[1].split("</dd>")[0]


def test_no_notebook_no_section() -> None:
    """A modules-only submission's page has no notebook section, link or limit."""
    html = render_report(result([check("network-architecture")]))
    assert 'id="notebook"' not in html and "nb-link" not in html.split("</style>")[1]
    assert "notebook" not in html.split("<dt>limits</dt>")[1].split("</dd>")[0]


def test_limits_name_the_notebook_limit() -> None:
    """When a notebook ran, the limits line names the time all its cells share."""
    html = render_report(notebook_result(limits={"notebook_seconds": 45, "notebook_mib": 8}))
    limits = html.split("<dt>limits</dt><dd>")[1].split("</dd>")[0]
    assert limits.endswith(", 45 s for all of a notebook&#39;s cells, notebooks up to 8 MiB")


# --- code under the checks' messages -----------------------------------------------------------


def test_check_messages_and_details_show_the_code_they_point_at() -> None:
    """The message's place gets its code below it; a detail naming the same place again does
    not repeat it; a detail naming another place gets that one's; unknown places get none."""
    backprop = card(render_report(notebook_result()), "check-2-backprop-gradients")
    message = backprop.split('<ul class="details">')[0]
    assert excerpt_captions(message) == [("hw1.ipynb, cell 5", "2")]
    assert code_lines(message)[1] == (True, "2", "    return W.T.reshape(3, -1) @ delta")
    items = backprop.split('<ul class="details">')[1].split("</ul>")[0].split("<li>")[1:]
    assert [excerpt_captions(item) for item in items] == [[], [("hw1.ipynb, cell 7", "6")], [], []]
    # nothing between a detail's text and its code: the item keeps its text's white space
    assert items[1].startswith(
        'called from hw1.ipynb, cell 7, line 6, in &lt;module&gt;<figure class="excerpt">'
    )
    assert "</figure></li>" in items[1]


def test_checks_of_a_module_submission_get_no_code() -> None:
    """Without a notebook run, a message that looks like a place is only text."""
    run = NotebookRun(file="hw1.ipynb", used=False, message="not used")
    for r in (notebook_result(run), result(notebook_result().checks)):
        assert 'class="excerpt"' not in render_report(r)


RUN = NotebookRun(
    file="hw (1).ipynb",
    used=True,
    message="",
    cells=[
        CellRun(cell=3, first_line="a = 1", status="ran", source="a = 1\r\nb = 2\rc = 3\n\n"),
        CellRun(cell=4, first_line="x", status="ran", source="x = '" + "y" * 1000 + "'"),
        CellRun(cell=5, first_line="", status="ran", source=""),
        CellRun(cell=6, first_line="", status="ran",
                source="\n".join(f"line{n}" for n in range(1, 21))),
    ],
)  # fmt: skip


EXCERPT_IDS = ["first", "last", "middle", "carriage-returns", "past-trailing-newline", "past-end",
               "line-0", "no-line", "empty-cell", "unknown-cell"]  # fmt: skip


@pytest.mark.parametrize(
    ("cell", "line", "shown"),
    [
        (6, 1, [(True, "1"), (False, "2"), (False, "3"), (False, "4")]),
        (6, 20, [(False, "17"), (False, "18"), (False, "19"), (True, "20")]),
        (6, 10, [(n == 10, str(n)) for n in range(7, 14)]),
        (3, 3, [(False, "1"), (False, "2"), (True, "3"), (False, "4")]),  # \r\n and \r end lines
        (3, 5, None),  # the cell's last newline ends line 4: there is no line 5
        (6, 21, None),
        (6, 0, None),
        (6, None, None),
        (5, 1, None),  # an empty source: nothing to show
        (7, 1, None),  # a cell the result does not hold
    ],
    ids=EXCERPT_IDS,
)
def test_excerpt(cell: int, line: int | None, shown: list[tuple[bool, str]] | None) -> None:
    """CONTEXT lines either side, cut at the cell's ends; None where there is nothing to show."""
    code = excerpt(RUN, cell, line)
    if shown is None:
        assert code is None
        return
    assert code is not None
    assert [(c.hit, c.number) for c in code.lines] == shown
    assert (code.file, code.cell, code.line, code.anchor) == (
        "hw (1).ipynb", str(cell), str(line), f"notebook-cell-{cell}",
    )  # fmt: skip


def test_excerpt_cuts_a_long_line() -> None:
    """A line of a thousand characters is shown to MAX_LINE, ending in an ellipsis."""
    code = excerpt(RUN, 4, 1)
    assert code is not None
    assert len(code.lines[0].text) == MAX_LINE and code.lines[0].text.endswith("y…")


def test_places() -> None:
    """Places of this notebook only, by its exact name, each once, at most MAX_PLACES; a number
    too long to be a line is not one."""
    text = (
        "hw (1).ipynb, cell 3, line 2, in f; hw1.ipynb, cell 4, line 1; hw (1).ipynb, cell 3, "
        "line 2; hw (1).ipynb, cell 6, line 10, hw (1).ipynb, cell 6, line 11; "
        "hw (1).ipynb, cell 6, line 12; hw (1).ipynb, cell 6, line 1" + "0" * 5000
    )
    assert places(RUN, text) == [(3, 2), (6, 10), (6, 11)][:MAX_PLACES]
    assert places(RUN, "hw (1).ipynb, cell 3, line " + "9" * 5000) == []
    assert places(RUN.model_copy(update={"used": False}), text) == []
    assert places(None, text) == []


# --- hostile text, determinism, a real browser --------------------------------------------------


def hostile() -> GradeResult:
    """Markup in every text of the notebook: its name, cells' code, errors, frames, notes."""
    evil = notebook()
    cells = [
        c.model_copy(
            update={
                "first_line": PAYLOAD,
                "source": c.source.replace("np", PAYLOAD),
                "error": c.error and f"{c.error} {PAYLOAD}",
                "frames": [f"{f} {PAYLOAD}" for f in c.frames],
                "notes": [n.model_copy(update={"code": PAYLOAD, "message": PAYLOAD})
                          for n in c.notes],
            }
        )
        for c in evil.cells
    ]  # fmt: skip
    run = evil.model_copy(
        update={"cells": cells, "network": PAYLOAD, "notes": [PAYLOAD], "message": PAYLOAD}
    )
    return notebook_result(run)


def test_student_text_in_the_notebook_is_escaped() -> None:
    """Markup in a cell's code, error, frames and notes, the global's name, the notes and the
    message arrives as text."""
    html = render_report(hostile())
    assert "<script" not in html
    assert "<b>x" not in html and "</td></table><b>" not in html
    payload = str(escape(PAYLOAD))
    nb = section(html)
    assert nb.count(payload) >= 30
    row = nb.split('id="notebook-cell-7"')[1].split('<tr class="cell ')[0]
    assert f'<td class="src">b = [{payload}.zeros(3)]</td>' in row  # the code excerpt
    assert f"{FAILED} {payload}</p>" in row


def test_rendering_is_deterministic() -> None:
    """The same notebook result renders to the same bytes, twice and from a JSON round trip."""
    r = hostile()
    again = GradeResult.model_validate_json(r.model_dump_json())
    assert render_report(r) == render_report(r) == render_report(again)


def test_page_is_self_contained() -> None:
    """A notebook's page loads nothing either."""
    html = render_report(notebook_result())
    for banned in ("http://", "https://", "<script", "<link", "<img", "src=", "@import", "url("):
        assert banned not in html


def test_notebook_section_in_a_real_browser(browser_page: Page) -> None:
    """Chromium shows the section and the cells' notes; the failing line stands out in red
    under the failed cell and under the check; a long line scrolls in its box on a phone."""
    page = browser_page
    run = notebook()
    call = "grads = backprop(W, b, x, 1.0)"
    long_line = f"{call}  # " + "a very long comment " * 20
    cells = [c.model_copy(update={"source": c.source.replace(call, long_line)}) for c in run.cells]
    path = write_report(
        notebook_result(run.model_copy(update={"cells": cells})), OUTPUT / "notebook"
    )
    requests: list[str] = []
    page.on("request", lambda request: requests.append(request.url))
    page.goto(path.as_uri())
    nb = page.locator("#notebook")
    nb.scroll_into_view_if_needed()
    assert nb.is_visible()
    text = nb.inner_text()
    assert "Notebook hw1.ipynb" in text
    assert "line 4, !pip install torchviz: not run: a shell command (IPython only)" in text
    assert "The network graded is the notebook's global net" in text
    assert DAT_NOTE in text
    assert page.locator("#notebook-cell-9 .badge").inner_text() == "not run"

    failing = page.locator("#notebook-cell-7 + tr.more table.code tr.hit").first  # line 6
    assert failing.is_visible()
    assert failing.locator("td.src").inner_text().startswith(call)
    plain = failing.locator("xpath=preceding-sibling::tr[1]")
    red, white = (
        row.locator("td.src").evaluate("e => getComputedStyle(e).backgroundColor")
        for row in (failing, plain)
    )
    assert red == "rgb(255, 235, 233)" and red != white  # --fail-bg
    number = failing.locator("td.ln")
    assert number.inner_text() == "6"
    assert number.evaluate("e => getComputedStyle(e).color") == "rgb(207, 34, 46)"  # --fail
    box, row_box = failing.bounding_box(), plain.bounding_box()
    assert box is not None and row_box is not None and box["height"] < 1.5 * row_box["height"]

    under_check = page.locator("#check-2-backprop-gradients > figure.excerpt tr.hit")
    assert under_check.is_visible()
    assert under_check.inner_text().split()[:2] == ["2", "return"]
    nb.screenshot(path=OUTPUT / "notebook" / "notebook.png")
    page.locator("#check-2-backprop-gradients").screenshot(path=OUTPUT / "notebook" / "check.png")

    page.set_viewport_size({"width": 375, "height": 812})
    assert page.evaluate("document.documentElement.scrollWidth") <= 375
    scroller = page.locator("#notebook-cell-7 + tr.more .code-scroll").first
    assert scroller.evaluate("e => e.scrollWidth > e.clientWidth")  # the long line scrolls
    assert page.locator("#notebook-cell-9 .badge").is_visible()  # the status column fits
    nb.screenshot(path=OUTPUT / "notebook" / "notebook-phone.png")
    assert requests == [path.as_uri()]
