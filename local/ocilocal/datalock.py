"""One local cloud per data folder: an exclusive lock held while it runs.

Two clouds on one folder would share cloud.db, rewrite each other's
state.json and point the stream secret at each other's port; the second one
is refused before it touches anything. The lock is an ``flock`` on
``DIR/ocilocal.lock``, so it goes with the process however that ends.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path
from typing import IO

LOCK_NAME = "ocilocal.lock"


class DataDirInUse(RuntimeError):
    """Another local cloud holds the data folder."""


class DataDirLock:
    """The exclusive lock on one data folder."""

    def __init__(self, data_dir: Path) -> None:
        self.path = data_dir / LOCK_NAME
        self._file: IO[str] | None = None

    @property
    def held(self) -> bool:
        return self._file is not None

    def acquire(self) -> None:
        """Take the lock, or raise DataDirInUse naming the holder's pid."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle = self.path.open("a+", encoding="utf-8")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "unknown"
            handle.close()
            raise DataDirInUse(
                f"data folder {self.path.parent} is in use by another local cloud"
                f" (pid {holder}); stop it or choose another --data folder"
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"{os.getpid()}\n")
        handle.flush()
        self._file = handle

    def release(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
