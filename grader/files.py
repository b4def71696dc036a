"""Writing files so that a reader never sees half of one: a temp file, then os.replace."""

from __future__ import annotations

import os
import uuid
from pathlib import Path


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
