"""Reranking as LlamaIndex node postprocessors.

``EvidenceReranker`` (the default, no extra model): re-scores each fused candidate by its own
similarity to the question, its lexical coverage of the question's terms and its best sentence
(see :mod:`rag.evidence`), adds a recency boost for time-sensitive questions, then collapses
near-duplicates (the same wire story in two outlets) to the best-ranked copy.

A cross-encoder, when one is configured by name or path, is LlamaIndex's own
``SentenceTransformerRerank`` and runs before the evidence scoring.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from llama_index.core.bridge.pydantic import ConfigDict, Field, PrivateAttr
from llama_index.core.postprocessor.types import BaseNodePostprocessor
from llama_index.core.schema import NodeWithScore, QueryBundle

from rag.evidence import SentenceScorer
from rag.recency import recency

# How the evidence signals add up to a passage score (sum to 1 before the recency boost).
_W_SIMILARITY = 0.40
_W_COVERAGE = 0.20
_W_SENTENCE = 0.30
_W_FUSION = 0.10
_NEWER_TIE_BREAK = 1e-9  # ties go to the newer article


class EvidenceReranker(BaseNodePostprocessor):
    """Score fused candidates by the evidence they hold for the question; drop duplicate stories."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    top_n: int = Field(default=5)
    dedupe_threshold: float = Field(default=0.9)
    recency_weight: float = Field(default=0.0)
    half_life_days: float = Field(default=30.0)
    as_of: int | None = Field(default=None)
    _scorer: SentenceScorer = PrivateAttr()
    _vectors: dict[str, Any] = PrivateAttr()
    _sentence_vectors: dict[str, Any] = PrivateAttr()

    def __init__(
        self, scorer: SentenceScorer, vectors: dict[str, Any], sentence_vectors: dict[str, Any], **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self._scorer = scorer
        self._vectors = vectors
        self._sentence_vectors = sentence_vectors

    @classmethod
    def class_name(cls) -> str:
        return "EvidenceReranker"

    def _postprocess_nodes(
        self, nodes: list[NodeWithScore], query_bundle: QueryBundle | None = None
    ) -> list[NodeWithScore]:
        if not nodes:
            return []
        q = self._scorer.question_vector
        sims = [float(np.dot(self._vectors[n.node.node_id], q)) if n.node.node_id in self._vectors else 0.0
                for n in nodes]
        self._scorer.score_passages([n.node for n in nodes], sims, self._sentence_vectors)
        fused = [n.score or 0.0 for n in nodes]
        top_fused = max(fused) or 1.0
        rescored: list[NodeWithScore] = []
        for n, sim, f in zip(nodes, sims, fused, strict=True):
            meta = n.node.metadata
            best = self._scorer.best(n.node.node_id)
            score = (
                _W_SIMILARITY * sim
                + _W_COVERAGE * self._scorer.passage_coverage(n.node.node_id)
                + _W_SENTENCE * (best.score if best else 0.0)
                + _W_FUSION * f / top_fused
            )
            published = meta.get("published") if isinstance(meta.get("published"), int) else None
            if self.recency_weight and self.as_of:
                score += self.recency_weight * recency(published, self.as_of, self.half_life_days)
            score += _NEWER_TIE_BREAK * (published or 0) / 1e8
            rescored.append(NodeWithScore(node=n.node, score=score))
        rescored.sort(key=lambda n: n.score or 0.0, reverse=True)
        return self._dedupe(rescored)[: self.top_n]

    def _dedupe(self, ranked: list[NodeWithScore]) -> list[NodeWithScore]:
        """Keep the best copy of passages whose vectors are nearly identical (syndicated stories)."""
        kept: list[NodeWithScore] = []
        kept_vectors: list[np.ndarray] = []
        for n in ranked:
            vec = self._vectors.get(n.node.node_id)
            if vec is not None and any(float(np.dot(vec, v)) >= self.dedupe_threshold for v in kept_vectors):
                continue
            kept.append(n)
            if vec is not None:
                kept_vectors.append(np.asarray(vec))
        return kept


def cross_encoder(model: str, top_n: int) -> BaseNodePostprocessor:
    """LlamaIndex's cross-encoder reranker for a configured model name or path (none ships offline)."""
    from llama_index.core.postprocessor import SentenceTransformerRerank

    return SentenceTransformerRerank(model=model, top_n=top_n)
