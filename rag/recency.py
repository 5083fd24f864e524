"""News awareness: date ranges and time words ("this week", "latest") in questions.

A question about "this week" wants the articles published near the reference date (today, or an
explicit ``as_of``), not the best lexical match from three years ago. Such questions get a boost
for recent articles that decays with a half-life; articles dated after the reference date get
none (they could not have been "this week" then).
"""

from __future__ import annotations

import math
import re
from datetime import date

from rag.errors import QuestionError

_TIME_WORDS = re.compile(
    r"\b(?:this|last|past|previous)\s+(?:week|weekend|month|year|few\s+days)\b"
    r"|\b(?:recent(?:ly)?|latest|newest|currently|current|today|yesterday|tonight|now|just|new|upcoming|so\s+far)\b",
    re.IGNORECASE,
)


def parse_day(value: str | date | int | None, name: str = "date") -> int | None:
    """``YYYY-MM-DD`` (or a date, or an int YYYYMMDD) → int YYYYMMDD; a clear error otherwise."""
    if value is None or value == "":
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, date):
        return value.year * 10000 + value.month * 100 + value.day
    try:
        d = date.fromisoformat(str(value).strip()[:10])
    except ValueError:
        raise QuestionError(f"{name} {value!r} is not a date of the form YYYY-MM-DD") from None
    return d.year * 10000 + d.month * 100 + d.day


def to_date(day: int) -> date:
    return date(day // 10000, day // 100 % 100, day % 100)


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
