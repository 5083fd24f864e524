"""The corpora (collections) of the one store the app serves, each with its engine.

Embedded Chroma is single-process and :class:`rag.store.Store` holds the directory's lock, so the
app opens the store once (the engine it is given) and serves every other collection of that
store through the same Chroma client and the same embedding model, without a second lock.
Writes (uploads, deletes) go through one lock so that two uploads never interleave; questions
run concurrently beside them (the engine's BM25 side notices the store's new revision).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from ingest.pipeline import Ingestor, IngestSummary
from rag.engine import Engine
from rag.errors import QuestionError
from rag.store import DocumentRecord, Store
from rag.store.client import validate_name
from rag.store.feeds import Subscription

if TYPE_CHECKING:
    from ingest.web.refresh import RefreshResult


class Corpora:
    """Engines (and ingestors) for the collections of one store, sharing its client, lock and model."""

    def __init__(self, engine: Engine) -> None:
        self.primary = engine
        self.default = engine.store.name
        self._engines: dict[str, Engine] = {self.default: engine}
        self._ingestors: dict[str, Ingestor] = {}
        self._open_lock = threading.Lock()
        self._write_lock = threading.RLock()

    def names(self) -> list[str]:
        """The store's corpora: collections that have their ``__docs`` partner."""
        return sorted({*self.primary.store.corpus_names(), self.default})

    def get(self, name: str | None = None, create: bool = False) -> Engine:
        """The engine of collection ``name`` (the default one when empty; ``create``: made if new)."""
        name = name or self.default
        with self._open_lock:
            engine = self._engines.get(name)
            if engine is not None:
                return engine
            validate_name(name)
            if not create and name not in self.names():
                raise QuestionError(f"no collection {name!r} in this store (have: {', '.join(self.names())})")
            settings = self.primary.settings.with_overrides(collection=name)
            store = Store(self.primary.store.client, name, None, settings)
            engine = Engine(store, settings, embedder=self.primary.embedder)
            self._engines[name] = engine
            return engine

    @contextmanager
    def writing(self) -> Iterator[None]:
        """Hold the write turn (uploads, deletes, feeds and commands run for the CLI take turns)."""
        with self._write_lock:
            yield

    def documents(self, name: str | None = None) -> list[DocumentRecord]:
        return self.get(name).store.list_documents()

    def document_text(self, name: str | None = None) -> Callable[[str], str | None]:
        """A lookup of a document's full cleaned text (for the "surrounding text" of citations)."""
        store = self.get(name).store

        def lookup(doc_id: str) -> str | None:
            record = store.get_document(doc_id)
            return record.text if record else None

        return lookup

    def ingest(
        self,
        name: str | None,
        paths: Iterable[Path],
        on_progress: Callable[[int, int], None] | None = None,
    ) -> IngestSummary:
        engine = self.get(name)
        with self._write_lock:
            return self._ingestor(engine).ingest(list(paths), progress=False, on_progress=on_progress)

    def _ingestor(self, engine: Engine) -> Ingestor:
        ingestor = self._ingestors.get(engine.store.name)
        if ingestor is None:
            ingestor = Ingestor(engine.settings, engine.store, engine.embedder)
            self._ingestors[engine.store.name] = ingestor
        return ingestor

    # ------------------------------------------------------------------ web pages and feeds
    # URLs arriving here come from the UI or the API: private addresses only when the setting allows.
    def ingest_urls(self, name: str | None, urls: Iterable[str]) -> IngestSummary:
        from ingest.web.refresh import ingest_urls

        engine = self.get(name)
        with self._write_lock:
            return ingest_urls(self._ingestor(engine), list(urls), engine.settings.fetch_allow_private,
                               progress=False)

    def feeds(self, name: str | None = None) -> list[Subscription]:
        return self.get(name).store.feeds.list()

    def subscribe(self, name: str | None, url: str) -> RefreshResult:
        from ingest.web.refresh import subscribe

        engine = self.get(name)
        with self._write_lock:
            return subscribe(self._ingestor(engine), url, engine.settings.fetch_allow_private, progress=False)

    def unsubscribe(self, name: str | None, url: str) -> bool:
        with self._write_lock:
            return self.get(name).store.feeds.remove(url)

    def refresh_feeds(self, name: str | None = None, urls: Iterable[str] | None = None,
                      due_every: float = 0.0) -> RefreshResult:
        from ingest.web.refresh import refresh

        engine = self.get(name)
        with self._write_lock:
            return refresh(self._ingestor(engine), list(urls) if urls is not None else None,
                           engine.settings.fetch_allow_private, due_every=due_every)

    def remove(self, name: str | None, doc_ids: Iterable[str]) -> tuple[list[str], list[str]]:
        """Delete documents by id: (removed, not found)."""
        store = self.get(name).store
        removed, missing = [], []
        with self._write_lock:
            for doc_id in doc_ids:
                (removed if store.remove(doc_id) else missing).append(doc_id)
        return removed, missing
