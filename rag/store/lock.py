"""The lock that keeps a second process out of an embedded store."""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from rag.errors import StoreError


class StoreLock:
    """An exclusive advisory lock on an embedded store directory.

    Embedded Chroma keeps in-process caches of its index files, so two processes writing (or one
    writing while another reads) corrupt or silently diverge. We refuse the second opener with a
    clear message and point at server mode, which is built for several processes.
    """

    def __init__(self, directory: Path) -> None:
        self.path = directory / ".citewire.lock"
        self._fh = open(self.path, "a+")  # noqa: SIM115 - held for the store's lifetime
        try:
            fcntl.flock(self._fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self._fh.seek(0)
            holder = self._fh.read().strip() or "another process"
            self._fh.close()
            raise StoreError(
                f"store {directory} is in use by {holder}; embedded Chroma is single-process — "
                "stop it, or use server mode: run a Chroma server (chroma run --path DIR) and pass --chroma-url"
            ) from None
        self._fh.seek(0)
        self._fh.truncate()
        self._fh.write(f"citewire pid {os.getpid()}")
        self._fh.flush()

    def release(self) -> None:
        if not self._fh.closed:
            fcntl.flock(self._fh, fcntl.LOCK_UN)
            self._fh.close()

