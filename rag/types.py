"""The shapes an answer takes: passages, citations, the answer span, sources compared, the answer.

``Answer.to_dict()`` is the one JSON shape shared by ``citewire ask --json``, the HTTP API and
the evaluation's results file. Dates are ISO ``YYYY-MM-DD`` strings or None everywhere in it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class Passage:
    """A retrieved chunk with where it sits in its (cleaned) document."""

    chunk_id: str
    doc_id: str
    title: str
    text: str
    start: int
    end: int
    score: float
    published: str | None = None  # YYYY-MM-DD
    url: str = ""
    source: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Citation:
    """One numbered citation: the exact quoted span of a document that supports the answer."""

    n: int
    doc_id: str
    title: str
    quote: str
    start: int
    end: int
    score: float
    url: str = ""
    published: str | None = None  # YYYY-MM-DD
    source: str = ""
    chunk_id: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class AnswerSpan:
    """The exact words that answer, as offsets in the cleaned document (inside citation ``citation``)."""

    text: str
    doc_id: str
    start: int
    end: int
    score: float
    citation: int = 0  # the number of the citation whose quote holds the span
    chunk_id: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class SourceGroup:
    """Documents that give the same answer (after normalisation), with the citations that show it."""

    answer: str
    citations: list[int]
    doc_ids: list[str]
    published: list[str | None]
    sources: list[str]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Agreement:
    """How the retrieved documents' answers compare: ``agree`` (one answer, several documents) or ``differ``."""

    kind: str  # "agree" | "differ"
    groups: list[SourceGroup]
    summary: str

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "summary": self.summary, "groups": [g.to_dict() for g in self.groups]}


@dataclass
class Answer:
    """What :meth:`rag.engine.Engine.ask` returns."""

    question: str
    text: str
    citations: list[Citation] = field(default_factory=list)
    refused: bool = False
    passages: list[Passage] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    mode: str = "reader"
    resolved_question: str = ""
    support: float = 0.0  # the evidence score that decided answer vs refusal
    answer_span: AnswerSpan | None = None
    agreement: Agreement | None = None
    note: str = ""  # why the answer took the shape it has (e.g. an LLM reply that fell back)

    def to_dict(self) -> dict[str, Any]:
        return {
            "question": self.question,
            "resolved_question": self.resolved_question or self.question,
            "text": self.text,
            "refused": self.refused,
            "support": self.support,
            "mode": self.mode,
            "answer_span": self.answer_span.to_dict() if self.answer_span else None,
            "agreement": self.agreement.to_dict() if self.agreement else None,
            "note": self.note,
            "citations": [c.to_dict() for c in self.citations],
            "passages": [p.to_dict() for p in self.passages],
            "timings": {k: round(v, 2) for k, v in self.timings.items()},
        }
