"""The reader benchmark: the reader alone on SQuAD 2.0 paragraphs, then end to end against the alternatives.

    .venv/bin/python bench/reader.py                       # both parts, every set
    .venv/bin/python bench/reader.py --part alone          # the reader on each question's own paragraph
    .venv/bin/python bench/reader.py --part e2e --set squad-v2 --set realtimeqa-unanswerable
    .venv/bin/python bench/reader.py --part sweep          # refusal calibration of the reader margin
    .venv/bin/python bench/reader.py --sample 600          # at most 600 questions a set, spread over it
    CITEWIRE_READER_DIR=~/.cache/citewire/reader-run .venv/bin/python bench/reader.py   # a trained candidate

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
    from rag.reader_training.evaluate import dev_metrics, dev_set
    from rag.reader_training.recipe import DEFAULT_DEV
    from rag.settings import Settings

    dev = dev_set(DEFAULT_DEV, limit or 0)
    reader = shipped_reader(Settings().reader_dir)  # CITEWIRE_READER_DIR: a candidate reader
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

    return Settings(store_dir=work / name / "citewire", collection="bench")  # bench/retrieval.py's store too


def ensure_store(name: str, work: Path) -> Any:
    """The set's store, ingested once (the unanswerable news corpus derived from the full one)."""
    from ingest import ingest_paths
    from rag.store import Store

    settings = store_settings(name, work)
    _, corpus = SETS[name]
    done = work / name / "citewire.done"
    if done.exists():
        return settings
    if name == "realtimeqa-unanswerable":
        full = ensure_store("realtimeqa", work)
        shutil.rmtree(settings.store_dir, ignore_errors=True)
        shutil.copytree(full.store_dir, settings.store_dir, ignore=shutil.ignore_patterns(".citewire.lock"))
        keep = {json.loads(line)["id"] for line in corpus.read_text().splitlines() if line.strip()}
        with Store.open(settings) as store:
            gone = [d.doc_id for d in store.list_documents() if d.doc_id not in keep]
            for doc_id in gone:
                store.remove(doc_id)
        log(f"{name}: copied the realtimeqa store and removed {len(gone)} articles")
    else:
        log(f"{name}: ingesting {corpus}")
        settings.store_dir.parent.mkdir(parents=True, exist_ok=True)
        ingest_paths([corpus], settings, progress=True)
    done.write_text("ok")
    return settings


def questions_of(name: str, limit: int | None, sample: int | None) -> list[Any]:
    """The set's questions: the first ``limit``, or ``sample`` of them taken every len/N-th.

    A spread sample keeps every article of a set in it (SQuAD's file is ordered by article, so
    its first N questions would all be about one or two of them).
    """
    from eval.questions import load_questions

    questions = load_questions(SETS[name][0], limit)
    if sample and len(questions) > sample:
        step = len(questions) / sample
        questions = [questions[int(i * step)] for i in range(sample)]
    return questions


