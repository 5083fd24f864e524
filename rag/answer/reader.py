"""The ``reader`` mode: a trained reader finds the exact words that answer, or says the corpus does not.

For the top passages the reader (:mod:`rag.reader.model`) proposes each passage's best span and
how sure it is that the passage answers at all. The answer then

1. leads with the best span as its first line ("Over 10,000."), or, when the question wants a
   reason or a characterisation ("Why …?", "How did X characterise …?"), with the clause that
   holds it; a span never runs over a sentence end, a line break or a table cell
   (:mod:`rag.answer.span_shape`),
2. quotes the sentence that holds it, cited, with the span's exact offsets in ``answer_span``
   (so the UI can highlight those words inside the quote),
3. compares sources: other documents giving the same answer are counted and cited; documents
   giving a different value for a question that wants one are shown side by side with their dates
   (:mod:`rag.answer.agreement`).

A question asking what someone said ("What did NATO say about it?") is answered by quoting the
speaker's sentence instead (:mod:`rag.answer.statement`): the reader is trained on short spans.

It refuses when no passage's span beats its "no answer" score by the calibrated margin
(``reader_margin``), and, as the sentence answerer does, when even the best sentence is weak
evidence (``reader_evidence_floor``): the story is not in the corpus at all. A span that only
repeats the question's own words is never an answer, nor is a span from an affirmative sentence
when the question asks what was *not* so, nor a passage whose document never mentions a number
the question names, nor a number that counts another kind than the one asked about ("over 10,000
North Korean troops" for "how many Ukrainian soldiers"; :mod:`rag.answer.counted`).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from llama_index.core.schema import NodeWithScore

from rag.answer.agreement import Reading, compare_sources
from rag.answer.answer_type import type_agreement
from rag.answer.base import Composition, pieces, refusal
from rag.answer.citations import citation_at, citation_for, published_of, support_of
from rag.answer.counted import counts_something_else
from rag.answer.focus import focus
from rag.answer.span_shape import clause_around, crosses_break, wants_clause, within_sentence
from rag.answer.statement import asked_speaker, speaker_statement
from rag.matching import NUMBER_WORDS, QUALIFIERS
from rag.reader.model import Reader, SpanPrediction, shipped_reader
from rag.retrieve.evidence import ScoredSentence, SentenceScorer
from rag.text import NEGATION, Span, content_terms, split_sentences
from rag.types import AnswerSpan

if TYPE_CHECKING:
    from rag.query import Query
    from rag.retrieve import Retrieval
    from rag.settings import Settings

log = logging.getLogger(__name__)

_SPANS_PER_PASSAGE = 5  # candidates per passage, so that one restating the question can be passed over
# A number's qualifier is part of the fact: "over 10,000" and "10,000" say different things.
_QUALIFIER = re.compile(  # longest first, so "just over" wins over "over"
    r"\b(?:" + "|".join(sorted(QUALIFIERS, key=len, reverse=True)) + r")\s+$", re.IGNORECASE
)
_NUMBER_START = re.compile(  # a digit, a currency sign, or a number word (the same words the matching reads)
    r"[\d$€£¥]|(?:" + "|".join(sorted(NUMBER_WORDS, key=len, reverse=True))
    + r"|hundreds|thousands|millions|billions?|dozens?|a (?:few )?(?:dozen|hundred|thousand|million))\b",
    re.IGNORECASE,
)


_QUOTED = re.compile(r"[“\"][^”\"]*[”\"]")


_QUESTION_NUMBER = re.compile(r"(?<![\w.])\d+(?:[.,]\d+)*(?![\w])")
_GROUPED = re.compile(r"(?<=\d),(?=\d{3}\b)")  # "10,000" → "10000", on both sides of the comparison


@dataclass
class Found:
    """A passage's span placed in its document: the reading plus the sentence that holds it."""

    node: NodeWithScore
    prediction: SpanPrediction
    start: int  # document offsets of the span
    end: int
    sentence: Span  # the quoted sentence (with its antecedent when it leans on it)
    evidence: float  # how well that sentence matches the question (the retrieval's sentence score)
    kind: int  # the answer-type check: +1 the wanted kind, -1 clearly not, 0 none wanted
    score: float  # answerability, with the answer-type and sentence-evidence votes

    @property
    def doc_id(self) -> str:
        return str(self.node.node.metadata.get("doc_id", ""))


