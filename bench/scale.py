"""Scale benchmark: load time, disk, memory and ask latency of citewire at ~10k and ~100k chunks.

    .venv/bin/python bench/scale.py [--work /tmp/citewire-scale] [--targets 10000,100000]
                                    [--questions 40] [--json-out FILE]

1. **Base**: the real corpus ``../shared/eval/realtimeqa/corpus.jsonl`` (1,599 news articles) is
   ingested for real by citewire's ``Ingestor`` into ``WORK/base`` (idempotent: a second run
   reuses it; the first takes tens of minutes on a small CPU).
2. **Stores of N chunks** (``WORK/scale-N``): the base documents are copied in, then *variants*
   until N chunks: a variant of an article is its chunks in a shuffled order under a new id
   (``<id>~v<k>``), with offsets, sentence spans and title rewritten to match. Embedding 100k
   chunks would take hours here, so **variants reuse their source chunks' vectors (chunk and
   sentence vectors) instead of being re-embedded**. Everything else is real: documents go
   through ``Store.write_document`` (pending markers, Chroma's HNSW and SQLite), and questions
   through the whole engine: BM25 (built from the store), dense search, fusion, evidence
   reranking and the extractive answer.
3. **Measurements**, each in a fresh process per store (so memory is that store's alone): open
   time with the BM25 index built from the store (cold) and loaded from its persisted copy
   (warm), the first question (Chroma loads its HNSW index then), then ``engine.ask`` p50/p95
   (extractive) over the realtimeqa questions, per-stage timings, resident memory (RSS) and the
   store's size on disk.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from _common import ROOT, log, percentile

SHARED = ROOT.parent / "shared" / "eval" / "realtimeqa"
TARGET_P95_MS = 300.0
VARIANT_SEP = "~v"


def du_mb(path: Path) -> float:
    total = 0
    for p in path.rglob("*"):
        if p.is_file() and not p.is_symlink():
            total += p.stat().st_blocks * 512
    return total / 2**20


def rss_mb() -> tuple[float, float]:
    """(current, peak) resident memory of this process in MiB."""
    current = float("nan")
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            current = int(line.split()[1]) / 1024
    return current, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def settings_for(store_dir: Path):
    from rag.settings import Settings

    return Settings(store_dir=store_dir, collection="news")


# ------------------------------------------------------------------------------------------ build
def build_base(work: Path, corpus: Path) -> dict[str, Any]:
    from ingest import Ingestor
    from rag.store import Store

    settings = settings_for(work / "base")
    started = time.perf_counter()
    with Store.open(settings, create=True) as store:
        summary = Ingestor(settings, store).ingest([corpus], progress=True)
        chunks = store.count_chunks()
    seconds = time.perf_counter() - started
    log(f"base: {summary.line()}; {chunks} chunks in the store")
    return {"documents": len(summary.added) + len(summary.updated) + len(summary.unchanged),
            "chunks": chunks, "ingest_s_this_run": round(seconds, 1), "newly_embedded": summary.chunks,
            "failed": len(summary.failed)}


def load_base(work: Path) -> list[dict[str, Any]]:
    """Every base document with its chunks, vectors and sentence vectors, in a stable order."""
    from rag.store import Store

    docs: dict[str, dict[str, Any]] = {}
    with Store.open(settings_for(work / "base")) as store:
        for record in store.list_documents():
            docs[record.doc_id] = {"record": record, "chunks": []}
        for ids, metas, texts in store.iter_chunks():
            got = store.chunks.get(ids=ids, include=["embeddings"])
            vectors = dict(zip(got["ids"], got["embeddings"], strict=True))
            sent = store.sentences.get(ids=ids, include=["documents", "metadatas"])
            sentences = {i: (d, m) for i, d, m in zip(sent["ids"], sent["documents"], sent["metadatas"], strict=True)}
            for chunk_id, meta, text in zip(ids, metas, texts, strict=True):
                if meta["doc_id"] in docs:
                    packed, smeta = sentences.get(chunk_id, ("", {"spans": "[]"}))
                    docs[meta["doc_id"]]["chunks"].append({
                        "meta": meta, "text": text, "vector": list(vectors[chunk_id]),
                        "packed": packed, "spans": json.loads(str(smeta.get("spans", "[]"))),
                    })
        for doc_id in list(docs):
            docs[doc_id]["chunks"].sort(key=lambda c: c["meta"]["chunk"])
            docs[doc_id]["record"].text = store.get_document(doc_id).text
    return [docs[k] for k in sorted(docs)]


def _nodes_for(doc_id: str, title: str, text: str, chunks: list[dict[str, Any]], starts: list[int],
               content_hash: str):
    """TextNodes (with vectors) and SentenceVectors for ``chunks`` placed at ``starts`` of ``text``."""
    from llama_index.core.schema import NodeRelationship, RelatedNodeInfo
    from llama_index.core.vector_stores.utils import metadata_dict_to_node

    from rag.store import SentenceVectors

    nodes, sentences = [], []
    for i, (chunk, start) in enumerate(zip(chunks, starts, strict=True)):
        node = metadata_dict_to_node(chunk["meta"], text=chunk["text"])
        end = start + len(chunk["text"])
        assert text[start:end] == chunk["text"]
        shift = start - int(chunk["meta"]["start"])
        node.id_ = f"{doc_id}::{content_hash[:12]}::{i}"
        keep = {k: v for k, v in node.metadata.items() if k not in ("content_hash",)}
        node.metadata = {**keep, "doc_id": doc_id, "title": title, "chunk": i, "start": start, "end": end}
        node.start_char_idx, node.end_char_idx = start, end
        node.relationships = {NodeRelationship.SOURCE: RelatedNodeInfo(node_id=doc_id)}
        node.embedding = chunk["vector"]
        nodes.append(node)
        sentences.append(SentenceVectors([(a + shift, b + shift) for a, b in chunk["spans"]], chunk["packed"]))
    return nodes, sentences


def copy_document(store, doc: dict[str, Any]) -> int:
    """Write a base document as it is (same id, text, chunks and vectors)."""
    record = doc["record"]
    starts = [int(c["meta"]["start"]) for c in doc["chunks"]]
    nodes, sentences = _nodes_for(record.doc_id, record.title, record.text, doc["chunks"], starts,
                                  record.content_hash)
    store.write_document(record, nodes, sentences)
    return len(nodes)


def write_variant(store, doc: dict[str, Any], k: int) -> int:
    """Write variant ``k`` of a base document: its chunks shuffled, a new id, the source's vectors."""
    from rag.store import DocumentRecord

    src = doc["record"]
    chunks = list(doc["chunks"])
    random.Random(f"{src.doc_id}/{k}").shuffle(chunks)
    doc_id = f"{src.doc_id}{VARIANT_SEP}{k}"
    title = src.title
    pieces, starts, cursor = [], [], 0
    for c in chunks:
        starts.append(cursor)
        pieces.append(c["text"])
        cursor += len(c["text"]) + 2
    text = "\n\n".join(pieces)
    digest = hashlib.sha256(f"variant|{doc_id}|{text}".encode()).hexdigest()
    record = DocumentRecord(doc_id=doc_id, text=text, title=title, source=src.source, url=src.url,
                            published=src.published, content_hash=digest, path=f"variant of {src.doc_id}")
    nodes, sentences = _nodes_for(doc_id, title, text, chunks, starts, digest)
    store.write_document(record, nodes, sentences)
    return len(nodes)


