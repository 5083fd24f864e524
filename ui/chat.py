"""The chat's functions: stream an answer into the Chatbot, or return it as a dict.

Both are plain functions of the question, the conversation so far and the settings of the
Settings accordion, so the browser, ``gradio_client`` and the JSON API share them.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import gradio as gr

from rag.answer import MODES
from rag.errors import CitewireError, QuestionError
from rag.query import Query
from rag.types import Answer
from ui.corpora import Corpora
from ui.render_html import plain_answer, render_answer, render_partial


def _content_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, dict):
        return str(content.get("text", ""))
    if isinstance(content, list):
        return " ".join(_content_text(part) for part in content)
    return ""


def engine_history(history: Sequence[Any] | None) -> list[dict[str, str]]:
    """Chat messages as the engine wants them: the user's words and the answers' plain text.

    Assistant messages are our rendered HTML; only their answer text (not titles or quotes of
    the Sources panel) should steer a follow-up question.
    """
    turns: list[dict[str, str]] = []
    for item in history or []:
        if isinstance(item, dict):
            role = str(item.get("role", "user"))
            text = _content_text(item.get("content"))
            turns.append({"role": role, "content": plain_answer(text) if role == "assistant" else text})
        elif isinstance(item, (list, tuple)) and len(item) == 2:
            user, bot = item
            if user:
                turns.append({"role": "user", "content": _content_text(user)})
            if bot:
                turns.append({"role": "assistant", "content": plain_answer(_content_text(bot))})
    return turns


def check_mode(corpora: Corpora, mode: str | None) -> str | None:
    if not mode:
        return None
    if mode not in MODES:
        raise QuestionError(f"mode must be one of {', '.join(MODES)}")
    settings = corpora.primary.settings
    if mode == "llm" and not (settings.llm_url and settings.llm_model):
        raise QuestionError("the llm mode needs an LLM endpoint (start the server with --llm-url and --llm-model)")
    return mode


def query_from(
    question: str,
    history: Sequence[Any] | None = None,
    since: str | None = None,
    until: str | None = None,
    top_k: int | None = None,
    mode: str | None = None,
    as_of: str | None = None,
) -> Query:
    """A :class:`Query` from the UI's or the API's loose values (empty strings mean unset)."""
    return Query(
        question,
        history=engine_history(history),
        since=(since or "").strip() or None,
        until=(until or "").strip() or None,
        as_of=(as_of or "").strip() or None,
        top_k=int(top_k) if top_k else None,
        mode=mode or None,
    )


def stream_answer(corpora: Corpora, query: Query, collection: str | None = None) -> Iterator[str | Answer]:
    """The engine's stream for ``query`` on ``collection`` (errors are :class:`CitewireError`)."""
    check_mode(corpora, query.mode)
    return corpora.get(collection).stream(query)


def make_chat_fn(corpora: Corpora):
    """The ChatInterface function: yields the answer as it streams, then the answer with its Sources."""

    def chat(message, history, top_k, since, until, mode, collection) -> Iterator[str]:
        """Answer a question from the corpus; returns the answer with numbered citations and its Sources as HTML."""
        question = _content_text(message)
        try:
            text = ""
            query = query_from(question, history, since, until, top_k, mode)
            for piece in stream_answer(corpora, query, collection):
                if isinstance(piece, Answer):
                    yield render_answer(piece, corpora.document_text(collection))
                    return
                text += piece
                yield render_partial(text)
        except CitewireError as exc:
            raise gr.Error(str(exc), print_exception=False) from None

    return chat


def make_ask_fn(corpora: Corpora):
    """A function-only API endpoint: the Answer as a dict (``Answer.to_dict()``)."""

    def ask(
        question: str,
        history: list | None = None,
        since: str = "",
        until: str = "",
        top_k: int = 0,
        collection: str = "",
        as_of: str = "",
        mode: str = "",
    ) -> dict:
        """Answer a question from the corpus; returns Answer.to_dict(): text, refused, citations, passages."""
        try:
            answer: Answer | None = None
            query = query_from(question, history, since, until, top_k, mode, as_of)
            for piece in stream_answer(corpora, query, collection):
                if isinstance(piece, Answer):
                    answer = piece
            assert answer is not None
            return answer.to_dict()
        except CitewireError as exc:
            raise gr.Error(str(exc), print_exception=False) from None

    return ask
