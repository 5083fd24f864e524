"""Synthetic traps: answerable questions made unanswerable by swapping one of their terms.

SQuAD 2.0's crowd workers wrote their unanswerable questions by swapping an entity, a number or a
verb, or by negating. This makes more of that kind from the answerable questions: one term of the
question that its paragraph contains (a number, a capitalised name, a past-tense verb) is replaced
by a term of the same kind from *another* paragraph of the same article, one its own paragraph
never mentions. "How many North Korean troops were deployed to Russia?" on a paragraph about the
deployment becomes "How many North Korean troops were killed in Russia?" when "killed" occurs
elsewhere in the article but not there: on topic, the same answer type, and not answered by the
paragraph, like the "Over 10,000" trap news readers meet.

Negation is left out: "Who did not win?" is often still answered by the paragraph, and no check
short of reading it can tell.
"""

from __future__ import annotations

import logging
import random
import re
from collections import defaultdict
from dataclasses import replace

from rag.reader_training.data import Corpus, Question

log = logging.getLogger(__name__)

_NUMBER = re.compile(r"\b\d[\d,.]*\d\b|\b\d\b")
_NAME = re.compile(r"\b[A-Z][a-z]{2,}\b")
_VERB = re.compile(r"\b[a-z]{3,}ed\b")
KINDS = {"number": _NUMBER, "name": _NAME, "verb": _VERB}
_QUESTION_WORDS = {"What", "Which", "Who", "Whom", "Whose", "When", "Where", "Why", "How", "The", "Did", "Does",
                   "Was", "Were", "Is", "Are", "In", "On", "At", "For", "According", "After", "Before", "During"}


def _terms(kind: str, text: str) -> set[str]:
    found = set(KINDS[kind].findall(text))
    return found - _QUESTION_WORDS if kind == "name" else found


def _mentions(text: str, folded: str, term: str) -> bool:
    """``term`` occurs in ``text`` as a whole word, in any case (``folded``: ``text.casefold()``).

    The substring test first: most of an article's terms are not in a given paragraph at all, and
    it spares the regular expression for them (a run asks this millions of times).
    """
    return term.casefold() in folded and re.search(rf"\b{re.escape(term)}\b", text, re.IGNORECASE) is not None


def make_traps(corpus: Corpus, share: float, rng: random.Random) -> list[Question]:
    """Up to ``share`` of the answerable questions, each with one term swapped: labelled "no answer" on
    their own paragraph.

    Only terms the question and its paragraph share are swapped (the term that tied the question
    to its paragraph), and only for terms of the article that the paragraph does not mention at
    all, in any case: so the paragraph no longer says what the question asks. Seeded and in
    question order, so a resumed run makes the same traps.
    """
    vocab: dict[tuple[str, str], set[str]] = defaultdict(set)  # (article, kind) -> its terms
    seen: set[tuple[str, int]] = set()
    for q in corpus.questions:
        if (q.title, q.paragraph) in seen:
            continue
        seen.add((q.title, q.paragraph))
        for kind in KINDS:
            vocab[q.title, kind] |= _terms(kind, corpus.paragraphs[q.paragraph])
    traps: list[Question] = []
    for q in corpus.questions:
        if q.answer is None or rng.random() >= share:
            continue
        paragraph = corpus.paragraphs[q.paragraph]
        folded = paragraph.casefold()
        options = []
        for kind in KINDS:
            tied = sorted(t for t in _terms(kind, q.text) if _mentions(paragraph, folded, t) and t not in q.answer)
            others = sorted(t for t in vocab[q.title, kind] if not _mentions(paragraph, folded, t))
            if tied and others:
                options.append((tied, others))
        if not options:
            continue
        tied, others = options[rng.randrange(len(options))]
        old, new = tied[rng.randrange(len(tied))], others[rng.randrange(len(others))]
        text = re.sub(rf"\b{re.escape(old)}\b", new, q.text, count=1)
        traps.append(replace(q, qid=f"{q.qid}-trap", text=text, answer=None, start=-1, exact=True))
    log.info("synthetic traps: %d from %d answerable questions", len(traps),
             sum(q.answer is not None for q in corpus.questions))
    return traps
