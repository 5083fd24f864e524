"""Retrieval in named stages: resolve → embed → candidates → rerank, ending in a typed :class:`Retrieval`.

* **resolve**: a follow-up question ("and what did NATO say about it?") takes the conversation's
  topic words along (:mod:`rag.retrieve.followup`);
* **embed**: the resolved question for retrieval, and the question's own words (topic tipping
  the balance) for judging sentences;
* **candidates**: the chosen retriever kind (:mod:`rag.retrieve.retrievers`) within the date range;
* **rerank**: an optional cross-encoder, then the evidence reranker, which also scores the
  sentences every answerer quotes from.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
from llama_index.core import VectorStoreIndex
from llama_index.core.schema import NodeWithScore

from rag.embedding import Embedder
from rag.query import Query
from rag.retrieve.evidence import SentenceScorer
from rag.retrieve.followup import carried_context
from rag.retrieve.lexical import LexicalIndex
from rag.retrieve.rerank import EvidenceQuery, EvidenceReranker, cross_encoder
from rag.retrieve.retrievers import Sources, Window, retriever_spec
from rag.settings import Settings
from rag.store import Store


@dataclass
class Retrieval:
    """What retrieval hands an answerer: the ranked passages and the sentence scores behind them."""

    query: Query
    resolved: str  # the question as retrieved for (with the conversation's topic words, if any)
    context: str  # those topic words ("" for a question that stands alone)
    ranked: list[NodeWithScore]
    scorer: SentenceScorer
    timings: dict[str, float] = field(default_factory=dict)


class RetrievalPipeline:
    """The stages, with what they share across questions built once."""

    def __init__(self, store: Store, settings: Settings, embedder: Embedder, lexical: LexicalIndex) -> None:
        self.settings = settings
        self.embedder = embedder
        index = VectorStoreIndex.from_vector_store(store.vector_store, embed_model=embedder.li)
        self.sources = Sources(index, lexical)
        self.cross_encoder = cross_encoder(settings.reranker_model, settings.candidates) if (
            settings.reranker_model) else None
        self.reranker = EvidenceReranker(
            store,
            embedder.embed_texts,
            lexical.idf,
            dedupe_threshold=settings.dedupe_threshold,
            recency_weight=settings.recency_weight,
            half_life_days=settings.recency_half_life_days,
            sentence_budget=settings.sentence_embed_budget,
        )

    def run(self, query: Query) -> Retrieval:
        """All stages for a checked :class:`Query`."""
        timings: dict[str, float] = {}
        t = time.perf_counter()
        context = self.resolve(query)
        resolved = f"{query.question} ({context})" if context else query.question
        bundle = self.embed(query, resolved, context)
        timings["embed_ms"] = (time.perf_counter() - t) * 1000

        t = time.perf_counter()
        candidates = self.candidates(query, bundle)
        timings["retrieve_ms"] = (time.perf_counter() - t) * 1000

        t = time.perf_counter()
        ranked = self.rerank(candidates, bundle)
        timings["rerank_ms"] = (time.perf_counter() - t) * 1000
        assert bundle.scorer is not None
        return Retrieval(query, resolved, context, ranked, bundle.scorer, timings)

    # ------------------------------------------------------------------ stages
    @staticmethod
    def resolve(query: Query) -> str:
        """The conversation's topic words a follow-up leans on ("" when the question stands alone)."""
        return carried_context(query.question, query.history)

    def embed(self, query: Query, resolved: str, context: str) -> EvidenceQuery:
        q_vec = self.embedder.embed_query(resolved)
        # Sentences are judged against the question itself (the topic only tips the balance).
        s_vec = q_vec if not context else _unit(self.embedder.embed_query(query.question) + 0.5 * q_vec)
        spec = retriever_spec(query.retriever)
        return EvidenceQuery(
            query_str=resolved,
            embedding=q_vec.tolist(),
            question=query.question,
            context=context,
            sentence_embedding=s_vec.tolist(),
            top_n=query.top_k or self.settings.top_k,
            as_of=query.as_of_day,
            reorder=spec.reranked,
        )

    def candidates(self, query: Query, bundle: EvidenceQuery) -> list[NodeWithScore]:
        window = Window(max(self.settings.candidates, bundle.top_n), query.since_day, query.until_day)
        return retriever_spec(query.retriever).build(self.sources, window).retrieve(bundle)

    def rerank(self, candidates: list[NodeWithScore], bundle: EvidenceQuery) -> list[NodeWithScore]:
        if bundle.reorder and self.cross_encoder is not None:
            candidates = self.cross_encoder.postprocess_nodes(candidates, query_bundle=bundle)
        return self.reranker.postprocess_nodes(candidates, query_bundle=bundle)


def _unit(v: np.ndarray) -> np.ndarray:
    return v / (float(np.linalg.norm(v)) or 1.0)