class ReaderAnswerer:
    """Answers with the reader's best span, its sentence, and how the sources compare."""

    def __init__(self, settings: Settings, answerer: object = None, reader: Reader | None = None) -> None:
        self.reader = reader or shipped_reader(settings.reader_dir, spin=settings.reader_spin)
        self.passages = settings.reader_passages
        self.other_sources = settings.reader_other_sources
        self.focus_chars = settings.reader_focus_chars
        self.margin = settings.reader_margin
        self.evidence_floor = settings.reader_evidence_floor
        self.type_weight = settings.reader_type_weight
        self.sentence_weight = settings.reader_sentence_weight
        self.statement_floor = settings.refusal_threshold

    def stream(self, query: Query, retrieval: Retrieval) -> Iterator[str | Composition]:
        result = self.compose(query, retrieval)
        yield from pieces(result.text)
        yield result

    def read(self, retrieval: Retrieval) -> list[Found]:
        """Every read passage's best span, best first (spans that restate the question left out)."""
        known = document_texts(retrieval.ranked)
        ranked = [n for n in self.passages_to_read(retrieval.ranked)
                  if not names_unknown_number(retrieval.query.question, known[n.node.metadata.get("doc_id")])]
        if not ranked:
            return []
        question = retrieval.resolved if retrieval.context else retrieval.query.question
        excerpts = [focus(retrieval.scorer, n, self.focus_chars) for n in ranked]
        predictions = self.reader.read(question, [e.text for e in excerpts], top=_SPANS_PER_PASSAGE)
        found: list[Found] = []
        for node, excerpt, spans in zip(ranked, excerpts, predictions, strict=True):
            spans = [replace(p, start=p.start + excerpt.offset, end=p.end + excerpt.offset) for p in spans]
            pred = clean_candidate(spans, retrieval.query.question, node.node.get_content())
            if pred is None:
                continue
            pred = with_qualifier(pred, node.node.get_content())
            base = int(node.node.metadata.get("start", 0))
            start, end = base + pred.start, base + pred.end
            sentence = holding_sentence(retrieval.scorer, node, start, end)
            if misses_negation(retrieval.query.question, sentence.text):
                continue
            if counts_something_else(asked_part(retrieval.query.question), pred.text,
                                     sentence.text[max(0, end - sentence.start):]):
                continue
            kind = type_agreement(retrieval.query.question, pred.text)
            evidence = sentence_evidence(retrieval.scorer, node, start, end)
            score = pred.answerability + self.type_weight * kind + self.sentence_weight * evidence
            found.append(Found(node, pred, start, end, sentence, evidence, kind, score))
        found.sort(key=lambda f: f.score, reverse=True)
        return found

    def passages_to_read(self, ranked: list[NodeWithScore]) -> list[NodeWithScore]:
        """The top passages, then the best passage of each further document, up to ``reader_other_sources``.

        One long article often fills the top passages; a second report of the same story further down
        is what the source comparison needs, so it is read too.
        """
        chosen = list(ranked[: self.passages])
        docs = {n.node.metadata.get("doc_id") for n in chosen}
        for n in ranked[self.passages :]:
            if len(chosen) >= self.passages + self.other_sources:
                break
            doc = n.node.metadata.get("doc_id")
            if doc not in docs:
                docs.add(doc)
                chosen.append(n)
        return chosen

    def compose(self, query: Query, retrieval: Retrieval) -> Composition:
        support, _ = support_of(retrieval.scorer, retrieval.ranked)
        if support < self.evidence_floor:
            return refusal(support, note="no passage is close to the question")
        speaker = asked_speaker(query.question)
        if speaker is not None:
            said = speaker_statement(speaker, retrieval.scorer, self.passages_to_read(retrieval.ranked),
                                     self.statement_floor)
            if said is not None:
                return quoted_statement(*said, support)
        found = self.read(retrieval)
        if not found or found[0].score < self.margin:
            score = found[0].score if found else float("-inf")
            log.debug("reader refuses: best answerability %.2f < margin %.2f", score, self.margin)
            return refusal(support, note="the closest passages do not answer the question")
        best = found[0]
        citations = [citation_at(1, best.sentence, best.score, best.node)]
        span = AnswerSpan(
            text=best.prediction.text, doc_id=best.doc_id, start=best.start, end=best.end,
            score=round(best.score, 4), citation=1, chunk_id=best.node.node.node_id,
        )
        said = best.prediction.text
        if wants_clause(query.question):  # lead with the clause that holds the span, cut from the quote
            start, end = clause_of(best)
            said = best.sentence.text[start - best.sentence.start : end - best.sentence.start]
        lines = [headline(said), f"“{best.sentence.text}” [1]"]
        confident = [f for f in found if f.score >= self.margin]
        agreement = compare_sources(
            query.question,
            [Reading(f.doc_id, f.prediction.text, f.node, f.sentence, f.score) for f in confident],
            citations,
        )
        if agreement is not None:
            lines.append(agreement.summary)
        return Composition("\n".join(lines), citations, False, support, answer_span=span, agreement=agreement,
                           extra={"answerability": best.prediction.answerability})