# ---------------------------------------------------------------------------- e2e
def part_e2e(sets: list[str], work: Path, limit: int | None, sample: int | None = None,
             systems: list[str] | None = None) -> dict[str, Any]:
    from eval.runner import run
    from rag.engine import Engine

    out: dict[str, Any] = {}
    for name in sets:
        settings = ensure_store(name, work)
        questions = questions_of(name, limit, sample)
        print(f"\n{name} ({len(questions)} questions)\n")
        print("| system | accuracy | span EM | span F1 | F1 answerable | refusal recall | false refusals | "
              "citation support | p50 ms | p95 ms |")
        print("|---|---|---|---|---|---|---|---|---|---|")
        with Engine.open(settings) as engine:
            for system, (mode, retriever) in SYSTEMS.items():
                if systems and system not in systems:
                    continue
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
def part_sweep(sets: list[str], work: Path, limit: int | None, sample: int | None = None) -> dict[str, Any]:
    """Read every question once, keep every candidate span's scores; then simulate the refusal rule.

    Per question: the evidence of its best sentence (``support``, for the floor) and, per read
    passage, the reader's span with its answerability, the answer-type vote and the evidence of the
    sentence holding it. Each setting of (type weight, sentence weight, floor, margin) then picks
    the best span and refuses or not exactly as :class:`rag.answer.reader.ReaderAnswerer` does.
    """
    from eval.metrics import contains_answer
    from rag.engine import Engine
    from rag.query import Query

    data: dict[str, list[dict[str, Any]]] = {}
    for name in sets:
        settings = ensure_store(name, work)
        data[name] = []
        with Engine.open(settings) as engine:
            answerer = engine.answerer("reader")
            for q in questions_of(name, limit, sample):
                retrieval = engine.retrieval(Query(q.question, as_of=q.date))
                from rag.answer.citations import support_of

                support, _ = support_of(retrieval.scorer, retrieval.ranked)
                cands = [(f.prediction.answerability, f.kind, f.evidence,
                          bool(q.answers) and contains_answer(f.prediction.text, q.answers))
                         for f in answerer.read(retrieval)]
                data[name].append({"support": support, "answerable": q.answerable, "cands": cands})
        log(f"{name}: {len(data[name])} questions read")

    def simulate(rows: list[dict[str, Any]], tw: float, sw: float, floor: float, margin: float) -> dict[str, float]:
        refused, correct, answerable = [], [], []
        for r in rows:
            best = max(r["cands"], key=lambda c: c[0] + tw * c[1] + sw * c[2], default=None)
            no = r["support"] < floor or best is None or best[0] + tw * best[1] + sw * best[2] < margin
            refused.append(no)
            answerable.append(r["answerable"])
            correct.append(bool(not no and best and best[3]))
        ans = [i for i, a in enumerate(answerable) if a]
        un = [i for i, a in enumerate(answerable) if not a]
        return {"recall": float(np.mean([refused[i] for i in un])) if un else float("nan"),
                "false": float(np.mean([refused[i] for i in ans])) if ans else float("nan"),
                "accuracy": float(np.mean([correct[i] for i in ans])) if ans else float("nan")}

    answerable_sets = [n for n in sets if any(r["answerable"] for r in data[n])]
    results = []
    for tw in (0.0, 0.5, 1.0, 2.0):
        for sw in (0.0, 2.0, 4.0, 8.0):
            for floor in (0.30, 0.35, 0.40, 0.45, 0.50, 0.55, 0.60):
                for margin in np.arange(-8.0, 4.01, 0.25):
                    m = {n: simulate(data[n], tw, sw, floor, float(margin)) for n in sets}
                    ok = all(m[n]["false"] <= 0.10 for n in answerable_sets)
                    recalls = [m[n]["recall"] for n in sets if not np.isnan(m[n]["recall"])]
                    accs = [m[n]["accuracy"] for n in answerable_sets]
                    score = float(np.mean(recalls)) + float(np.mean(accs))
                    results.append((ok, score, tw, sw, floor, float(margin), m))
    results.sort(key=lambda r: (r[0], r[1]), reverse=True)
    print("\nbest settings (false refusals ≤ 0.10 on every answerable set), per set: "
          "refusal recall / false refusals / accuracy\n")
    print("| type w | sentence w | floor | margin | " + " | ".join(sets) + " |")
    print("|---|---|---|---|" + "---|" * len(sets))
    for ok, _, tw, sw, floor, margin, m in results[:12]:
        cells = [" / ".join("–" if np.isnan(m[n][k]) else f"{m[n][k]:.3f}" for k in ("recall", "false", "accuracy"))
                 for n in sets]
        print(f"| {tw:g} | {sw:g} | {floor:.2f} | {margin:.2f} | " + " | ".join(cells) + (" |" if ok else " | ✗"))
    print("\nwhat each signal adds: the best setting for each pair of weights\n")
    print("| type w | sentence w | floor | margin | " + " | ".join(sets) + " |")
    print("|---|---|---|---|" + "---|" * len(sets))
    shown: set[tuple[float, float]] = set()
    for ok, _, tw, sw, floor, margin, m in results:
        if (tw, sw) in shown or not ok:
            continue
        shown.add((tw, sw))
        cells = [" / ".join("–" if np.isnan(m[n][k]) else f"{m[n][k]:.3f}" for k in ("recall", "false", "accuracy"))
                 for n in sets]
        print(f"| {tw:g} | {sw:g} | {floor:.2f} | {margin:.2f} | " + " | ".join(cells) + " |")
    ok, _, tw, sw, floor, _, _ = results[0]
    print(f"\nthe margin sweep at type weight {tw:g}, sentence weight {sw:g}, floor {floor:.2f}:\n")
    print("| margin | " + " | ".join(sets) + " |")
    print("|---|" + "---|" * len(sets))
    for margin in np.arange(-8.0, 4.01, 1.0):
        m = {n: simulate(data[n], tw, sw, floor, float(margin)) for n in sets}
        cells = [" / ".join("–" if np.isnan(m[n][k]) else f"{m[n][k]:.3f}" for k in ("recall", "false", "accuracy"))
                 for n in sets]
        print(f"| {margin:.2f} | " + " | ".join(cells) + " |")
    return {"best": results[0][2:6], "data": data}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--part", choices=["alone", "e2e", "sweep", "all"], default="all")
    parser.add_argument("--set", action="append", choices=sorted(SETS),
                        help="sets for e2e/sweep (default: squad-v2, realtimeqa, realtimeqa-unanswerable, seed)")
    parser.add_argument("--work", type=Path, default=Path("/tmp/citewire-bench"))
    parser.add_argument("--limit", type=int, help="only the first N questions of each set")
    parser.add_argument("--sample", type=int, help="at most N questions of each set, spread over it (e2e, sweep)")
    parser.add_argument("--system", action="append", choices=sorted(SYSTEMS),
                        help="e2e: only these systems (default: all three)")
    parser.add_argument("--json", type=Path, help="also write every figure here")
    args = parser.parse_args()
    sets = args.set or ["seed", "squad-v2", "realtimeqa", "realtimeqa-unanswerable"]
    args.work.mkdir(parents=True, exist_ok=True)
    log(f"bench/reader.py at commit {commit()}")
    results: dict[str, Any] = {"commit": commit(), "date": time.strftime("%Y-%m-%d")}
    if args.part in ("alone", "all"):
        results["alone"] = part_alone(args.limit)
    if args.part in ("e2e", "all"):
        results["e2e"] = part_e2e(sets, args.work, args.limit, args.sample, args.system)
    if args.part in ("sweep",):
        results["sweep"] = part_sweep(sets, args.work, args.limit, args.sample)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2, default=str))


if __name__ == "__main__":
    main()
