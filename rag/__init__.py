"""citewire's retrieval engine: settings, store, retrieval and cited answers."""

from rag.errors import CitewireError, LLMError, QuestionError, StoreError
from rag.models import Answer, Citation, Passage
from rag.settings import Settings
from rag.store import DocumentRecord, Store

__all__ = [
    "Answer",
    "Citation",
    "CitewireError",
    "DocumentRecord",
    "LLMError",
    "Passage",
    "QuestionError",
    "Settings",
    "Store",
    "StoreError",
]
