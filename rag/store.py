"""The corpus store: Chroma collections behind LlamaIndex's ``ChromaVectorStore``.

One corpus is two Chroma collections:

* ``<name>``: the chunks (LlamaIndex nodes with their vectors and metadata);
* ``<name>__docs``: one record per document, holding the cleaned full text (so answers can
  quote and highlight exact spans), its content hash and a ``state`` that makes writes
  crash-safe: a document is marked ``pending`` before its chunks change and ``done`` after,
  so a run killed half-way leaves a marker that the next open cleans up.

A ``__revision__`` record changes on every write; the BM25 side of hybrid search compares it
with the revision it was built from, which keeps it in step across processes too.

Embedded (a directory, one process at a time: a lock file says who holds it) or client-server
(``chroma_url``: any number of processes). Either way, Chroma failing — a server gone, a full
disk, a corrupted or read-only store — surfaces as one :class:`StoreError` with a one-line
message, from every collection call (they go through :class:`_GuardedCollection`); a corrupted
or read-only embedded store is refused before Chroma touches it.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import shutil
import sqlite3
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import chromadb
import chromadb.errors
import httpx
import numpy as np
from chromadb.api import ClientAPI
from chromadb.api.models.Collection import Collection
from chromadb.config import Settings as ChromaSettings
from llama_index.core.schema import TextNode
from llama_index.vector_stores.chroma import ChromaVectorStore

from rag.errors import StoreError, StoreFullError
from rag.settings import Settings

log = logging.getLogger(__name__)

DOCS_SUFFIX = "__docs"
SENTENCES_SUFFIX = "__sentences"
AUX_SUFFIXES = (DOCS_SUFFIX, SENTENCES_SUFFIX)
REVISION_ID = "__revision__"
PENDING_PREFIX = "__pending__::"
_REMOVED = "__removed__"
_PLACEHOLDER_VECTOR = [1.0]  # the docs collection is looked up by id only; Chroma still wants a vector
_PAGE = 2000  # Chroma rows fetched or written per call
_SETTLE_PAGE = 200  # documents whose leftover chunks one filtered delete removes
_QUICK_CHECK_MAX_BYTES = 64 * 2**20  # quick_check reads the whole file: ~0.35 s for 64 MB (585 MB took 3.2 s)
_LOW_DISK_BYTES = 8 * 2**20  # a failing write with less free space than this is reported as a full disk
STALE_PENDING_S = 600.0  # server mode: a pending marker this old belongs to a writer that died


@dataclass
class SentenceVectors:
    """A chunk's sentences: their [start, end) offsets in the document and their packed vectors."""

    spans: list[tuple[int, int]]
    packed: str


@dataclass
class DocumentRecord:
    """A cleaned document as ingest hands it to the store."""

    doc_id: str
    text: str
    title: str = ""
    source: str = ""
    url: str = ""
    published: int | None = None  # YYYYMMDD, comparable in Chroma ``where`` filters
    content_hash: str = ""
    path: str = ""
    chunks: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    def metadata(self, state: str) -> dict[str, Any]:
        meta: dict[str, Any] = {
            "title": self.title,
            "source": self.source,
            "url": self.url,
            "content_hash": self.content_hash,
            "path": self.path,
            "chunks": self.chunks,
            "state": state,
            "ingested_at": int(time.time()),
        }
        if self.published is not None:
            meta["published"] = self.published
        return meta

    @classmethod
    def from_chroma(cls, doc_id: str, text: str | None, meta: dict[str, Any]) -> DocumentRecord:
        return cls(
            doc_id=doc_id,
            text=text or "",
            title=str(meta.get("title", "")),
            source=str(meta.get("source", "")),
            url=str(meta.get("url", "")),
            published=meta.get("published"),
            content_hash=str(meta.get("content_hash", "")),
            path=str(meta.get("path", "")),
            chunks=int(meta.get("chunks", 0)),
        )


# What one document's write consists of: its record, its chunks (with embeddings), their sentences.
DocumentWrite = tuple[DocumentRecord, list[TextNode], list[SentenceVectors] | None]


