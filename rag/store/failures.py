"""Chroma failing, said in one line: a server gone, a full disk, a corrupted or read-only store.

Every collection call goes through :class:`GuardedCollection`, so whatever part of citewire
touches Chroma (the store's own methods, LlamaIndex's ``ChromaVectorStore``, tests), a failing
store is one :class:`rag.errors.StoreError` with a message a user can act on.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sqlite3
from collections.abc import Iterator
from typing import Any

import chromadb
import chromadb.errors
import httpx
from chromadb.api.models.Collection import Collection

from rag.errors import StoreError, StoreFullError

_LOW_DISK_BYTES = 8 * 2**20  # a failing write with less free space than this is reported as a full disk

# Chroma's own argument errors are bugs of the caller, not store failures: they keep their type.
_CALLER_ERRORS: tuple[type[BaseException], ...] = tuple(
    getattr(chromadb.errors, n) for n in ("InvalidArgumentError", "DuplicateIDError", "IDAlreadyExistsError",
                                          "InvalidUUIDError", "BatchSizeExceededError")
    if hasattr(chromadb.errors, n)
)


def _is_store_failure(exc: BaseException) -> bool:
    """Whether ``exc`` is the store failing (transport, database, disk) rather than a bug of ours."""
    if isinstance(exc, (StoreError, *_CALLER_ERRORS)):
        return False
    if isinstance(exc, (httpx.HTTPError, chromadb.errors.ChromaError, sqlite3.Error, OSError)):
        return True
    # Chroma's HTTP client raises a bare Exception for a non-Chroma error status; its Rust
    # bindings raise pyo3's PanicException (a BaseException) when SQLite hands them garbage.
    return type(exc) is Exception or type(exc).__name__ == "PanicException"


def store_failure(exc: BaseException, where: str) -> StoreError:
    """A one-line :class:`StoreError` saying what went wrong with the store at ``where``."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    low = text.lower()
    if isinstance(exc, httpx.TransportError):
        return StoreError(
            f"lost the Chroma server at {where} ({type(exc).__name__}: {text}); is it running? "
            "Ask again once it is back"
        )
    if "disk is full" in low or "no space left" in low or getattr(exc, "errno", None) == 28:
        return StoreFullError(
            f"the disk holding the store {where} is full ({text}); free some space and run it again"
        )
    free = _free_bytes(where)
    if free is not None and free < _LOW_DISK_BYTES:  # Chroma's compactor reports ENOSPC as a vague failure
        return StoreFullError(
            f"the disk holding the store {where} is full ({free // 1024} KiB left; Chroma said: {text}); "
            "free some space and run it again"
        )
    if "readonly" in low or "read-only" in low:
        return StoreError(f"the store {where} is read-only ({text})")
    if "malformed" in low or "not a database" in low or "columndecode" in low or "utf8error" in low:
        return StoreError(f"the store {where} is corrupted ({text}); restore it from a backup or ingest anew")
    if isinstance(exc, chromadb.errors.NotFoundError):
        return StoreError(f"{text} at {where}; was the collection deleted meanwhile?")
    return StoreError(f"the Chroma store {where} failed: {text}")


def _free_bytes(where: str) -> int | None:
    """Free space on the filesystem of an embedded store (None for a server URL or a missing path)."""
    if "://" in where or not os.path.isdir(where):
        return None
    try:
        return shutil.disk_usage(where).free
    except OSError:
        return None


@contextlib.contextmanager
def guard(where: str) -> Iterator[None]:
    """Turn Chroma's transport, database and disk errors inside the block into :class:`StoreError`."""
    try:
        yield
    except BaseException as exc:
        if _is_store_failure(exc):
            raise store_failure(exc, where) from exc
        raise


class GuardedCollection:
    """A Chroma collection whose failing calls raise :class:`StoreError` (with a user message).

    The store's methods, LlamaIndex's ``ChromaVectorStore`` (dense retrieval) and tests all reach
    Chroma through these, so a server that went away or a full disk is one clear error everywhere.
    """

    def __init__(self, collection: Collection, where: str) -> None:
        self._collection = collection
        self._where = where

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._collection, name)
        if name.startswith("_") or not callable(attr):
            return attr
        where = self._where

        def call(*args: Any, **kwargs: Any) -> Any:
            with guard(where):
                return attr(*args, **kwargs)

        call.__name__ = name
        return call

    def __repr__(self) -> str:
        return f"<guarded {self._collection!r}>"

