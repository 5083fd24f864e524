"""Does a span have the kind of answer the question asks for?

"How many …?" wants a number, "When …?" a date or a time, "Who …?" a name. A reader that is
unsure whether a passage answers often proposes a span of the wrong kind ("How many troops?" →
"South Korean intelligence"); that mismatch is evidence the passage does not say. The check is
deliberately coarse: +1 when the question's kind is clear and the span has it, −1 when the span
clearly lacks it, 0 when the question does not say what it wants.
"""

from __future__ import annotations

import re

from rag.matching import NUMBER_WORDS

_WANTS = [
    ("number", re.compile(r"^\s*(?:how (?:many|much|long|far|old|large|big|tall|high|often)|what (?:percentage|"
                          r"percent|share|number|amount|proportion|fraction))\b", re.I)),
    ("date", re.compile(r"^\s*(?:when|(?:in )?what (?:year|date|day|month|decade|century|time)|"
                        r"(?:in )?which (?:year|month|day|decade|century))\b", re.I)),
    ("person", re.compile(r"^\s*(?:who|whom|whose)\b", re.I)),
]
_DIGIT = re.compile(r"\d")
_MONTHS = re.compile(r"\b(?:jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec)[a-z]*\.?\b", re.I)
_TIME_WORDS = re.compile(r"\b(?:century|centuries|decade|year|years|ago|today|yesterday|monday|tuesday|wednesday|"
                         r"thursday|friday|saturday|sunday|spring|summer|autumn|fall|winter|morning|night|week|"
                         r"weeks|month|months|era|age|period|dynasty|reign|war|bc|ad|bce|ce)\b", re.I)
_CAPITAL = re.compile(r"\b[A-Z][a-z]")


def wanted_kind(question: str) -> str | None:
    """``number``, ``date``, ``person`` or None (the question does not say)."""
    for kind, pattern in _WANTS:
        if pattern.search(question):
            return kind
    return None


def type_agreement(question: str, span: str) -> int:
    """+1 the span is of the wanted kind, −1 it clearly is not, 0 no kind wanted."""
    kind = wanted_kind(question)
    if kind is None:
        return 0
    words = span.lower().split()
    if kind == "number":
        has = bool(_DIGIT.search(span)) or any(w.strip(".,") in NUMBER_WORDS for w in words) or any(
            w in ("dozen", "dozens", "hundreds", "thousands", "millions", "billion", "half", "few", "several")
            for w in words)
    elif kind == "date":
        has = bool(_DIGIT.search(span) or _MONTHS.search(span) or _TIME_WORDS.search(span))
    else:
        has = bool(_CAPITAL.search(span))
    return 1 if has else -1
