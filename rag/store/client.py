"""Opening Chroma: a server by URL, or an embedded directory (locked, checked for damage first)."""

from __future__ import annotations

import logging
import os
import re
import sqlite3
from pathlib import Path

import chromadb
from chromadb.api import ClientAPI
from chromadb.config import Settings as ChromaSettings

from rag.errors import StoreError
from rag.settings import Settings
from rag.store.failures import guard
from rag.store.lock import StoreLock

log = logging.getLogger(__name__)

_QUICK_CHECK_MAX_BYTES = 64 * 2**20  # quick_check reads the whole file: ~0.35 s for 64 MB (585 MB took 3.2 s)


def open_client(settings: Settings, create: bool) -> tuple[ClientAPI, StoreLock | None]:
    chroma_settings = ChromaSettings(anonymized_telemetry=False, allow_reset=False)
    if settings.chroma_url:
        from urllib.parse import urlparse

        url = urlparse(settings.chroma_url)
        if url.scheme not in ("http", "https") or not url.hostname:
            raise StoreError(f"--chroma-url {settings.chroma_url!r} is not of the form http://HOST:PORT")
        try:
            client = chromadb.HttpClient(
                host=url.hostname,
                port=url.port or 8000,
                ssl=url.scheme == "https",
                settings=chroma_settings,
            )
            client.heartbeat()
        except Exception as exc:  # the client raises several unrelated types for "not there"
            raise StoreError(
                f"cannot reach the Chroma server at {settings.chroma_url}: {' '.join(str(exc).split())}"
                " (start one with: chroma run --path DIR --host HOST --port PORT)"
            ) from None
        return client, None

    directory = settings.store_dir
    if not directory.exists():
        if not create:
            raise StoreError(f"no store at {directory}; run `citewire ingest` first (or pass --store)")
        try:
            directory.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"cannot create store directory {directory}: {exc.strerror}") from None
    if not directory.is_dir():
        raise StoreError(f"store path {directory} is not a directory")
    database = directory / "chroma.sqlite3"
    if not os.access(directory, os.W_OK) or (database.exists() and not os.access(database, os.W_OK)):
        # Embedded Chroma writes to its directory even to answer a question (it would fail later,
        # half-way through opening), so a read-only store is refused before anything touches it.
        raise StoreError(
            f"store directory {directory} is read-only; embedded Chroma needs write access even to read — "
            "copy it somewhere writable, or serve it with a Chroma server (--chroma-url)"
        )
    lock = StoreLock(directory)
    try:
        _check_database(database)
        with guard(str(directory)):
            client = chromadb.PersistentClient(path=str(directory), settings=chroma_settings)
    except StoreError:
        lock.release()
        raise
    except Exception as exc:
        lock.release()
        raise StoreError(f"cannot open the Chroma store at {directory} (corrupted?): {exc}") from None
    return client, lock


def _check_database(database: Path) -> None:
    """Refuse a corrupted ``chroma.sqlite3`` before Chroma opens it (Chroma writes to it on open).

    Reads only: the file header, then SQLite's ``quick_check`` (a full read of the file) when it is
    small enough for that to take well under a second. Errors other than corruption (a hot journal
    left by a killed writer, which only a writable connection may roll back) are left to Chroma.
    """
    if not database.exists():
        return
    try:
        with database.open("rb") as fh:
            header = fh.read(16)
        size = database.stat().st_size
    except OSError as exc:
        raise StoreError(f"cannot read {database}: {exc.strerror}") from None
    advice = "restore the store from a backup, or ingest into a new store (--store)"
    if size and header != b"SQLite format 3\x00":
        raise StoreError(
            f"the store {database.parent} is corrupted: {database.name} is not an SQLite database; {advice}"
        )
    hot = any(database.with_name(database.name + suffix).exists() for suffix in ("-journal", "-wal"))
    if not size or hot or size > _QUICK_CHECK_MAX_BYTES:
        return
    try:
        con = sqlite3.connect(f"file:{database}?mode=ro", uri=True)
        try:
            problems = [str(r[0]) for r in con.execute("PRAGMA quick_check(3)").fetchall()]
        finally:
            con.close()
    except sqlite3.DatabaseError as exc:
        if "malformed" in str(exc) or "not a database" in str(exc):
            problems = [str(exc)]
        else:
            log.debug("could not check %s: %s", database, exc)
            return
    if problems != ["ok"]:
        found = " ".join("; ".join(problems).replace("*** in database main ***", "").split())
        raise StoreError(f"the store {database.parent} is corrupted ({found[:200]}); {advice}")



def close_client(client: ClientAPI) -> None:
    """Drop a Chroma client and, with it, the process-wide cache Chroma keeps for its path."""
    close = getattr(client, "close", None)
    if close is None:
        return
    try:
        close()
    except Exception as exc:  # closing is best effort; the data is already committed
        log.debug("closing the Chroma client failed: %s", exc)


def collection_names(client: ClientAPI, where: str) -> set[str]:
    """Every collection in ``client`` (Chroma lists names or, in older versions, collection objects)."""
    with guard(where):
        return {c if isinstance(c, str) else c.name for c in client.list_collections()}



def validate_name(name: str) -> None:
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]{1,50}[A-Za-z0-9]", name):
        raise StoreError(
            f"collection name {name!r} must be 3-52 characters of letters, digits, '.', '_' or '-'"
        )
