"""The grader's own file work: a submission walked, read and copied without following anything
but regular files and folders, a tree removed however deep, and writes a reader never sees
half of.

A submission is hostile data, like everything else a student sends. Every name is opened
relative to its folder's descriptor with O_NOFOLLOW, so no symbolic link is ever followed, not
even to a file of the submission itself (one rule, said in every message: put the file itself
there); only what lstat calls a regular file is opened (O_NONBLOCK, checked again by fstat), so
a FIFO cannot block the grader and a device cannot feed it without end; the walk keeps a stack
of folders, never recursion, and stops at MAX_DEPTH levels and MAX_ENTRIES names. Caches
(`__pycache__`, `*.pyc`) and version control's own folders (VCS: `.git`, a folder or the file
of a worktree or submodule, `.hg`, `.svn`) are no part of a submission: not walked, so never
copied into the sandbox, never keyed and never counted by a limit (a repository's `.git`
holds a second copy of every file committed; the student's code never sees it).
"""

from __future__ import annotations

import errno
import os
import stat
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from grader.printable import printable

MAX_DEPTH = 64  # folders within folders; a Python package needs a handful
MAX_ENTRIES = 20_000  # files and folders in all
MAX_TEXT = 16 * 2**20  # bytes of a text file the grader reads (the rest is not read)
VCS = frozenset({".git", ".hg", ".svn"})
CACHES = frozenset({"__pycache__"}) | VCS
_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_FILE = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC
_LINK = (
    "is a symbolic link; it was not {done} (grade follows no link, not even to a file of the "
    "submission: put the file itself there)"
)


def student_name(folder: Path) -> str:
    """The name a submission is graded, seeded and shown under: its folder's name, `shown`."""
    return shown(folder.name)


def shown(path: str) -> str:
    """A name or path as UTF-8, each byte that is not UTF-8 written `\\xNN` (a Latin-1
    `stud\\xe9nt`) and each control character as its escape (`\\x1b`, `\\n`): the bytes on
    disk, never a lone surrogate, nothing that drives a terminal or forges a line of a file."""
    return printable(os.fsencode(path).decode("utf-8", errors="backslashreplace"))


def kind(mode: int) -> str:
    """What a file of this mode is, in words: `file`, `folder`, `a symbolic link`, ..."""
    if stat.S_ISREG(mode):
        return "file"
    if stat.S_ISDIR(mode):
        return "folder"
    if stat.S_ISLNK(mode):
        return "a symbolic link"
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    return "a socket" if stat.S_ISSOCK(mode) else "not a file"


class SubmissionError(Exception):
    """A submission folder that cannot be graded as a whole: too deep, too many names, or a
    folder that cannot be read. The message is for the student's report."""


class NotAFile(OSError):
    """A submission file that was not read, and why: `path`, `kind` (`missing`, `folder`,
    `a symbolic link`, `a FIFO`, `a device`, ... or `unreadable`) and `reason`, which follows
    the path in `str(error)`: `graph.md is a FIFO, not a file; it was not read`."""

    def __init__(self, path: str, kind: str, reason: str) -> None:
        super().__init__(f"{shown(path)} {reason}")
        self.path, self.kind, self.reason = path, kind, reason

    def __str__(self) -> str:
        return str(self.args[0])

    @classmethod
    def of(cls, path: str, what: str, done: str = "read") -> NotAFile:
        """The error for a name that is `what` (a kind()) where a file was wanted."""
        if what == "a symbolic link":
            return cls(path, what, _LINK.format(done=done))
        if what == "folder":
            return cls(path, what, "is a folder, not a file")
        return cls(path, what, f"is {what}, not a file; it was not {done} (hand in a file)")


@dataclass(frozen=True)
class Entry:
    """A name in a submission as `walk` gives it: its path (relative, `/`-separated), what it
    is (`kind`), its lstat, how many folders deep, and its folder's descriptor (`at`), open
    only until the walk goes on."""

    path: str
    name: str
    kind: str
    stat: os.stat_result
    depth: int
    at: int


