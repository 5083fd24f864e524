"""Reranking as LlamaIndex node postprocessors, built once per engine.

``EvidenceReranker`` (the default, no extra model) re-scores each fused candidate by its own
similarity to the question, its lexical coverage of the question's terms and its best sentence
(see :mod:`rag.retrieve.evidence`), adds a recency boost for time-sensitive questions, then
collapses near-duplicates (the same wire story in two outlets) to the best-ranked copy.

Like LlamaIndex's own postprocessors it holds only what every question shares (the store, the
embedding function, IDF); the question comes in the :class:`EvidenceQuery` bundle, with its
embedding. The per-question :class:`SentenceScorer` it builds is left on that bundle, because
the answerers quote from the very sentences it scored.

A cross-encoder, when one is configured by name or path, is LlamaIndex's own
``SentenceTransformerRerank`` and runs before the evidence scoring.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from llama_index.core.bridge.pydantic import ConfigDict, Field, PrivateAttr
from llama_index.core.postprocessor.types import BaseNodePostprocessor
from llama_index.core.schema import NodeWithScore, QueryBundle

from rag.retrieve.evidence import SentenceScorer
from rag.retrieve.recency import is_time_sensitive, recency

# How the evidence signals add up to a passage score (sum to 1 before the recency boost).
_W_SIMILARITY = 0.40
_W_COVERAGE = 0.20
_W_SENTENCE = 0.30
_W_FUSION = 0.10
_NEWER_TIE_BREAK = 1e-9  # ties go to the newer article


@dataclass
class EvidenceQuery(QueryBundle):
    """A query bundle with what evidence scoring needs besides the (resolved) query string."""

    question: str = ""  # the user's own words: sentences are judged against these
    context: str = ""  # topic words carried over from the conversation
    sentence_embedding: list[float] | None = None
    top_n: int = 5
    as_of: int | None = None
    reorder: bool = True  # False: score sentences only, keep the retriever's order (retriever comparisons)
    scorer: SentenceScorer | None = None  # set by the reranker


class EvidenceReranker(BaseNodePostprocessor):
    """Score fused candidates by the evidence they hold for the question; drop duplicate stories."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    dedupe_threshold: float = Field(default=0.9)
    recency_weight: float = Field(default=0.0)
    half_life_days: float = Field(default=30.0)
    sentence_budget: int = Field(default=4)
    _store: Any = PrivateAttr()
    _embed: Callable[[list[str]], np.ndarray] = PrivateAttr()
    _idf: Callable[[str], float] = PrivateAttr()

    def __init__(self, store: Any, embed: Callable[[list[str]], np.ndarray], idf: Callable[[str], float],
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._store = store
        self._embed = embed
        self._idf = idf

    @classmethod
    def class_name(cls) -> str:
        return "EvidenceReranker"

    def _postprocess_nodes(
        self, nodes: list[NodeWithScore], query_bundle: QueryBundle | None = None
    ) -> list[NodeWithScore]:
        query = _as_evidence_query(query_bundle, self._embed)
        q = np.asarray(query.embedding, dtype=np.float32)
        s_vec = np.asarray(query.sentence_embedding, dtype=np.float32) if query.sentence_embedding else q
        scorer = SentenceScorer(query.question, s_vec, self._embed, self._idf, self.sentence_budget,
                                context=query.context)
        query.scorer = scorer
        if not nodes:
            return []
        ids = [n.node.node_id for n in nodes]
        vectors = {cid: np.asarray(v, dtype=np.float32) for cid, v in self._store.chunk_embeddings(ids).items()}
        sims = [float(np.dot(vectors[i], q)) if i in vectors else 0.0 for i in ids]
        if not query.reorder:
            kept = nodes[: query.top_n]
            scorer.score_passages([n.node for n in kept], sims[: query.top_n],
                                  self._store.sentence_vectors(ids[: query.top_n]))
            return kept
        scorer.score_passages([n.node for n in nodes], sims, self._store.sentence_vectors(ids))
        fused = [n.score or 0.0 for n in nodes]
        top_fused = max(fused) or 1.0
        boost = self.recency_weight if query.as_of and is_time_sensitive(query.question) else 0.0
        rescored: list[NodeWithScore] = []
        for n, sim, f in zip(nodes, sims, fused, strict=True):
            meta = n.node.metadata
            best = scorer.best(n.node.node_id)
            score = (
                _W_SIMILARITY * sim
                + _W_COVERAGE * scorer.passage_coverage(n.node.node_id)
                + _W_SENTENCE * (best.score if best else 0.0)
                + _W_FUSION * f / top_fused
            )
            published = meta.get("published") if isinstance(meta.get("published"), int) else None
            if boost:
                score += boost * recency(published, query.as_of, self.half_life_days)  # type: ignore[arg-type]
            score += _NEWER_TIE_BREAK * (published or 0) / 1e8
            rescored.append(NodeWithScore(node=n.node, score=score))
        rescored.sort(key=lambda n: n.score or 0.0, reverse=True)
        return self._dedupe(rescored, vectors)[: query.top_n]

    def _dedupe(self, ranked: list[NodeWithScore], vectors: dict[str, np.ndarray]) -> list[NodeWithScore]:
        """Keep the best copy of passages whose vectors are nearly identical (syndicated stories)."""
        kept: list[NodeWithScore] = []
        kept_vectors: list[np.ndarray] = []
        for n in ranked:
            vec = vectors.get(n.node.node_id)
            if vec is not None and any(float(np.dot(vec, v)) >= self.dedupe_threshold for v in kept_vectors):
                continue
            kept.append(n)
            if vec is not None:
                kept_vectors.append(vec)
        return kept


def _as_evidence_query(bundle: QueryBundle | None, embed: Callable[[list[str]], np.ndarray]) -> EvidenceQuery:
    """The bundle as an :class:`EvidenceQuery` (a plain one is embedded here, as LlamaIndex callers send)."""
    if isinstance(bundle, EvidenceQuery) and bundle.embedding is not None:
        return bundle
    if bundle is None:
        raise ValueError("the evidence reranker needs the query")
    embedding = bundle.embedding or embed([bundle.query_str])[0].tolist()
    if isinstance(bundle, EvidenceQuery):
        bundle.embedding = embedding
        return bundle
    return EvidenceQuery(query_str=bundle.query_str, embedding=embedding, question=bundle.query_str)


def cross_encoder(model: str, top_n: int) -> BaseNodePostprocessor:
    """LlamaIndex's cross-encoder reranker for a configured model name or path (none ships offline)."""
    from llama_index.core.postprocessor import SentenceTransformerRerank

    return SentenceTransformerRerank(model=model, top_n=top_n)
