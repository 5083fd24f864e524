"""Extractive answers: the best-supported sentences of the top passages, each cited, or a refusal.

No model writes anything here: every sentence of an answer is a verbatim span of a document,
so every citation's quote and offsets are true by construction. When even the best sentence
is weak evidence (below ``refusal_threshold``, calibrated on the dev sets — see the README),
the answer says the corpus does not say, and still lists the passages it looked at.
"""

from __future__ import annotations

from dataclasses import dataclass

from llama_index.core.schema import NodeWithScore

from rag.evidence import ScoredSentence, SentenceScorer
from rag.models import Citation
from rag.store import published_iso
from rag.text import content_terms

REFUSAL_TEXT = "The corpus does not say. The closest passages I found are listed below."
_SECOND_SENTENCE_MARGIN = 0.08  # a further sentence must be nearly as good as the best one
_REDUNDANT_OVERLAP = 0.6
_PASSAGES_CONSIDERED = 3


@dataclass
class Composition:
    """An answer's text and citations, or a refusal, with the support that decided it."""

    text: str
    citations: list[Citation]
    refused: bool
    support: float


def support_of(scorer: SentenceScorer, ranked: list[NodeWithScore]) -> tuple[float, ScoredSentence | None]:
    """The best sentence among the top passages and its score: how much evidence the corpus holds."""
    best: ScoredSentence | None = None
    for n in ranked[:_PASSAGES_CONSIDERED]:
        s = scorer.best(n.node.node_id)
        if s is not None and (best is None or s.score > best.score):
            best = s
    return (best.score if best else 0.0), best


def citation_for(n: int, sentence: ScoredSentence, node: NodeWithScore) -> Citation:
    meta = node.node.metadata
    return Citation(
        n=n,
        doc_id=str(meta.get("doc_id", "")),
        title=str(meta.get("title", "")),
        quote=sentence.span.text,
        start=sentence.span.start,
        end=sentence.span.end,
        score=round(sentence.score, 4),
        url=str(meta.get("url", "")),
        published=published_iso(meta.get("published") if isinstance(meta.get("published"), int) else None),
        source=str(meta.get("source", "")),
        chunk_id=node.node.node_id,
    )


def _overlap(a: str, b: str) -> float:
    ta, tb = set(content_terms(a)), set(content_terms(b))
    return len(ta & tb) / max(1, min(len(ta), len(tb)))


def _overlaps(a: ScoredSentence, b: ScoredSentence) -> bool:
    """Same chunk and overlapping character ranges (a sentence quoted with its antecedent)."""
    return a.chunk_id == b.chunk_id and a.span.start < b.span.end and b.span.start < a.span.end


def _contains(a: ScoredSentence, b: ScoredSentence) -> bool:
    return a.chunk_id == b.chunk_id and a.span.start <= b.span.start and b.span.end <= a.span.end and a != b


def compose_extractive(
    scorer: SentenceScorer, ranked: list[NodeWithScore], threshold: float, max_sentences: int
) -> Composition:
    """Pick, order and cite the answer sentences; refuse below ``threshold``."""
    support, best = support_of(scorer, ranked)
    if best is None or support < threshold:
        return Composition(REFUSAL_TEXT, [], True, support)
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
