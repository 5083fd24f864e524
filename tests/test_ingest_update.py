"""Re-ingest is idempotent, a changed file replaces its chunks, and documents can be removed."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SEED_TEXT = (ROOT / "data" / "sample" / "north-korean-troops-ukraine.txt").read_text(encoding="utf-8")

FILES = {
    "seed.txt": SEED_TEXT,
    "harbour.txt": "Harbour reopens after the storm\nThe harbour reopened on Monday and fishermen returned to sea.",
    "wire.jsonl": '{"id": "wire-1", "title": "Rail strike", "published": "2022-11-20", '
                  '"text": "Rail workers walked out on Friday over pay."}\n'
                  '{"id": "wire-2", "title": "Port closes", "published": "2022-11-21", '
                  '"text": "The port closed for the holiday."}\n',
}


@pytest.fixture
def model_calls(embedder, monkeypatch):
    """How many times the embedding model ran a forward pass, on either backend (torch or ONNX Runtime)."""
    calls: list[int] = []
    if embedder._onnx is not None:
        run = embedder._onnx.hidden_states
        monkeypatch.setattr(embedder._onnx, "hidden_states", lambda batch: calls.append(1) or run(batch))
        yield calls
    else:
        handle = embedder._st.register_forward_hook(lambda *_: calls.append(1))
        yield calls
        handle.remove()


@pytest.fixture
def corpus(tmp_path: Path, write_files, ingestor):
    folder = write_files(tmp_path / "in", FILES)
    first = ingestor.ingest([folder], progress=False)
    assert sorted(first.added) == ["harbour.txt", "seed.txt", "wire-1", "wire-2"]
    assert first.failed == [] and first.updated == [] and first.unchanged == []
    return folder


def _doc_chunks(rows: dict, doc_id: str) -> dict[str, tuple[str, dict]]:
    return {cid: row for cid, row in rows.items() if row[1]["doc_id"] == doc_id}


def _assert_consistent(store, rows: dict) -> None:
    """Every chunk belongs to a finished document's current version, which has all of its chunks."""
    docs = {d.doc_id: d for d in store.list_documents()}
    assert store.count_chunks() == len(rows) == sum(d.chunks for d in docs.values())
    for doc_id, doc in docs.items():
        chunks = _doc_chunks(rows, doc_id)
        assert sorted(m["chunk"] for _, m in chunks.values()) == list(range(doc.chunks))
        assert {m["content_hash"] for _, m in chunks.values()} == {doc.content_hash}
        full = store.get_document(doc_id).text
        assert all(full[m["start"] : m["end"]] == text for text, m in chunks.values())
    assert {m["doc_id"] for _, m in rows.values()} == set(docs)


def test_reingest_changes_nothing_and_embeds_nothing(corpus, ingestor, chunk_rows, model_calls) -> None:
    store = ingestor.store
    before, revision = chunk_rows(store), store.revision()
    again = ingestor.ingest([corpus], progress=False)
    assert (again.added, again.updated, again.failed) == ([], [], [])
    assert sorted(again.unchanged) == ["harbour.txt", "seed.txt", "wire-1", "wire-2"]
    assert (again.chunks, again.tokens) == (0, 0)
    assert model_calls == []  # the model never ran
    assert store.revision() == revision  # nothing was written
    after = chunk_rows(store)
    assert set(after) == set(before) and store.count_chunks() == len(before)
    assert {cid: text for cid, (text, _) in after.items()} == {cid: text for cid, (text, _) in before.items()}
    _assert_consistent(store, after)


def test_changed_file_replaces_its_old_chunks(corpus, ingestor, chunk_rows, model_calls) -> None:
    store = ingestor.store
    before = chunk_rows(store)
    old_seed = _doc_chunks(before, "seed.txt")
    assert len(old_seed) > 1
    # shorter: drop the last two paragraphs and change a sentence at the start
    paragraphs = SEED_TEXT.strip().split("\n")
    shorter = "\n".join([paragraphs[0].replace("dramatic turn", "sharp turn"), *paragraphs[1:-4]])
    (corpus / "seed.txt").write_text(shorter, encoding="utf-8")
    # longer: one line becomes a few paragraphs
    (corpus / "harbour.txt").write_text(
        "Harbour reopens after the storm\n" + "\n".join(
            f"Paragraph {i}: the harbour master said repairs to pier {i} would cost more than planned."
            for i in range(40)
        ),
        encoding="utf-8",
    )
    summary = ingestor.ingest([corpus], progress=False)
    assert sorted(summary.updated) == ["harbour.txt", "seed.txt"]
    assert sorted(summary.unchanged) == ["wire-1", "wire-2"] and summary.added == []
    assert model_calls  # the changed documents were embedded

    after = chunk_rows(store)
    new_seed = _doc_chunks(after, "seed.txt")
    assert not set(old_seed) & set(new_seed), "old chunks of the changed document are still there"
    assert store.get_document("seed.txt").chunks == len(new_seed)
    assert "sharp turn" in store.get_document("seed.txt").text
    assert all("dramatic turn" not in text for text, _ in new_seed.values())
    new_harbour = _doc_chunks(after, "harbour.txt")
    assert len(new_harbour) > 1 == len(_doc_chunks(before, "harbour.txt"))
    # the untouched documents kept their chunks, ids and all
    for doc_id in ("wire-1", "wire-2"):
        assert _doc_chunks(after, doc_id) == _doc_chunks(before, doc_id)
    _assert_consistent(store, after)


def test_remove_deletes_the_document_and_its_chunks(corpus, ingestor, chunk_rows) -> None:
    store = ingestor.store
    before = chunk_rows(store)
    assert store.remove("seed.txt") is True
    assert store.get_document("seed.txt") is None
    assert "seed.txt" not in store.document_hashes()
    after = chunk_rows(store)
    assert set(after) == set(before) - set(_doc_chunks(before, "seed.txt"))
    _assert_consistent(store, after)
    assert store.remove("seed.txt") is False
    assert store.remove("never-there") is False
    # and a later ingest brings it back as new
    summary = ingestor.ingest([corpus], progress=False)
    assert summary.added == ["seed.txt"]
    assert set(chunk_rows(store)) == set(before)
