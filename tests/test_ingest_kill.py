"""``kill -9`` during ``citewire ingest`` never leaves duplicates or half documents.

A folder of 30 small articles (every sixth one long enough for several chunks) is ingested by
the real ``citewire`` command, which is SIGKILLed at seeded random points once it has written
some documents (its progress bar says how many), then run again; later the folder changes and
an update is killed too. After every kill the store, once opened (which repairs it), must hold
only whole documents, each in exactly one version, and in the end its (chunk id, text) pairs must
equal those of a clean, uninterrupted run into another store.

Set ``KILL_TEST_SEEDS=1,2,3`` to try more kill points (each seed costs about a minute).
"""

from __future__ import annotations

import os
import random
import re
import signal
import subprocess
import threading
import time
from pathlib import Path

import pytest

from rag.settings import Settings
from rag.store import PENDING_PREFIX, Store

SEEDS = [int(s) for s in os.environ.get("KILL_TEST_SEEDS", "7").split(",") if s.strip()]
TOPICS = ["harbour", "election", "drought", "railway", "vaccine", "bridge", "wheat", "strike", "satellite", "museum"]
N_DOCS = 30
PROGRESS = re.compile(r"ingest:\s+\d+%\|[^|]*\|\s*(\d+)/(\d+)")


def _article(i: int, version: int) -> str:
    topic = TOPICS[i % len(TOPICS)]
    lines = [f"Story {i} about the {topic}" + (" (updated)" if version > 1 else "")]
    paragraphs = 14 if i % 6 == 0 else 1  # 3 chunks for every sixth article
    for p in range(paragraphs):
        lines.append(
            f"Officials said the {topic} project number {i} was delayed again in week {p + version}. "
            f"Residents complained about the noise and the cost, which rose by {p * 3 + i} percent. "
            f"The council will vote on the {topic} budget next month, a spokesperson said."
        )
    return "\n".join(lines)


def _write_corpus(folder: Path, version: int) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(N_DOCS):
        changed = version > 1 and i % 5 == 0  # version 2 changes every fifth article
        (folder / f"doc{i:02d}.txt").write_text(_article(i, version if changed else 1), encoding="utf-8")


