"""Answer composition: the answerers (reader, sentence, LLM) behind one seam, chosen by mode."""

from rag.answer.base import REFUSAL_TEXT, Answerer, Composition
from rag.answer.registry import ANSWERERS, MODES, build_answerer, default_mode

__all__ = ["ANSWERERS", "MODES", "REFUSAL_TEXT", "Answerer", "Composition", "build_answerer", "default_mode"]
