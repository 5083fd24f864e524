"""``citewire eval`` and ``eval.run`` end to end: the real model, embedded Chroma, the bundled sample."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SEED = ROOT.parent / "shared" / "eval" / "seed-dev.jsonl"
SAMPLE = ROOT / "data" / "sample"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

pytestmark = pytest.mark.skipif(not SEED.exists(), reason="../shared is not checked out")


def _old_report(path: Path) -> Path:
    """An earlier report with known numbers, so the deltas below are known."""
    path.write_text(json.dumps({
        "n": 6,
        "retrieval": {"recall@1": 0.5, "recall@5": 0.75, "recall@10": 0.75, "mrr": 0.6, "ndcg@10": 0.6},
        "answer": {"accuracy": 0.5, "f1": None},
        "citation": {"precision": 0.5, "support": 0.5},
        "refusal": {"recall": 0.0, "false_rate": 0.25},
        "latency_ms": {"p50": 1.0, "p95": 2.0, "max": 3.0},
    }))
    return path


def test_cli_eval_on_the_seed_set(tmp_path: Path, citewire_cmd: list[str]) -> None:
    out = tmp_path / "out"
    cache = tmp_path / "cache"
    old = _old_report(tmp_path / "old.json")
    env = {**os.environ, "XDG_CACHE_HOME": str(cache), "XDG_DATA_HOME": str(tmp_path / "data")}
    got = subprocess.run(
        [*citewire_cmd, "eval", str(SEED), "--corpus", str(SAMPLE), "--out", str(out), "--compare", str(old)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600,
    )
    assert got.returncode == 0, got.stderr[-3000:]

    report = json.loads((out / "report.json").read_text())
    assert report["n"] == 6
    assert report["retrieval"]["recall@5"] == 1.0  # the one-article corpus holds every answer
    assert set(report["retrieval"]) == {"recall@1", "recall@5", "recall@10", "mrr", "ndcg@10"}
    assert set(report["answer"]) == {"accuracy", "f1", "span_em", "span_f1", "has_answer_f1"}
    assert set(report["citation"]) == {"precision", "support"}
    assert set(report["refusal"]) == {"recall", "false_rate", "no_answer_accuracy"}
    assert report["refusal"]["recall"] is not None and report["refusal"]["false_rate"] is not None
    assert 0 < report["latency_ms"]["p50"] <= report["latency_ms"]["p95"] <= report["latency_ms"]["max"]
    assert report["counts"]["answerable"] == 4 and report["counts"]["unanswerable"] == 2
    assert report["ingest"]["added"] == 1 and report["ingest_s"] > 0

    # the corpus went into a store of its own under the cache dir, not the default store
    assert Path(report["store"]).is_relative_to(cache / "citewire" / "eval")
    assert not (tmp_path / "data" / "citewire").exists()

    rows = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    assert len(rows) == 6
    for row in rows:
        assert {"id", "question", "answer", "citations", "refused", "retrieved_doc_ids", "scores",
                "latency_ms"} <= set(row)
    answerable = [r for r in rows if r["gold_answers"]]
    assert all(r["retrieved_doc_ids"][0] == "north-korean-troops-ukraine.txt" for r in answerable)

    for name in ("report.md", "compare.json"):
        assert (out / name).is_file()
    pngs = list(out.glob("*.png"))
    assert len(pngs) >= 3
    assert all(p.read_bytes()[:8] == PNG_SIGNATURE and p.stat().st_size > 1000 for p in pngs)

    comp = json.loads((out / "compare.json").read_text())
    assert comp["retrieval"]["recall@5"]["delta"] == 0.25
    assert "retrieval.recall@5" in got.stdout and "recall@5 1.000" in got.stdout


def test_python_api_run(tmp_settings, ingestor, tmp_path: Path) -> None:
    import eval
    from rag.engine import Engine

    ingestor.ingest([SAMPLE], progress=False)
    questions = [q for q in eval.load_questions(SEED) if q.id in {"seed-02", "seed-03", "seed-06"}]
    engine = Engine(ingestor.store, tmp_settings, embedder=ingestor.embedder)
    report = eval.run(questions, engine, retriever="bm25")
    assert isinstance(report, eval.Report)
    data = report.to_dict()
    assert data["n"] == 3 and data["retriever"] == "bm25" and data["top_k"] == 5
    assert data["retrieval"]["recall@1"] == 1.0
    assert data["counts"] == {"answerable": 2, "unanswerable": 1, "with_gold_docs": 2,
                              "answered": data["counts"]["answered"], "errors": 0}
    paths = report.write(tmp_path / "api-out")
    assert paths["report"].is_file() and paths["results"].read_text().count("\n") == 3


def test_cli_errors_are_one_line_exit_2(tmp_path: Path, run_cli) -> None:
    got = run_cli("eval", SEED, "--corpus", tmp_path / "missing", "--out", tmp_path / "o", timeout=60)
    assert got.returncode == 2
    assert got.stderr.strip() == f"citewire: error: --corpus {tmp_path / 'missing'}: no such file or directory"
    got = run_cli("eval", SEED, "--compare", tmp_path / "nope.json", timeout=60)
    assert got.returncode == 2 and "no such report" in got.stderr and got.stderr.count("\n") == 1
    got = run_cli("eval", SEED, "--retriever", "magic", "--corpus", SAMPLE, timeout=60)
    assert got.returncode == 2 and got.stderr.count("\n") == 1
    assert "invalid choice: 'magic' (choose from 'default', 'hybrid', 'dense', 'bm25')" in got.stderr
