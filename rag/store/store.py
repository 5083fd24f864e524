"""The corpus store: Chroma collections behind LlamaIndex's ``ChromaVectorStore``.

One corpus is four Chroma collections:

* ``<name>``: the chunks (LlamaIndex nodes with their vectors and metadata);
* ``<name>__docs``: one record per document, holding the cleaned full text (so answers can
  quote and highlight exact spans), its content hash and the state that makes writes
  crash-safe (see :mod:`rag.store.writes`);
* ``<name>__sentences``: each chunk's sentence spans and their packed vectors;
* ``<name>__feeds``: the feeds the corpus follows and the pages' fetch state (:mod:`rag.store.feeds`).

Embedded (a directory, one process at a time: :mod:`rag.store.lock`) or client-server
(``chroma_url``: any number of processes), opened by :mod:`rag.store.client`. Every collection
call goes through :class:`rag.store.failures.GuardedCollection`, so a failing Chroma is one
:class:`StoreError` with a one-line message wherever it shows.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
from chromadb.api import ClientAPI
from chromadb.api.models.Collection import Collection
from llama_index.vector_stores.chroma import ChromaVectorStore

from rag.errors import StoreError
from rag.settings import Settings
from rag.store.client import close_client, collection_names, open_client, validate_name
from rag.store.failures import GuardedCollection, guard
from rag.store.feeds import FEEDS_SUFFIX, FeedRegistry
from rag.store.lock import StoreLock
from rag.store.records import DocumentRecord
from rag.store.writes import PAGE, CrashSafeWrites

log = logging.getLogger(__name__)

DOCS_SUFFIX = "__docs"
SENTENCES_SUFFIX = "__sentences"
AUX_SUFFIXES = (DOCS_SUFFIX, SENTENCES_SUFFIX, FEEDS_SUFFIX)
STALE_PENDING_S = 600.0  # server mode: a pending marker this old belongs to a writer that died


class Store(CrashSafeWrites):
    """One corpus (its Chroma collections) and the operations ingest and retrieval need."""

    def __init__(self, client: ClientAPI, name: str, lock: StoreLock | None, settings: Settings) -> None:
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
                feeds = client.get_or_create_collection(name + FEEDS_SUFFIX, embedding_function=None)
        except StoreError:
            self.close()
            raise
        except Exception as exc:
            self.close()
            raise StoreError(f"cannot open collection {name!r}: {exc}") from None
        # Every Chroma call goes through these, so a failing store is a StoreError wherever it shows.
        self.chunks: Collection = GuardedCollection(chunks, self.where)  # type: ignore[assignment]
        self.docs: Collection = GuardedCollection(docs, self.where)  # type: ignore[assignment]
        self.sentences: Collection = GuardedCollection(sentences, self.where)  # type: ignore[assignment]
        self.feeds = FeedRegistry(GuardedCollection(feeds, self.where))  # type: ignore[arg-type]
        self.vector_store = ChromaVectorStore(chroma_collection=self.chunks)

    def corpus_names(self) -> list[str]:
        """The corpora beside this one in the same Chroma (collections that have their ``__docs`` partner)."""
        names = collection_names(self.client, self.where)
        return sorted(n for n in names if not n.endswith(AUX_SUFFIXES) and n + DOCS_SUFFIX in names)

    # ------------------------------------------------------------------ lifecycle
    @classmethod
    def open(cls, settings: Settings | None = None, *, create: bool = False, **overrides: Any) -> Store:
        """Open (``create=True``: create if needed) the corpus named by ``settings.collection``."""
        settings = (settings or Settings()).with_overrides(**overrides)
        validate_name(settings.collection)
        client, lock = open_client(settings, create)
        where = settings.chroma_url or str(settings.store_dir)
        try:
            if not create:  # asking an empty, freshly created collection would only answer "not found"
                names = collection_names(client, where)
                if settings.collection not in names:
                    have = ", ".join(sorted(n for n in names if not n.endswith(AUX_SUFFIXES))) or "none"
                    place = f"on the Chroma server at {where}" if settings.chroma_url else f"in {where}"
                    raise StoreError(
                        f"no collection {settings.collection!r} {place} (have: {have}); "
                        "ingest into it first, or pick one with --collection"
                    )
        except BaseException:
            close_client(client)
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
            close_client(client)
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
            got = collection.get(limit=PAGE, offset=offset, include=include)
            ids = got["ids"]
            if not ids:
                return
            metas = got.get("metadatas") or [{}] * len(ids)
            docs = got.get("documents") or [""] * len(ids)
            yield ids, [m or {} for m in metas], list(docs)
            offset += len(ids)


