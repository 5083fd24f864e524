"""How well a sentence or passage answers the question: the one scoring both ranking and answers use.

Two signals, both cheap enough for a laptop:

* lexical coverage: the share of the question's content terms (weighted by BM25's IDF, so
  "Pyongyang" counts more than "said") found in the sentence and its passage's title;
* semantic similarity: cosine between the question and the sentence under the embedding
  model. Embedding sentences costs real time on a CPU, so only the ``budget`` sentences with
  the best lexical evidence (and the top passages' leading ones) are embedded per question;
  the rest inherit their passage's similarity, scaled down.

A :class:`SentenceScorer` lives for one question, so the reranker and the answerer share its
cached work.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from llama_index.core.schema import BaseNode

from rag.text import Span, content_terms, split_sentences, term_set

_SEMANTIC_WEIGHT = 0.65
_INHERITED_SIMILARITY = 0.85  # an unembedded sentence is assumed a bit less on-topic than its passage
_MIN_SENTENCE_CHARS = 25
_CONTEXT_WEIGHT = 0.25
_MAX_LEAN = 3  # sentences a leaning sentence may reach back for its antecedent
# A sentence opening with one of these leans on the one before it ("He underscored the need for …").
_LEANS_BACK = frozenset(
    ["he", "she", "they", "it", "this", "that", "these", "those", "his", "her", "their", "its", "such", "there"]
)


def leans_back(sentence: str) -> bool:
    """Whether a sentence opens with a word pointing at the one before ("He underscored …", "This plea …")."""
    return sentence.split(" ", 1)[0].lower().strip("\"“‘'") in _LEANS_BACK


def antecedent(spans: list[Span], i: int) -> int:
    """Index of the first sentence that sentence ``i`` needs to read right: itself, or up to
    ``_MAX_LEAN`` sentences back while each one leans on the one before it."""
    first = i
    while first > 0 and i - first < _MAX_LEAN and leans_back(spans[first].text):
        first -= 1
    return first


@dataclass
class ScoredSentence:
    span: Span  # offsets in the cleaned document
    chunk_id: str
    coverage: float
    similarity: float
    embedded: bool

    @property
    def score(self) -> float:
        return _SEMANTIC_WEIGHT * self.similarity + (1 - _SEMANTIC_WEIGHT) * self.coverage


class SentenceScorer:
    """Per-question scoring of passages and their sentences."""

    def __init__(
        self,
        question: str,
        question_vector: np.ndarray,
        embed: Callable[[list[str]], np.ndarray],
        idf: Callable[[str], float],
        budget: int,
        context: str = "",
    ) -> None:
        self.question_vector = question_vector
        self._embed = embed
        self._idf = idf
        self.budget = budget
        self._weights = {t: idf(t) for t in dict.fromkeys(content_terms(question))}
        # A follow-up's carried topic helps, but the new question's own words decide.
        for t in content_terms(context):
            self._weights.setdefault(t, _CONTEXT_WEIGHT * idf(t))
        self._total = sum(self._weights.values()) or 1.0
        self._sentences: dict[str, list[ScoredSentence]] = {}
        self._passage_terms: dict[str, frozenset[str]] = {}

    def passage_coverage(self, node_id: str) -> float:
        """IDF-weighted coverage of the question by a scored passage's text and title.

        Computed from the term sets :meth:`score_passages` cached for its sentences, so the chunk
        is not tokenized a second time.
        """
        return self._covered(self._passage_terms.get(node_id, frozenset()))

    def _covered(self, present: frozenset[str]) -> float:
        """IDF-weighted share of the question's content terms among ``present`` (0..1)."""
        if not self._weights:
            return 0.0
        return sum(w for t, w in self._weights.items() if t in present) / self._total

    def score_passages(
        self,
        nodes: list[BaseNode],
        similarities: list[float],
        stored: dict[str, tuple[list[tuple[int, int]], np.ndarray]] | None = None,
    ) -> None:
        """Score the sentences of ``nodes``.

        Chunks ingested with sentence vectors (``stored``: chunk id → spans, vectors) get a first
        similarity from those at the cost of a matrix product (others inherit their passage's);
        then the ``budget`` most promising sentences are embedded on their own, which separates
        the sentence that answers from its neighbours better than pooled vectors do.
        """
        stored = stored or {}
        pending: list[ScoredSentence] = []
        for node, sim in zip(nodes, similarities, strict=True):
            if node.node_id in self._sentences:
                continue
            start = int(node.metadata.get("start", 0))
            title = str(node.metadata.get("title", ""))
            text = node.get_content()
            if node.node_id in stored:
                offsets, matrix = stored[node.node_id]
                spans = [Span(text[s - start : e - start], s, e) for s, e in offsets]
                vectors: np.ndarray | None = matrix
            else:
                spans, vectors = split_sentences(text, base=start), None
            title_terms = term_set(title)
            self._passage_terms[node.node_id] = title_terms.union(*(term_set(sp.text) for sp in spans))
            scored = []
            for i, span in enumerate(spans):
                similarity, embedded = sim * _INHERITED_SIMILARITY, False
                vector = vectors[i] if vectors is not None else None
                first = antecedent(spans, i)
                if first < i:
                    # Quote the sentences it leans on with it, so the answer reads right on its own.
                    lead = spans[first]
                    span = Span(text[lead.start - start : span.end - start], lead.start, span.end)
                    if vectors is not None:
                        vector = vectors[first : i + 1].sum(axis=0)
                if vector is not None:  # pooled from the chunk pass: a good first estimate
                    norm = float(np.linalg.norm(vector)) or 1.0
                    similarity = float(np.dot(vector, self.question_vector)) / norm
                cov = self._covered(term_set(span.text) | title_terms) if len(span.text) >= _MIN_SENTENCE_CHARS else 0.0
                scored.append(ScoredSentence(span, node.node_id, cov, similarity, embedded))
            self._sentences[node.node_id] = scored
            pending.extend(s for s in scored if len(s.span.text) >= _MIN_SENTENCE_CHARS)
        if not pending or self.budget <= 0:
            return
        pending.sort(key=lambda s: s.score, reverse=True)
        chosen = pending[: self.budget]
        vectors = self._embed([s.span.text for s in chosen])
        for s, vec in zip(chosen, vectors, strict=True):
            s.similarity = float(np.dot(vec, self.question_vector))
            s.embedded = True

    def sentences(self, node_id: str) -> list[ScoredSentence]:
        return self._sentences.get(node_id, [])

    def best(self, node_id: str) -> ScoredSentence | None:
        return max(self.sentences(node_id), key=lambda s: s.score, default=None)
