"""The reader benchmark: the reader alone on SQuAD 2.0 paragraphs, then end to end against the alternatives.

    .venv/bin/python bench/reader.py                       # both parts, every set
    .venv/bin/python bench/reader.py --part alone          # the reader on each question's own paragraph
    .venv/bin/python bench/reader.py --part e2e --set squad-v2 --set realtimeqa-unanswerable
    .venv/bin/python bench/reader.py --part sweep          # refusal calibration of the reader margin

**alone**: the shipped reader on each dev question with its own paragraph (SQuAD 2.0's setting):
EM/F1 over all questions at the shipped margin and at the best threshold, best-span EM/F1 on the
answerable ones (HasAns), the share of unanswerable ones refused at the shipped margin (NoAns), and
the AUROC of the answerability score.

**e2e**: ``citewire eval``'s runner over a whole corpus, for three systems in the same run: the reader
after citewire's retrieval (the product), the sentence answerer after the same retrieval, and the
reader after BM25 alone. Answer accuracy, span EM/F1, F1 on answerable questions, refusal recall,
false refusals, citation support and ``ask`` latency.

**sweep**: every question answered with the margin switched off, its best answerability and evidence
recorded; then refusal recall (unanswerable sets) against false refusals (answerable ones) per margin.

Stores are cached under ``--work``. The RealTime QA "unanswerable" corpus is the full corpus less
some articles, so its store is a copy of the full one with those removed (no second embedding).
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import numpy as np
from _common import ROOT, log

SHARED = ROOT.parent / "shared" / "eval"
SETS = {
    "seed": (SHARED / "seed-dev.jsonl", ROOT / "data" / "sample"),
    "squad-v2": (SHARED / "squad-v2" / "questions.jsonl", SHARED / "squad-v2" / "corpus.jsonl"),
    "realtimeqa": (SHARED / "realtimeqa" / "questions.jsonl", SHARED / "realtimeqa" / "corpus.jsonl"),
    "realtimeqa-unanswerable": (SHARED / "realtimeqa-unanswerable" / "questions.jsonl",
                                SHARED / "realtimeqa-unanswerable" / "corpus.jsonl"),
}
SYSTEMS = {  # name → (mode, retriever)
    "reader (citewire)": ("reader", "default"),
    "sentence (citewire)": ("sentence", "default"),
    "BM25 + reader": ("reader", "bm25"),
}


def commit() -> str:
    out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True)
    return out.stdout.strip()


# ---------------------------------------------------------------------------- alone
def part_alone(limit: int | None) -> dict[str, Any]:
    from rag.reader.model import shipped_reader
    from rag.reader.train import DEFAULT_DEV, dev_metrics, dev_set
    from rag.settings import Settings

    dev = dev_set(DEFAULT_DEV, limit or 0)
    reader = shipped_reader()
    started = time.perf_counter()
    m = dev_metrics(reader, dev, threshold=Settings().reader_margin)
    seconds = time.perf_counter() - started
    log(f"reader alone on {m['questions']} SQuAD 2.0 dev questions with their own paragraph "
        f"({reader.path.name}, {seconds / len(dev) * 1000:.0f} ms a question):")
    print(f"| measure | value |\n|---|---|\n"
          f"| overall EM / F1 at the shipped margin ({m['threshold']:.2f}) | {m['em_at_t']:.1f} / "
          f"{m['f1_at_t']:.1f} |\n"
          f"| overall EM / F1 at the best threshold ({m['best_threshold']:.2f}) | {m['best_em']:.1f} / "
          f"{m['best_f1']:.1f} |\n"
          f"| HasAns best-span EM / F1 ({m['answerable']} q) | {m['has_answer_em']:.1f} / {m['has_answer_f1']:.1f} |\n"
          f"| HasAns EM / F1 at the shipped margin | {m['has_em_at_t']:.1f} / {m['has_f1_at_t']:.1f} |\n"
          f"| NoAns accuracy at the shipped margin ({m['unanswerable']} q) | {m['no_answer_at_t']:.1f} |\n"
          f"| answerability AUROC (margin + head / margin / head) | {m['answerability_auroc']:.3f} / "
          f"{m['margin_auroc']:.3f} / {m['head_auroc']:.3f} |")
    return m


# ---------------------------------------------------------------------------- stores
def store_settings(name: str, work: Path) -> Any:
    from rag.settings import Settings

    return Settings(store_dir=work / name, collection="bench")


def ensure_store(name: str, work: Path) -> Any:
    """The set's store, ingested once (the unanswerable news corpus derived from the full one)."""
    from ingest import ingest_paths
    from rag.store import Store

    settings = store_settings(name, work)
    _, corpus = SETS[name]
    done = work / f"{name}.done"
    if done.exists():
        return settings
    if name == "realtimeqa-unanswerable":
        full = ensure_store("realtimeqa", work)
        shutil.rmtree(settings.store_dir, ignore_errors=True)
        shutil.copytree(full.store_dir, settings.store_dir)
        keep = {json.loads(line)["id"] for line in corpus.read_text().splitlines() if line.strip()}
        with Store.open(settings) as store:
            gone = [d.doc_id for d in store.list_documents() if d.doc_id not in keep]
            for doc_id in gone:
                store.remove(doc_id)
        log(f"{name}: copied the realtimeqa store and removed {len(gone)} articles")
    else:
        log(f"{name}: ingesting {corpus}")
        ingest_paths([corpus], settings, progress=True)
    done.write_text("ok")
    return settings


