"""The engine: question (and chat so far) → retrieval → reranking → cited answer.

``Engine`` is the Python API the CLI, the UI and evaluation share::

    with Engine.open(store="~/news-store", collection="news") as engine:
        answer = engine.ask("How many troops were deployed?")

It is safe to call from several threads at once (the UI serves concurrent chats): per-question
state lives in local objects, and the shared pieces (model, Chroma client, BM25 index) are
read-only or guarded.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator, Sequence
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
from llama_index.core import VectorStoreIndex
from llama_index.core.schema import NodeWithScore, QueryBundle

from rag.answer import compose_extractive
from rag.embedding import Embedder
from rag.errors import QuestionError
from rag.evidence import SentenceScorer
from rag.followup import carried_context
from rag.lexical import LexicalIndex
from rag.models import Answer, Passage
from rag.recency import is_time_sensitive, parse_day
from rag.rerank import EvidenceReranker, cross_encoder
from rag.retrieval import build_retriever
from rag.settings import Settings
from rag.store import Store

log = logging.getLogger(__name__)


class Engine:
    """Answers questions over one corpus with citations to exact passages."""

    def __init__(self, store: Store, settings: Settings, embedder: Embedder | None = None) -> None:
        self.store = store
        self.settings = settings
        self.embedder = embedder or Embedder.from_settings(settings)
        self.lexical = LexicalIndex(store)
        self.index = VectorStoreIndex.from_vector_store(store.vector_store, embed_model=self.embedder.li)
        self._cross_encoder = cross_encoder(settings.reranker_model, settings.candidates) if (
            settings.reranker_model) else None
        self._llm = None
        self.lexical.refresh()

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
    def ask(
        self,
        question: str,
        history: Sequence[Any] | None = None,
        since: str | date | int | None = None,
        until: str | date | int | None = None,
        top_k: int | None = None,
        as_of: str | date | int | None = None,
        mode: str | None = None,
        retriever: str = "default",
    ) -> Answer:
        """Answer ``question`` (resolved against ``history``) from the corpus, with citations."""
        answer: Answer | None = None
        for piece in self.stream(question, history, since, until, top_k, as_of, mode, retriever):
            if isinstance(piece, Answer):
                answer = piece
        assert answer is not None
        return answer

    def stream(
        self,
        question: str,
        history: Sequence[Any] | None = None,
        since: str | date | int | None = None,
        until: str | date | int | None = None,
        top_k: int | None = None,
        as_of: str | date | int | None = None,
        mode: str | None = None,
        retriever: str = "default",
    ) -> Iterator[str | Answer]:
        """Yield the answer's text in pieces as it is produced, then the complete :class:`Answer`."""
        started = time.perf_counter()
        question = self._check_question(question)
        mode = mode or ("llm" if self.settings.llm_url and self.settings.llm_model else "extractive")
        k = top_k or self.settings.top_k
        if not 1 <= k <= 50:
            raise QuestionError("top_k must be between 1 and 50")
        state = self._retrieve(question, history, since, until, k, as_of, retriever)
        timings = state["timings"]
        ranked: list[NodeWithScore] = state["ranked"]
        passages = [self._passage(n) for n in ranked]
        t = time.perf_counter()
        if mode == "llm":
            from rag.llm import LLMAnswerer

            if self._llm is None:
                self._llm = LLMAnswerer(self.settings)
            result = None
            for piece in self._llm.stream(state["resolved"], ranked, state["scorer"]):
                if isinstance(piece, str):
                    yield piece
                else:
                    result = piece
            assert result is not None
        else:
            result = compose_extractive(
                state["scorer"], ranked, self.settings.refusal_threshold, self.settings.answer_sentences
            )
            yield from _pieces(result.text)
        timings["answer_ms"] = (time.perf_counter() - t) * 1000
        timings["total_ms"] = (time.perf_counter() - started) * 1000
        yield Answer(
            question=question,
            text=result.text,
            citations=result.citations,
            refused=result.refused,
            passages=passages,
            timings=timings,
            mode=mode,
            resolved_question=state["resolved"],
            support=round(result.support, 4),
        )

    def retrieve(
        self,
        question: str,
        top_k: int | None = None,
        retriever: str = "default",
        since: str | int | None = None,
        until: str | int | None = None,
        as_of: str | int | None = None,
    ) -> list[Passage]:
        """Only the ranked passages (what evaluation's retrieval metrics look at)."""
        state = self._retrieve(self._check_question(question), None, since, until,
                               top_k or self.settings.top_k, as_of, retriever)
        return [self._passage(n) for n in state["ranked"]]

    # ------------------------------------------------------------------ stages
    def _check_question(self, question: object) -> str:
        if not isinstance(question, str) or not question.strip():
            raise QuestionError("the question is empty")
        question = " ".join(question.split())
        if len(question) > self.settings.max_question_chars:
            raise QuestionError(
                f"the question is too long ({len(question)} characters; the limit is "
                f"{self.settings.max_question_chars})"
            )
        return question

    def _retrieve(self, question, history, since, until, k, as_of, kind) -> dict[str, Any]:
        timings: dict[str, float] = {}
        since_i, until_i = parse_day(since, "since"), parse_day(until, "until")
        if since_i and until_i and since_i > until_i:
            raise QuestionError("--since is after --until")
        as_of_i = parse_day(as_of, "as_of") or parse_day(date.today())

        t = time.perf_counter()
        context = carried_context(question, history)
        resolved = f"{question} ({context})" if context else question
        q_vec = self.embedder.embed_query(resolved)
        # Sentences are judged against the question itself (the topic only tips the balance).
        s_vec = q_vec if not context else _unit(self.embedder.embed_query(question) + 0.5 * q_vec)
        timings["embed_ms"] = (time.perf_counter() - t) * 1000

        t = time.perf_counter()
        candidates = max(self.settings.candidates, k)
        retriever = build_retriever(
            "hybrid" if kind == "default" else kind, self.index, self.lexical, candidates, since_i, until_i
        )
        fused = retriever.retrieve(QueryBundle(resolved, embedding=q_vec.tolist()))
        timings["retrieve_ms"] = (time.perf_counter() - t) * 1000

        t = time.perf_counter()
        scorer = SentenceScorer(
            question, s_vec, self.embedder.embed_texts, self.lexical.idf, self.settings.sentence_embed_budget,
            context=context,
        )
        ids = [n.node.node_id for n in fused]
        vectors = {cid: np.asarray(v, dtype=np.float32) for cid, v in self.store.chunk_embeddings(ids).items()}
        sentence_vectors = self.store.sentence_vectors(ids)
        if kind == "default":
            if self._cross_encoder is not None:
                fused = self._cross_encoder.postprocess_nodes(fused, query_str=resolved)
            reranker = EvidenceReranker(
                scorer,
                vectors,
                sentence_vectors,
                top_n=k,
                dedupe_threshold=self.settings.dedupe_threshold,
                recency_weight=self.settings.recency_weight if is_time_sensitive(question) else 0.0,
                half_life_days=self.settings.recency_half_life_days,
                as_of=as_of_i,
            )
            ranked = reranker.postprocess_nodes(fused, query_bundle=QueryBundle(resolved))
        else:
            ranked = fused[:k]
            sims = [float(np.dot(vectors[n.node.node_id], q_vec)) if n.node.node_id in vectors else 0.0
                    for n in ranked]
            scorer.score_passages([n.node for n in ranked], sims, sentence_vectors)
        timings["rerank_ms"] = (time.perf_counter() - t) * 1000
        return {"resolved": resolved, "ranked": ranked, "scorer": scorer, "timings": timings}

    @staticmethod
    def _passage(n: NodeWithScore) -> Passage:
        meta = n.node.metadata
        published = meta.get("published")
        return Passage(
            chunk_id=n.node.node_id,
            doc_id=str(meta.get("doc_id", "")),
            title=str(meta.get("title", "")),
            text=n.node.get_content(),
            start=int(meta.get("start", 0)),
            end=int(meta.get("end", 0)),
            score=round(float(n.score or 0.0), 4),
            published=published if isinstance(published, int) else None,
            url=str(meta.get("url", "")),
            source=str(meta.get("source", "")),
        )


def _unit(v: np.ndarray) -> np.ndarray:
    return v / (float(np.linalg.norm(v)) or 1.0)


def _pieces(text: str, words_per_piece: int = 4) -> Iterator[str]:
    """Split a finished text into small pieces so that a UI can stream it."""
    words = text.split(" ")
    for i in range(0, len(words), words_per_piece):
        yield " ".join(words[i : i + words_per_piece]) + (" " if i + words_per_piece < len(words) else "")
