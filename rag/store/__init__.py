"""The corpus store (Chroma), in rooms: records, opening, locking, failures, crash-safe writes."""

from rag.store.records import DocumentRecord, DocumentWrite, SentenceVectors
from rag.store.store import AUX_SUFFIXES, DOCS_SUFFIX, SENTENCES_SUFFIX, STALE_PENDING_S, Store
from rag.store.writes import PENDING_PREFIX, REVISION_ID

__all__ = [
    "AUX_SUFFIXES",
    "DOCS_SUFFIX",
    "PENDING_PREFIX",
    "REVISION_ID",
    "SENTENCES_SUFFIX",
    "STALE_PENDING_S",
    "DocumentRecord",
    "DocumentWrite",
    "SentenceVectors",
    "Store",
]
