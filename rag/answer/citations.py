"""Citations: a scored sentence of a passage as a numbered, exactly quoted :class:`rag.types.Citation`."""

from __future__ import annotations

from llama_index.core.schema import NodeWithScore

from rag.dates import published_iso
from rag.retrieve.evidence import ScoredSentence, SentenceScorer
from rag.text import Span
from rag.types import Citation


def published_of(node: NodeWithScore) -> str | None:
    """A passage's publication date as ISO text (None when undated)."""
    published = node.node.metadata.get("published")
    return published_iso(published if isinstance(published, int) else None)


def support_of(
    scorer: SentenceScorer, ranked: list[NodeWithScore], passages: int = 3
) -> tuple[float, ScoredSentence | None]:
    """The best sentence among the top ``passages`` and its score: how much evidence the corpus holds."""
    best: ScoredSentence | None = None
    for n in ranked[:passages]:
        s = scorer.best(n.node.node_id)
        if s is not None and (best is None or s.score > best.score):
            best = s
    return (best.score if best else 0.0), best


def citation_for(n: int, sentence: ScoredSentence, node: NodeWithScore) -> Citation:
    """Citation ``n``: a scored sentence of ``node``."""
    return citation_at(n, sentence.span, sentence.score, node)


def citation_at(n: int, span: Span, score: float, node: NodeWithScore) -> Citation:
    """Citation ``n``: the exact ``span`` (document offsets) of ``node``'s document."""
    meta = node.node.metadata
    return Citation(
        n=n,
        doc_id=str(meta.get("doc_id", "")),
        title=str(meta.get("title", "")),
        quote=span.text,
        start=span.start,
        end=span.end,
        score=round(score, 4),
        url=str(meta.get("url", "")),
        published=published_of(node),
        source=str(meta.get("source", "")),
        chunk_id=node.node.node_id,
    )


