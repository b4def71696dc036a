"""Which folder of a submission is graded: version control's folders are never part of it
(grader.files), and the homework is found in the one folder below it that holds the
contract's files (grader.homework), for `grade --github` and Gradescope as for a class."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from test_github import actions_env, decode, read_lines  # noqa: F401 (actions_env: a fixture)

from grader import api, batch, files, homework
from grader.assignment import Assignment, Contract, load_assignment
from grader.cli import main
from grader.errors import GradeError
from grader.sandbox import run

ROOT = Path(__file__).parent.parent
EXAMPLES = ROOT / "submissions"
ASSIGNMENT = load_assignment("bs6207-a1")
DATA_BYTES = 3 * 2**20 // 4  # 0.75 MiB: under a 1 MiB limit alone, over it twice


def small_limit(mib: int = 1) -> Assignment:
    """bs6207-a1 with limits.submission_mib = `mib`."""
    limits = ASSIGNMENT.limits.model_copy(update={"submission_mib": mib})
    return ASSIGNMENT.model_copy(update={"limits": limits})


def git(folder: Path, *args: str) -> None:
    command = ["git", "-C", str(folder), "-c", "user.name=s", "-c", "user.email=s@x", *args]
    subprocess.run(command, check=True, capture_output=True)


def repository(path: Path, vcs: str, student: str = "correct") -> Path:
    """A student's repository: the example student and DATA_BYTES of random data (which does
    not compress), committed, so the VCS folder holds another copy of the data. `.git` is made
    by git; `.git-file` is a worktree, whose `.git` is a file; `.hg` and `.svn` are written as
    their tools lay them out (neither tool is installed here)."""
    repo = path / "repo"
    shutil.copytree(EXAMPLES / student, repo)
    data = os.urandom(DATA_BYTES)
    (repo / "data.bin").write_bytes(data)
    if vcs in (".git", ".git-file"):
        git(repo, "init", "-q")
        git(repo, "add", "-A")
        git(repo, "commit", "-qm", "homework")
        if vcs == ".git-file":
            git(repo, "worktree", "add", "-q", str(path / "worktree"))
            repo = path / "worktree"
            assert (repo / ".git").is_file()
    else:
        store = repo / vcs / ("store/data" if vcs == ".hg" else "pristine/ab")
        store.mkdir(parents=True)
        (store / "data.bin.i").write_bytes(data)
        for n in range(40):  # a VCS folder holds many small files too
            (store / f"f{n}.i").write_bytes(b"x")
    return repo


VCS = [".git", ".git-file", ".hg", ".svn"]


# --- version control's folders: never counted, copied or keyed --------------------------------


@pytest.mark.parametrize("vcs", VCS)
def test_a_vcs_folder_is_not_walked(tmp_path: Path, vcs: str) -> None:
    """The walk every limit, the copy and the key read gives nothing of .git, .hg or .svn."""
    repo = repository(tmp_path, vcs)
    paths = [entry.path for entry in files.walk(repo)]
    assert "data.bin" in paths and "backprop.py" in paths
    assert not [p for p in paths if p.split("/")[0] in files.VCS], paths


@pytest.mark.parametrize("vcs", VCS)
def test_the_size_limit_leaves_the_vcs_folder_out(tmp_path: Path, vcs: str) -> None:
    """0.75 MiB of data in a repository whose VCS folder holds another 0.75 MiB: under a
    1 MiB limit (the data alone counts); the same data twice beside it is over."""
    repo = repository(tmp_path, vcs)
    limits = small_limit().limits
    assert run._too_big(repo, limits) is None
    (repo / "data2.bin").write_bytes(os.urandom(DATA_BYTES))
    assert run._too_big(repo, limits) == "the submission folder holds more than 1 MiB"


@pytest.mark.parametrize("vcs", VCS)
def test_the_file_and_name_limits_leave_the_vcs_folder_out(
    tmp_path: Path, vcs: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Limits on files and names just above the student's own: the VCS folder's many files
    (over 40) do not count towards either."""
    repo = repository(tmp_path, vcs)
    own = len(list(files.walk(repo)))
    monkeypatch.setattr(run, "MAX_FILES", own)
    monkeypatch.setattr(files, "MAX_ENTRIES", own)
    assert run._too_big(repo, small_limit().limits) is None
    assert len(list(files.walk(repo))) == own


