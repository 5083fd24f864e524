"""What the per-process BM25 index costs as the store grows: build time, memory, disk, query time.

    .venv/bin/python bench/lexical.py [--sizes 10000,100000,1000000]

Chroma 1.5 cannot hold the lexical side itself on a single node (its sparse-vector BM25 index is
not enabled outside Chroma's distributed deployment: "Sparse vector indexing is not enabled in
local"), so every ``citewire serve`` process keeps its own BM25 index (LlamaIndex's
``BM25Retriever``, bm25s) and rebuilds it when the store changes. This measures that index at
10k, 100k and 1M chunks. Chunk texts are the RealTime QA articles cut into ~1,000-character
passages, repeated with their sentences shuffled until the size is reached (BM25 needs texts,
not vectors, so nothing is embedded); each size is built in a fresh process so its memory is its own.
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import ROOT, log

CORPUS = ROOT.parent / "shared" / "eval" / "realtimeqa" / "corpus.jsonl"
QUESTIONS = ROOT.parent / "shared" / "eval" / "realtimeqa" / "questions.jsonl"


def passages() -> list[str]:
    out = []
    for line in CORPUS.read_text().splitlines():
        text = json.loads(line)["text"]
        for i in range(0, len(text), 1000):
            out.append(text[i : i + 1000])
    return out


def measure(size: int) -> dict[str, float]:
    """Build, persist, load and query a BM25 index of ``size`` chunks (in this process)."""
    from llama_index.core.schema import QueryBundle, TextNode

    from rag.retrieve.lexical import PositiveBM25Retriever

    base = passages()
    rng = random.Random(7)
    nodes = []
    for i in range(size):
        text = base[i % len(base)]
        if i >= len(base):
            sentences = text.split(". ")
            rng.shuffle(sentences)
            text = ". ".join(sentences)
        nodes.append(TextNode(id_=f"c{i}", text=text, metadata={"doc_id": f"d{i // 10}", "published": 20240101}))
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.perf_counter()
    retriever = PositiveBM25Retriever.from_defaults(nodes=nodes, similarity_top_k=40)
    build_s = time.perf_counter() - started
    del nodes
    rss_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        retriever.persist(tmp, show_progress=False)
        persist_s = time.perf_counter() - started
        disk = sum(p.stat().st_size for p in Path(tmp).rglob("*") if p.is_file())
        started = time.perf_counter()
        PositiveBM25Retriever.from_persist_dir(tmp, show_progress=False)
        load_s = time.perf_counter() - started
    questions = [json.loads(line)["question"] for line in QUESTIONS.read_text().splitlines()][:50]
    times = []
    for q in questions:
        t = time.perf_counter()
        retriever.retrieve(QueryBundle(q))
        times.append((time.perf_counter() - t) * 1000)
    times.sort()
    return {"chunks": size, "build_s": build_s, "persist_s": persist_s, "load_s": load_s,
            "memory_mb": (rss_after - rss_before) / 1024, "peak_rss_mb": rss_after / 1024,
            "disk_mb": disk / 2**20, "query_p50_ms": times[len(times) // 2],
            "query_p95_ms": times[int(len(times) * 0.95)]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)  # internal: measure one size, print JSON
    args = parser.parse_args()
    if args.one:
        print(json.dumps(measure(args.one)))
        return
    rows = []
    for size in (int(s) for s in args.sizes.split(",")):
        log(f"BM25 over {size:,} chunks …")
        out = subprocess.run([sys.executable, __file__, "--one", str(size)], capture_output=True, text=True,
                             check=True)
        rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
        log(json.dumps(rows[-1]))
    print("\n| chunks | build s | memory MB | disk MB | load s | query p50 / p95 ms |\n|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['chunks']:,} | {r['build_s']:.1f} | {r['memory_mb']:.0f} | {r['disk_mb']:.0f} | "
              f"{r['load_s']:.1f} | {r['query_p50_ms']:.0f} / {r['query_p95_ms']:.0f} |")


if __name__ == "__main__":
    main()
