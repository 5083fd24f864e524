"""``citewire ingest --ray``: a real two-node Ray cluster and a real Chroma server, against a local ingest."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from rag.settings import Settings
from rag.store import Store

ROOT = Path(__file__).resolve().parents[1]
TOPICS = ["harbour", "bridge", "orchestra", "library", "railway", "festival", "museum", "stadium", "airport", "market"]


def write_corpus(folder: Path, n: int) -> Path:
    """``n`` dated articles of two chunks or more, as a JSONL file and a few plain files (both readers take part)."""
    folder.mkdir(parents=True, exist_ok=True)
    rows = []
    for i in range(n):
        topic = TOPICS[i % len(TOPICS)]
        text = " ".join(
            f"The {topic} project number {i} in district {j} was discussed by the council on day {i + j}. "
            f"Officials said the {topic} plan {i}-{j} would cost {10 + i + j} million euros."
            for j in range(10)
        )
        day = f"2024-{1 + i % 12:02d}-1{i % 9}"
        rows.append({"id": f"art-{i:03d}", "title": f"The {topic} plan {i}", "published": day, "source": "Test Wire",
                     "text": text})
    (folder / "wire.jsonl").write_text("\n".join(json.dumps(r) for r in rows[: n - 3]) + "\n")
    for r in rows[n - 3 :]:
        (folder / f"{r['id']}.txt").write_text(f"{r['title']}\n{r['text']}\n")
    return folder


def cli(*args: str, env: dict[str, str] | None = None, timeout: float = 900) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(Path(sys.executable).parent / "citewire"), *args], capture_output=True, text=True,
                          cwd=ROOT, timeout=timeout, env={**os.environ, **(env or {})})


def snapshot(settings: Settings) -> dict[str, tuple[str, dict, np.ndarray]]:
    """chunk id → (text, metadata, vector) of a collection."""
    with Store.open(settings) as store:
        out = {}
        offset = 0
        while True:
            got = store.chunks.get(limit=500, offset=offset, include=["documents", "metadatas", "embeddings"])
            if not got["ids"]:
                return out
            for cid, text, meta, vec in zip(got["ids"], got["documents"], got["metadatas"], got["embeddings"],
                                            strict=True):
                out[cid] = (text, meta, np.asarray(vec))
            offset += len(got["ids"])


def assert_whole(settings: Settings, n_docs: int) -> None:
    """Every document is there once, with all its chunks of one version and none of another."""
    with Store.open(settings) as store:
        docs = store.list_documents()
        assert len(docs) == n_docs and len({d.doc_id for d in docs}) == n_docs
        hashes: dict[str, set[str]] = {}
        counts: dict[str, int] = {}
        for _, metas, _ in store.iter_chunks():
            for meta in metas:
                hashes.setdefault(meta["doc_id"], set()).add(meta["content_hash"])
                counts[meta["doc_id"]] = counts.get(meta["doc_id"], 0) + 1
        for d in docs:
            assert hashes[d.doc_id] == {d.content_hash}, f"{d.doc_id} is half old, half new"
            assert counts[d.doc_id] == d.chunks, f"{d.doc_id} has {counts[d.doc_id]} chunks, its record says {d.chunks}"
        assert not store.docs.get(where={"state": "pending"})["ids"]


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    return write_corpus(tmp_path / "corpus", 30)


def test_a_ray_ingest_equals_a_local_one_and_skips_what_is_stored(corpus, ray_cluster, chroma_server, tmp_path) -> None:
    ray_run = cli("ingest", str(corpus), "--ray", ray_cluster.address, "--chroma-url", chroma_server.url,
                  "--collection", "rayed", "-q")
    assert ray_run.returncode == 0, ray_run.stderr
    assert "30 added" in ray_run.stdout
    local = cli("ingest", str(corpus), "--chroma-url", chroma_server.url, "--collection", "local", "-q")
    assert local.returncode == 0, local.stderr
    rayed = snapshot(Settings(chroma_url=chroma_server.url, collection="rayed"))
    here = snapshot(Settings(chroma_url=chroma_server.url, collection="local"))
    assert set(rayed) == set(here) and len(rayed) > 30
    for cid, (text, meta, vec) in here.items():
        r_text, r_meta, r_vec = rayed[cid]
        assert r_text == text
        assert {k: v for k, v in r_meta.items() if k != "ingested_at"} == {
            k: v for k, v in meta.items() if k != "ingested_at"}
        assert float(np.abs(r_vec - vec).max()) < 1e-5
    again = cli("ingest", str(corpus), "--ray", ray_cluster.address, "--chroma-url", chroma_server.url,
                "--collection", "rayed", "-q", "-v")
    assert again.returncode == 0 and "30 unchanged" in again.stdout and "0 to encode" in again.stderr


def test_ray_needs_a_chroma_server(corpus, ray_cluster) -> None:
    out = cli("ingest", str(corpus), "--ray", ray_cluster.address)
    assert out.returncode == 2 and "--ray needs --chroma-url" in out.stderr and "Traceback" not in out.stderr


def _wait_for_progress(settings: Settings, at_least: int, proc: subprocess.Popen, timeout: float = 600) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()
        try:
            with Store.open(settings) as store:
                if len(store.list_documents()) >= at_least:
                    return
        except Exception:  # the collection may not exist yet
            pass
        time.sleep(0.5)
    raise AssertionError("the ingest made no progress")


def _popen(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([str(Path(sys.executable).parent / "citewire"), *args], cwd=ROOT, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env={**os.environ,
                                                                                  "CITEWIRE_RAY_TASK_CHARS": "3000"})


# Large enough that a kill after five stored articles lands mid-run, small enough for CI.
BIG = 40


def test_a_killed_worker_node_or_driver_leaves_a_store_a_rerun_completes(tmp_path, ray_cluster, chroma_server) -> None:
    corpus = write_corpus(tmp_path / "big", BIG)
    settings = Settings(chroma_url=chroma_server.url, collection="killed")
    args = ("ingest", str(corpus), "--ray", ray_cluster.address, "--chroma-url", chroma_server.url,
            "--collection", "killed", "-q")

    # (b) the worker node dies mid-run: Ray retries its tasks on the head node, or the run says why it stopped
    proc = _popen(*args)
    _wait_for_progress(settings, 5, proc)
    ray_cluster.kill_worker_node()
    _, err = proc.communicate(timeout=900)
    assert proc.returncode in (0, 2), err
    assert "Traceback" not in err
    if proc.returncode == 2:
        assert "run the same command again" in err
    ray_cluster.add_worker_node()
    rerun = cli(*args)
    assert rerun.returncode == 0, rerun.stderr
    assert_whole(settings, BIG)

    # (c) the driver dies mid-run: the next run sends only what is missing
    settings = Settings(chroma_url=chroma_server.url, collection="driverless")
    args = (*args[:-3], "--collection", "driverless", "-q")
    proc = _popen(*args)
    _wait_for_progress(settings, 5, proc)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=60)
    rerun = cli(*args)
    assert rerun.returncode == 0, rerun.stderr
    assert "0 failed" in rerun.stdout
    assert_whole(settings, BIG)