# ---------------------------------------------------------------------------- e2e
def part_e2e(sets: list[str], work: Path, limit: int | None) -> dict[str, Any]:
    from eval.questions import load_questions
    from eval.runner import run
    from rag.engine import Engine

    out: dict[str, Any] = {}
    for name in sets:
        settings = ensure_store(name, work)
        questions = load_questions(SETS[name][0], limit)
        print(f"\n{name} ({len(questions)} questions)\n")
        print("| system | accuracy | span EM | span F1 | F1 answerable | refusal recall | false refusals | "
              "citation support | p50 ms | p95 ms |")
        print("|---|---|---|---|---|---|---|---|---|---|")
        with Engine.open(settings) as engine:
            for system, (mode, retriever) in SYSTEMS.items():
                report = run(questions, engine, retriever=retriever, mode=mode).to_dict()
                out[f"{name}/{system}"] = report
                a, r, c, lat = report["answer"], report["refusal"], report["citation"], report["latency_ms"]
                print(f"| {system} | {_f(a['accuracy'])} | {_f(a['span_em'])} | {_f(a['span_f1'])} | "
                      f"{_f(a['has_answer_f1'])} | {_f(r['recall'])} | {_f(r['false_rate'])} | {_f(c['support'])} | "
                      f"{_f(lat['p50'], 0)} | {_f(lat['p95'], 0)} |", flush=True)
    return out


def _f(value: float | None, digits: int = 3) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


# ---------------------------------------------------------------------------- sweep
def part_sweep(sets: list[str], work: Path, limit: int | None) -> dict[str, Any]:
    """Answer with the margin, the floor and the type check off; sweep all three per set afterwards."""
    from eval.questions import load_questions
    from rag.answer.answer_type import type_agreement
    from rag.engine import Engine
    from rag.query import Query

    rows: dict[str, list[tuple[float, float, bool, int]]] = {}
    for name in sets:
        settings = ensure_store(name, work).with_overrides(reader_margin=-1e9, reader_evidence_floor=-1.0,
                                                           reader_type_weight=0.0)
        rows[name] = []
        with Engine.open(settings) as engine:
            for q in load_questions(SETS[name][0], limit):
                answer = engine.ask(Query(q.question, as_of=q.date, mode="reader"))
                span = answer.answer_span
                rows[name].append((span.score if span else -1e9, answer.support, q.answerable,
                                   type_agreement(q.question, span.text) if span else 0))
        log(f"{name}: {len(rows[name])} questions read")
    print("\nrefusal recall on unanswerable questions / false refusals on answerable ones\n")
    print("| type weight | floor | margin | " + " | ".join(sets) + " |")
    print("|---|---|---|" + "---|" * len(sets))
    for weight in (0.0, 1.0, 2.0):
        for floor in (0.25, 0.30, 0.35):
            for t in np.arange(-3.0, 5.01, 0.5):
                cells = []
                for n in sets:
                    refused = [(s + weight * ty < t or sup < floor) for s, sup, _, ty in rows[n]]
                    ans = [r for r, (_, _, a, _) in zip(refused, rows[n], strict=True) if a]
                    un = [r for r, (_, _, a, _) in zip(refused, rows[n], strict=True) if not a]
                    cells.append(" / ".join(f"{np.mean(x):.3f}" if x else "–" for x in (un, ans)))
                print(f"| {weight:.0f} | {floor:.2f} | {t:.1f} | " + " | ".join(cells) + " |")
    return {"rows": {n: rows[n] for n in sets}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--part", choices=["alone", "e2e", "sweep", "all"], default="all")
    parser.add_argument("--set", action="append", choices=sorted(SETS),
                        help="sets for e2e/sweep (default: squad-v2, realtimeqa, realtimeqa-unanswerable, seed)")
    parser.add_argument("--work", type=Path, default=Path("/tmp/citewire-bench-reader"))
    parser.add_argument("--limit", type=int, help="only the first N questions of each set")
    parser.add_argument("--json", type=Path, help="also write every figure here")
    args = parser.parse_args()
    sets = args.set or ["seed", "squad-v2", "realtimeqa", "realtimeqa-unanswerable"]
    args.work.mkdir(parents=True, exist_ok=True)
    log(f"bench/reader.py at commit {commit()}")
    results: dict[str, Any] = {"commit": commit(), "date": time.strftime("%Y-%m-%d")}
    if args.part in ("alone", "all"):
        results["alone"] = part_alone(args.limit)
    if args.part in ("e2e", "all"):
        results["e2e"] = part_e2e(sets, args.work, args.limit)
    if args.part in ("sweep",):
        results["sweep"] = part_sweep(sets, args.work, args.limit)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2, default=str))


if __name__ == "__main__":
    main()
