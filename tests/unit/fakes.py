"""Hand-built pieces for the fast test layer: a deterministic fake embedder, nodes, a dict store, a fake reader.

``FakeEmbedder`` is simonw/llm's ``EmbedDemo`` idea: each stemmed content word lands in one of
``DIM`` buckets (a stable hash), so texts sharing words are similar and texts sharing none are
orthogonal. Nothing here loads a model or touches Chroma.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import numpy as np
from llama_index.core.schema import NodeWithScore, TextNode

from rag.reader.model import SpanPrediction
from rag.text import content_terms

DIM = 256


class FakeEmbedder:
    dim = DIM

    def embed_texts(self, texts: list[str]) -> np.ndarray:
        out = np.zeros((len(texts), DIM), dtype=np.float32)
        for i, text in enumerate(texts):
            for term in content_terms(text):
                out[i, int(hashlib.md5(term.encode()).hexdigest(), 16) % DIM] += 1.0
            norm = float(np.linalg.norm(out[i]))
            out[i] = out[i] / norm if norm else out[i]
        return out

    def embed_query(self, text: str) -> np.ndarray:
        return self.embed_texts([text])[0]


def node(doc_id: str, text: str, *, start: int = 0, title: str = "", published: int | None = None,
         chunk: int = 0, score: float = 1.0, source: str = "") -> NodeWithScore:
    """A chunk of ``doc_id`` whose text starts at ``start`` in its document."""
    meta = {"doc_id": doc_id, "title": title, "start": start, "end": start + len(text), "source": source}
    if published is not None:
        meta["published"] = published
    return NodeWithScore(node=TextNode(id_=f"{doc_id}::{chunk}", text=text, metadata=meta), score=score)


@dataclass
class FakeStore:
    """What the reranker asks of a store: chunk vectors (and no stored sentence vectors)."""

    embedder: FakeEmbedder
    vectors: dict[str, np.ndarray] = field(default_factory=dict)

    def add(self, *nodes: NodeWithScore) -> None:
        for n in nodes:
            self.vectors[n.node.node_id] = self.embedder.embed_query(n.node.get_content())

    def chunk_embeddings(self, ids: list[str]) -> dict[str, list[float]]:
        return {i: self.vectors[i].tolist() for i in ids if i in self.vectors}

    def sentence_vectors(self, ids: list[str]) -> dict:
        return {}


class FakeReader:
    """Stands in for :class:`rag.reader.model.Reader`: answers from a table of (phrase → scores)."""

    def __init__(self, answers: dict[str, tuple[float, float]]) -> None:
        self.answers = answers  # phrase → (margin, answerable logit)
        self.calls: list[tuple[str, list[str]]] = []

    def read(self, question: str, passages: list[str], top: int = 1) -> list[list[SpanPrediction]]:
        self.calls.append((question, passages))
        out: list[list[SpanPrediction]] = []
        for i, text in enumerate(passages):
            found = []
            for phrase, (margin, logit) in self.answers.items():
                at = text.find(phrase)
                if at != -1:
                    found.append(SpanPrediction(i, at, at + len(phrase), phrase, margin, 0.0, logit))
            found.sort(key=lambda p: -p.margin)
            out.append(found[:top] or [SpanPrediction(i, 0, 1, text[:1], -5.0, 0.0, -5.0)])
        return out


def retrieval_for(question: str, nodes: list[NodeWithScore], *, budget: int = 4, history=None, context: str = ""):
    """A :class:`rag.retrieve.Retrieval` over hand-built nodes, scored with the fake embedder."""
    from rag.query import Query
    from rag.retrieve import Retrieval
    from rag.retrieve.evidence import SentenceScorer

    embedder = FakeEmbedder()
    q = embedder.embed_query(question)
    scorer = SentenceScorer(question, q, embedder.embed_texts, lambda term: 1.0, budget, context=context)
    sims = [float(np.dot(embedder.embed_query(n.node.get_content()), q)) for n in nodes]
    scorer.score_passages([n.node for n in nodes], sims)
    resolved = f"{question} ({context})" if context else question
    return Retrieval(Query(question, history=history), resolved, context, list(nodes), scorer)
