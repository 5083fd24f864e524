"""Sources compared: do the documents that answer give the same answer?

News is reported many times over, and reports differ ("over 10,000 troops" on one day, "about
12,000" a fortnight later). When several retrieved documents answer, their answers are grouped
by what they say, not how they say it (:func:`answer_key`: case, punctuation, number words,
hedges such as "over" or "about", and date formats do not matter), and the answer says either
how many independent documents agree, citing each, or, when documents give different values for
a question that wants one value (a number, a date, a name), shows both with their sources and dates.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from llama_index.core.schema import NodeWithScore

from rag.answer.citations import citation_at, published_of
from rag.matching import NUMBER_WORDS, QUALIFIER_WORDS, squad_normalize
from rag.text import Span
from rag.types import Agreement, Citation, SourceGroup

_MONTH_NAMES = "january february march april may june july august september october november december"
_MONTHS = {m: i for i, m in enumerate(_MONTH_NAMES.split(), 1)}
_MONTHS |= {m[:3]: i for m, i in list(_MONTHS.items())} | {"sept": 9}
_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")
_SCALE = {"thousand": 1e3, "million": 1e6, "billion": 1e9, "trillion": 1e12}
_ONE_VALUE = re.compile(
    r"^\s*(?:how many|how much|when|what year|what date|what day|which year|who|whom|whose|where|which|what)\b",
    re.IGNORECASE,
)


@dataclass
class Reading:
    """One document's answer: its span text, the passage and the sentence that hold it, its score."""

    doc_id: str
    answer: str
    node: NodeWithScore
    sentence: Span
    score: float


def answer_key(text: str) -> tuple[str, tuple]:
    """What an answer says, for grouping: ("number", values), ("date", (y, m, d)) or ("text", tokens)."""
    date = _date_of(text)
    if date is not None:
        return "date", date
    numbers = _numbers_of(text)
    if numbers:
        return "number", tuple(sorted(numbers))
    tokens = [t for t in squad_normalize(text).split() if t not in QUALIFIER_WORDS]
    return "text", tuple(tokens)


def same_answer(a: tuple[str, tuple], b: tuple[str, tuple]) -> bool:
    """Equal keys, or text answers of which one contains the other ("Rutte" and "Mark Rutte")."""
    if a[0] != b[0]:
        return False
    if a == b:
        return True
    if a[0] == "text" and a[1] and b[1]:
        shorter, longer = sorted((set(a[1]), set(b[1])), key=len)
        return shorter <= longer
    return False


def compare_sources(question: str, readings: list[Reading], citations: list[Citation]) -> Agreement | None:
    """Group the documents' answers; extend ``citations`` with the other documents' sentences.

    ``readings`` are best first; the first is the answer already cited as ``citations[0]``. Only
    one reading per document counts (its best). Returns None when a single document answers, or
    when the others' answers are of another kind than the question wants (nothing to compare).
    """
    per_doc: dict[str, Reading] = {}
    for r in readings:
        per_doc.setdefault(r.doc_id, r)
    if len(per_doc) < 2:
        return None
    groups: list[tuple[tuple[str, tuple], list[Reading]]] = []
    for r in per_doc.values():
        key = answer_key(r.answer)
        for g_key, members in groups:
            if same_answer(g_key, key):
                members.append(r)
                break
        else:
            groups.append((key, [r]))
    lead_kind = groups[0][0][0]
    wants_one = bool(_ONE_VALUE.search(question))
    rivals = [g for g in groups[1:] if g[0][0] == lead_kind and wants_one]
    if len(groups[0][1]) < 2 and not rivals:
        return None
    shown = [groups[0], *rivals]
    numbers = {c.chunk_id: c.n for c in citations}
    out: list[SourceGroup] = []
    for _, members in shown:
        ns = []
        for r in members:
            n = numbers.get(r.node.node.node_id) if r is readings[0] else None
            if n is None:
                n = len(citations) + 1
                citations.append(citation_at(n, r.sentence, r.score, r.node))
            ns.append(n)
        out.append(SourceGroup(
            answer=members[0].answer.strip(),
            citations=ns,
            doc_ids=[r.doc_id for r in members],
            published=[published_of(r.node) for r in members],
            sources=[_source_name(r.node) for r in members],
        ))
    if rivals:
        parts = []
        for g in out:
            where = "; ".join(
                ", ".join(x for x in (name, date) if x) for name, date in zip(g.sources, g.published, strict=True)
            )
            refs = "".join(f"[{n}]" for n in g.citations)
            parts.append(f"{g.answer} ({where}) {refs}")
        return Agreement("differ", out, "Sources differ: " + "; ".join(parts) + ".")
    g = out[0]
    refs = "".join(f"[{n}]" for n in g.citations)
    return Agreement("agree", out, f"{len(g.doc_ids)} independent sources agree {refs}.")


def _source_name(node: NodeWithScore) -> str:
    meta = node.node.metadata
    return str(meta.get("source") or meta.get("title") or meta.get("doc_id") or "")


def _numbers_of(text: str) -> list[float]:
    """The numeric values in an answer: digits (with separators), number words, scales ("1.2 million")."""
    values: list[float] = []
    words = squad_normalize(text.replace(",", "")).split()
    clean = text.lower().replace(",", "")
    for m in _NUMBER.finditer(clean):
        try:
            value = float(m.group())
        except ValueError:
            continue
        after = clean[m.end():].split()
        if after and after[0] in _SCALE:
            value *= _SCALE[after[0]]
        values.append(value)
    if not values:
        for i, w in enumerate(words):
            if w in NUMBER_WORDS and w not in _SCALE:
                value = float(NUMBER_WORDS[w])
                if i + 1 < len(words) and words[i + 1] in _SCALE:
                    value *= _SCALE[words[i + 1]]
                values.append(value)
    return values


_DATE_FORMS = [
    re.compile(r"\b(\d{4})-(\d{1,2})-(\d{1,2})\b"),
    re.compile(r"\b([a-z]+)\.? (\d{1,2})(?:st|nd|rd|th)?,? (\d{4})\b"),  # November 2, 2024
    re.compile(r"\b(\d{1,2})(?:st|nd|rd|th)? ([a-z]+)\.?,? (\d{4})\b"),  # 2 November 2024
]


def _date_of(text: str) -> tuple[int, int, int] | None:
    low = text.lower()
    m = _DATE_FORMS[0].search(low)
    if m:
        return int(m.group(1)), int(m.group(2)), int(m.group(3))
    m = _DATE_FORMS[1].search(low)
    if m and m.group(1) in _MONTHS:
        return int(m.group(3)), _MONTHS[m.group(1)], int(m.group(2))
    m = _DATE_FORMS[2].search(low)
    if m and m.group(2) in _MONTHS:
        return int(m.group(3)), _MONTHS[m.group(2)], int(m.group(1))
    return None