def build_scaled(work: Path, base: list[dict[str, Any]], target: int) -> dict[str, Any]:
    """``WORK/scale-<target>``: base documents, then variants, until ``target`` chunks (reused when complete)."""
    from rag.store import Store

    store_dir = work / f"scale-{target}"
    done_marker = store_dir / "citewire-scale-complete.json"
    if done_marker.exists():
        info = json.loads(done_marker.read_text())
        log(f"scale-{target}: reusing {store_dir} ({info['chunks']} chunks)")
        return info
    started = time.perf_counter()
    settings = settings_for(store_dir)
    documents = variants = 0
    with Store.open(settings, create=True) as store:
        have = store.document_hashes()
        chunks = store.count_chunks()
        last_log = time.monotonic()

        def progress() -> None:
            nonlocal last_log
            if time.monotonic() - last_log > 30:
                rate = chunks / max(time.perf_counter() - started, 1e-9)
                log(f"scale-{target}: {chunks} chunks ({documents} documents, {variants} variants), {rate:.0f}/s")
                last_log = time.monotonic()

        for doc in base:
            if chunks >= target:
                break
            if doc["record"].doc_id not in have:
                chunks += copy_document(store, doc)
            documents += 1
            progress()
        k = 0
        while chunks < target:
            k += 1
            for doc in base:
                if chunks >= target:
                    break
                vid = f"{doc['record'].doc_id}{VARIANT_SEP}{k}"
                if vid not in have:
                    chunks += write_variant(store, doc, k)
                variants += 1
                progress()
        chunks = store.count_chunks()
        n_docs = len(store.list_documents())
    seconds = time.perf_counter() - started
    info = {"chunks": chunks, "documents": n_docs, "base_documents": documents, "variant_documents": variants,
            "build_s": round(seconds, 1), "write_chunks_per_s": round(chunks / seconds, 1) if seconds else None}
    done_marker.write_text(json.dumps(info))
    log(f"scale-{target}: built {chunks} chunks in {seconds:.0f}s")
    return info


