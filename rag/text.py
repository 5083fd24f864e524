"""Small text tools shared by ranking and answering: sentences with offsets, content terms.

Sentence spans are character offsets into the text they came from, which is what lets every
citation point at the exact quoted span of the cleaned document.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache

import Stemmer

# A sentence ends at . ! ? (optionally followed by a closing quote or bracket) before a space and
# an opening capital/quote/digit, or at a line break. Common abbreviations do not end sentences.
_BOUNDARY = re.compile(r"([.!?][\"'”’)\]]*)[ \t]+(?=[\"“‘(\[]?[A-Z0-9])|\n+")
_ABBREVIATIONS = re.compile(
    r"\b(?:Mr|Mrs|Ms|Dr|Prof|Sr|Jr|St|Gen|Col|Lt|Sgt|Capt|Gov|Sen|Rep|Rev|Inc|Corp|Co|Ltd|No|vs|etc|U\.S|U\.K|[A-Z])\.$"
)
_WORD = re.compile(r"\w+(?:[.,'’]\w+)*", re.UNICODE)
# A word that negates what a question asks. "Not only" adds rather than negates; "no-hitter" is a noun.
NEGATION = re.compile(r"\b(?:not(?! only)|never|no(?!-)|nothing|none|neither|nor|cannot)\b|n[’']t\b", re.IGNORECASE)

STOPWORDS = frozenset(
    """a about above after again against all also am an and any are as at be because been before being
    below between both but by can could did do does doing down during each few for from further had has
    have having he her here hers herself him himself his how i if in into is it its itself just let me
    more most my myself no nor not now of off on once only or other our ours ourselves out over own same
    she should so some such than that the their theirs them themselves then there these they this those
    through to too under until up very was we were what when where which while who whom why will with
    would you your yours yourself yourselves according said says say tell told according many much one
    ones""".split()  # noqa: SIM905
)
# Question words, and verbs that frame a question rather than name what it is about.
QUESTION_WORDS = frozenset(
    ["what", "which", "who", "whom", "whose", "when", "where", "why", "how", "ask", "asked", "happen",
     "happened", "mention", "mentioned", "describe", "described", "name", "named"]
)

_stemmer = Stemmer.Stemmer("english")


@dataclass(frozen=True)
class Span:
    """A sentence and its [start, end) offsets in the text it was cut from."""

    text: str
    start: int
    end: int


def split_sentences(text: str, base: int = 0) -> list[Span]:
    """Sentences of ``text`` with offsets shifted by ``base`` (the text's own offset in its document)."""
    spans: list[Span] = []
    start = 0
    for m in _BOUNDARY.finditer(text):
        end = m.end(1) if m.group(1) else m.start()
        if m.group(1) and _ABBREVIATIONS.search(text[start:end]):
            continue  # "Mr. Smith": not a boundary
        _append(spans, text, start, end, base)
        start = m.end()
    _append(spans, text, start, len(text), base)
    return spans


def _append(spans: list[Span], text: str, start: int, end: int, base: int) -> None:
    piece = text[start:end]
    stripped = piece.strip()
    if not stripped:
        return
    lead = len(piece) - len(piece.lstrip())
    s = start + lead
    spans.append(Span(stripped, base + s, base + s + len(stripped)))


def normalise(text: str) -> str:
    """Lowercase, accents off, punctuation to spaces: the form answers are compared in."""
    text = unicodedata.normalize("NFKD", text)
    text = "".join(c for c in text if not unicodedata.combining(c)).lower()
    text = text.replace("’", "'").replace("‘", "'")
    return " ".join(re.sub(r"[^\w\s]", " ", text).split())


@lru_cache(maxsize=65536)
def stem(word: str) -> str:
    return _stemmer.stemWord(word)


def words(text: str) -> list[str]:
    return _WORD.findall(text.lower().replace("’", "'"))  # one pass over the text, not one per word


def content_terms(text: str) -> list[str]:
    """Stemmed words that carry meaning (no stopwords or question words), in order."""
    return [stem(w) for w in words(text) if w not in STOPWORDS and w not in QUESTION_WORDS and len(w) > 1]


@lru_cache(maxsize=16384)
def term_set(text: str) -> frozenset[str]:
    """:func:`content_terms` as a set, cached: titles and sentences are scored many times per question."""
    return frozenset(content_terms(text))
