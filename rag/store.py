"""The corpus store: Chroma collections behind LlamaIndex's ``ChromaVectorStore``.

One corpus is two Chroma collections:

* ``<name>``: the chunks (LlamaIndex nodes with their vectors and metadata);
* ``<name>__docs``: one record per document, holding the cleaned full text (so answers can
  quote and highlight exact spans), its content hash and a ``state`` that makes writes
  crash-safe: a document is marked ``pending`` before its chunks change and ``done`` after,
  so a run killed half-way leaves a marker that the next open cleans up.

A ``__revision__`` record changes on every write; the BM25 side of hybrid search compares it
with the revision it was built from, which keeps it in step across processes too.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import chromadb
import numpy as np
from chromadb.api import ClientAPI
from chromadb.api.models.Collection import Collection
from chromadb.config import Settings as ChromaSettings
from llama_index.core.schema import TextNode
from llama_index.vector_stores.chroma import ChromaVectorStore

from rag.errors import StoreError
from rag.settings import Settings

log = logging.getLogger(__name__)

DOCS_SUFFIX = "__docs"
SENTENCES_SUFFIX = "__sentences"
AUX_SUFFIXES = (DOCS_SUFFIX, SENTENCES_SUFFIX)
REVISION_ID = "__revision__"
PENDING_PREFIX = "__pending__::"
_REMOVED = "__removed__"
_PLACEHOLDER_VECTOR = [1.0]  # the docs collection is looked up by id only; Chroma still wants a vector
_PAGE = 2000  # Chroma rows fetched per call when scanning a collection


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


def published_iso(published: int | None) -> str:
    """``20221103`` → ``2022-11-03`` (empty when unknown)."""
    if not published:
        return ""
    s = f"{published:08d}"
    return f"{s[:4]}-{s[4:6]}-{s[6:]}"


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
        if not url.hostname:
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
            raise StoreError(f"cannot reach the Chroma server at {settings.chroma_url}: {exc}") from None
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
    if create and not os.access(directory, os.W_OK):
        raise StoreError(f"store directory {directory} is read-only")
    lock = _StoreLock(directory) if os.access(directory, os.W_OK) else None
    try:
        client = chromadb.PersistentClient(path=str(directory), settings=chroma_settings)
    except Exception as exc:
        if lock:
            lock.release()
        raise StoreError(f"cannot open the Chroma store at {directory} (corrupted?): {exc}") from None
    return client, lock


class Store:
    """One corpus (a pair of Chroma collections) and the operations ingest and retrieval need."""

    def __init__(self, client: ClientAPI, name: str, lock: _StoreLock | None, settings: Settings) -> None:
        self.client = client
        self.name = name
        self.settings = settings
        self._lock = lock
        self._dim: int | None = None
        try:
            self.chunks: Collection = client.get_or_create_collection(
                name, embedding_function=None, configuration={"hnsw": {"space": "cosine"}}
            )
            self.docs: Collection = client.get_or_create_collection(name + DOCS_SUFFIX, embedding_function=None)
            self.sentences: Collection = client.get_or_create_collection(
                name + SENTENCES_SUFFIX, embedding_function=None
            )
        except Exception as exc:
            self.close()
            raise StoreError(f"cannot open collection {name!r}: {exc}") from None
        self.vector_store = ChromaVectorStore(chroma_collection=self.chunks)

    # ------------------------------------------------------------------ lifecycle
    @classmethod
    def open(cls, settings: Settings | None = None, *, create: bool = False, **overrides: Any) -> Store:
        """Open (``create=True``: create if needed) the corpus named by ``settings.collection``."""
        settings = (settings or Settings()).with_overrides(**overrides)
        _validate_name(settings.collection)
        client, lock = _open_client(settings, create)
        if not create and not settings.chroma_url:
            names = {c.name for c in client.list_collections()}
            if settings.collection not in names:
                _close_client(client)
                if lock:
                    lock.release()
                raise StoreError(
                    f"no collection {settings.collection!r} in {settings.store_dir}"
                    f" (have: {', '.join(sorted(n for n in names if not n.endswith(AUX_SUFFIXES))) or 'none'})"
                )
        store = cls(client, settings.collection, lock, settings)
        if lock is not None:
            store.recover()
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

        New chunks have ids and a ``content_hash`` of their own, so they are added beside the old
        ones; only then does the document record switch to the new hash and the old chunks go.
        A pending marker written first lets :meth:`recover` finish or undo a run killed anywhere
        in between, leaving the document either wholly old or wholly new.
        """
        record.chunks = len(nodes)
        for node in nodes:  # bookkeeping, never part of what is embedded or shown to an LLM
            node.metadata["content_hash"] = record.content_hash
            for excluded in (node.excluded_embed_metadata_keys, node.excluded_llm_metadata_keys):
                if "content_hash" not in excluded:
                    excluded.append("content_hash")
        self._mark_pending(record.doc_id, record.content_hash)
        try:
            for i in range(0, len(nodes), _PAGE):
                self.vector_store.add(nodes[i : i + _PAGE])
            if sentences:
                self.sentences.upsert(
                    ids=[n.node_id for n in nodes],
                    embeddings=[_PLACEHOLDER_VECTOR] * len(nodes),
                    documents=[sv.packed for sv in sentences],
                    metadatas=[
                        {"doc_id": record.doc_id, "content_hash": record.content_hash, "spans": json.dumps(sv.spans)}
                        for sv in sentences
                    ],
                )
            self.docs.upsert(
                ids=[record.doc_id],
                embeddings=[_PLACEHOLDER_VECTOR],
                documents=[record.text],
                metadatas=[record.metadata("done")],
            )
        except Exception:
            self._settle(record.doc_id, record.content_hash)  # undo what this write added, if we can
            raise
        self._settle(record.doc_id, record.content_hash)

    def remove(self, doc_id: str) -> bool:
        """Delete a document and its chunks; False when it was not there."""
        if not self.docs.get(ids=[doc_id], include=[])["ids"]:
            return False
        self._mark_pending(doc_id, _REMOVED)
        self._settle(doc_id, _REMOVED)
        return True

    def recover(self) -> int:
        """Finish or undo the writes a killed run left pending; returns how many there were."""
        got = self.docs.get(where={"state": "pending"}, include=["metadatas"])
        for meta in got["metadatas"]:
            log.warning("repairing %s, left half-written by an interrupted run", meta["doc_id"])
            self._settle(str(meta["doc_id"]), str(meta["content_hash"]))
        return len(got["ids"])

    def _mark_pending(self, doc_id: str, content_hash: str) -> None:
        self.docs.upsert(
            ids=[PENDING_PREFIX + doc_id],
            embeddings=[_PLACEHOLDER_VECTOR],
            documents=[""],
            metadatas=[{"state": "pending", "doc_id": doc_id, "content_hash": content_hash}],
        )

    def _settle(self, doc_id: str, new_hash: str) -> None:
        """Make ``doc_id`` consistent: keep the chunks of whichever version its record names."""
        current = self.docs.get(ids=[doc_id], include=["metadatas"])
        current_hash = str(current["metadatas"][0].get("content_hash")) if current["ids"] else None
        if new_hash == _REMOVED:
            self.docs.delete(ids=[doc_id])
            where: dict[str, Any] = {"doc_id": doc_id}
        elif current_hash == new_hash:  # the new version landed: drop the old chunks
            where = {"$and": [{"doc_id": doc_id}, {"content_hash": {"$ne": new_hash}}]}
        else:  # it did not: drop whatever of the new version was added
            where = {"$and": [{"doc_id": doc_id}, {"content_hash": new_hash}]}
        self.chunks.delete(where=where)
        self.sentences.delete(where=where)
        self.docs.delete(ids=[PENDING_PREFIX + doc_id])
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
        for chunk_id, packed, meta in zip(got["ids"], got["documents"], got["metadatas"], strict=True):
            spans = [tuple(s) for s in json.loads(str(meta.get("spans", "[]")))]
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


def _validate_name(name: str) -> None:
    import re

    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]{1,50}[A-Za-z0-9]", name):
        raise StoreError(
            f"collection name {name!r} must be 3-52 characters of letters, digits, '.', '_' or '-'"
        )