class _Run:
    """A ``citewire ingest`` subprocess whose progress (documents written) is followed on stderr."""

    def __init__(self, cmd: list[str], folder: Path, store_dir: Path) -> None:
        self.proc = subprocess.Popen(
            [*cmd, "ingest", str(folder), "--store", str(store_dir)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            # Small batches, so that a kill can land between two of the store's batched writes.
            env={**os.environ, "CITEWIRE_INGEST_BATCH_CHUNKS": "4"},
        )
        self.done = 0
        self.total: int | None = None
        self.stderr = b""
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        while chunk := self.proc.stderr.read1(4096):
            self.stderr += chunk
            for m in PROGRESS.finditer(chunk.decode(errors="replace")):
                self.done, self.total = int(m.group(1)), int(m.group(2))

    def kill_after(self, docs: int, extra_s: float, timeout: float = 120) -> bool:
        """SIGKILL once ``docs`` documents are written, plus ``extra_s``; False if it finished first."""
        deadline = time.monotonic() + timeout
        while self.done < docs and self.proc.poll() is None:
            assert time.monotonic() < deadline, self.stderr.decode(errors="replace")
            time.sleep(0.01)
        time.sleep(extra_s)
        if self.proc.poll() is not None:
            self.finish()
            return False
        os.kill(self.proc.pid, signal.SIGKILL)
        assert self.proc.wait(timeout=30) == -signal.SIGKILL
        self._reader.join(timeout=10)
        return True

    def finish(self, timeout: float = 180) -> None:
        self.proc.wait(timeout=timeout)
        self._reader.join(timeout=10)
        assert self.proc.returncode == 0, self.stderr.decode(errors="replace")


def _state(store_dir: Path) -> tuple[dict[str, str], dict[str, str], dict[str, str]]:
    """Open (and so repair) a store; check it is whole; return (chunk id -> text, doc -> hash, doc -> title).

    The store is opened in this process between runs of the command in others; that is safe
    because ``Store.close`` drops Chroma's per-process cache of the store.
    """
    with Store.open(Settings(store_dir=store_dir)) as store:
        docs = {d.doc_id: d for d in store.list_documents()}
        assert not [i for i in store.docs.get(include=[])["ids"] if i.startswith(PENDING_PREFIX)]
        chunks: dict[str, str] = {}
        metas_by_id: dict[str, dict] = {}
        full_texts: dict[str, str] = {}
        per_doc: dict[str, list[dict]] = {}
        for ids, metas, texts in store.iter_chunks():
            for chunk_id, meta, text in zip(ids, metas, texts, strict=True):
                assert chunk_id not in chunks, f"duplicate chunk {chunk_id}"
                chunks[chunk_id] = text
                metas_by_id[chunk_id] = meta
                per_doc.setdefault(meta["doc_id"], []).append(meta)
        assert set(per_doc) == set(docs), "chunks without a finished document, or a document without chunks"
        for doc_id, metas in per_doc.items():
            doc = docs[doc_id]
            assert sorted(m["chunk"] for m in metas) == list(range(doc.chunks)), f"half document {doc_id}"
            assert {m["content_hash"] for m in metas} == {doc.content_hash}, f"two versions of {doc_id}"
            assert len({(m["start"], m["end"]) for m in metas}) == len(metas), f"duplicate chunks in {doc_id}"
        for chunk_id, meta in metas_by_id.items():  # every chunk is a span of the version its document records
            if meta["doc_id"] not in full_texts:
                full_texts[meta["doc_id"]] = store.get_document(meta["doc_id"]).text
            assert full_texts[meta["doc_id"]][meta["start"] : meta["end"]] == chunks[chunk_id], chunk_id
        assert store.count_chunks() == len(chunks)
        if chunks:  # the vector index holds exactly the chunks SQLite lists
            vector = store.chunk_embeddings([next(iter(chunks))]).popitem()[1]
            hits = store.chunks.query(query_embeddings=[vector], n_results=len(chunks), include=[])
            assert set(hits["ids"][0]) == set(chunks)
        return chunks, {d: r.content_hash for d, r in docs.items()}, {d: r.title for d, r in docs.items()}


@pytest.mark.parametrize("seed", SEEDS)
def test_kill_9_then_rerun_equals_a_clean_run(seed: int, tmp_path: Path, citewire_cmd: list[str]) -> None:
    rng = random.Random(seed)
    v1, v2 = tmp_path / "v1", tmp_path / "v2"
    _write_corpus(v1, 1)
    _write_corpus(v2, 2)
    killed_store, clean_store = tmp_path / "killed", tmp_path / "clean"

    # the reference: version 2 ingested without interruption (in parallel with the runs below)
    clean = _Run(citewire_cmd, v2, clean_store)

    kills = 0
    seen_partial = False
    # version 1, killed twice at random points after some documents were written
    for _ in range(2):
        run = _Run(citewire_cmd, v1, killed_store)
        if run.kill_after(docs=rng.randint(1, 8), extra_s=rng.uniform(0.0, 0.3)):
            kills += 1
        _, hashes, _ = _state(killed_store)
        seen_partial |= 0 < len(hashes) < N_DOCS
    # version 2: new documents and updates of written ones, killed once more
    run = _Run(citewire_cmd, v2, killed_store)
    if run.kill_after(docs=rng.randint(1, 4), extra_s=rng.uniform(0.0, 0.3)):
        kills += 1
    _state(killed_store)  # each changed article is wholly old or wholly new, never a mix
    # and finally a run that is left to finish
    _Run(citewire_cmd, v2, killed_store).finish()
    clean.finish()

    assert kills >= 2, "the command finished before it could be killed; the test proved nothing"
    assert seen_partial, "no kill landed while documents were being written"
    killed_chunks, killed_hashes, _ = _state(killed_store)
    clean_chunks, clean_hashes, clean_titles = _state(clean_store)
    assert len(clean_hashes) == N_DOCS
    assert sum(t.endswith("(updated)") for t in clean_titles.values()) == N_DOCS // 5
    assert killed_hashes == clean_hashes
    assert set(killed_chunks.items()) == set(clean_chunks.items())