def clean_candidate(spans: list[SpanPrediction], question: str, passage: str) -> SpanPrediction | None:
    """The passage's best candidate that neither restates the question nor runs over a break.

    When every candidate runs over a sentence end, line break or table cell, the best one is cut
    back to the sentence it starts in.
    """
    usable = [p for p in spans if p.text.strip() and not restates(p.text, question)]
    for p in usable:
        if not crosses_break(passage, p.start, p.end):
            return p
    for p in usable:
        start, end = within_sentence(passage, p.start, p.end)
        text = passage[start:end]
        if text.strip() and not restates(text, question):
            return replace(p, start=start, end=end, text=text)
    return None


def clause_of(found: Found) -> tuple[int, int]:
    """Document offsets of the clause around the found span, inside its own sentence of the quote."""
    sentences = split_sentences(found.sentence.text, base=found.sentence.start)
    own = next((s for s in sentences if s.start <= found.start < s.end), found.sentence)
    start, end = clause_around(own, found.start, min(found.end, own.end))
    return (start, end) if end > start else (found.start, found.end)


def quoted_statement(sentence: ScoredSentence, node: NodeWithScore, support: float) -> Composition:
    """The answer to "what did X say?": the speaker's sentence, quoted and cited, the whole of it the span."""
    citation = citation_for(1, sentence, node)
    span = AnswerSpan(text=sentence.span.text, doc_id=citation.doc_id, start=sentence.span.start,
                      end=sentence.span.end, score=round(sentence.score, 4), citation=1, chunk_id=node.node.node_id)
    return Composition(f"“{sentence.span.text}” [1]", [citation], False, support, answer_span=span,
                       note="a statement, quoted")


def headline(span: str) -> str:
    """The span as an answer's first line: capitalised, ending in a full stop."""
    text = " ".join(span.split()).strip(" ,;:")
    if not text:
        return text
    text = text[0].upper() + text[1:]
    return text if text[-1] in ".!?”\"" else text + "."


def with_qualifier(pred: SpanPrediction, passage: str) -> SpanPrediction:
    """The span widened to the qualifier just before its number ("10,000" in "over 10,000" → "over 10,000").

    The reader often stops at the number; the word before it says whether the figure is exact, a
    floor or an estimate, and a reader of news needs that to compare reports.
    """
    if not _NUMBER_START.match(pred.text):
        return pred
    before = passage[max(0, pred.start - 24) : pred.start]
    found = _QUALIFIER.search(before)
    if found is None:
        return pred
    start = pred.start - (len(before) - found.start())
    return replace(pred, start=start, text=passage[start : pred.end])


