"""The engine: a :class:`Query` → retrieval (:mod:`rag.retrieve`) → an answerer (:mod:`rag.answer`) → :class:`Answer`.

``Engine`` is the Python API the CLI, the UI and evaluation share::

    from rag import Engine, Query

    with Engine.open(store="~/news-store", collection="news") as engine:
        answer = engine.ask("How many troops were deployed?")
        answer = engine.ask(Query("Who won?", since="2024-01-01", mode="sentence"))

It is safe to call from several threads at once (the UI serves concurrent chats): per-question
state lives in local objects, and the shared pieces (models, Chroma client, BM25 index) are
read-only or guarded.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from llama_index.core.schema import NodeWithScore

from rag.answer import MODES, Answerer, Composition, build_answerer, default_mode
from rag.answer.citations import published_of
from rag.embedding import Embedder
from rag.errors import QuestionError
from rag.query import Query
from rag.retrieve import RETRIEVERS, Retrieval, RetrievalPipeline
from rag.retrieve.lexical import LexicalIndex
from rag.settings import Settings
from rag.store import Store
from rag.types import Answer, Passage

log = logging.getLogger(__name__)


class Engine:
    """Answers questions over one corpus with citations to exact passages."""

    def __init__(self, store: Store, settings: Settings, embedder: Embedder | None = None) -> None:
        self.store = store
        self.settings = settings
        self.embedder = embedder or Embedder.from_settings(settings)
        self.lexical = LexicalIndex(store, settings.bm25_sync_rebuild_max)
        self.lexical.refresh()
        self.pipeline = RetrievalPipeline(store, settings, self.embedder, self.lexical)
        self._answerers: dict[str, Answerer] = {}
        self._answerers_lock = threading.RLock()

    @classmethod
    def open(
        cls,
        settings: Settings | None = None,
        *,
        store: str | Path | None = None,
        collection: str | None = None,
        **overrides: Any,
    ) -> Engine:
        """Open the engine on an existing store (a clear :class:`StoreError` when there is none)."""
        settings = (settings or Settings()).with_overrides(store_dir=store, collection=collection, **overrides)
        return cls(Store.open(settings), settings)

    def close(self) -> None:
        self.store.close()

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ public API
    def ask(self, query: Query | str, **fields: Any) -> Answer:
        """Answer ``query`` (a :class:`Query`, or a question plus :class:`Query` fields) with citations."""
        answer: Answer | None = None
        for piece in self.stream(query, **fields):
            if isinstance(piece, Answer):
                answer = piece
        assert answer is not None
        return answer

    def stream(self, query: Query | str, **fields: Any) -> Iterator[str | Answer]:
        """Yield the answer's text in pieces as it is produced, then the complete :class:`Answer`."""
        started = time.perf_counter()
        query = self.query(query, **fields)
        mode = query.mode or default_mode(self.settings)
        answerer = self.answerer(mode)
        retrieval = self.pipeline.run(query)
        timings = retrieval.timings
        t = time.perf_counter()
        result: Composition | None = None
        for piece in answerer.stream(query, retrieval):
            if isinstance(piece, Composition):
                result = piece
            else:
                yield piece
        assert result is not None
        timings["answer_ms"] = (time.perf_counter() - t) * 1000
        timings["total_ms"] = (time.perf_counter() - started) * 1000
        yield Answer(
            question=query.question,
            text=result.text,
            citations=result.citations,
            refused=result.refused,
            passages=[passage_of(n) for n in retrieval.ranked],
            timings=timings,
            mode=result.mode or mode,
            resolved_question=retrieval.resolved,
            support=round(result.support, 4),
            answer_span=result.answer_span,
            agreement=result.agreement,
            note=result.note,
        )

    def retrieve(self, query: Query | str, **fields: Any) -> list[Passage]:
        """Only the ranked passages (what evaluation's retrieval metrics look at)."""
        return [passage_of(n) for n in self.retrieval(query, **fields).ranked]

    def retrieval(self, query: Query | str, **fields: Any) -> Retrieval:
        """The typed result of the retrieval stages (ranked nodes, sentence scores, timings)."""
        return self.pipeline.run(self.query(query, **fields))

    # ------------------------------------------------------------------ parts
    def query(self, query: Query | str, **fields: Any) -> Query:
        """A checked :class:`Query` from a Query or a question string and Query fields."""
        if isinstance(query, Query):
            query = dataclasses.replace(query, **fields) if fields else query
        else:
            unknown = set(fields) - {f.name for f in dataclasses.fields(Query)}
            if unknown:
                raise TypeError(f"unknown query field(s): {', '.join(sorted(unknown))}")
            query = Query(query, **fields)
        if query.retriever not in RETRIEVERS:
            raise QuestionError(f"unknown retriever {query.retriever!r}; choose one of {', '.join(RETRIEVERS)}")
        if query.mode is not None and query.mode not in MODES:
            raise QuestionError(f"unknown mode {query.mode!r}; choose one of {', '.join(MODES)}")
        return query.checked(self.settings.max_question_chars)

    def answerer(self, mode: str) -> Answerer:
        """The answerer of ``mode``, built on first use and kept (builders may ask for others: re-entrant)."""
        with self._answerers_lock:
            if mode not in self._answerers:
                self._answerers[mode] = build_answerer(mode, self.settings, self.answerer)
            return self._answerers[mode]


def passage_of(n: NodeWithScore) -> Passage:
    """A ranked node as the public :class:`Passage`."""
    meta = n.node.metadata
    return Passage(
        chunk_id=n.node.node_id,
        doc_id=str(meta.get("doc_id", "")),
        title=str(meta.get("title", "")),
        text=n.node.get_content(),
        start=int(meta.get("start", 0)),
        end=int(meta.get("end", 0)),
        score=round(float(n.score or 0.0), 4),
        published=published_of(n),
        url=str(meta.get("url", "")),
        source=str(meta.get("source", "")),
    )