def walk(folder: Path) -> Iterator[Entry]:
    """Every name under `folder` (the caches left out), depth first, each folder's names in
    byte order, a folder before what it holds; links are given, never followed. Raises
    SubmissionError past MAX_DEPTH or MAX_ENTRIES, or if a folder cannot be read."""
    try:
        top = os.open(folder, _DIR & ~os.O_NOFOLLOW)  # the folder as the TA named it
    except OSError as error:
        raise SubmissionError(f"the submission folder cannot be read ({error.strerror})") from None
    stack = [(top, iter(_names(top, "")), "")]
    count = 0
    try:
        while stack:
            at, names, prefix = stack[-1]
            item = next(names, None)
            if item is None:
                os.close(stack.pop()[0])
                continue
            name, status = item
            entry = Entry(prefix + name, name, kind(status.st_mode), status, len(stack), at)
            count += 1
            if count > MAX_ENTRIES:
                raise SubmissionError(
                    f"the submission folder holds more than {MAX_ENTRIES:,} files and folders"
                )
            yield entry
            if entry.kind != "folder":
                continue
            if entry.depth > MAX_DEPTH:
                start = "/".join(shown(entry.path).split("/")[:3])
                raise SubmissionError(
                    f"the submission folder is nested more than {MAX_DEPTH} folders deep "
                    f"({start}/...); grade reads at most {MAX_DEPTH} levels: hand in your files "
                    "without that folder"
                )
            try:
                inner = os.open(name, _DIR, dir_fd=at)
            except OSError as error:
                raise _unreadable(entry.path, error) from None
            stack.append((inner, iter(_names(inner, entry.path)), entry.path + "/"))
    finally:
        for at, *_ in stack:
            os.close(at)


def _names(at: int, path: str) -> list[tuple[str, os.stat_result]]:
    """The names in the open folder `at` and their lstat, caches left out, in byte order."""
    found = []
    try:
        with os.scandir(at) as entries:
            for entry in entries:
                if entry.name in CACHES or entry.name.endswith(".pyc"):
                    continue
                found.append((entry.name, entry.stat(follow_symlinks=False)))
                if len(found) > MAX_ENTRIES:
                    break  # walk says so
    except OSError as error:
        raise _unreadable(path, error) from None
    return sorted(found, key=lambda item: os.fsencode(item[0]))


def _unreadable(path: str, error: OSError) -> SubmissionError:
    where = f"its folder {shown(path)}" if path else "the submission folder"
    return SubmissionError(f"{where} cannot be read ({error.strerror})")


def open_entry(entry: Entry) -> int:
    """A descriptor on the regular file `entry` (from `walk`); NotAFile if it is none."""
    return _open_file(entry.at, entry.name, entry.path)


def read(folder: Path, path: str | Path, limit: int) -> bytes:
    """The first `limit` bytes of the file `path` (relative) of the submission `folder`;
    NotAFile if it is missing, a link (or under one), a folder, a FIFO, a device..."""
    parts = PurePosixPath(path).parts
    if not parts or any(part in ("..", "/") for part in parts):
        raise NotAFile(str(path), "unreadable", "is not a path within the submission")
    shown_so_far = ""
    at = os.open(folder, _DIR & ~os.O_NOFOLLOW)
    try:
        for part in parts[:-1]:
            shown_so_far += part
            try:
                status = os.stat(part, dir_fd=at, follow_symlinks=False)
                inner = os.open(part, _DIR, dir_fd=at) if stat.S_ISDIR(status.st_mode) else -1
            except FileNotFoundError:
                raise NotAFile(str(path), "missing", "is missing") from None
            except OSError as error:
                reason = f"cannot be read ({error.strerror})"
                raise NotAFile(shown_so_far, "unreadable", reason) from None
            if inner < 0:
                raise NotAFile.of(shown_so_far, kind(status.st_mode))
            os.close(at)
            at = inner
            shown_so_far += "/"
        fd = _open_file(at, parts[-1], str(path))
    finally:
        os.close(at)
    with os.fdopen(fd, "rb") as file:
        return file.read(limit)


def read_text(folder: Path, path: str | Path, limit: int = MAX_TEXT) -> str:
    """`read`, as UTF-8 (what is not, replaced)."""
    return read(folder, path, limit).decode("utf-8", errors="replace")


def _open_file(at: int, name: str, path: str) -> int:
    """Open the regular file `name` in the folder `at`, never following a link, never
    blocking on a FIFO; NotAFile (naming `path`) for anything else."""
    try:
        status = os.stat(name, dir_fd=at, follow_symlinks=False)
        if not stat.S_ISREG(status.st_mode):
            raise NotAFile.of(path, kind(status.st_mode))
        fd = os.open(name, _FILE, dir_fd=at)
    except FileNotFoundError:
        raise NotAFile(path, "missing", "is missing") from None
    except OSError as error:
        if isinstance(error, NotAFile):
            raise
        if error.errno == errno.ELOOP:  # a link since the stat
            raise NotAFile.of(path, "a symbolic link") from None
        raise NotAFile(path, "unreadable", f"cannot be read ({error.strerror})") from None
    if not stat.S_ISREG(os.fstat(fd).st_mode):  # replaced since the stat
        os.close(fd)
        raise NotAFile.of(path, "not a file")
    os.set_blocking(fd, True)
    return fd


