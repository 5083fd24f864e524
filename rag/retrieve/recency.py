"""News awareness: time words ("this week", "latest") in questions and the recency boost they earn.

A question about "this week" wants the articles published near the reference date (today, or an
explicit ``as_of``), not the best lexical match from three years ago. Such questions get a boost
for recent articles that decays with a half-life; articles dated after the reference date get
none (they could not have been "this week" then).
"""

from __future__ import annotations

import math
import re

from rag.dates import to_date

_TIME_WORDS = re.compile(
    r"\b(?:this|last|past|previous)\s+(?:week|weekend|month|year|few\s+days)\b"
    r"|\b(?:recent(?:ly)?|latest|newest|currently|current|today|yesterday|tonight|now|just|new|upcoming|so\s+far)\b",
    re.IGNORECASE,
)


def is_time_sensitive(question: str) -> bool:
    return bool(_TIME_WORDS.search(question))


def recency(published: int | None, as_of: int, half_life_days: float) -> float:
    """1 for an article of the reference day, halving every ``half_life_days`` before it; 0 after it."""
    if not published:
        return 0.0
    try:
        age = (to_date(as_of) - to_date(published)).days
    except ValueError:
        return 0.0
    if age < 0:
        return 0.0
    return math.pow(0.5, age / half_life_days)
