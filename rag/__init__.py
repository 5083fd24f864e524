"""citewire's retrieval engine: settings, store, retrieval and cited answers.

The Python API::

    from rag import Engine, Query
"""

from rag.errors import CitewireError, LLMError, QuestionError, StoreError
from rag.query import Query
from rag.settings import Settings
from rag.types import Agreement, Answer, AnswerSpan, Citation, Passage, SourceGroup

__all__ = [
    "Agreement",
    "Answer",
    "AnswerSpan",
    "Citation",
    "CitewireError",
    "Engine",
    "LLMError",
    "Passage",
    "Query",
    "QuestionError",
    "Settings",
    "SourceGroup",
    "StoreError",
]


def __getattr__(name: str):  # the engine pulls in the models: import it only when asked for
    if name == "Engine":
        from rag.engine import Engine

        return Engine
    if name in ("Store", "DocumentRecord"):
        import rag.store

        return getattr(rag.store, name)
    raise AttributeError(name)
