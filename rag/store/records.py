"""The records a corpus is made of: a document as ingest hands it over, and a chunk's sentence vectors.

One type for a document from reading to storage: readers fill in the text and metadata, the
pipeline adds its content hash, the store adds its chunk count and persists it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from llama_index.core.schema import TextNode


@dataclass
class SentenceVectors:
    """A chunk's sentences: their [start, end) offsets in the document and their packed vectors."""

    spans: list[tuple[int, int]]
    packed: str


@dataclass
class DocumentRecord:
    """A cleaned document as ingest hands it to the store."""

    doc_id: str
    text: str
    title: str = ""
    source: str = ""
    url: str = ""
    published: int | None = None  # YYYYMMDD, comparable in Chroma ``where`` filters
    content_hash: str = ""
    path: str = ""
    chunks: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    def metadata(self, state: str) -> dict[str, Any]:
        meta: dict[str, Any] = {
            "title": self.title,
            "source": self.source,
            "url": self.url,
            "content_hash": self.content_hash,
            "path": self.path,
            "chunks": self.chunks,
            "state": state,
            "ingested_at": int(time.time()),
        }
        if self.published is not None:
            meta["published"] = self.published
        return meta

    @classmethod
    def from_chroma(cls, doc_id: str, text: str | None, meta: dict[str, Any]) -> DocumentRecord:
        return cls(
            doc_id=doc_id,
            text=text or "",
            title=str(meta.get("title", "")),
            source=str(meta.get("source", "")),
            url=str(meta.get("url", "")),
            published=meta.get("published"),
            content_hash=str(meta.get("content_hash", "")),
            path=str(meta.get("path", "")),
            chunks=int(meta.get("chunks", 0)),
        )


# What one document's write consists of: its record, its chunks (with embeddings), their sentences.
DocumentWrite = tuple[DocumentRecord, list[TextNode], list[SentenceVectors] | None]