def copy_tree(folder: Path, destination: Path) -> dict[str, str]:
    """Copy the submission's folders and regular files (with their modes, readable and writable
    by their owner: a .dat file handed in read-only is one a notebook rewrites on the student's
    machine) into the new folder `destination`; what was left out, path → kind (`a symbolic
    link`, `a FIFO`, ...). SubmissionError as `walk` raises it."""
    os.mkdir(destination, 0o700)
    into = [os.open(destination, _DIR)]  # the copy's folder at each depth
    left_out: dict[str, str] = {}
    try:
        for entry in walk(folder):
            while len(into) > entry.depth:
                os.close(into.pop())
            mode = entry.stat.st_mode & 0o777  # no setuid, setgid or sticky bit
            if entry.kind == "folder":
                os.mkdir(entry.name, 0o700, dir_fd=into[-1])
                into.append(os.open(entry.name, _DIR, dir_fd=into[-1]))
                os.chmod(into[-1], mode | 0o700)
            elif entry.kind == "file":
                _copy_file(entry, into[-1], mode | 0o600)
            else:
                left_out[shown(entry.path)] = entry.kind
    finally:
        for at in into:
            os.close(at)
    return left_out


def _copy_file(entry: Entry, into: int, mode: int) -> None:
    try:
        source = open_entry(entry)
    except NotAFile:  # changed since the walk (the TA's folder, not the student's code)
        return
    try:
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
        target = os.open(entry.name, flags, mode, dir_fd=into)
        try:
            while os.sendfile(target, source, None, 1 << 24):
                pass
            os.chmod(target, mode)
        finally:
            os.close(target)
    finally:
        os.close(source)


def remove_tree(path: Path) -> None:
    """Remove `path` and everything under it, however deep (a student's code can make its
    copy thousands of folders deep, far past PATH_MAX): one folder open at a time, each name
    relative to it, back up by `..`; folders without permissions are given them back."""
    parent = os.open(path.parent, _DIR & ~os.O_NOFOLLOW)
    try:
        try:
            at = _open_folder(path.name, parent)
        except FileNotFoundError:
            return
        except OSError as error:
            if error.errno not in (errno.ENOTDIR, errno.ELOOP):
                raise
            os.unlink(path.name, dir_fd=parent)
            return
        names = [path.name]  # the folders open from `parent` down to `at`
        try:
            while True:
                inner = _empty_but_a_folder(at)
                if inner is not None:
                    below = _open_folder(inner, at)
                    os.close(at)
                    at = below
                    names.append(inner)
                elif len(names) > 1:
                    above = os.open("..", _DIR, dir_fd=at)
                    os.close(at)
                    at = above
                    os.rmdir(names.pop(), dir_fd=at)
                else:
                    break
        finally:
            os.close(at)
        os.rmdir(path.name, dir_fd=parent)
    finally:
        os.close(parent)


def _open_folder(name: str, at: int) -> int:
    try:
        return os.open(name, _DIR, dir_fd=at)
    except PermissionError:
        os.chmod(name, 0o700, dir_fd=at)
        return os.open(name, _DIR, dir_fd=at)


def _empty_but_a_folder(at: int) -> str | None:
    """Remove every name in the folder `at` but folders; the first folder left, or None."""
    with os.scandir(at) as entries:
        for entry in entries:
            if entry.is_dir(follow_symlinks=False):
                return entry.name
            try:
                os.unlink(entry.name, dir_fd=at)
            except PermissionError:
                os.chmod(at, 0o700)
                os.unlink(entry.name, dir_fd=at)
    return None


def write_atomic(path: Path, data: bytes, durable: bool = True) -> None:
    """Write `data` to `path` through a temp file in the same folder and an atomic rename.

    `durable`: on disk before the rename, so a power cut leaves the old file or the new one.
    Without it the file is still whole or absent for every process, whatever is killed, but a
    power cut before the system writes it back may leave it empty or cut short (a batch of
    students syncs once at its end instead of twice a student).
    """
    temp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:12]}.tmp")
    # os.open with 0o666 lets the umask set the mode, as for any new file (mkstemp gives 0o600).
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
    try:
        with os.fdopen(fd, "wb") as file:
            file.write(data)
            file.flush()
            if durable:
                os.fsync(file.fileno())
        os.replace(temp, path)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
