"""One question and everything that shapes its answer, as one typed object.

The CLI, the chat, the HTTP API and evaluation all build a :class:`Query` and hand it to
:class:`rag.engine.Engine`; it is checked once (:meth:`Query.checked`) before any work is done,
so a bad value is one clear :class:`rag.errors.QuestionError` wherever it came from.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import date
from typing import Any

from rag.dates import parse_day
from rag.errors import QuestionError

DayLike = str | date | int | None


@dataclass(frozen=True)
class Query:
    """A question with its conversation, date range, reference date, depth, answerer and retriever.

    ``mode`` names an answerer of :data:`rag.answer.ANSWERERS` (None: the configured default);
    ``retriever`` a kind of :class:`rag.retrieve.RetrieverKind`.
    """

    question: str
    history: Sequence[Any] | None = None
    since: DayLike = None
    until: DayLike = None
    as_of: DayLike = None
    top_k: int | None = None
    mode: str | None = None
    retriever: str = "default"
    extras: dict[str, Any] = field(default_factory=dict)

    def checked(self, max_chars: int) -> Query:
        """The same query with its question tidied; :class:`QuestionError` for an unusable one."""
        question = self.question
        if not isinstance(question, str) or not question.strip():
            raise QuestionError("the question is empty")
        question = " ".join(question.split())
        if len(question) > max_chars:
            raise QuestionError(
                f"the question is too long ({len(question)} characters; the limit is {max_chars})"
            )
        if self.top_k is not None and not 1 <= self.top_k <= 50:
            raise QuestionError("top_k must be between 1 and 50")
        since, until = self.since_day, self.until_day
        if since and until and since > until:
            raise QuestionError("--since is after --until")
        self.as_of_day  # noqa: B018 - validates
        return replace(self, question=question)

    @property
    def since_day(self) -> int | None:
        return parse_day(self.since, "since")

    @property
    def until_day(self) -> int | None:
        return parse_day(self.until, "until")

    @property
    def as_of_day(self) -> int:
        """The reference date for "this week" and "latest": ``as_of``, else today."""
        return parse_day(self.as_of, "as_of") or parse_day(date.today())  # type: ignore[return-value]
