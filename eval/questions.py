"""Loading and validating question files (JSONL, one question a line; see ../shared/README.md).

Every problem is reported as one line naming the file and the line, e.g.
``questions.jsonl:3: "answers" must be a list of strings``.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from eval.errors import EvalError

_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


@dataclass(frozen=True)
class Question:
    """One evaluation question; empty ``answers`` means the corpus does not answer it (refusal expected)."""

    id: str
    question: str
    answers: list[str] = field(default_factory=list)
    doc_ids: list[str] = field(default_factory=list)
    date: str | None = None

    @property
    def answerable(self) -> bool:
        return bool(self.answers)

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"id": self.id, "question": self.question, "answers": list(self.answers),
                             "doc_ids": list(self.doc_ids)}
        if self.date:
            d["date"] = self.date
        return d


def _string_list(record: dict[str, Any], key: str) -> list[str]:
    value = record.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValueError(f'"{key}" must be a list of strings')
    return [v for v in value if v.strip()]


def parse_question(record: object) -> Question:
    """One decoded JSON line → :class:`Question`; ``ValueError`` with a short reason otherwise."""
    if not isinstance(record, dict):
        raise ValueError(f"expected a JSON object, got {type(record).__name__}")
    qid = record.get("id")
    if isinstance(qid, int) and not isinstance(qid, bool):
        qid = str(qid)
    if not isinstance(qid, str) or not qid.strip():
        raise ValueError('missing or empty "id"')
    text = record.get("question")
    if not isinstance(text, str) or not text.strip():
        raise ValueError(f'question {qid!r}: missing or empty "question"')
    answers = _string_list(record, "answers")
    doc_ids = _string_list(record, "doc_ids")
    day = record.get("date")
    if day in (None, ""):
        day = None
    elif not isinstance(day, str) or not _DATE.match(day):
        raise ValueError(f'question {qid!r}: "date" must be YYYY-MM-DD, got {day!r}')
    else:
        try:
            date.fromisoformat(day)
        except ValueError:
            raise ValueError(f'question {qid!r}: "date" {day!r} is not a real date') from None
    return Question(id=qid, question=text, answers=answers, doc_ids=doc_ids, date=day)


def load_questions(path: str | Path, limit: int | None = None) -> list[Question]:
    """All questions of a JSONL file (the first ``limit`` when given), or an :class:`EvalError`.

    The whole file is validated even with ``limit``, so a bad line is never discovered later.
    """
    path = Path(path)
    if not path.exists():
        raise EvalError(f"{path}: no such question file")
    if not path.is_file():
        raise EvalError(f"{path}: not a file (expected a JSONL question file)")
    if limit is not None and limit < 1:
        raise EvalError(f"--limit must be at least 1, got {limit}")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise EvalError(f"{path}: not UTF-8 text (invalid byte at offset {exc.start})") from None
    except OSError as exc:
        raise EvalError(f"{path}: cannot read ({exc.strerror or exc})") from None
    questions: list[Question] = []
    seen: dict[str, int] = {}
    for lineno, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise EvalError(f"{path}:{lineno}: malformed JSON ({exc.msg} at column {exc.colno})") from None
        try:
            question = parse_question(record)
        except ValueError as exc:
            raise EvalError(f"{path}:{lineno}: {exc}") from None
        if question.id in seen:
            raise EvalError(f"{path}:{lineno}: duplicate id {question.id!r} (first on line {seen[question.id]})")
        seen[question.id] = lineno
        questions.append(question)
    if not questions:
        raise EvalError(f"{path}: no questions (expected one JSON object a line)")
    return questions[:limit] if limit is not None else questions
