"""The shapes an answer takes: passages, citations and the answer itself.

``Answer.to_dict()`` is the one JSON shape shared by ``citewire ask --json``, the HTTP API and
the evaluation's results file.
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
    published: int | None = None
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
    published: str = ""  # YYYY-MM-DD or empty
    source: str = ""
    chunk_id: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Answer:
    """What :meth:`rag.Engine.ask` returns."""

    question: str
    text: str
    citations: list[Citation] = field(default_factory=list)
    refused: bool = False
    passages: list[Passage] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    mode: str = "extractive"
    resolved_question: str = ""
    support: float = 0.0  # the evidence score that decided answer vs refusal


    def to_dict(self) -> dict[str, Any]:
        return {
            "question": self.question,
            "resolved_question": self.resolved_question or self.question,
            "text": self.text,
            "refused": self.refused,
            "support": self.support,
            "mode": self.mode,
            "citations": [c.to_dict() for c in self.citations],
            "passages": [p.to_dict() for p in self.passages],
            "timings": {k: round(v, 2) for k, v in self.timings.items()},
        }
