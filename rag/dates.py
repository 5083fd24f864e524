"""Dates, one way everywhere: articles carry ``published`` as an int YYYYMMDD (Chroma can range-filter
ints), and every place that shows or accepts a date uses ISO ``YYYY-MM-DD``.
"""

from __future__ import annotations

import re
from datetime import date, datetime

from rag.errors import QuestionError

_LEADING_DATE = re.compile(r"^(\d{4})-?(\d{2})-?(\d{2})")


def published_iso(published: int | None) -> str | None:
    """``20221103`` → ``"2022-11-03"``; None when unknown."""
    if not published:
        return None
    s = f"{published:08d}"
    return f"{s[:4]}-{s[4:6]}-{s[6:]}"


def parse_day(value: str | date | int | None, name: str = "date") -> int | None:
    """A user's ``YYYY-MM-DD`` (or a date, or an int YYYYMMDD) → int YYYYMMDD; a clear error otherwise."""
    if value is None or value == "":
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, date):
        return day_number(value)
    try:
        d = date.fromisoformat(str(value).strip()[:10])
    except ValueError:
        raise QuestionError(f"{name} {value!r} is not a date of the form YYYY-MM-DD") from None
    return day_number(d)


def coerce_day(value: object) -> int | None:
    """An article's date in any common form (``2022-11-03``, ``2022-11-03T10:00Z``, ``20221103``) or None.

    Lenient where :func:`parse_day` is strict: a document with an unreadable date is still a
    document, only an undated one.
    """
    if value is None or value == "":
        return None
    if isinstance(value, (date, datetime)):
        return day_number(value)
    m = _LEADING_DATE.match(str(value).strip())
    if not m:
        return None
    y, mo, d = (int(g) for g in m.groups())
    try:
        return day_number(date(y, mo, d))
    except ValueError:
        return None


def day_number(d: date) -> int:
    return d.year * 10000 + d.month * 100 + d.day


def to_date(day: int) -> date:
    return date(day // 10000, day // 100 % 100, day % 100)