def document_texts(ranked: list[NodeWithScore]) -> dict[object, str]:
    """Per document: the text of its retrieved passages, its title and its date, with digits ungrouped."""
    parts: dict[object, list[str]] = {}
    for n in ranked:
        meta = n.node.metadata
        parts.setdefault(meta.get("doc_id"), [str(meta.get("title", "")), published_of(n) or ""]).append(
            n.node.get_content())
    return {doc: _GROUPED.sub("", " ".join(texts)) for doc, texts in parts.items()}


def names_unknown_number(question: str, text: str) -> bool:
    """Whether the question names a number (a year, an amount) that the document's passages never mention.

    "What happened to the party in 1992?" cannot be answered from a passage about 1989: on the
    SQuAD 2.0 training questions, 86 of the 95 whose number (of three digits or more) is missing
    from their paragraph have no answer, and every number in a RealTime QA question is in its article.
    """
    numbers = [n for n in (_GROUPED.sub("", m) for m in _QUESTION_NUMBER.findall(question))
               if sum(c.isdigit() for c in n) >= 3]  # smaller ones are often written as words ("World War II")
    return any(not re.search(rf"(?<![\d.]){re.escape(n)}(?![\d])", text) for n in numbers)


def misses_negation(question: str, sentence: str) -> bool:
    """Whether the question is negated ("What was not …?") and the sentence holding the span is not.

    A span from an affirmative sentence answers the affirmative question, which is SQuAD 2.0's
    commonest trap: "What did engineers not build the dam from?" against "Engineers built the dam
    from reinforced concrete." On the SQuAD 2.0 training questions, 80% of the negated questions
    whose best span sits in an affirmative sentence have no answer (281 of 347). "Without" is left
    out: "were without power" describes a state, and the training questions gain nothing from it.
    """
    return bool(NEGATION.search(asked_part(question))) and not NEGATION.search(sentence)


def asked_part(question: str) -> str:
    """The sentence that asks, without quoted words: where a negation changes what is asked.

    A news quiz question often sets the scene first ("… a few reforms were not included in the
    deal. Which measure did lawmakers leave out?") or quotes someone ("urged officials to “show no
    leniency”"); a negation there is the story's, not the question's.
    """
    parts = split_sentences(_QUOTED.sub(" ", question))
    return parts[-1].text if parts else question


def restates(span: str, question: str) -> bool:
    """Whether ``span`` says nothing the question does not (a digest line repeating the question).

    A choice question ("… Europe or Asia?") legitimately answers with its own words.
    """
    terms = set(content_terms(span))
    if not terms:
        return True
    asked = question.lower()
    if " or " in asked:
        return False
    return terms <= set(content_terms(question))


def sentence_evidence(scorer: SentenceScorer, node: NodeWithScore, start: int, end: int) -> float:
    """The best evidence score of the scored sentences that overlap [start, end) (0 when none was scored)."""
    return max((s.score for s in scorer.sentences(node.node.node_id) if s.span.start < end and start < s.span.end),
               default=0.0)


def holding_sentence(scorer: SentenceScorer, node: NodeWithScore, start: int, end: int) -> Span:
    """The narrowest scored sentence of ``node`` holding [start, end) (document offsets).

    The scorer's sentences already carry their antecedent when they lean on it ("He underscored
    …" comes with the sentence naming him). A span across a sentence boundary gets both sentences.
    """
    sentences = [s.span for s in scorer.sentences(node.node.node_id)]
    if not sentences:
        sentences = split_sentences(node.node.get_content(), base=int(node.node.metadata.get("start", 0)))
    holding = [s for s in sentences if s.start <= start and end <= s.end]
    if holding:
        return min(holding, key=lambda s: s.end - s.start)
    touching = [s for s in sentences if s.start < end and start < s.end]
    if not touching:
        text = node.node.get_content()
        base = int(node.node.metadata.get("start", 0))
        return Span(text[start - base : end - base], start, end)
    lo, hi = min(s.start for s in touching), max(s.end for s in touching)
    text = node.node.get_content()
    base = int(node.node.metadata.get("start", 0))
    return Span(text[lo - base : hi - base], lo, hi)

