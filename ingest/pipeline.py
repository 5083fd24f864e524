"""The ingest run: read → clean → chunk → embed → write through :class:`rag.store.Store`.

Unchanged documents (same content hash) cost nothing; changed ones replace their old chunks;
one bad file or line is reported and skipped. Chunks are embedded in batches that span
documents (fewer, fuller model calls), and each batch is written in one crash-safe store call
(:meth:`rag.store.Store.write_documents`) by a writer thread while the model embeds the next
batch, so the store costs little wall time. A crash loses at most the batches in flight, and
the store's pending markers repair any half-written one on the next open.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from llama_index.core.schema import TextNode
from tqdm import tqdm

from ingest.encoder import DocumentEncoder
from ingest.readers import ReadFailure, read_inputs
from rag.embedding import Embedder
from rag.settings import Settings
from rag.store import DocumentRecord, DocumentWrite, Store

log = logging.getLogger(__name__)

@dataclass
class Unchanged:
    """A document its source reports unchanged (a web page answering 304), so it is not read again."""

    doc_id: str


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


class Ingestor:
    """Holds the model and chunker so that several ingests (CLI, UI uploads) share one load."""

    def __init__(self, settings: Settings, store: Store, embedder: Embedder | None = None) -> None:
        self.settings = settings
        self.store = store
        self.encoder = DocumentEncoder(settings, embedder)
        self.embedder = self.encoder.embedder

    def ingest(
        self,
        inputs: Iterable[Path],
        progress: bool = True,
        on_progress: Callable[[int, int], None] | None = None,
    ) -> IngestSummary:
        """Ingest files and folders; ``on_progress(done, total)`` lets a UI show its own bar."""
        return self.ingest_items(read_inputs(list(inputs)), progress, on_progress)

    def ingest_items(
        self,
        items: Iterable[DocumentRecord | ReadFailure | Unchanged],
        progress: bool = True,
        on_progress: Callable[[int, int], None] | None = None,
    ) -> IngestSummary:
        """Ingest documents already read (files, web pages): the part every source shares."""
        started = time.perf_counter()
        summary = IngestSummary()
        known = self.store.document_hashes()
        todo: list[tuple[DocumentRecord, str]] = []
        seen: set[str] = set()
        for item in items:
            if isinstance(item, ReadFailure):
                self._fail(summary, item)
                continue
            if isinstance(item, Unchanged):  # the source said so (an HTTP 304): nothing to read or embed
                if item.doc_id in known and item.doc_id not in seen:
                    seen.add(item.doc_id)
                    summary.unchanged.append(item.doc_id)
                continue
            if item.doc_id in seen:
                self._fail(summary, ReadFailure(item.path, f"duplicate document id {item.doc_id!r} in this ingest"))
                continue
            seen.add(item.doc_id)
            digest = self.encoder.digest(item)
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
                    nodes = self.encoder.chunk(doc, digest)
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
        writes, tokens = self.ingestor.encoder.embed(batch)
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


def ingest_paths(inputs: Iterable[Path], settings: Settings | None = None, progress: bool = True) -> IngestSummary:
    """Convenience: open the store named by ``settings``, ingest, close."""
    settings = settings or Settings()
    with Store.open(settings, create=True) as store:
        return Ingestor(settings, store).ingest(inputs, progress=progress)
