"""Per-question scoring, aggregation into report.json, the written files and --compare deltas.

The answers are built by hand (the shapes :meth:`rag.engine.Engine.ask` returns), so every
number below is computed on paper; the engine end to end is covered by test_eval_cli.py.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from eval.compare import compare, load_report
from eval.errors import EvalError
from eval.metrics import strip_citation_markers
from eval.questions import Question
from eval.runner import QuestionResult, Report
from eval.scoring import score_question, summarize
from rag.types import Answer, AnswerSpan, Citation, Passage

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
REFUSAL = "The corpus does not say. The closest passages I found are listed below."


def _passage(chunk_id: str, doc_id: str, text: str = "filler text") -> Passage:
    return Passage(chunk_id=chunk_id, doc_id=doc_id, title=doc_id, text=text, start=0, end=len(text), score=0.5)


def _citation(n: int, quote: str, chunk_id: str, doc_id: str = "a") -> Citation:
    return Citation(n=n, doc_id=doc_id, title=doc_id, quote=quote, start=0, end=len(quote), score=0.9,
                    chunk_id=chunk_id)


def _result(question: Question, answer: Answer, latency_ms: float) -> QuestionResult:
    retrieved = list(dict.fromkeys(p.doc_id for p in answer.passages))
    return QuestionResult(question, answer, retrieved, score_question(question, answer, retrieved), latency_ms)


def _results() -> list[QuestionResult]:
    q1 = Question("q1", "Who spoke for NATO?", ["Mark Rutte"], ["a"])
    a1 = Answer(
        question=q1.question,
        text="NATO chief Mark Rutte said so. [1] Troops moved. [2]",
        citations=[_citation(1, "NATO chief Mark Rutte said so.", "p2"), _citation(2, "Troops moved.", "p3")],
        passages=[_passage("p1", "b"), _passage("p2", "a", "Before that, NATO chief Mark Rutte said so."),
                  _passage("p3", "a", "Troops moved north."), _passage("p4", "c")],
        timings={"embed_ms": 10.0, "total_ms": 100.0},
        answer_span=AnswerSpan("Mark Rutte", "a", 11, 21, 3.0, citation=1, chunk_id="p2"),
    )
    q2 = Question("q2", "How many?", ["10,000"], ["d"])
    a2 = Answer(question=q2.question, text=REFUSAL, refused=True, passages=[_passage("p5", "a"), _passage("p6", "b")],
                timings={"embed_ms": 20.0, "total_ms": 200.0})
    q3 = Question("q3", "Population of Pyongyang?", [], [])
    a3 = Answer(question=q3.question, text=REFUSAL, refused=True, passages=[_passage("p1", "b")])
    q4 = Question("q4", "Who won the 2018 World Cup?", [], [])
    a4 = Answer(question=q4.question, text="France won. [1]", citations=[_citation(1, "France won.", "p1", "b")],
                passages=[_passage("p1", "b", "France won.")])
    return [_result(q1, a1, 100.0), _result(q2, a2, 200.0), _result(q3, a3, 300.0), _result(q4, a4, 400.0)]


def test_strip_citation_markers() -> None:
    assert strip_citation_markers("Rutte said so. [1] Troops moved [2, 3].") == "Rutte said so. Troops moved."


def test_per_question_scores() -> None:
    r1, r2, r3, r4 = (r.scores for r in _results())
    # q1: ranked documents b, a, c; gold a at rank 2
    assert (r1["recall@1"], r1["recall@2"], r1["recall@5"], r1["rr"]) == (0.0, 1.0, 1.0, 0.5)
    assert r1["ndcg@10"] == pytest.approx(1 / math.log2(3))
    assert r1["accuracy"] == 1.0
    # prediction "nato chief mark rutte said so troops moved" (8 tokens, markers removed) vs "mark rutte"
    assert r1["f1"] == pytest.approx(2 * (2 / 8) * 1 / (2 / 8 + 1))
    assert r1["citation_precision"] == 0.5  # one of two quotes holds the answer
    assert r1["citation_passage_precision"] == 0.5  # p2's passage does, p3's does not
    assert r1["supported"] == 1.0 and r1["false_refusal"] == 0.0 and r1["refused_correctly"] is None
    assert (r1["span_em"], r1["span_f1"], r1["has_answer_f1"], r1["no_answer_correct"]) == (1.0, 1.0, 1.0, 1.0)
    # q2: answerable, gold d never retrieved, refused
    assert (r2["recall@10"], r2["rr"], r2["ndcg@10"]) == (0.0, 0.0, 0.0)
    assert (r2["accuracy"], r2["f1"], r2["false_refusal"]) == (0.0, 0.0, 1.0)
    assert r2["citation_precision"] is None and r2["supported"] is None
    assert (r2["span_em"], r2["span_f1"], r2["has_answer_f1"], r2["no_answer_correct"]) == (0.0, 0.0, 0.0, 0.0)
    # q3/q4: unanswerable: only refusal counts
    assert r3["refused_correctly"] == 1.0 and r4["refused_correctly"] == 0.0
    # a refusal of an unanswerable question is a perfect span; an answer to one (no span: its text) is 0
    assert (r3["span_em"], r3["span_f1"], r3["has_answer_f1"], r3["no_answer_correct"]) == (1.0, 1.0, None, 1.0)
    assert (r4["span_em"], r4["span_f1"], r4["has_answer_f1"], r4["no_answer_correct"]) == (0.0, 0.0, None, 0.0)
    for s in (r3, r4):
        assert s["recall@5"] is None and s["accuracy"] is None and s["supported"] is None and s["false_refusal"] is None


def test_summary_hand_computed() -> None:
    s = summarize([r.to_dict() for r in _results()])
    assert s["n"] == 4
    assert s["retrieval"] == {"recall@1": 0.0, "recall@5": 0.5, "recall@10": 0.5, "mrr": 0.25,
                              "ndcg@10": round(1 / math.log2(3) / 2, 4)}
    assert s["answer"] == {"accuracy": 0.5, "f1": 0.2,  # f1: (0.4 + 0) / 2
                           "span_em": 0.5, "span_f1": 0.5, "has_answer_f1": 0.5}
    assert s["citation"] == {"precision": 0.5, "support": 1.0}  # only q1 was answered
    assert s["refusal"] == {"recall": 0.5, "false_rate": 0.5, "no_answer_accuracy": 0.5}
    assert s["latency_ms"] == {"p50": 250.0, "p95": 385.0, "max": 400.0}
    assert s["counts"] == {"answerable": 2, "unanswerable": 2, "with_gold_docs": 2, "answered": 1, "errors": 0}
    assert s["stages_ms"]["embed_ms"] == {"p50": 15.0, "p95": 19.5}


def test_metrics_without_eligible_questions_are_null_and_errors_are_counted() -> None:
    results = _results()[2:]
    results.append(QuestionResult(Question("q5", "x" * 5000), None, [], {}, 0.0, error="the question is too long"))
    s = summarize([r.to_dict() for r in results])
    assert s["n"] == 3 and s["counts"]["errors"] == 1
    assert all(v is None for v in s["retrieval"].values())
    assert s["answer"] == {"accuracy": None, "f1": None, "span_em": 0.5, "span_f1": 0.5, "has_answer_f1": None}
    assert s["citation"] == {"precision": None, "support": None}
    assert s["refusal"] == {"recall": 0.5, "false_rate": None, "no_answer_accuracy": 0.5}


def test_write_report_files_and_compare(tmp_path: Path) -> None:
    report = Report(_results(), {"retriever": "default", "top_k": 5})
    old = json.loads(json.dumps(report.to_dict()))
    old["retrieval"]["recall@5"] = 0.25
    old["latency_ms"]["p50"] = 200.0
    old["answer"]["f1"] = None
    paths = report.write(tmp_path / "out", compare=old, compare_label="old/report.json")

    out = tmp_path / "out"
    for name in ("results.jsonl", "report.json", "report.md", "compare.json"):
        assert (out / name).is_file(), name
    pngs = sorted(out.glob("*.png"))
    assert {p.name for p in pngs} >= {"latency.png", "recall_at_k.png", "metrics.png"}
    for png in pngs:
        assert png.read_bytes()[:8] == PNG_SIGNATURE
    assert set(paths) >= {"results", "report", "markdown", "compare", "latency", "recall", "metrics"}

    data = json.loads((out / "report.json").read_text())
    assert list(data)[:6] == ["n", "retrieval", "answer", "citation", "refusal", "latency_ms"]
    assert data["retriever"] == "default"

    rows = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    assert [r["id"] for r in rows] == ["q1", "q2", "q3", "q4"]
    assert rows[0]["retrieved_doc_ids"] == ["b", "a", "c"]
    assert rows[0]["citations"][0]["quote"] == "NATO chief Mark Rutte said so."
    assert rows[1]["refused"] is True and rows[0]["latency_ms"] == 100.0
    assert {"id", "question", "answer", "citations", "refused", "retrieved_doc_ids", "scores", "latency_ms"} <= set(
        rows[0]
    )

    comp = json.loads((out / "compare.json").read_text())
    assert comp["against"] == "old/report.json"
    assert comp["retrieval"]["recall@5"] == {"old": 0.25, "new": 0.5, "delta": 0.25}
    assert comp["latency_ms"]["p50"] == {"old": 200.0, "new": 250.0, "delta": 50.0}
    assert comp["answer"]["f1"] == {"old": None, "new": 0.2, "delta": None}
    assert comp["n"]["delta"] == 0
    md = (out / "report.md").read_text()
    assert "## Compared with old/report.json" in md
    assert "| retrieval.recall@5 | 0.25 | 0.5 | +0.25 |" in md
    assert "## How the metrics are defined" in md and "recall@k" in md
    assert "refused although answerable (1): q2" in md


def test_compare_is_zero_against_itself() -> None:
    data = Report(_results()).to_dict()
    deltas = compare(data, data)
    assert all(m["delta"] in (0, None) for section in deltas.values() for m in
               (section.values() if "delta" not in section else [section]))


def test_load_report_errors(tmp_path: Path) -> None:
    with pytest.raises(EvalError, match="no such report"):
        load_report(tmp_path / "nope.json")
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(EvalError, match="not a JSON report"):
        load_report(bad)
    bad.write_text('{"n": 3}')
    with pytest.raises(EvalError, match="not a citewire eval report"):
        load_report(bad)
    good = tmp_path / "run"
    good.mkdir()
    (good / "report.json").write_text(json.dumps(Report(_results()).to_dict()))
    assert load_report(good)["n"] == 4  # a run's directory works too


def test_out_must_not_be_a_file(tmp_path: Path) -> None:
    (tmp_path / "out").write_text("")
    with pytest.raises(EvalError, match="is a file"):
        Report(_results()).write(tmp_path / "out")
