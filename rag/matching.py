"""When two answers are the same answer: SQuAD's normalisation plus number words.

One place for the comparison that training's dev metrics, evaluation's answer metrics and the
answer's "sources agree" grouping all use, so that every system is scored the same way:

* SQuAD 2.0's official normalisation (lower case, no punctuation, no articles, single spaces);
* number words and digits are equal ("six" = "6", "10,000" = "10000" = "ten thousand" is NOT
  attempted: only single number words up to twenty and the round tens, and thousands separators).
"""

from __future__ import annotations

import collections
import re
import string
import unicodedata

_ARTICLES = re.compile(r"\b(a|an|the)\b")
_PUNCT = set(string.punctuation) | {"’", "‘", "“", "”", "–", "—"}
_THOUSANDS = re.compile(r"(?<=\d),(?=\d{3}\b)")
NUMBER_WORDS = {
    w: str(i)
    for i, w in enumerate(
        "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen "  # noqa: SIM905
        "seventeen eighteen nineteen twenty".split()
    )
} | {"thirty": "30", "forty": "40", "fifty": "50", "sixty": "60", "seventy": "70", "eighty": "80",
     "ninety": "90", "hundred": "100", "thousand": "1000", "million": "1000000"}
# What a report puts before a number to say it is a floor, a ceiling or an estimate ("over 10,000").
# The reader keeps these with the number; the source comparison ignores them when it compares values.
QUALIFIERS = (
    "just over", "well over", "over", "more than", "fewer than", "less than", "about", "around", "nearly",
    "almost", "approximately", "roughly", "at least", "at most", "up to", "just under", "under", "above",
    "below", "some", "an estimated", "estimated",
)
QUALIFIER_WORDS = frozenset(w for phrase in QUALIFIERS for w in phrase.split())


def squad_normalize(text: str) -> str:
    """SQuAD 2.0's official answer normalisation."""
    text = text.lower()
    text = "".join(ch for ch in text if ch not in _PUNCT)
    text = _ARTICLES.sub(" ", text)
    return " ".join(text.split())


def answer_tokens(text: str) -> list[str]:
    """Normalised tokens with number words as digits (and "10,000" as "10000")."""
    text = unicodedata.normalize("NFKC", text)
    text = _THOUSANDS.sub("", text)
    return [NUMBER_WORDS.get(t, t) for t in squad_normalize(text).split()]


def exact_match(prediction: str, gold: str) -> float:
    return float(answer_tokens(prediction) == answer_tokens(gold))


def token_f1(prediction: str, gold: str) -> float:
    """SQuAD's token-overlap F1 (both empty: 1; one empty: 0)."""
    pred, ref = answer_tokens(prediction), answer_tokens(gold)
    if not pred or not ref:
        return float(pred == ref)
    common = collections.Counter(pred) & collections.Counter(ref)
    same = sum(common.values())
    if same == 0:
        return 0.0
    precision, recall = same / len(pred), same / len(ref)
    return 2 * precision * recall / (precision + recall)


def best_over(prediction: str, golds: list[str], metric=token_f1) -> float:
    """The metric against the best-matching accepted answer (an empty gold list means 'no answer')."""
    if not golds:
        return float(not prediction)
    return max(metric(prediction, g) for g in golds)
