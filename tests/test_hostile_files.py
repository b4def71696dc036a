"""File trees that must not stop the class or reach outside the submission: names that are
not UTF-8, trees too deep for recursion, FIFOs and devices, symbolic links, and .dat files of
millions of tiny blocks. Each is made here, in tmp_path: git cannot hold them."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import classroom
import pytest

from grader import api, batch, dat, files, printed
from grader.assignment import Limits, load_assignment
from grader.errors import DatLimitError, GradeError
from grader.result import GradeResult
from grader.sandbox import isolation
from grader.sandbox.run import run_student

ASSIGNMENT = load_assignment("bs6207-a1")
PRESET = Path(batch.__file__).parent / "assignments" / "bs6207-a1.toml"
GRADE_SECONDS = 300  # a class of three graded well within this; a hang would not be
ROOT_ONLY = pytest.mark.skipif(os.geteuid() != 0, reason="mknod needs root")
LATIN1 = os.fsdecode(b"stud\xe9nt")  # a Latin-1 name, as zips made on Windows give
SHOWN = "stud\\xe9nt"  # how grade shows and writes it


def correct(into: Path, name: str = "correct") -> Path:
    """The correct example student, copied to into/name."""
    folder = into / name
    shutil.copytree(classroom.EXAMPLES / "correct", folder, ignore=shutil.ignore_patterns("__*"))
    return folder


def grade_cli(*args: str) -> subprocess.CompletedProcess[str]:
    """`grade` in a process of its own, stopped if it hangs."""
    grade = Path(sys.executable).with_name("grade")
    return subprocess.run(
        [str(grade), *args], capture_output=True, text=True, timeout=GRADE_SECONDS
    )


def mark(folder: Path) -> str:
    """A file only this submission holds, to find its private copies by."""
    name = f"mark-{uuid.uuid4().hex}.txt"
    (folder / name).write_text("")
    return name


def leftovers(marker: str) -> list[str]:
    """Private copies of the marked submission left in the scratch and temp folders (other
    graders on this machine have theirs there too), removed by `rm -rf` once counted."""
    places = {isolation.scratch() or tempfile.gettempdir(), tempfile.gettempdir()}
    found = [p.parent.parent for place in places for p in Path(place).glob(f"grade-*/*/{marker}")]
    for copy in found:
        subprocess.run(["rm", "-rf", "--", str(copy)], check=False)
    return [str(copy) for copy in found]


@pytest.fixture
def deep_tmp(tmp_path: Path) -> Iterator[Path]:
    """tmp_path, emptied by `rm -rf` after the test: pytest's own clean-up recurses, and a
    tree 1,200 deep left in it would stop a later session."""
    yield tmp_path
    for child in tmp_path.iterdir():
        subprocess.run(["rm", "-rf", "--", str(child)], check=False)


def results(reports: Path) -> dict[str, GradeResult]:
    return {
        p.parent.name: GradeResult.model_validate_json(p.read_bytes())
        for p in reports.glob("*/result.json")
    }


def check(result: GradeResult, check_id: str) -> tuple[str, str]:
    found = next(c for c in result.checks if c.id == check_id)
    return found.status, found.message


# --- names ------------------------------------------------------------------------------------


def test_a_class_with_names_that_are_not_utf8_is_graded(tmp_path: Path) -> None:
    """A student folder named in Latin-1 and a file `notes\\xff.txt` inside another: the whole
    class is graded, those two too, under names that are UTF-8 in every output."""
    students = tmp_path / "class"
    correct(students, LATIN1)
    (correct(students, "ann") / os.fsdecode(b"notes\xff.txt")).write_text("notes")
    reports = tmp_path / "reports"
    done = grade_cli(str(students), "--assignment", "bs6207-a1", "--reports", str(reports))
    assert done.returncode == 0, done.stderr
    graded = results(reports)
    assert sorted(graded) == sorted(["ann", SHOWN])
    assert all(r.passed for r in graded.values())
    assert graded[SHOWN].student == SHOWN
    for name in ("grades.csv", "summary.csv", "index.html", "junit.xml"):
        assert SHOWN in (reports / name).read_bytes().decode("utf-8"), name
    assert SHOWN in done.stdout


def test_a_folder_name_that_holds_escapes_and_a_newline_is_shown_escaped(tmp_path: Path) -> None:
    """A folder named to retitle and clear the terminal and forge a line (`esc\\x1b]0;pwned\\x07`,
    a newline, `[2:9] fake`) is graded under its name with every control character escaped,
    and no output file holds one: `cat grades.csv` drives nothing."""
    students = tmp_path / "class"
    correct(students, "esc\x1b]0;pwned\x07\n[2:9] fake")
    reports = tmp_path / "reports"
    done = grade_cli(str(students), "--assignment", "bs6207-a1", "--reports", str(reports))
    assert done.returncode == 0, done.stderr
    [(name, result)] = results(reports).items()
    assert name == result.student == "esc\\x1b]0;pwned\\x07\\n[2:9] fake"
    for output in ("grades.csv", "summary.csv", "index.html", "junit.xml", f"{name}/report.html"):
        text = (reports / output).read_text(encoding="utf-8")
        assert result.student in text and not {"\x1b", "\x07"} & set(text), output


def test_the_hidden_seeds_follow_the_folder_name_as_shown(tmp_path: Path) -> None:
    """The student's name is one rule everywhere: the folder's bytes as UTF-8, each byte that
    is not shown as \\xNN."""
    assert files.student_name(tmp_path / LATIN1) == SHOWN
    assert files.student_name(tmp_path / "Zoë") == "Zoë"


def test_two_folders_shown_under_one_name_are_refused(tmp_path: Path) -> None:
    """`stud\\xe9nt` in Latin-1 and a folder literally named `stud\\xe9nt` would share a report
    folder: refused before grading, as two folders of one name are."""
    correct(tmp_path / "a", LATIN1)
    correct(tmp_path / "b", SHOWN)
    with pytest.raises(GradeError, match=r"two submissions are named stud\\xe9nt"):
        api.find_submissions([tmp_path / "a", tmp_path / "b"], ASSIGNMENT)


# --- depth ------------------------------------------------------------------------------------


def nest(folder: Path, depth: int) -> None:
    """`depth` folders, one in the other, under `folder` (made fd by fd: no path is long)."""
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        for _ in range(depth):
            os.mkdir("d", dir_fd=fd)
            inner = os.open("d", os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
            os.close(fd)
            fd = inner
    finally:
        os.close(fd)


def test_a_submission_1200_folders_deep_is_refused_and_the_class_goes_on(deep_tmp: Path) -> None:
    """1,200 nested folders: that student gets a result saying the folder is nested too deep,
    the class is graded, and no private copy is left behind."""
    students = deep_tmp / "class"
    correct(students, "ann")
    marker = mark(correct(students, "deep"))
    nest(students / "deep", 1200)
    assert batch.submission_key(students / "deep", ASSIGNMENT)  # no RecursionError
    graded = {r.student: r for r in api.grade_paths([students], ASSIGNMENT, deep_tmp / "out")}
    assert graded["ann"].passed
    status, message = check(graded["deep"], "backprop-gradients")
    assert status == "error"
    assert f"nested more than {files.MAX_DEPTH} folders deep" in message
    assert not leftovers(marker)


def test_the_depth_limit_is_max_depth_folders(tmp_path: Path) -> None:
    """MAX_DEPTH folders one in the other are walked; one more is refused."""
    nest(tmp_path, files.MAX_DEPTH)
    assert len(list(files.walk(tmp_path))) == files.MAX_DEPTH
    nest(tmp_path / "/".join("d" * files.MAX_DEPTH), 1)
    with pytest.raises(files.SubmissionError, match="nested more than 64 folders deep"):
        list(files.walk(tmp_path))


DIGS_DEEP = '''
import os as _os


def _dig():
    """Folders 3,000 deep, chdir by chdir: paths far longer than PATH_MAX."""
    for _ in range(3000):
        _os.mkdir("x" * 200)
        _os.chdir("x" * 200)
    open("end.txt", "w").close()


_dig()
'''


def test_a_submission_that_digs_deep_at_run_time_leaves_nothing_behind(tmp_path: Path) -> None:
    """Student code that makes its private copy 3,000 folders deep (600 KB paths) is graded,
    and its copy is removed."""
    folder = correct(tmp_path)
    marker = mark(folder)
    network = folder / "network.py"
    network.write_text(network.read_text() + DIGS_DEEP)
    result = api.grade_submission(folder, ASSIGNMENT, tmp_path / "out")
    assert check(result, "network-architecture")[0] == "pass"
    assert not leftovers(marker)


def test_removing_a_tree_deeper_than_path_max_needs_no_recursion(deep_tmp: Path) -> None:
    """files.remove_tree removes 3,000 levels of 200-byte names, a folder without
    permissions among them."""
    top = deep_tmp / "top"
    top.mkdir()
    fd = os.open(top, os.O_RDONLY | os.O_DIRECTORY)
    for level in range(3000):
        os.mkdir("x" * 200, dir_fd=fd)
        os.close(os.open("f", os.O_CREAT | os.O_WRONLY, dir_fd=fd))
        inner = os.open("x" * 200, os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
        if level == 1500:
            os.chmod(inner, 0)
        os.close(fd)
        fd = inner
    os.close(fd)
    files.remove_tree(top)
    assert not top.exists()


# --- FIFOs and devices ------------------------------------------------------------------------


def test_a_fifo_in_a_submission_does_not_block_the_class(tmp_path: Path) -> None:
    """A FIFO beside network.py: the class is graded; the FIFO was neither read nor copied."""
    students = tmp_path / "class"
    correct(students, "ann")
    os.mkfifo(correct(students, "fifo") / "pipe")
    (students / "fifo" / "graph.md").unlink()
    os.mkfifo(students / "fifo" / "graph.md")
    reports = tmp_path / "reports"
    done = grade_cli(str(students), "--assignment", "bs6207-a1", "--reports", str(reports))
    assert done.returncode == 0, done.stderr
    graded = results(reports)
    assert graded["fifo"].score == graded["ann"].score == 10
    status, message = check(graded["fifo"], "graph-explanation")
    assert status == "fail"
    assert "graph.md is a FIFO, not a file; it was not read" in message


KEY_AND_DAT = """
import resource, sys
from pathlib import Path
resource.setrlimit(resource.RLIMIT_AS, (4 * 2**30, 4 * 2**30))
from grader import batch
from grader.assignment import load_assignment
from grader.checks import dat_files
folder = Path(sys.argv[1])
batch.submission_key(folder, load_assignment("bs6207-a1"))
print(dat_files.read(folder, "my_autograd.dat", {}, 5).problem)
"""


@ROOT_ONLY
def test_a_character_device_in_a_submission_is_not_read(tmp_path: Path) -> None:
    """/dev/zero's twin as my_autograd.dat: not read without end (the key and dat-files are
    tried first in a process capped at 4 GiB); dat-files says what it is."""
    folder = correct(tmp_path)
    (folder / "my_autograd.dat").unlink()
    os.mknod(folder / "my_autograd.dat", stat.S_IFCHR | 0o666, os.makedev(1, 5))
    os.mknod(folder / "zero", stat.S_IFCHR | 0o666, os.makedev(1, 5))
    done = subprocess.run(
        [sys.executable, "-c", KEY_AND_DAT, str(folder)], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout == "is a device, not a file; it was not read (hand in a file)\n"
    result = api.grade_submission(folder, ASSIGNMENT, tmp_path / "out")
    status, message = check(result, "dat-files")
    assert status == "fail"
    assert "my_autograd.dat: is a device, not a file; it was not read" in message
    assert check(result, "backprop-gradients")[0] == "pass"


def test_what_the_private_copy_leaves_out_is_named(tmp_path: Path) -> None:
    """Links and FIFOs stay out of the private copy, and the outcome says which."""
    folder = correct(tmp_path)
    os.mkfifo(folder / "pipe")
    (folder / "notes").symlink_to("/etc")
    outcome = run_student(folder, {"calls": []}, Limits())
    assert outcome.left_out == {"notes": "a symbolic link", "pipe": "a FIFO"}


# --- links ------------------------------------------------------------------------------------


def test_dat_files_linked_to_a_classmate_or_the_host_are_not_read(tmp_path: Path) -> None:
    """torch_autograd.dat linked to a classmate's, my_autograd.dat to a host file: dat-files
    fails saying each is a link, and no text of the host file reaches the outputs."""
    classmate = correct(tmp_path / "class", "classmate")
    student = correct(tmp_path / "class", "linker")
    secret = tmp_path / "host-secret.dat"
    secret.write_text("W1 1 1\n0.123456789 # SECRET-OF-THE-HOST\n")
    (student / "torch_autograd.dat").unlink()
    (student / "torch_autograd.dat").symlink_to(classmate / "torch_autograd.dat")
    (student / "my_autograd.dat").unlink()
    (student / "my_autograd.dat").symlink_to(secret)
    result = api.grade_submission(student, ASSIGNMENT, tmp_path / "out")
    status, message = check(result, "dat-files")
    assert status == "fail"
    assert message.startswith("torch_autograd.dat: is a symbolic link; it was not read")
    details = next(c for c in result.checks if c.id == "dat-files").details
    assert "my_autograd.dat: is a symbolic link; it was not read" in " ".join(details)
    for written in (tmp_path / "out" / "linker").iterdir():
        assert "SECRET-OF-THE-HOST" not in written.read_text()
        assert "0.123456789" not in written.read_text()


def test_network_py_as_a_link_is_said_to_be_a_link(tmp_path: Path) -> None:
    """network.py linked to a file beside it: not `missing`, but a link that was not used."""
    folder = correct(tmp_path)
    (folder / "network.py").rename(folder / "my_network.py")
    (folder / "network.py").symlink_to("my_network.py")
    result = api.grade_submission(folder, ASSIGNMENT, tmp_path / "out")
    status, message = check(result, "network-architecture")
    assert status == "error"
    assert "network.py is a symbolic link; it was not used" in message
    assert check(result, "backprop-gradients")[0] == "pass"


def test_a_link_inside_the_submission_is_not_followed_either(tmp_path: Path) -> None:
    """graph.md linked to a file of the submission itself is not read: links never are."""
    folder = correct(tmp_path)
    (folder / "graph.md").rename(folder / "explained.md")
    (folder / "graph.md").symlink_to("explained.md")
    with pytest.raises(files.NotAFile, match=r"graph\.md is a symbolic link; it was not read"):
        files.read(folder, "graph.md", 1000)


def test_reading_never_goes_through_a_linked_folder(tmp_path: Path) -> None:
    """pkg/ linked to a folder outside: pkg/backprop.py is not read through it."""
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "backprop.py").write_text("secret")
    folder = tmp_path / "sub"
    folder.mkdir()
    (folder / "pkg").symlink_to(outside)
    with pytest.raises(files.NotAFile, match="pkg is a symbolic link"):
        files.read(folder, "pkg/backprop.py", 1000)


# --- .dat files of tiny blocks ----------------------------------------------------------------

TINY_BLOCKS = """
import resource, sys
from pathlib import Path
resource.setrlimit(resource.RLIMIT_AS, (3 * 2**30, 3 * 2**30))
from grader.dat_match import read_printed
from grader.errors import DatFormatError
try:
    read_printed(Path(sys.argv[1]))
