"""The store's guarantees: one process per embedded store, crash repair, fresh reads after reopening."""

from __future__ import annotations

import os
import pickle
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from ingest.chunking import Chunker
from ingest.encoder import content_hash
from rag.errors import StoreError
from rag.store import PENDING_PREFIX, DocumentRecord, Store

ROOT = Path(__file__).resolve().parents[1]

# Holds a store open in another process and writes what it is sent (pickled records and nodes).
HOLDER = """
import pickle, sys
from rag.settings import Settings
from rag.store import Store
store = Store.open(Settings(store_dir=sys.argv[1]), create=True)
print("ready", flush=True)
for line in sys.stdin:
    record, nodes = pickle.load(open(line.strip(), "rb"))
    store.write_document(record, nodes)
    print("written", flush=True)
store.close()
"""


def _prepared(embedder, doc_id: str, text: str, title: str = "A title") -> tuple[DocumentRecord, list]:
    """A document chunked and embedded for real, ready for ``Store.write_document``."""
    doc = DocumentRecord(doc_id=doc_id, text=text, title=title, path=f"/in/{doc_id}")
    digest = content_hash(doc, "test")
    chunker = Chunker(embedder)
    nodes = chunker.chunk(doc, digest)
    for node, vector in zip(nodes, embedder.embed_texts([chunker.embed_text(n) for n in nodes]), strict=True):
        node.embedding = vector.tolist()
    record = DocumentRecord(doc_id=doc_id, text=doc.text, title=title, content_hash=digest, path=doc.path)
    return record, nodes


def _all_hits(store: Store, embedder, query: str) -> set[str]:
    """Doc ids of a vector query asking for every chunk: what the HNSW index (not SQLite) holds."""
    n = store.count_chunks()
    got = store.chunks.query(query_embeddings=[embedder.embed_query(query).tolist()], n_results=n)
    return {m["doc_id"] for m in got["metadatas"][0]}


def test_second_process_gets_a_clear_error_and_a_killed_holder_releases_the_store(
    tmp_settings, embedder, tmp_path: Path
) -> None:
    with Store.open(tmp_settings, create=True) as store:
        store.write_document(*_prepared(embedder, "first", "The first document is about bridges."))
        assert _all_hits(store, embedder, "bridges") == {"first"}

    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(tmp_settings.store_dir)],
        cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "ready", holder.stderr.read()
        with pytest.raises(StoreError) as err:
            Store.open(tmp_settings)
        message = str(err.value)
        assert "server mode" in message and "--chroma-url" in message
        assert f"pid {holder.pid}" in message and "\n" not in message

        # the holder writes a second document, then dies without closing anything
        payload = tmp_path / "second.pickle"
        payload.write_bytes(pickle.dumps(_prepared(embedder, "second", "The second document is about ferries.")))
        holder.stdin.write(f"{payload}\n")
        holder.stdin.flush()
        assert holder.stdout.readline().strip() == "written", holder.stderr.read()
        os.kill(holder.pid, signal.SIGKILL)
        holder.wait(timeout=30)
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait()

    # the kernel dropped the dead holder's lock; this process sees its write, in the vector index too
    with Store.open(tmp_settings) as store:
        assert {d.doc_id for d in store.list_documents()} == {"first", "second"}
        assert _all_hits(store, embedder, "ferries") == {"first", "second"}


def test_same_process_cannot_open_a_store_twice(tmp_settings, open_store) -> None:
    open_store()
    with pytest.raises(StoreError, match="server mode"):
        Store.open(tmp_settings)


def test_missing_store_and_collection_are_clear_errors(tmp_settings, open_store) -> None:
    with pytest.raises(StoreError, match="no store at"):
        Store.open(tmp_settings)
    assert not tmp_settings.store_dir.exists()
    open_store().close()
    with pytest.raises(StoreError, match="no collection 'other'"):
        Store.open(tmp_settings.with_overrides(collection="other"))
    with pytest.raises(StoreError, match="collection name"):
        Store.open(tmp_settings.with_overrides(collection="x"), create=True)
    Store.open(tmp_settings).close()  # the failed opens left no lock behind


def _chunk_docs(store: Store) -> dict[str, set[str]]:
    """doc id -> content hashes of its chunks."""
    out: dict[str, set[str]] = {}
    for _, metas, _ in store.iter_chunks():
        for meta in metas:
            out.setdefault(meta["doc_id"], set()).add(meta["content_hash"])
    return out


def _pending(store: Store) -> list[str]:
    return [i for i in store.docs.get(include=[])["ids"] if i.startswith(PENDING_PREFIX)]


def test_recover_undoes_a_new_document_interrupted_before_it_was_recorded(tmp_settings, embedder) -> None:
    record, nodes = _prepared(embedder, "new", "A new document. " * 5)
    with Store.open(tmp_settings, create=True) as store:
        # write_document's first steps, then a "crash": pending marker and chunks, no document record
        store._mark_pending([(record.doc_id, record.content_hash)])
        for node in nodes:
            node.metadata["content_hash"] = record.content_hash
        store.vector_store.add(nodes)
        assert store.document_hashes() == {}  # a half-written document is never listed
    with Store.open(tmp_settings) as store:  # opening repairs
        assert _pending(store) == [] and _chunk_docs(store) == {} and store.count_chunks() == 0
        assert store.recover() == 0


