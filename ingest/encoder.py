"""The model-heavy half of ingest: chunk cleaned documents and embed their chunks and sentences.

The same :class:`DocumentEncoder` runs in-process (:class:`ingest.pipeline.Ingestor`) and on Ray
workers (:mod:`ingest.ray_ingest`), so a distributed ingest writes exactly the chunk ids, texts,
metadata and vectors of a local one.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json

from llama_index.core.schema import TextNode

from ingest.chunking import Chunker
from rag.embedding import Embedder, pack_vectors
from rag.settings import Settings
from rag.store import DocumentRecord, DocumentWrite, SentenceVectors
from rag.text import split_sentences

CHUNKER_VERSION = "3"  # bump when chunking changes, so that re-ingest re-chunks


def content_hash(doc: DocumentRecord, signature: str) -> str:
    """Hash of everything that ends up in the store for ``doc`` (text, metadata, chunking)."""
    payload = json.dumps(
        [doc.text, doc.title, doc.source, doc.url, doc.published, signature], ensure_ascii=False
    )
    return hashlib.sha256(payload.encode()).hexdigest()


class DocumentEncoder:
    """Chunks documents sentence-aware and embeds them (chunk vectors and sentence vectors)."""

    def __init__(self, settings: Settings, embedder: Embedder | None = None) -> None:
        self.embedder = embedder or Embedder.from_settings(settings)
        self.chunker = Chunker(self.embedder, settings.chunk_tokens, settings.chunk_overlap_tokens)
        self.signature = "|".join(
            [CHUNKER_VERSION, settings.embed_model or "packaged-minilm", str(self.chunker.chunk_tokens),
             str(settings.chunk_overlap_tokens)]
        )

    def digest(self, doc: DocumentRecord) -> str:
        return content_hash(doc, self.signature)

    def chunk(self, doc: DocumentRecord, digest: str) -> list[TextNode]:
        """The document's chunks (``ValueError`` when the splitter refuses the text)."""
        return self.chunker.chunk(doc, digest)

    def embed(self, batch: list[tuple[DocumentRecord, str, list[TextNode]]]) -> tuple[list[DocumentWrite], int]:
        """Embed a batch's chunks (vectors and late-chunked sentence vectors); (the writes, tokens embedded)."""
        all_nodes = [n for _, _, nodes in batch for n in nodes]
        texts = [self.chunker.embed_text(n) for n in all_nodes]
        sentence_spans = [sentence_spans_of(n) for n in all_nodes]
        # One model pass gives each chunk's vector and, pooled per sentence, its sentences' vectors.
        vectors, span_vectors = self.embedder.embed_with_spans(
            texts, [[_in_embed_text(n, text, s) for s in spans] for n, text, spans
                    in zip(all_nodes, texts, sentence_spans, strict=True)]
        )
        tokens = sum(self.embedder.count_tokens(t) for t in texts)
        k = 0
        writes: list[DocumentWrite] = []
        for doc, digest, nodes in batch:
            sentences = []
            for node in nodes:
                node.embedding = vectors[k].tolist()
                sentences.append(SentenceVectors(sentence_spans[k], pack_vectors(span_vectors[k])))
                k += 1
            writes.append((dataclasses.replace(doc, content_hash=digest), nodes, sentences))
        return writes, tokens


def sentence_spans_of(node: TextNode) -> list[tuple[int, int]]:
    """The chunk's sentences as [start, end) offsets in the cleaned document."""
    return [(sp.start, sp.end) for sp in split_sentences(node.text, base=int(node.metadata["start"]))]


def _in_embed_text(node: TextNode, embed_text: str, span: tuple[int, int]) -> tuple[int, int]:
    """A document span moved into the embedded text, where the passage follows the title."""
    shift = embed_text.rfind(node.text) - int(node.metadata["start"])
    return span[0] + shift, span[1] + shift