except DatFormatError as error:
    print(error)
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""


TINY = {  # 15 MiB of one-number blocks, as each reader sees them
    "dat": lambda: "".join(f"a{i} 1\n0\n" for i in range(15 * 2**20 // 12)),
    "labelled": lambda: "W: 1\n" * (15 * 2**20 // 5),
    "arrays": lambda: "[1]\n" * (15 * 2**20 // 4),
}


@pytest.mark.parametrize("kind", TINY)
def test_a_file_of_millions_of_tiny_blocks_is_refused_naming_the_limit(
    tmp_path: Path, kind: str
) -> None:
    """15 MiB of one-number blocks: read_printed stops at the block limit, names the file
    and the limit, and stays small (3 GiB of address space at most, in its own process)."""
    text = TINY[kind]()
    path = tmp_path / "my_autograd.dat"
    path.write_text(text)
    done = subprocess.run(
        [sys.executable, "-c", TINY_BLOCKS, str(path)], capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stderr
    message, peak_kib = done.stdout.splitlines()
    assert f"{path}: holds more than {dat.MAX_BLOCKS:,} blocks" in message
    assert int(peak_kib) < 1024 * 1024


def test_a_file_that_takes_too_long_to_read_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A parse over its time budget stops with a message naming the file and the budget."""
    from grader import dat_match

    monkeypatch.setattr(dat, "READ_SECONDS", 0.0)
    path = tmp_path / "my_autograd.dat"
    path.write_text("weights:\n" + "[1, 2]\n" * 1000)
    with pytest.raises(GradeError, match=r"took more than 0 s to read"):
        dat_match.read_printed(path)


DROP = """
import importlib.util, os, sys
spec = importlib.util.spec_from_file_location("zygote", sys.argv[1])
zygote = importlib.util.module_from_spec(spec)
spec.loader.exec_module(zygote)
fd = os.open(sys.argv[2], os.O_RDONLY)  # before: its parent is root's alone
zygote._drop_privileges(123457, sys.argv[2])
while True:
    assert os.stat(fd).st_uid == 123457
    if "d" not in os.listdir(fd):
        break
    fd = os.open("d", os.O_RDONLY, dir_fd=fd)
print(os.getuid(), os.stat("f", dir_fd=fd).st_uid)
"""


@ROOT_ONLY
def test_the_child_is_given_a_deep_copy_without_recursion(deep_tmp: Path) -> None:
    """The fork server's child takes ownership of every folder of a copy 1,200 deep (the
    parent refuses such a submission, but the walk must not be what stops it)."""
    nest(deep_tmp, 1200)
    fd = os.open(deep_tmp, os.O_RDONLY)
    for _ in range(1200):
        inner = os.open("d", os.O_RDONLY, dir_fd=fd)
        os.close(fd)
        fd = inner
    os.close(os.open("f", os.O_CREAT | os.O_WRONLY, dir_fd=fd))
    os.close(fd)
    zygote = Path(isolation.__file__).with_name("zygote.py")
    done = subprocess.run(
        [sys.executable, "-I", "-c", DROP, str(zygote), str(deep_tmp)],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout == "123457 123457\n"


@pytest.mark.parametrize("read", [dat.parse_dat_blocks, printed.read_blocks], ids=["dat", "text"])
def test_the_block_limit_is_max_blocks(read: Callable[[str], list[object]]) -> None:
    """MAX_BLOCKS blocks are read; one more is refused."""
    text = "".join(f"a{i} 1\n0\n" for i in range(dat.MAX_BLOCKS))
    assert len(read(text)) == dat.MAX_BLOCKS
    with pytest.raises(DatLimitError, match="holds more than 100,000 blocks"):
        read(text + "z 1\n0\n")


NOBODY_REMOVES = """
import os, sys
from pathlib import Path
from grader import files  # before: the Python found as root may be root's alone
os.setgid(65534)
os.setuid(65534)
top = Path(sys.argv[1]) / "top"
top.mkdir()
fd = os.open(top, os.O_RDONLY)
for level in range(200):
    os.mkdir("d", dir_fd=fd)
    os.close(os.open("f", os.O_CREAT | os.O_WRONLY, dir_fd=fd))
    inner = os.open("d", os.O_RDONLY, dir_fd=fd)
    os.close(fd)
    fd = inner
os.close(fd)
fd = os.open(top, os.O_RDONLY)
for level in range(101):  # level 50 cannot be written (its files stay), 100 not even read
    os.chmod(fd, 0 if level == 100 else 0o500 if level == 50 else 0o700)
    inner = os.open("d", os.O_RDONLY, dir_fd=fd) if level < 100 else -1
    os.close(fd)
    fd = inner
files.remove_tree(top)
print(top.exists())
"""


@ROOT_ONLY
def test_a_tree_its_owner_locked_is_removed_all_the_same() -> None:
    """Not as root (bubblewrap, no sandbox): a student's code that takes away its copy's
    permissions does not keep it from being removed (in /tmp: tmp_path is root's alone)."""
    base = Path(tempfile.mkdtemp(prefix="grade-test-"))
    try:
        os.chown(base, 65534, 65534)
        done = subprocess.run(
            [sys.executable, "-c", NOBODY_REMOVES, str(base)], capture_output=True, text=True
        )
    finally:
        subprocess.run(["rm", "-rf", "--", str(base)], check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout == "False\n"
