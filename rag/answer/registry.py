"""The answerers by mode, one line each.

A new answerer is a module with a class whose constructor takes ``(settings, answerer)`` — the
settings, and a lookup of the other answerers by mode, for one that falls back on another — and
whose ``stream(query, retrieval)`` follows :class:`rag.answer.base.Answerer`; plus one line here.
Classes are imported on first use, so the LLM client is never loaded for extractive answers and
the reader model never for the sentence mode.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rag.answer.base import Answerer
    from rag.settings import Settings

# mode → ("module:Class", what it is)
ANSWERERS: dict[str, tuple[str, str]] = {
    "reader": ("rag.answer.reader:ReaderAnswerer",
               "the trained reader's exact answer, its sentence quoted, sources compared"),
    "sentence": ("rag.answer.sentence:SentenceAnswerer", "the best-supported sentences, quoted (no reader model)"),
    "llm": ("rag.answer.llm:LLMAnswerer",
            "an OpenAI-compatible LLM's answer, every sentence checked against its citation"),
}
MODES = tuple(ANSWERERS)


def build_answerer(mode: str, settings: Settings, answerer: Callable[[str], Answerer]) -> Answerer:
    """An instance of ``mode``'s answerer class."""
    module, _, name = ANSWERERS[mode][0].partition(":")
    return getattr(importlib.import_module(module), name)(settings, answerer)


def default_mode(settings: Settings) -> str:
    """The configured mode; unset, ``llm`` when an LLM endpoint is configured, else ``reader``."""
    if settings.answer_mode:
        return settings.answer_mode
    return "llm" if settings.llm_url and settings.llm_model else "reader"
