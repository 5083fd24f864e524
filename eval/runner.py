"""Asking every question through a :class:`rag.engine.Engine` and collecting a :class:`Report`.

Per question, two engine calls:

* ``engine.ask(Query(question, top_k=<the configured top_k>, as_of=<the question's date>, …))`` —
  the answer a user would get; its wall time is the question's latency;
* ``engine.retrieve(Query(..., top_k=10))`` — the ranked passages behind the retrieval metrics (skipped,
  reusing the answer's passages, when the answer already carries 10 or more). The engine's ranking
  is the same for any ``top_k`` (a longer list extends a shorter one), so the first ``top_k`` of
  these are exactly the answer's passages.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from eval.errors import EvalError
from eval.metrics import unique_docs
from eval.questions import Question, load_questions, parse_question
from eval.scoring import score_question, summarize
from rag.errors import CitewireError
from rag.query import Query
from rag.types import Answer, Passage

RETRIEVAL_DEPTH = 10  # passages ranked for the retrieval metrics


class EngineLike(Protocol):
    """What the runner needs of :class:`rag.engine.Engine` (a fake will do in tests)."""

    def ask(self, query: Query) -> Answer: ...

    def retrieve(self, query: Query) -> list[Passage]: ...


@dataclass
class QuestionResult:
    """One question, what the engine answered and how it scored (one line of results.jsonl)."""

    question: Question
    answer: Answer | None
    retrieved: list[str]
    scores: dict[str, float | None]
    latency_ms: float
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        a = self.answer
        row: dict[str, Any] = {
            "id": self.question.id,
            "question": self.question.question,
            "date": self.question.date,
            "gold_answers": self.question.answers,
            "gold_doc_ids": self.question.doc_ids,
            "answer": a.text if a else None,
            "refused": a.refused if a else None,
            "support": a.support if a else None,
            "mode": a.mode if a else None,
            "citations": [c.to_dict() for c in a.citations] if a else [],
            "retrieved_doc_ids": self.retrieved,
            "scores": {k: (None if v is None else round(v, 4)) for k, v in self.scores.items()},
            "latency_ms": round(self.latency_ms, 1),
            "timings": {k: round(v, 1) for k, v in a.timings.items()} if a else {},
        }
        if self.error:
            row["error"] = self.error
        return row


@dataclass
class Report:
    """The outcome of :func:`run`: per-question results and report.json's summary."""

    results: list[QuestionResult]
    meta: dict[str, Any] = field(default_factory=dict)
    _summary: dict[str, Any] | None = field(default=None, repr=False)

    @property
    def summary(self) -> dict[str, Any]:
        """report.json's metric sections (``n``, ``retrieval``, ``answer`` …) and their details."""
        if self._summary is None:
            self._summary = summarize([r.to_dict() for r in self.results])
        return self._summary

    def __getitem__(self, key: str) -> Any:
        return self.to_dict()[key]

    def to_dict(self) -> dict[str, Any]:
        """The report.json object: the fixed metric sections first, then run details."""
        return {**self.summary, **self.meta}

    def write(
        self, out: str | Path, compare: dict[str, Any] | str | Path | None = None, compare_label: str | None = None
    ) -> dict[str, Path]:
        """Write results.jsonl, report.json, report.md and the plots to ``out`` (see :mod:`eval.report`).

        ``compare``: an earlier report.json (path or loaded) to diff against (adds compare.json).
        """
        from eval.report import write_report

        return write_report([r.to_dict() for r in self.results], self.to_dict(), Path(out), compare=compare,
                            compare_label=compare_label)


def _as_questions(questions: Iterable[Question | dict[str, Any]] | str | Path) -> list[Question]:
    if isinstance(questions, (str, Path)):
        return load_questions(questions)
    parsed: list[Question] = []
    for i, q in enumerate(questions, start=1):
        if isinstance(q, Question):
            parsed.append(q)
        else:
            try:
                parsed.append(parse_question(q))
            except ValueError as exc:
                raise EvalError(f"question {i}: {exc}") from None
    if not parsed:
        raise EvalError("no questions to evaluate")
    return parsed


def ask_one(engine: EngineLike, question: Question, retriever: str = "default",
            top_k: int | None = None, mode: str | None = None) -> QuestionResult:
    """Ask one question (timed) and rank passages for the retrieval metrics; score both."""
    query = Query(question.question, top_k=top_k, as_of=question.date, retriever=retriever, mode=mode)
    try:
        started = time.perf_counter()
        answer = engine.ask(query)
        latency_ms = (time.perf_counter() - started) * 1000
        passages = answer.passages
        if len(passages) < RETRIEVAL_DEPTH:
            passages = engine.retrieve(Query(question.question, top_k=RETRIEVAL_DEPTH, retriever=retriever,
                                             as_of=question.date))
    except CitewireError as exc:
        return QuestionResult(question, None, [], {}, 0.0, error=str(exc))
    retrieved = unique_docs(p.doc_id for p in passages[:RETRIEVAL_DEPTH])
    return QuestionResult(question, answer, retrieved, score_question(question, answer, retrieved), latency_ms)


def run(
    questions: Iterable[Question | dict[str, Any]] | str | Path,
    engine: EngineLike,
    *,
    retriever: str = "default",
    top_k: int | None = None,
    mode: str | None = None,
    progress: bool = False,
    warm_up: bool = True,
    on_result: Callable[[QuestionResult], None] | None = None,
) -> Report:
    """Evaluate ``engine`` on ``questions`` (Question objects, question dicts, or a JSONL path).

    ``top_k`` is passed to ``engine.ask`` (None = the engine's setting); ``retriever`` selects the
    variant (default, hybrid, dense, bm25) and ``mode`` the answerer (None = the engine's default).
    One untimed retrieval first loads what loads lazily, so the first question's latency is not the
    model's warm-up.
    """
    qs = _as_questions(questions)
    if warm_up:
        with contextlib.suppress(CitewireError):  # the question itself will report it
            engine.retrieve(Query(qs[0].question, top_k=1, retriever=retriever))
    results: list[QuestionResult] = []
    from tqdm import tqdm

    for question in tqdm(qs, desc="eval", unit="q", disable=not progress, dynamic_ncols=True):
        result = ask_one(engine, question, retriever, top_k, mode)
        results.append(result)
        if on_result:
            on_result(result)
    settings = getattr(engine, "settings", None)
    meta = {
        "retriever": retriever,
        "top_k": top_k or getattr(settings, "top_k", None),
        "retrieval_depth": RETRIEVAL_DEPTH,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    return Report(results, meta)