# ------------------------------------------------------------------------------------------ measure
def load_questions(n: int) -> list[dict[str, Any]]:
    rows = []
    with (SHARED / "questions.jsonl").open() as fh:
        for line in fh:
            if line.strip():
                rows.append(json.loads(line))
    rows = [r for r in rows if r.get("doc_ids")] or rows
    random.Random(0).shuffle(rows)
    return rows[:n]


def measure(store_dir: Path, n_questions: int) -> dict[str, Any]:
    """Run in a fresh process: open the engine, ask, report latency and memory."""
    import shutil

    from rag.engine import Engine
    from rag.store import Store

    settings = settings_for(store_dir)
    out: dict[str, Any] = {}
    bm25 = store_dir / "bm25"
    shutil.rmtree(bm25, ignore_errors=True)  # cold: the BM25 index is built from the store
    t = time.perf_counter()
    store = Store.open(settings)
    out["store_open_s"] = round(time.perf_counter() - t, 2)
    from rag.embedding import Embedder

    t = time.perf_counter()
    embedder = Embedder.from_settings(settings)
    out["model_load_s"] = round(time.perf_counter() - t, 2)
    t = time.perf_counter()
    engine = Engine(store, settings, embedder=embedder)
    out["engine_open_cold_s"] = round(time.perf_counter() - t, 2)  # includes building + persisting BM25
    engine.close()
    t = time.perf_counter()
    engine = Engine(Store.open(settings), settings, embedder=embedder)
    out["engine_open_warm_s"] = round(time.perf_counter() - t, 2)  # BM25 loaded from its persisted copy
    out["chunks"] = engine.store.count_chunks()
    out["bm25_chunks"] = engine.lexical.size
    questions = load_questions(n_questions)
    t = time.perf_counter()
    engine.ask(questions[0]["question"], mode="sentence")
    out["first_ask_ms"] = round((time.perf_counter() - t) * 1000, 1)
    latencies, cpu, stages, hit = [], [], {}, 0
    for q in questions:
        t, c = time.perf_counter(), time.process_time()
        answer = engine.ask(q["question"], as_of=q.get("date"), mode="sentence")
        latencies.append((time.perf_counter() - t) * 1000)
        cpu.append((time.process_time() - c) * 1000)  # all threads; what the wall time would be alone on 1 core
        for k, v in answer.timings.items():
            stages.setdefault(k, []).append(v)
        gold = set(q.get("doc_ids") or [])
        cited = {p.doc_id.split(VARIANT_SEP)[0] for p in answer.passages}
        hit += bool(gold & cited)
    engine.close()
    out["questions"] = len(questions)
    out["ask_p50_ms"] = round(percentile(latencies, 50), 1)
    out["ask_p95_ms"] = round(percentile(latencies, 95), 1)
    out["ask_max_ms"] = round(max(latencies), 1)
    out["ask_cpu_p50_ms"] = round(percentile(cpu, 50), 1)
    out["ask_cpu_p95_ms"] = round(percentile(cpu, 95), 1)
    out["stage_p50_ms"] = {k: round(percentile(v, 50), 1) for k, v in stages.items()}
    out["stage_p95_ms"] = {k: round(percentile(v, 95), 1) for k, v in stages.items()}
    out["loadavg_1m"] = round(os.getloadavg()[0], 2)  # other work on the machine inflates wall times
    out["gold_doc_or_variant_in_passages"] = round(hit / len(questions), 3)
    out["rss_mb"], out["peak_rss_mb"] = (round(x) for x in rss_mb())
    out["disk_mb"] = round(du_mb(store_dir), 1)
    out["disk_mb_bm25"] = round(du_mb(bm25), 1) if bm25.exists() else 0.0
    out["disk_mb_sqlite"] = round((store_dir / "chroma.sqlite3").stat().st_size / 2**20, 1)
    return out


