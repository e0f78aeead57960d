"""An exclusive lock on a file, refused at once when held: the project folder's materialization lock
(tasks/locks.py) and a SQLite online store's (online/sqlite.py) are both one."""

from __future__ import annotations

import contextlib
import fcntl
import os
from typing import Iterator

from fcompile.diagnostics import DiagnosticError


@contextlib.contextmanager
def exclusive_file_lock(path: str, busy: DiagnosticError) -> Iterator[None]:
    """An exclusive `flock` on `path` (created if missing) while the block runs; `busy` is raised at once when
    another open file holds it. The lock belongs to the open file: a killed process releases it."""
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    handle = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise busy from None
        yield
    finally:
        os.close(handle)  # closing the file releases the lock