@pytest.mark.parametrize("vcs", VCS)
def test_the_private_copy_holds_no_vcs_folder(tmp_path: Path, vcs: str) -> None:
    repo = repository(tmp_path, vcs)
    assert files.copy_tree(repo, tmp_path / "copy") == {}
    assert sorted(p.name for p in (tmp_path / "copy").iterdir()) == sorted(
        p.name for p in repo.iterdir() if p.name not in files.VCS
    )


@pytest.mark.parametrize("vcs", VCS)
def test_the_key_is_the_same_after_a_commit_that_changes_no_file(tmp_path: Path, vcs: str) -> None:
    """A rerun after a commit (only the VCS folder changed) reuses the result; a changed file
    does not."""
    repo = repository(tmp_path, vcs)
    key = batch.submission_key(repo, small_limit())
    if vcs.startswith(".git"):
        git(repo, "commit", "-q", "--allow-empty", "-m", "again")
    else:
        (repo / vcs / "commit").write_bytes(os.urandom(64))
    assert batch.submission_key(repo, small_limit()) == key
    (repo / "data.bin").write_bytes(os.urandom(DATA_BYTES))
    assert batch.submission_key(repo, small_limit()) != key


@pytest.mark.usefixtures("actions_env")
def test_a_correct_repository_with_data_is_graded_in_full(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The issue's case at a smaller scale, graded for real with --github: a correct student
    whose committed data is under the limit alone, over it with .git counted; full points."""
    repo = repository(tmp_path, ".git")
    toml = tmp_path / "small.toml"
    preset = (ROOT / "grader" / "assignments" / "bs6207-a1.toml").read_text()
    toml.write_text(preset + "\n[limits]\nsubmission_mib = 1\n")
    argv = [str(repo), "--assignment", str(toml), "--reports", str(tmp_path / "r"), "--github"]
    assert main(argv) == 0
    capsys.readouterr()
    outputs = read_lines(Path(os.environ["GITHUB_OUTPUT"]))
    assert (outputs["points"], outputs["max-points"]) == ("10", "10"), decode(outputs["result"])


# --- the homework in a folder of the submission ------------------------------------------------


def homework_repository(path: Path, student: str = "correct", into: str = "hw1") -> Path:
    """A student's repository as Classroom checks it out: README.md, data/ (a csv) and the
    homework in `into`, committed."""
    repo = path / "hw1-alice"
    shutil.copytree(EXAMPLES / student, repo / into)
    (repo / "data").mkdir()
    (repo / "data" / "train.csv").write_text("x,y\n0.5,0.25\n")
    (repo / "README.md").write_text("# Homework 1\n")
    git(repo, "init", "-q")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "homework")
    return repo


def test_the_one_folder_holding_the_modules_is_found(tmp_path: Path) -> None:
    repo = homework_repository(tmp_path)
    found = homework.find(repo, Contract())
    assert found == homework.Homework(
        repo / "hw1", "hw1", "graded hw1/, the one folder holding network.py and backprop.py"
    )


def test_a_folder_holding_the_files_is_graded_itself(tmp_path: Path) -> None:
    shutil.copytree(EXAMPLES / "correct", tmp_path / "alice")
    (tmp_path / "alice" / "old").mkdir()
    shutil.copy(EXAMPLES / "correct" / "network.py", tmp_path / "alice" / "old")
    assert homework.find(tmp_path / "alice", Contract()) == homework.Homework(tmp_path / "alice")


def test_a_notebook_in_a_folder_is_found(tmp_path: Path) -> None:
    """A notebook two folders down, beside a folder of data: found, named in the note."""
    (tmp_path / "course" / "A1").mkdir(parents=True)
    (tmp_path / "course" / "A1" / "hw1.ipynb").write_text("{}")
    (tmp_path / "data").mkdir()
    found = homework.find(tmp_path, Contract())
    assert (found.below, found.note) == (
        "course/A1",
        "graded course/A1/, the one folder holding hw1.ipynb",
    )


def test_several_folders_are_refused_naming_them_and_the_fix(tmp_path: Path) -> None:
    repo = homework_repository(tmp_path)
    shutil.copytree(repo / "hw1", repo / "hw1-old")
    found = homework.find(repo, Contract())
    assert (found.folder, found.below) == (repo, "")
    assert found.problem == (
        "2 folders hold network.py, backprop.py or a notebook: hw1/, hw1-old/; grade grades "
        "one: keep only your homework's folder, or name the one to grade (grade the folder "
        "hw1/ itself; in GitHub Classroom, the grade step's input path: hw1)"
    )


def test_what_is_not_homework_is_not_looked_into(tmp_path: Path) -> None:
    """Copies of network.py in version control, caches, node_modules, a virtual environment,
    a hidden folder, __MACOSX, behind a link or deeper than MAX_DOWN are not the homework."""
    repo = homework_repository(tmp_path)
    places = [
        ".git/x", "__MACOSX/hw1", "node_modules/pkg", ".venv/lib", "env/lib", "myenv/lib",
        "site-packages/net", "a/b/c/hw1", ".hidden",
    ]  # fmt: skip
    for place in places:
        (repo / place).mkdir(parents=True, exist_ok=True)
        shutil.copy(EXAMPLES / "correct" / "network.py", repo / place)
    (repo / "myenv" / "pyvenv.cfg").write_text("home = /usr/bin\n")
    (repo / "link").symlink_to(repo / "hw1")
    assert homework.find(repo, Contract()).below == "hw1"
    assert homework.MAX_DOWN == 3  # a/b/c/hw1 is four folders down


def test_a_class_folder_is_still_a_class(tmp_path: Path) -> None:
    """`grade submissions/` grades each student; as one submission it is refused, by name."""
    for name in ("alice", "bob"):
        shutil.copytree(EXAMPLES / "correct", tmp_path / "class" / name)
    found = api.find_submissions([tmp_path / "class"], ASSIGNMENT)
    assert [p.name for p in found] == ["alice", "bob"]
    with pytest.raises(GradeError, match=r"2 folders hold .*: alice/, bob/; grade grades one"):
        api.submission(tmp_path / "class", ASSIGNMENT)


@pytest.mark.usefixtures("actions_env")
def test_github_grades_the_homework_in_a_folder_and_annotates_its_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The issue's repository (README.md, data/, the homework in hw1/) graded as Classroom
    does, for real: the transposed student's points, the summary saying which folder was
    graded, the annotation on hw1/backprop.py; the student keeps the repository's name."""
    repo = homework_repository(tmp_path, "transposed_weight_grads")
    reports = tmp_path / "reports"
    argv = [str(repo), "--assignment", "bs6207-a1", "--reports", str(reports), "--github"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    outputs = read_lines(Path(os.environ["GITHUB_OUTPUT"]))
    assert (outputs["points"], outputs["max-points"]) == ("5", "10")
    summary = Path(os.environ["GITHUB_STEP_SUMMARY"]).read_text()
    assert "Graded hw1\\/\\, the one folder holding network\\.py and backprop\\.py\\." in summary
    assert f"::error file={os.path.relpath(repo)}/hw1/backprop.py,line=" in out
    report = (reports / "hw1-alice" / "report.html").read_text()
    assert "Graded hw1/, the one folder holding network.py and backprop.py" in report
