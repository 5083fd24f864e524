"""The ingest run: read → clean → chunk → embed → write through :class:`rag.store.Store`.

Unchanged documents (same content hash) cost nothing; changed ones replace their old chunks;
one bad file or line is reported and skipped. Chunks are embedded in batches that span
documents (fewer, fuller model calls), and each batch is written in one crash-safe store call
(:meth:`rag.store.Store.write_documents`) by a writer thread while the model embeds the next
batch, so the store costs little wall time. A crash loses at most the batches in flight, and
the store's pending markers repair any half-written one on the next open.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import time
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from llama_index.core.schema import TextNode
from tqdm import tqdm

from ingest.chunking import Chunker
from ingest.readers import ReadFailure, read_inputs
from rag.embedding import Embedder, pack_vectors
from rag.settings import Settings
from rag.store import DocumentRecord, DocumentWrite, SentenceVectors, Store
from rag.text import split_sentences

log = logging.getLogger(__name__)

CHUNKER_VERSION = "3"  # bump when chunking changes, so that re-ingest re-chunks


@dataclass
class IngestSummary:
    """What an ingest run did, for the CLI summary, the UI and tests."""

    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    failed: list[ReadFailure] = field(default_factory=list)
    chunks: int = 0
    tokens: int = 0
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.failed

    def line(self) -> str:
        return (
            f"{len(self.added)} added, {len(self.updated)} updated, {len(self.unchanged)} unchanged, "
            f"{len(self.failed)} failed; {self.chunks} chunks in {self.seconds:.1f}s"
        )


def content_hash(doc: DocumentRecord, signature: str) -> str:
    """Hash of everything that ends up in the store for ``doc`` (text, metadata, chunking)."""
    payload = json.dumps(
        [doc.text, doc.title, doc.source, doc.url, doc.published, signature], ensure_ascii=False
    )
    return hashlib.sha256(payload.encode()).hexdigest()


class Ingestor:
    """Holds the model and chunker so that several ingests (CLI, UI uploads) share one load."""

    def __init__(self, settings: Settings, store: Store, embedder: Embedder | None = None) -> None:
        self.settings = settings
        self.store = store
        self.embedder = embedder or Embedder.from_settings(settings)
        self.chunker = Chunker(self.embedder, settings.chunk_tokens, settings.chunk_overlap_tokens)
        self.signature = "|".join(
            [CHUNKER_VERSION, settings.embed_model or "packaged-minilm", str(self.chunker.chunk_tokens),
             str(settings.chunk_overlap_tokens)]
        )

    def ingest(
        self,
        inputs: Iterable[Path],
        progress: bool = True,
        on_progress: Callable[[int, int], None] | None = None,
    ) -> IngestSummary:
        """Ingest files and folders; ``on_progress(done, total)`` lets a UI show its own bar."""
        started = time.perf_counter()
        summary = IngestSummary()
        known = self.store.document_hashes()
        todo: list[tuple[DocumentRecord, str]] = []
        seen: set[str] = set()
        for item in read_inputs(list(inputs)):
            if isinstance(item, ReadFailure):
                self._fail(summary, item)
                continue
            if item.doc_id in seen:
                self._fail(summary, ReadFailure(item.path, f"duplicate document id {item.doc_id!r} in this ingest"))
                continue
            seen.add(item.doc_id)
            digest = content_hash(item, self.signature)
            if known.get(item.doc_id) == digest:
                summary.unchanged.append(item.doc_id)
            else:
                todo.append((item, digest))

        bar = tqdm(total=len(todo), unit="doc", desc="ingest", disable=not progress or not todo)
        flush = _Flusher(self, known, summary, bar, on_progress, len(todo))
        try:
            batch: list[tuple[DocumentRecord, str, list]] = []
            pending_chunks = 0
            for doc, digest in todo:
                try:
                    nodes = self.chunker.chunk(doc, digest)
                except ValueError as exc:  # the splitter's way of refusing a text; skip this document only
                    self._fail(summary, ReadFailure(doc.path, f"{doc.doc_id}: cannot chunk ({exc})"))
                    bar.update(1)
                    continue
                batch.append((doc, digest, nodes))
                pending_chunks += len(nodes)
                if pending_chunks >= self.settings.ingest_batch_chunks:
                    flush(batch)
                    batch, pending_chunks = [], 0
            flush(batch)
            flush.wait()
        finally:
            flush.close()
            bar.close()
        summary.seconds = time.perf_counter() - started
        log.info("ingest: %s", summary.line())
        return summary

    @staticmethod
    def _fail(summary: IngestSummary, failure: ReadFailure) -> None:
        # Logged at INFO only: callers report ``summary.failed`` (the CLI prints one line each),
        # and an ERROR log here would show every failure twice.
        log.info("skipped %s", failure)
        summary.failed.append(failure)

    def embed_batch(self, batch: list[tuple[DocumentRecord, str, list[TextNode]]]) -> tuple[list[DocumentWrite], int]:
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


class _Flusher:
    """Embeds each batch in the caller's thread and writes it in one background writer thread.

    At most one write is in flight: the next batch's embedding overlaps it, and a failed write
    surfaces (raised in the caller) before another batch is handed over. Writes keep their order.
    """

    def __init__(self, ingestor: Ingestor, known: dict[str, str], summary: IngestSummary, bar: tqdm,
                 on_progress: Callable[[int, int], None] | None, total: int) -> None:
        self.ingestor, self.known, self.summary, self.bar = ingestor, known, summary, bar
        self.on_progress, self.total = on_progress, total
        self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="citewire-writer")
        self._in_flight: tuple[Future[None], list[DocumentWrite]] | None = None

    def __call__(self, batch: list[tuple[DocumentRecord, str, list[TextNode]]]) -> None:
        if not batch:
            return
        writes, tokens = self.ingestor.embed_batch(batch)
        self.wait()
        self.summary.tokens += tokens
        self._in_flight = (self._writer.submit(self.ingestor.store.write_documents, writes), writes)

    def wait(self) -> None:
        """Block until the write in flight is done; re-raise its error here, or count what it wrote.

        The summary, the bar and ``on_progress`` are only touched from the caller's thread (a UI's
        progress callback may not work from another).
        """
        if self._in_flight is None:
            return
        (future, writes), self._in_flight = self._in_flight, None
        future.result()
        for record, nodes, _ in writes:
            (self.summary.updated if record.doc_id in self.known else self.summary.added).append(record.doc_id)
            self.summary.chunks += len(nodes)
        self.bar.update(len(writes))
        if self.on_progress:
            self.on_progress(len(self.summary.added) + len(self.summary.updated), self.total)

    def close(self) -> None:
        self._writer.shutdown(wait=True)


def sentence_spans_of(node: TextNode) -> list[tuple[int, int]]:
    """The chunk's sentences as [start, end) offsets in the cleaned document."""
    return [(sp.start, sp.end) for sp in split_sentences(node.text, base=int(node.metadata["start"]))]


def _in_embed_text(node: TextNode, embed_text: str, span: tuple[int, int]) -> tuple[int, int]:
    """A document span moved into the embedded text, where the passage follows the title."""
    shift = embed_text.rfind(node.text) - int(node.metadata["start"])
    return span[0] + shift, span[1] + shift


def ingest_paths(inputs: Iterable[Path], settings: Settings | None = None, progress: bool = True) -> IngestSummary:
    """Convenience: open the store named by ``settings``, ingest, close."""
    settings = settings or Settings()
    with Store.open(settings, create=True) as store:
        return Ingestor(settings, store).ingest(inputs, progress=progress)