def measure_in_subprocess(store_dir: Path, n_questions: int) -> dict[str, Any]:
    got = subprocess.run([sys.executable, __file__, "--measure", str(store_dir), "--questions", str(n_questions)],
                         cwd=ROOT, capture_output=True, text=True, check=False)
    if got.returncode != 0:
        raise SystemExit(f"measuring {store_dir} failed:\n{got.stderr[-3000:]}")
    return json.loads(got.stdout.strip().splitlines()[-1])


# ------------------------------------------------------------------------------------------ main
def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--work", type=Path, default=Path("/tmp/citewire-scale"))
    ap.add_argument("--corpus", type=Path, default=SHARED / "corpus.jsonl")
    ap.add_argument("--targets", default="10000,100000", help="chunk counts, comma-separated")
    ap.add_argument("--questions", type=int, default=40)
    ap.add_argument("--json-out", type=Path)
    ap.add_argument("--measure", type=Path, help=argparse.SUPPRESS)  # internal: measure one store, print JSON
    args = ap.parse_args()

    if args.measure:
        print(json.dumps(measure(args.measure, args.questions)))
        return 0

    import logging

    logging.basicConfig(level=logging.WARNING)
    args.work.mkdir(parents=True, exist_ok=True)
    targets = [int(t) for t in args.targets.split(",") if t.strip()]
    log(f"base: ingesting {args.corpus} into {args.work / 'base'} (reused when already there)")
    results: dict[str, Any] = {"base": build_base(args.work, args.corpus), "cpus": os.cpu_count()}
    if any(not (args.work / f"scale-{t}" / "citewire-scale-complete.json").exists() for t in targets):
        log("loading the base documents, chunks and vectors")
        base = load_base(args.work)
    else:
        base = []
    for target in targets:
        info = build_scaled(args.work, base, target)
        log(f"scale-{target}: measuring in a fresh process ({args.questions} questions)")
        m = measure_in_subprocess(args.work / f"scale-{target}", args.questions)
        results[f"scale-{target}"] = {"build": info, **m}
        log(f"scale-{target}: {json.dumps(results[f'scale-{target}'])}")
    results["loadavg_1m_at_end"] = round(os.getloadavg()[0], 2)

    print()
    print("variants reuse their source chunks' vectors (not re-embedded); all retrieval and answer stages run for real")
    print(f"{'chunks':>8} {'docs':>6} {'disk MB':>8} {'open cold s':>11} {'open warm s':>11} {'RSS MB':>7} "
          f"{'first ms':>8} {'p50 ms':>7} {'p95 ms':>7} {'max ms':>7} {'cpu p50':>7} {'cpu p95':>7} {'retr p95':>8}")
    for target in targets:
        r = results[f"scale-{target}"]
        print(f"{r['chunks']:>8} {r['build']['documents']:>6} {r['disk_mb']:>8.0f} {r['engine_open_cold_s']:>11.1f} "
              f"{r['engine_open_warm_s']:>11.1f} {r['rss_mb']:>7} {r['first_ask_ms']:>8.0f} {r['ask_p50_ms']:>7.0f} "
              f"{r['ask_p95_ms']:>7.0f} {r['ask_max_ms']:>7.0f} {r.get('ask_cpu_p50_ms', float('nan')):>7.0f} "
              f"{r.get('ask_cpu_p95_ms', float('nan')):>7.0f} {r.get('stage_p95_ms', {}).get('retrieve_ms', 0):>8.0f}")
    print("(ms: wall time of engine.ask; cpu: its process CPU time, all threads; retr: the dense+BM25+fusion stage)")
    last = results[f"scale-{targets[-1]}"]
    print(f"target p95 ≤ {TARGET_P95_MS:.0f} ms at {last['chunks']} chunks: "
          f"{'met' if last['ask_p95_ms'] <= TARGET_P95_MS else 'NOT met'} ({last['ask_p95_ms']:.0f} ms; "
          f"{os.cpu_count()} CPUs, load average {results['loadavg_1m_at_end']})")
    if args.json_out:
        args.json_out.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
