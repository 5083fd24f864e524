"""Crash-safe writes: each document is left wholly old or wholly new, whatever kills the writer.

New chunks have ids and a ``content_hash`` of their own, so they are added beside the old ones;
only then do the document records switch to the new hashes and the old chunks go. A pending
marker per document, written first, lets :meth:`CrashSafeWrites.recover` finish or undo a run
killed anywhere in between. The ``__revision__`` record changes on every write, which is how
the BM25 side of retrieval (and other processes) notice.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from llama_index.core.schema import TextNode

from rag.errors import StoreError, StoreFullError
from rag.store.records import DocumentRecord, DocumentWrite, SentenceVectors

if TYPE_CHECKING:
    from chromadb.api.models.Collection import Collection
    from llama_index.vector_stores.chroma import ChromaVectorStore

log = logging.getLogger(__name__)

REVISION_ID = "__revision__"
PENDING_PREFIX = "__pending__::"
PLACEHOLDER_VECTOR = [1.0]  # the docs collection is looked up by id only; Chroma still wants a vector
PAGE = 2000  # Chroma rows fetched or written per call
_REMOVED = "__removed__"
_SETTLE_PAGE = 200  # documents whose leftover chunks one filtered delete removes


class CrashSafeWrites:
    """The write side of :class:`rag.store.Store` (it provides the collections)."""

    chunks: Collection
    docs: Collection
    sentences: Collection
    vector_store: ChromaVectorStore

    def write_document(
        self, record: DocumentRecord, nodes: list[TextNode], sentences: list[SentenceVectors] | None = None
    ) -> None:
        """Replace ``record``'s chunks with ``nodes`` (which carry their embeddings), crash-safely.

        ``sentences`` (aligned with ``nodes``) are each chunk's sentence spans and their packed
        vectors, kept in the ``<name>__sentences`` collection under the chunk's id.
        """
        self.write_documents([(record, nodes, sentences)])

    def write_documents(self, items: Sequence[DocumentWrite]) -> None:
        """Replace several documents' chunks in one set of Chroma calls, crash-safely.

        New chunks have ids and a ``content_hash`` of their own, so they are added beside the old
        ones; only then do the document records switch to the new hashes and the old chunks go.
        Pending markers written first let :meth:`recover` finish or undo a run killed anywhere in
        between, document by document: each is left either wholly old or wholly new. Writing a
        whole ingest batch this way costs about ten Chroma calls instead of ten per document,
        which is most of what the store used to add to an ingest.
        """
        items = list(items)
        if not items:
            return
        doc_ids = [record.doc_id for record, _, _ in items]
        if len(set(doc_ids)) < len(doc_ids):  # which version would win is undefined: refuse
            twice = sorted({d for d in doc_ids if doc_ids.count(d) > 1})
            raise ValueError(f"one write names a document twice: {twice}")
        for record, nodes, _ in items:
            record.chunks = len(nodes)
            for node in nodes:  # bookkeeping, never part of what is embedded or shown to an LLM
                node.metadata["content_hash"] = record.content_hash
                for excluded in (node.excluded_embed_metadata_keys, node.excluded_llm_metadata_keys):
                    if "content_hash" not in excluded:
                        excluded.append("content_hash")
        versions = [(record.doc_id, record.content_hash) for record, _, _ in items]
        names = _names(doc_ids)
        try:
            self._mark_pending(versions)
        except StoreError as exc:
            raise StoreError(f"{exc} — {names} not written") from exc
        try:
            nodes = [node for _, doc_nodes, _ in items for node in doc_nodes]
            for i in range(0, len(nodes), PAGE):
                self.vector_store.add(nodes[i : i + PAGE])
            rows = [
                (node.node_id, sv, record)
                for record, doc_nodes, sentences in items if sentences
                for node, sv in zip(doc_nodes, sentences, strict=True)
            ]
            for i in range(0, len(rows), PAGE):
                page = rows[i : i + PAGE]
                # The packed vectors go in metadata, not ``documents``: Chroma full-text indexes
                # documents, and indexing base64 cost more than the rest of the write together.
                self.sentences.upsert(
                    ids=[chunk_id for chunk_id, _, _ in page],
                    embeddings=[PLACEHOLDER_VECTOR] * len(page),
                    metadatas=[
                        {"doc_id": r.doc_id, "content_hash": r.content_hash, "spans": json.dumps(sv.spans),
                         "vectors": sv.packed}
                        for _, sv, r in page
                    ],
                )
            for i in range(0, len(items), PAGE):
                page_records = [record for record, _, _ in items[i : i + PAGE]]
                self.docs.upsert(
                    ids=[r.doc_id for r in page_records],
                    embeddings=[PLACEHOLDER_VECTOR] * len(page_records),
                    documents=[r.text for r in page_records],
                    metadatas=[r.metadata("done") for r in page_records],
                )
        except BaseException as exc:
            # Undo what this write added; if that fails, the markers stay for recover(). On a full
            # disk, don't even try: Chroma's deletes can block until space returns, and recover()
            # on the next open (with space) does the same repair.
            if not isinstance(exc, StoreFullError):
                try:
                    self._settle(versions)
                except Exception as undo:
                    log.info("could not undo the partial write of %s (repaired on the next open): %s", names, undo)
            if isinstance(exc, StoreError):
                raise StoreError(f"{exc} — {names} not written; the documents written before are kept") from exc
            raise
        self._settle(versions)

    def remove(self, doc_id: str) -> bool:
        """Delete a document and its chunks; False when it was not there."""
        if not self.docs.get(ids=[doc_id], include=[])["ids"]:
            return False
        self._mark_pending([(doc_id, _REMOVED)])
        self._settle([(doc_id, _REMOVED)])
        return True

    def recover(self, older_than: float | None = None) -> int:
        """Finish or undo the writes a killed run left pending; returns how many there were.

        ``older_than`` (seconds) limits this to markers at least that old: with a Chroma server,
        another process may be writing right now, and its fresh marker is not ours to settle.
        A fresh marker whose document record already names its version is settled all the same:
        that write landed and only its clean-up is left, which is the same whoever does it (a
        writer killed in that last step would otherwise leave the marker for ten minutes, and a
        rerun that finds the document unchanged would never touch it).
        """
        got = self.docs.get(where={"state": "pending"}, include=["metadatas"])
        now = time.time()
        markers = [(m, older_than is not None and now - float(m.get("at", 0)) < older_than) for m in got["metadatas"]]
        landed = self._landed([m for m, is_fresh in markers if is_fresh])
        repaired = 0
        for meta, is_fresh in markers:
            if is_fresh and (str(meta["doc_id"]), str(meta["content_hash"])) not in landed:
                continue
            self._settle([(str(meta["doc_id"]), str(meta["content_hash"]))])
            log.warning("repaired %s, left half-written by an interrupted run", meta["doc_id"])
            repaired += 1
        return repaired

    def _landed(self, markers: list[Any]) -> set[tuple[str, str]]:
        """The (doc id, hash) of ``markers`` whose document record already names that hash."""
        if not markers:
            return set()
        got = self.docs.get(ids=sorted({str(m["doc_id"]) for m in markers}), include=["metadatas"])
        return {
            (doc_id, str(meta.get("content_hash")))
            for doc_id, meta in zip(got["ids"], got["metadatas"], strict=True)
            if meta.get("state") == "done"
        }

    def _mark_pending(self, versions: list[tuple[str, str]]) -> None:
        """Record that each (doc id, content hash or removal) is about to be written."""
        now = time.time()
        for i in range(0, len(versions), PAGE):
            page = versions[i : i + PAGE]
            self.docs.upsert(
                ids=[PENDING_PREFIX + doc_id for doc_id, _ in page],
                embeddings=[PLACEHOLDER_VECTOR] * len(page),
                documents=[""] * len(page),
                metadatas=[
                    {"state": "pending", "doc_id": doc_id, "content_hash": content_hash, "at": now}
                    for doc_id, content_hash in page
                ],
            )

    def _settle(self, versions: list[tuple[str, str]]) -> None:
        """Make each document consistent: keep the chunks of whichever version its record names."""
        doc_ids = [doc_id for doc_id, _ in versions]
        current = self.docs.get(ids=doc_ids, include=["metadatas"])
        current_hash = {
            doc_id: str(meta.get("content_hash"))
            for doc_id, meta in zip(current["ids"], current["metadatas"], strict=True)
        }
        removed = [doc_id for doc_id, new_hash in versions if new_hash == _REMOVED]
        if removed:
            self.docs.delete(ids=removed)
        conditions: list[dict[str, Any]] = []
        for doc_id, new_hash in versions:
            if new_hash == _REMOVED:
                conditions.append({"doc_id": doc_id})
            elif current_hash.get(doc_id) == new_hash:  # the new version landed: drop the old chunks
                conditions.append({"$and": [{"doc_id": doc_id}, {"content_hash": {"$ne": new_hash}}]})
            else:  # it did not: drop whatever of the new version was added
                conditions.append({"$and": [{"doc_id": doc_id}, {"content_hash": new_hash}]})
        for i in range(0, len(conditions), _SETTLE_PAGE):
            page = conditions[i : i + _SETTLE_PAGE]
            where = page[0] if len(page) == 1 else {"$or": page}
            self.chunks.delete(where=where)
            self.sentences.delete(where=where)
        self.docs.delete(ids=[PENDING_PREFIX + doc_id for doc_id in doc_ids])
        self.bump_revision()

    # ------------------------------------------------------------------ revision
    def bump_revision(self) -> str:
        rev = uuid.uuid4().hex
        self.docs.upsert(
            ids=[REVISION_ID], embeddings=[PLACEHOLDER_VECTOR], documents=[rev], metadatas=[{"state": "meta"}]
        )
        return rev

    def revision(self) -> str:
        got = self.docs.get(ids=[REVISION_ID], include=["documents"])
        return got["documents"][0] if got["ids"] else ""


def _names(doc_ids: list[str]) -> str:
    """'a was' / 'a, b and 3 more were': the documents an error message is about."""
    if len(doc_ids) == 1:
        return f"{doc_ids[0]} was"
    shown = ", ".join(doc_ids[:3])
    return f"{shown} and {len(doc_ids) - 3} more were" if len(doc_ids) > 3 else f"{shown} were"

