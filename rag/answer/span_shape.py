"""The shape of a reader span as an answer: within one sentence, and a clause when the question wants one.

The reader scores token spans without knowing where sentences, headlines or list items end, so on
news text it sometimes proposes a span across a break ("Russia and Ukraine is underway in Istanbul
today. Turkey.", "2016 3." from a list). Such a span is not something any source said: it is
passed over for the passage's next candidate, or cut back to the sentence it starts in.

Some questions want a clause rather than a name or a number: "Why …?", "How did X characterise
…?", "What does X show about Y?". The reader, trained mostly on short spans, often returns a
fragment of that clause ("desperation"); the answer then leads with the whole clause that holds it.
"""

from __future__ import annotations

import re

from rag.text import Span, split_sentences

# Where a span may not run on: a line break (headline, list item, table row) or a table cell.
_HARD_BREAK = re.compile(r"\n|\t|\s\|\s?|\s?\|\s")
# What a clause answer asks for: a reason, a characterisation, what something shows or means.
_WANTS_CLAUSE = re.compile(
    r"^\s*why\b|\bhow (?:did|does|do|has|have|would|will|is|was) .+? "
    r"(?:characteri[sz]e|describe|portray|explain|justify|react|respond|view|see)\b"
    r"|\bwhat (?:does|did|do|would|could|might) .+? (?:show|shows|mean|means|suggest|reveal|say|signal|indicate)"
    r"(?: about| of)?\b"
    r"|\bwhat (?:was|is|were|are) the (?:reason|explanation|rationale|purpose)\b",
    re.IGNORECASE,
)
# A clause ends at these marks inside its sentence (a quotation's own commas are left alone).
_CLAUSE_MARK = re.compile(r"[;:—–]|,(?=\s)|\s-\s|\(|\)")


def sentence_of(passage: str, start: int) -> Span:
    """The sentence of ``passage`` (passage offsets) that holds character ``start``."""
    for s in split_sentences(passage):
        if s.start <= start < s.end:
            return s
    return Span(passage, 0, len(passage))


def crosses_break(passage: str, start: int, end: int) -> bool:
    """Whether passage[start:end] runs over a sentence end, a line break or a table cell border."""
    if _HARD_BREAK.search(passage[start:end].strip()):
        return True
    return end > sentence_of(passage, start).end


def within_sentence(passage: str, start: int, end: int) -> tuple[int, int]:
    """[start, end) cut back to the sentence (and line) that ``start`` is in, trailing spaces dropped."""
    sentence = sentence_of(passage, start)
    end = min(end, sentence.end)
    text = passage[start:end]
    cut = _HARD_BREAK.search(text)
    if cut is not None and cut.start() > 0:
        end = start + cut.start()
    while end > start and passage[end - 1].isspace():
        end -= 1
    return start, end


def wants_clause(question: str) -> bool:
    """Whether the question asks for a reason, a characterisation or what something shows."""
    return bool(_WANTS_CLAUSE.search(question))


def clause_around(sentence: Span, start: int, end: int) -> tuple[int, int]:
    """The clause of ``sentence`` (document offsets) around [start, end): from the clause mark
    before the span to the one after it, or the sentence's ends; its final full stop left out."""
    text = sentence.text
    lo, hi = max(0, start - sentence.start), min(len(text), end - sentence.start)
    before = [m.end() for m in _CLAUSE_MARK.finditer(text, 0, lo)]
    after = _CLAUSE_MARK.search(text, hi)
    c_lo = before[-1] if before else 0
    c_hi = after.start() if after else len(text)
    while c_lo < lo and text[c_lo].isspace():
        c_lo += 1
    while c_hi > hi and text[c_hi - 1] in " .!?\"”’'":
        c_hi -= 1
    return sentence.start + c_lo, sentence.start + c_hi