def published_iso(published: int | None) -> str:
    """``20221103`` → ``2022-11-03`` (empty when unknown)."""
    if not published:
        return ""
    s = f"{published:08d}"
    return f"{s[:4]}-{s[4:6]}-{s[6:]}"


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


class _GuardedCollection:
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


class _StoreLock:
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


def _open_client(settings: Settings, create: bool) -> tuple[ClientAPI, _StoreLock | None]:
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
    lock = _StoreLock(directory)
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


class Store:
    """One corpus (a pair of Chroma collections) and the operations ingest and retrieval need."""

    def __init__(self, client: ClientAPI, name: str, lock: _StoreLock | None, settings: Settings) -> None:
        self.client = client
        self.name = name
        self.settings = settings
        self._lock = lock
        self._dim: int | None = None
        self.where = settings.chroma_url or str(settings.store_dir)
        try:
            with guard(self.where):
                chunks = client.get_or_create_collection(
                    name, embedding_function=None, configuration={"hnsw": {"space": "cosine"}}
                )
                docs = client.get_or_create_collection(name + DOCS_SUFFIX, embedding_function=None)
                sentences = client.get_or_create_collection(name + SENTENCES_SUFFIX, embedding_function=None)
        except StoreError:
            self.close()
            raise
        except Exception as exc:
            self.close()
            raise StoreError(f"cannot open collection {name!r}: {exc}") from None
        # Every Chroma call goes through these, so a failing store is a StoreError wherever it shows.
        self.chunks: Collection = _GuardedCollection(chunks, self.where)  # type: ignore[assignment]
        self.docs: Collection = _GuardedCollection(docs, self.where)  # type: ignore[assignment]
        self.sentences: Collection = _GuardedCollection(sentences, self.where)  # type: ignore[assignment]
        self.vector_store = ChromaVectorStore(chroma_collection=self.chunks)

    def corpus_names(self) -> list[str]:
        """The corpora beside this one in the same Chroma (collections that have their ``__docs`` partner)."""
        names = _collection_names(self.client, self.where)
        return sorted(n for n in names if not n.endswith(AUX_SUFFIXES) and n + DOCS_SUFFIX in names)

    # ------------------------------------------------------------------ lifecycle
    @classmethod
    def open(cls, settings: Settings | None = None, *, create: bool = False, **overrides: Any) -> Store:
        """Open (``create=True``: create if needed) the corpus named by ``settings.collection``."""
        settings = (settings or Settings()).with_overrides(**overrides)
        _validate_name(settings.collection)
        client, lock = _open_client(settings, create)
        where = settings.chroma_url or str(settings.store_dir)
        try:
            if not create:  # asking an empty, freshly created collection would only answer "not found"
                names = _collection_names(client, where)
                if settings.collection not in names:
                    have = ", ".join(sorted(n for n in names if not n.endswith(AUX_SUFFIXES))) or "none"
                    place = f"on the Chroma server at {where}" if settings.chroma_url else f"in {where}"
                    raise StoreError(
                        f"no collection {settings.collection!r} {place} (have: {have}); "
                        "ingest into it first, or pick one with --collection"
                    )
        except BaseException:
            _close_client(client)
            if lock:
                lock.release()
            raise
        store = cls(client, settings.collection, lock, settings)
        try:
            if lock is not None:  # embedded: this process is the only writer, so every marker is stale
                store.recover()
            elif create:  # server mode: only markers old enough that their writer must have died
                store.recover(older_than=STALE_PENDING_S)
        except BaseException:
            store.close()
            raise
        return store

    def close(self) -> None:
        """Release the Chroma client and the store lock (idempotent).

        Closing the client matters for embedded stores: Chroma caches one client per path for the
        life of the process, index included, so a store reopened after another process wrote to it
        would otherwise keep answering vector queries from the stale index.
        """
        client, self.client = self.client, None
        if client is not None:
            _close_client(client)
        if self._lock is not None:
            self._lock.release()
            self._lock = None

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def bm25_dir(self) -> Path:
        """Where this corpus's BM25 index lives: beside the embedded store, or a local cache in server mode."""
        if self.settings.chroma_url:
            from hashlib import sha1

            from platformdirs import user_cache_dir

            key = sha1(self.settings.chroma_url.encode()).hexdigest()[:12]
            return Path(user_cache_dir("citewire", appauthor=False)) / "bm25" / key / self.name
        return self.settings.store_dir / "bm25" / self.name

    # ------------------------------------------------------------------ documents
    def get_document(self, doc_id: str) -> DocumentRecord | None:
        got = self.docs.get(ids=[doc_id], include=["documents", "metadatas"])
        if not got["ids"]:
            return None
        return DocumentRecord.from_chroma(doc_id, got["documents"][0], got["metadatas"][0] or {})

    def document_hashes(self) -> dict[str, str]:
        """doc id → content hash of every finished document (what makes re-ingest idempotent)."""
        return {d.doc_id: d.content_hash for d in self.list_documents()}

    def list_documents(self) -> list[DocumentRecord]:
        """All finished documents (texts left out), newest first."""
        docs: list[DocumentRecord] = []
        for ids, metas, _ in self._scan(self.docs, include=["metadatas"]):
            for doc_id, meta in zip(ids, metas, strict=True):
                if meta.get("state") == "done":
                    docs.append(DocumentRecord.from_chroma(doc_id, None, meta))
        docs.sort(key=lambda d: (-(d.published or 0), d.doc_id))
        return docs

    def write_document(
        self, record: DocumentRecord, nodes: list[TextNode], sentences: list[SentenceVectors] | None = None
    ) -> None:
        """Replace ``record``'s chunks with ``nodes`` (which carry their embeddings), crash-safely.

        ``sentences`` (aligned with ``nodes``) are each chunk's sentence spans and their packed
        vectors, kept in the ``<name>__sentences`` collection under the chunk's id.
        """
        self.write_documents([(record, nodes, sentences)])

    def write_documents(self, items: Sequence[DocumentWrite]) -> None:
        """Replace several documents' chunks in one set of Chroma calls, crash-safely.

        New chunks have ids and a ``content_hash`` of their own, so they are added beside the old
        ones; only then do the document records switch to the new hashes and the old chunks go.
        Pending markers written first let :meth:`recover` finish or undo a run killed anywhere in
        between, document by document: each is left either wholly old or wholly new. Writing a
        whole ingest batch this way costs about ten Chroma calls instead of ten per document,
        which is most of what the store used to add to an ingest.
        """
        items = list(items)
        if not items:
            return
        doc_ids = [record.doc_id for record, _, _ in items]
        if len(set(doc_ids)) < len(doc_ids):  # which version would win is undefined: refuse
            twice = sorted({d for d in doc_ids if doc_ids.count(d) > 1})
            raise ValueError(f"one write names a document twice: {twice}")
        for record, nodes, _ in items:
            record.chunks = len(nodes)
            for node in nodes:  # bookkeeping, never part of what is embedded or shown to an LLM
                node.metadata["content_hash"] = record.content_hash
                for excluded in (node.excluded_embed_metadata_keys, node.excluded_llm_metadata_keys):
                    if "content_hash" not in excluded:
                        excluded.append("content_hash")
        versions = [(record.doc_id, record.content_hash) for record, _, _ in items]
        names = _names(doc_ids)
        try:
            self._mark_pending(versions)
        except StoreError as exc:
            raise StoreError(f"{exc} — {names} not written") from exc
        try:
            nodes = [node for _, doc_nodes, _ in items for node in doc_nodes]
            for i in range(0, len(nodes), _PAGE):
                self.vector_store.add(nodes[i : i + _PAGE])
            rows = [
                (node.node_id, sv, record)
                for record, doc_nodes, sentences in items if sentences
                for node, sv in zip(doc_nodes, sentences, strict=True)
            ]
            for i in range(0, len(rows), _PAGE):
                page = rows[i : i + _PAGE]
                # The packed vectors go in metadata, not ``documents``: Chroma full-text indexes
                # documents, and indexing base64 cost more than the rest of the write together.
                self.sentences.upsert(
                    ids=[chunk_id for chunk_id, _, _ in page],
                    embeddings=[_PLACEHOLDER_VECTOR] * len(page),
                    metadatas=[
                        {"doc_id": r.doc_id, "content_hash": r.content_hash, "spans": json.dumps(sv.spans),
                         "vectors": sv.packed}
                        for _, sv, r in page
                    ],
                )
            for i in range(0, len(items), _PAGE):
                page_records = [record for record, _, _ in items[i : i + _PAGE]]
                self.docs.upsert(
                    ids=[r.doc_id for r in page_records],
                    embeddings=[_PLACEHOLDER_VECTOR] * len(page_records),
                    documents=[r.text for r in page_records],
                    metadatas=[r.metadata("done") for r in page_records],
                )
        except BaseException as exc:
            # Undo what this write added; if that fails, the markers stay for recover(). On a full
            # disk, don't even try: Chroma's deletes can block until space returns, and recover()
            # on the next open (with space) does the same repair.
            if not isinstance(exc, StoreFullError):
                try:
                    self._settle(versions)
                except Exception as undo:
                    log.info("could not undo the partial write of %s (repaired on the next open): %s", names, undo)
            if isinstance(exc, StoreError):
                raise StoreError(f"{exc} — {names} not written; the documents written before are kept") from exc
            raise
        self._settle(versions)

    def remove(self, doc_id: str) -> bool:
        """Delete a document and its chunks; False when it was not there."""
        if not self.docs.get(ids=[doc_id], include=[])["ids"]:
            return False
        self._mark_pending([(doc_id, _REMOVED)])
        self._settle([(doc_id, _REMOVED)])
        return True

    def recover(self, older_than: float | None = None) -> int:
        """Finish or undo the writes a killed run left pending; returns how many there were.

        ``older_than`` (seconds) limits this to markers at least that old: with a Chroma server,
        another process may be writing right now, and its fresh marker is not ours to settle.
        """
        got = self.docs.get(where={"state": "pending"}, include=["metadatas"])
        now = time.time()
        repaired = 0
        for meta in got["metadatas"]:
            if older_than is not None and now - float(meta.get("at", 0)) < older_than:
                continue
            self._settle([(str(meta["doc_id"]), str(meta["content_hash"]))])
            log.warning("repaired %s, left half-written by an interrupted run", meta["doc_id"])
            repaired += 1
        return repaired

    def _mark_pending(self, versions: list[tuple[str, str]]) -> None:
        """Record that each (doc id, content hash or removal) is about to be written."""
        now = time.time()
        for i in range(0, len(versions), _PAGE):
            page = versions[i : i + _PAGE]
            self.docs.upsert(
                ids=[PENDING_PREFIX + doc_id for doc_id, _ in page],
                embeddings=[_PLACEHOLDER_VECTOR] * len(page),
                documents=[""] * len(page),
                metadatas=[
                    {"state": "pending", "doc_id": doc_id, "content_hash": content_hash, "at": now}
                    for doc_id, content_hash in page
                ],
            )

    def _settle(self, versions: list[tuple[str, str]]) -> None:
        """Make each document consistent: keep the chunks of whichever version its record names."""
        doc_ids = [doc_id for doc_id, _ in versions]
        current = self.docs.get(ids=doc_ids, include=["metadatas"])
        current_hash = {
            doc_id: str(meta.get("content_hash"))
            for doc_id, meta in zip(current["ids"], current["metadatas"], strict=True)
        }
        removed = [doc_id for doc_id, new_hash in versions if new_hash == _REMOVED]
        if removed:
            self.docs.delete(ids=removed)
        conditions: list[dict[str, Any]] = []
        for doc_id, new_hash in versions:
            if new_hash == _REMOVED:
                conditions.append({"doc_id": doc_id})
            elif current_hash.get(doc_id) == new_hash:  # the new version landed: drop the old chunks
                conditions.append({"$and": [{"doc_id": doc_id}, {"content_hash": {"$ne": new_hash}}]})
            else:  # it did not: drop whatever of the new version was added
                conditions.append({"$and": [{"doc_id": doc_id}, {"content_hash": new_hash}]})
        for i in range(0, len(conditions), _SETTLE_PAGE):
            page = conditions[i : i + _SETTLE_PAGE]
            where = page[0] if len(page) == 1 else {"$or": page}
            self.chunks.delete(where=where)
            self.sentences.delete(where=where)
        self.docs.delete(ids=[PENDING_PREFIX + doc_id for doc_id in doc_ids])
        self.bump_revision()

    # ------------------------------------------------------------------ revision
    def bump_revision(self) -> str:
        rev = uuid.uuid4().hex
        self.docs.upsert(
            ids=[REVISION_ID], embeddings=[_PLACEHOLDER_VECTOR], documents=[rev], metadatas=[{"state": "meta"}]
        )
        return rev

    def revision(self) -> str:
        got = self.docs.get(ids=[REVISION_ID], include=["documents"])
        return got["documents"][0] if got["ids"] else ""

    # ------------------------------------------------------------------ chunks
    def count_chunks(self) -> int:
        return self.chunks.count()

    def iter_chunks(self) -> Iterator[tuple[list[str], list[dict[str, Any]], list[str]]]:
        """All chunks, page by page: (ids, metadatas, texts)."""
        yield from self._scan(self.chunks, include=["metadatas", "documents"])

    def sentence_vectors(self, ids: list[str]) -> dict[str, tuple[list[tuple[int, int]], np.ndarray]]:
        """chunk id → (sentence spans in the document, unit vectors) for the chunks that have them."""
        if not ids:
            return {}
        from rag.embedding import unpack_vectors

        got = self.sentences.get(ids=ids, include=["documents", "metadatas"])
        out = {}
        for chunk_id, document, meta in zip(got["ids"], got["documents"], got["metadatas"], strict=True):
            spans = [tuple(s) for s in json.loads(str(meta.get("spans", "[]")))]
            packed = str(meta.get("vectors") or document or "")  # older stores kept them in documents
            matrix = unpack_vectors(packed, self.dim) if packed else np.zeros((0, self.dim), np.float32)
            if len(spans) == len(matrix):
                out[chunk_id] = (spans, matrix)
        return out

    @property
    def dim(self) -> int:
        """Dimension of the stored vectors (from any stored chunk; 384 for the default model)."""
        if self._dim is None:
            got = self.chunks.get(limit=1, include=["embeddings"])
            self._dim = len(got["embeddings"][0]) if got["ids"] else 384
        return self._dim

    def chunk_embeddings(self, ids: list[str]) -> dict[str, list[float]]:
        if not ids:
            return {}
        got = self.chunks.get(ids=ids, include=["embeddings"])
        return dict(zip(got["ids"], got["embeddings"], strict=True))

    @staticmethod
    def _scan(collection: Collection, include: list[str]) -> Iterator[tuple[list[str], list[Any], list[Any]]]:
        offset = 0
        while True:
            got = collection.get(limit=_PAGE, offset=offset, include=include)
            ids = got["ids"]
            if not ids:
                return
            metas = got.get("metadatas") or [{}] * len(ids)
            docs = got.get("documents") or [""] * len(ids)
            yield ids, [m or {} for m in metas], list(docs)
            offset += len(ids)


def _close_client(client: ClientAPI) -> None:
    """Drop a Chroma client and, with it, the process-wide cache Chroma keeps for its path."""
    close = getattr(client, "close", None)
    if close is None:
        return
    try:
        close()
    except Exception as exc:  # closing is best effort; the data is already committed
        log.debug("closing the Chroma client failed: %s", exc)


def _collection_names(client: ClientAPI, where: str) -> set[str]:
    """Every collection in ``client`` (Chroma lists names or, in older versions, collection objects)."""
    with guard(where):
        return {c if isinstance(c, str) else c.name for c in client.list_collections()}


def _names(doc_ids: list[str]) -> str:
    """'a was' / 'a, b and 3 more were': the documents an error message is about."""
    if len(doc_ids) == 1:
        return f"{doc_ids[0]} was"
    shown = ", ".join(doc_ids[:3])
    return f"{shown} and {len(doc_ids) - 3} more were" if len(doc_ids) > 3 else f"{shown} were"


def _validate_name(name: str) -> None:
    import re

    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]{1,50}[A-Za-z0-9]", name):
        raise StoreError(
            f"collection name {name!r} must be 3-52 characters of letters, digits, '.', '_' or '-'"
        )
