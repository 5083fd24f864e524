"""The seam every answerer plugs into: a protocol, the composition it returns, the shared refusal.

An answerer turns a :class:`rag.retrieve.Retrieval` into text pieces as they are produced and,
last, a :class:`Composition`: the answer's text and citations (or a refusal), with the evidence
that decided it. The engine wraps that into the public :class:`rag.types.Answer`.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from rag.types import Agreement, AnswerSpan, Citation

if TYPE_CHECKING:
    from rag.query import Query
    from rag.retrieve import Retrieval

REFUSAL_TEXT = "The corpus does not say. The closest passages I found are listed below."


@dataclass
class Composition:
    """An answer's text and citations, or a refusal, with the support that decided it."""

    text: str
    citations: list[Citation]
    refused: bool
    support: float
    answer_span: AnswerSpan | None = None
    agreement: Agreement | None = None
    note: str = ""
    mode: str = ""  # set when the answer came from another answerer than the one asked (a fallback)
    extra: dict[str, float] = field(default_factory=dict)


def refusal(support: float = 0.0, note: str = "") -> Composition:
    return Composition(REFUSAL_TEXT, [], True, support, note=note)


class Answerer(Protocol):
    """Streams an answer for one retrieval: text pieces, then the :class:`Composition`."""

    def stream(self, query: Query, retrieval: Retrieval) -> Iterator[str | Composition]: ...


def pieces(text: str, words_per_piece: int = 4) -> Iterator[str]:
    """Split a finished text into small pieces so that a UI can stream it."""
    words = text.split(" ")
    for i in range(0, len(words), words_per_piece):
        yield " ".join(words[i : i + words_per_piece]) + (" " if i + words_per_piece < len(words) else "")