def test_recover_finishes_an_update_interrupted_after_it_was_recorded(tmp_settings, embedder) -> None:
    old_record, old_nodes = _prepared(embedder, "doc", "The old version of the story.")
    new_record, new_nodes = _prepared(embedder, "doc", "The new version of the story, which is longer.")
    with Store.open(tmp_settings, create=True) as store:
        store.write_document(old_record, old_nodes)
        # the update got as far as recording the new version; the old chunks were not yet dropped
        store._mark_pending([(new_record.doc_id, new_record.content_hash)])
        for node in new_nodes:
            node.metadata["content_hash"] = new_record.content_hash
        store.vector_store.add(new_nodes)
        new_record.chunks = len(new_nodes)
        store.docs.upsert(ids=["doc"], embeddings=[[1.0]], documents=[new_record.text],
                          metadatas=[new_record.metadata("done")])
        assert _chunk_docs(store) == {"doc": {old_record.content_hash, new_record.content_hash}}
    with Store.open(tmp_settings) as store:
        assert _pending(store) == []
        assert _chunk_docs(store) == {"doc": {new_record.content_hash}}
        assert store.get_document("doc").text == new_record.text


def test_recover_rolls_back_an_update_interrupted_before_it_was_recorded(tmp_settings, embedder) -> None:
    old_record, old_nodes = _prepared(embedder, "doc", "The old version of the story.")
    new_record, new_nodes = _prepared(embedder, "doc", "The new version of the story, which is longer.")
    with Store.open(tmp_settings, create=True) as store:
        store.write_document(old_record, old_nodes)
        revision = store.revision()
        store._mark_pending([(new_record.doc_id, new_record.content_hash)])
        for node in new_nodes:
            node.metadata["content_hash"] = new_record.content_hash
        store.vector_store.add(new_nodes[:1])  # killed half-way through adding the new chunks
    with Store.open(tmp_settings) as store:
        assert _pending(store) == []
        assert _chunk_docs(store) == {"doc": {old_record.content_hash}}
        assert store.get_document("doc").text == old_record.text
        assert store.revision() != revision  # readers (BM25) are told that something changed


def test_batched_write_replaces_updated_documents_and_keeps_sentence_vectors(tmp_settings, embedder) -> None:
    import numpy as np

    from rag.embedding import pack_vectors
    from rag.store import SentenceVectors

    def with_sentences(record, nodes):
        spans = [[(int(n.metadata["start"]), int(n.metadata["end"]))] for n in nodes]
        packed = [pack_vectors(np.asarray([n.embedding], dtype=np.float32)) for n in nodes]
        return record, nodes, [SentenceVectors(s, p) for s, p in zip(spans, packed, strict=True)]

    old = _prepared(embedder, "doc", "The old version of the story.")
    with Store.open(tmp_settings, create=True) as store:
        store.write_document(*with_sentences(*old))
        new = _prepared(embedder, "doc", "The new version of the story, which is longer.")
        other = _prepared(embedder, "other", "Another story entirely, about ferries.")
        store.write_documents([with_sentences(*new), with_sentences(*other)])
        assert _chunk_docs(store) == {"doc": {new[0].content_hash}, "other": {other[0].content_hash}}
        ids = [n.node_id for n in new[1] + other[1]]
        got = store.sentence_vectors(ids)
        assert set(got) == set(ids)
        for node in new[1] + other[1]:
            spans, matrix = got[node.node_id]
            assert spans == [(node.metadata["start"], node.metadata["end"])]
            assert float(matrix[0] @ np.asarray(node.embedding)) > 0.99  # int8 packing keeps the direction
        assert set(store.sentences.get(include=[])["ids"]) == set(ids)  # the old version's rows went too

        # Stores written before the vectors moved into metadata kept them in ``documents``.
        legacy_id = other[1][0].node_id
        row = store.sentences.get(ids=[legacy_id], include=["metadatas"])["metadatas"][0]
        packed = row.pop("vectors")
        store.sentences.delete(ids=[legacy_id])
        store.sentences.add(ids=[legacy_id], embeddings=[[1.0]], documents=[packed], metadatas=[row])
        assert "vectors" not in store.sentences.get(ids=[legacy_id], include=["metadatas"])["metadatas"][0]
        spans, matrix = store.sentence_vectors([legacy_id])[legacy_id]
        assert float(matrix[0] @ np.asarray(other[1][0].embedding)) > 0.99


def test_one_write_cannot_name_a_document_twice(tmp_settings, embedder) -> None:
    first = _prepared(embedder, "doc", "One version of the story.")
    second = _prepared(embedder, "doc", "Another version of the story.")
    with Store.open(tmp_settings, create=True) as store:
        with pytest.raises(ValueError, match="names a document twice: \\['doc'\\]"):
            store.write_documents([(*first, None), (*second, None)])
        assert store.document_hashes() == {} and store.count_chunks() == 0  # nothing was written
