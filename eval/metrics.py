"""The evaluation's metrics as pure functions (no engine, no I/O); each one is defined in report.md.

Answer matching is SQuAD-style: both sides go through :func:`normalize_answer` before comparing.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections import Counter
from collections.abc import Iterable, Sequence

from rag.matching import NUMBER_WORDS, best_over, exact_match
from rag.matching import token_f1 as squad_f1

_ARTICLES = re.compile(r"\b(?:a|an|the)\b")
_DIGIT_SEPARATOR = re.compile(r"(?<=\d)[.,](?=\d)")
_CITATION_MARKER = re.compile(r"\s*\[\d+(?:\s*,\s*\d+)*\]")


def strip_citation_markers(text: str) -> str:
    """The answer text without its ``[1]``/``[2, 3]`` markers (they are not part of the answer)."""
    return _CITATION_MARKER.sub("", text)


def normalize_answer(text: str) -> str:
    """SQuAD-style normalisation: ``"The Émigrés' 10,000-strong"`` → ``"emigres 10000 strong"``.

    Lowercase; accents stripped; digit-group separators dropped (``10,000`` = ``10000``); every
    other punctuation or symbol becomes a space (so ``Rutte's`` still holds the token ``rutte``);
    the articles a/an/the removed; whitespace collapsed; number words up to twenty and the round
    tens as digits (``six`` = ``6``), the same for every system compared.
    """
    text = unicodedata.normalize("NFKD", text.lower())
    text = _DIGIT_SEPARATOR.sub("", text)
    text = "".join(
        " " if unicodedata.category(ch).startswith(("P", "S")) else ch
        for ch in text
        if not unicodedata.combining(ch)
    )
    text = _ARTICLES.sub(" ", text)
    return " ".join(NUMBER_WORDS.get(t, t) for t in text.split())


def contains_answer(text: str, answers: Iterable[str]) -> bool:
    """Whether some accepted answer occurs in ``text`` as whole normalised tokens."""
    haystack = f" {normalize_answer(text)} "
    for answer in answers:
        needle = normalize_answer(answer)
        if needle and f" {needle} " in haystack:
            return True
    return False


def token_f1(prediction: str, answers: Iterable[str]) -> float:
    """SQuAD token F1 of ``prediction``, the best over the accepted answers (0.0 when none)."""
    pred = normalize_answer(prediction).split()
    best = 0.0
    for answer in answers:
        gold = normalize_answer(answer).split()
        if not pred or not gold:
            continue
        same = sum((Counter(pred) & Counter(gold)).values())
        if same:
            p, r = same / len(pred), same / len(gold)
            best = max(best, 2 * p * r / (p + r))
    return best


def span_scores(prediction: str | None, answers: Sequence[str]) -> tuple[float, float]:
    """SQuAD 2.0's (exact match, F1) of an answer span: official normalisation, best over the accepted
    answers, number words as digits. ``prediction`` None is a refusal: 1 on an unanswerable question
    (no accepted answers), 0 otherwise."""
    said = prediction or ""
    if not answers:
        return (1.0, 1.0) if prediction is None else (0.0, 0.0)
    if prediction is None:
        return 0.0, 0.0
    return best_over(said, list(answers), exact_match), best_over(said, list(answers), squad_f1)


# ---------------------------------------------------------------------------- retrieval (document level)
def unique_docs(doc_ids: Iterable[str]) -> list[str]:
    """Passage doc ids → ranked document ids: first occurrence kept, empties dropped."""
    seen: set[str] = set()
    ranked: list[str] = []
    for doc_id in doc_ids:
        if doc_id and doc_id not in seen:
            seen.add(doc_id)
            ranked.append(doc_id)
    return ranked


def first_hit(ranked: Sequence[str], gold: Iterable[str]) -> int | None:
    """1-based rank of the first gold document in ``ranked`` (None when absent)."""
    gold = set(gold)
    for i, doc_id in enumerate(ranked, start=1):
        if doc_id in gold:
            return i
    return None


def recall_at_k(ranked: Sequence[str], gold: Iterable[str], k: int) -> float:
    """1.0 when any gold document is among the first ``k`` ranked documents, else 0.0 ('any' for multi-doc gold)."""
    rank = first_hit(ranked, gold)
    return 1.0 if rank is not None and rank <= k else 0.0


def reciprocal_rank(ranked: Sequence[str], gold: Iterable[str]) -> float:
    """1 / rank of the first gold document; 0.0 when none was retrieved."""
    rank = first_hit(ranked, gold)
    return 1.0 / rank if rank else 0.0


def ndcg_at_k(ranked: Sequence[str], gold: Iterable[str], k: int) -> float:
    """Binary-relevance nDCG@k: Σ rel_i / log2(i+1) over the top k, divided by the ideal ordering's."""
    gold = set(gold)
    if not gold:
        return 0.0
    dcg = sum(1.0 / math.log2(i + 1) for i, doc_id in enumerate(ranked[:k], start=1) if doc_id in gold)
    ideal = sum(1.0 / math.log2(i + 1) for i in range(1, min(len(gold), k) + 1))
    return dcg / ideal


# ---------------------------------------------------------------------------- citations
def citation_precision(texts: Sequence[str], answers: Iterable[str]) -> float | None:
    """Share of the cited texts that each contain an accepted answer (None without citations)."""
    if not texts:
        return None
    answers = list(answers)
    return sum(contains_answer(t, answers) for t in texts) / len(texts)


def supported(quotes: Sequence[str], answers: Iterable[str]) -> bool:
    """Whether the cited quotes, read together, contain an accepted answer."""
    return contains_answer(" ".join(quotes), answers)


# ---------------------------------------------------------------------------- aggregation
def mean(values: Iterable[float | None]) -> float | None:
    """Mean of the non-None values; None when there are none (no eligible questions)."""
    kept = [v for v in values if v is not None]
    return sum(kept) / len(kept) if kept else None


def percentile(values: Iterable[float], q: float) -> float | None:
    """The ``q``-th percentile with linear interpolation (numpy's default); None for no values."""
    data = sorted(values)
    if not data:
        return None
    pos = (len(data) - 1) * q / 100
    lo, hi = math.floor(pos), math.ceil(pos)
    return data[lo] + (data[hi] - data[lo]) * (pos - lo)
