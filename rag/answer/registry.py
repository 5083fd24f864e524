"""The answerers by mode: one line each. A new answerer is a module with a class that has
``stream(query, retrieval)`` (see :class:`rag.answer.base.Answerer`) and one line here.

Builders import their module lazily, so the LLM client is never loaded for extractive answers
and the reader model never for the sentence mode.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rag.answer.base import Answerer
    from rag.settings import Settings

Builder = Callable[["Settings", Callable[[str], "Answerer"]], "Answerer"]


def _reader(settings: Settings, answerer: Callable[[str], Answerer]) -> Answerer:
    from rag.answer.reader import ReaderAnswerer

    return ReaderAnswerer(settings)


def _sentence(settings: Settings, answerer: Callable[[str], Answerer]) -> Answerer:
    from rag.answer.sentence import SentenceAnswerer

    return SentenceAnswerer(settings)


def _llm(settings: Settings, answerer: Callable[[str], Answerer]) -> Answerer:
    from rag.answer.llm import LLMAnswerer

    return LLMAnswerer(settings, fallback=answerer("reader"))


# mode → (builder, what it is)
ANSWERERS: dict[str, tuple[Builder, str]] = {
    "reader": (_reader, "the trained reader's exact answer, its sentence quoted, sources compared"),
    "sentence": (_sentence, "the best-supported sentences, quoted (no reader model)"),
    "llm": (_llm, "an OpenAI-compatible LLM's answer, every sentence checked against its citation"),
}
MODES = tuple(ANSWERERS)


def default_mode(settings: Settings) -> str:
    """The configured mode; unset, ``llm`` when an LLM endpoint is configured, else ``reader``."""
    if settings.answer_mode:
        return settings.answer_mode
    return "llm" if settings.llm_url and settings.llm_model else "reader"
