"""Extractive answers: the best-supported sentences of the top passages, each cited, or a refusal.

No model writes anything here: every sentence of an answer is a verbatim span of a document,
so every citation's quote and offsets are true by construction. When even the best sentence
is weak evidence (below ``refusal_threshold``, calibrated on the dev sets — see the README),
the answer says the corpus does not say, and still lists the passages it looked at.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from llama_index.core.schema import NodeWithScore

from rag.answer.base import Composition, pieces, refusal
from rag.answer.citations import citation_for, support_of
from rag.retrieve.evidence import ScoredSentence, SentenceScorer
from rag.text import content_terms
from rag.types import Citation

if TYPE_CHECKING:
    from rag.query import Query
    from rag.retrieve import Retrieval
    from rag.settings import Settings

_SECOND_SENTENCE_MARGIN = 0.08  # a further sentence must be nearly as good as the best one
_REDUNDANT_OVERLAP = 0.6
_PASSAGES_CONSIDERED = 3


def _overlap(a: str, b: str) -> float:
    ta, tb = set(content_terms(a)), set(content_terms(b))
    return len(ta & tb) / max(1, min(len(ta), len(tb)))


def _overlaps(a: ScoredSentence, b: ScoredSentence) -> bool:
    """Same chunk and overlapping character ranges (a sentence quoted with its antecedent)."""
    return a.chunk_id == b.chunk_id and a.span.start < b.span.end and b.span.start < a.span.end


def _contains(a: ScoredSentence, b: ScoredSentence) -> bool:
    return a.chunk_id == b.chunk_id and a.span.start <= b.span.start and b.span.end <= a.span.end and a != b


def with_continuation(scorer: SentenceScorer, s: ScoredSentence) -> ScoredSentence:
    """``s`` together with the sentences right after it that lean on it ("… allies. He underscored the
    need for …"): they carry its thought on, and the answer is often in them."""
    longer = [w for w in scorer.sentences(s.chunk_id) if w.span.start == s.span.start and w.span.end > s.span.end]
    return max(longer, key=lambda w: w.span.end, default=s)


def compose_extractive(
    scorer: SentenceScorer, ranked: list[NodeWithScore], threshold: float, max_sentences: int
) -> Composition:
    """Pick, order and cite the answer sentences; refuse below ``threshold``."""
    support, best = support_of(scorer, ranked, _PASSAGES_CONSIDERED)
    if best is None or support < threshold:
        return refusal(support)
    by_chunk = {n.node.node_id: n for n in ranked}
    pool = [s for n in ranked[:_PASSAGES_CONSIDERED] for s in scorer.sentences(n.node.node_id)]
    pool.sort(key=lambda s: s.score, reverse=True)
    chosen: list[ScoredSentence] = [best]
    for s in pool:
        if len(chosen) >= max_sentences or s.score < max(threshold, support - _SECOND_SENTENCE_MARGIN):
            break
        widened = next((i for i, c in enumerate(chosen) if _contains(s, c)), None)
        if widened is not None:  # the same sentence quoted with what follows it: say more, cite once
            chosen[widened] = s
            continue
        if any(_overlaps(s, c) or _overlap(s.span.text, c.span.text) >= _REDUNDANT_OVERLAP for c in chosen):
            continue
        chosen.append(s)
    extended = [with_continuation(scorer, s) for s in chosen]
    chosen = [s for i, s in enumerate(extended)  # continuations may now cover another chosen sentence
              if not any(j != i and (_contains(t, s) or (t == s and j < i)) for j, t in enumerate(extended))]
    # Reading order: sentences of one document in document order, documents by their best sentence.
    doc_rank = {}
    for s in chosen:
        doc_rank.setdefault(by_chunk[s.chunk_id].node.metadata.get("doc_id"), len(doc_rank))
    chosen.sort(key=lambda s: (doc_rank[by_chunk[s.chunk_id].node.metadata.get("doc_id")], s.span.start))
    citations: list[Citation] = []
    parts: list[str] = []
    for s in chosen:
        citation = citation_for(len(citations) + 1, s, by_chunk[s.chunk_id])
        citations.append(citation)
        parts.append(f"{s.span.text} [{citation.n}]")
    return Composition(" ".join(parts), citations, False, support)


class SentenceAnswerer:
    """The ``sentence`` mode: the best-supported sentences, verbatim and cited (no reader model)."""

    def __init__(self, settings: Settings, answerer: object = None) -> None:
        self.threshold = settings.refusal_threshold
        self.max_sentences = settings.answer_sentences

    def stream(self, query: Query, retrieval: Retrieval) -> Iterator[str | Composition]:
        result = compose_extractive(retrieval.scorer, retrieval.ranked, self.threshold, self.max_sentences)
        yield from pieces(result.text)
        yield result
