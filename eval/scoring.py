"""Per-question scores from an :class:`rag.Answer`, and their aggregation into report.json's shape.

Which questions count for what (``None`` = not eligible, left out of the mean):

* retrieval (recall@k, reciprocal rank, nDCG@10): questions with gold ``doc_ids``;
* answer (accuracy, F1) and refusal's false rate: answerable questions (non-empty ``answers``);
  a refusal scores 0 on accuracy and F1;
* citation precision and support: answerable questions the engine answered (did not refuse);
* refusal recall: unanswerable questions (empty ``answers``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from eval.metrics import (
    citation_precision,
    contains_answer,
    mean,
    ndcg_at_k,
    percentile,
    recall_at_k,
    reciprocal_rank,
    span_scores,
    strip_citation_markers,
    supported,
    token_f1,
)
from eval.questions import Question
from rag.types import Answer

RECALL_KS = (1, 5, 10)
CURVE_KS = tuple(range(1, 11))
NDCG_K = 10
SECTIONS = {
    "retrieval": ("recall@1", "recall@5", "recall@10", "mrr", "ndcg@10"),
    "answer": ("accuracy", "f1", "span_em", "span_f1", "has_answer_f1"),
    "citation": ("precision", "support"),
    "refusal": ("recall", "false_rate", "no_answer_accuracy"),
    "latency_ms": ("p50", "p95", "max"),
}
STAGES = ("embed_ms", "retrieve_ms", "rerank_ms", "answer_ms", "total_ms")


def cited_passage_texts(answer: Answer) -> list[str]:
    """The text of the passage each citation quotes from (the quote itself when that passage is not listed)."""
    by_chunk = {p.chunk_id: p.text for p in answer.passages}
    return [by_chunk.get(c.chunk_id, c.quote) for c in answer.citations]


def score_question(question: Question, answer: Answer, retrieved: Sequence[str]) -> dict[str, float | None]:
    """All per-question scores; ``retrieved`` is the ranked, document-level list of retrieved doc ids."""
    gold_docs, answers = question.doc_ids, question.answers
    scores: dict[str, float | None] = {}
    has_docs = bool(gold_docs)
    for k in CURVE_KS:
        scores[f"recall@{k}"] = recall_at_k(retrieved, gold_docs, k) if has_docs else None
    scores["rr"] = reciprocal_rank(retrieved, gold_docs) if has_docs else None
    scores[f"ndcg@{NDCG_K}"] = ndcg_at_k(retrieved, gold_docs, NDCG_K) if has_docs else None

    answerable, answered = question.answerable, question.answerable and not answer.refused
    quotes = [c.quote for c in answer.citations]
    text = strip_citation_markers(answer.text)
    scores["accuracy"] = (float(contains_answer(text, answers)) if answered else 0.0) if answerable else None
    scores["f1"] = (token_f1(text, answers) if answered else 0.0) if answerable else None
    scores["citation_precision"] = citation_precision(quotes, answers) if answered else None
    scores["citation_passage_precision"] = (
        citation_precision(cited_passage_texts(answer), answers) if answered else None
    )
    scores["supported"] = float(supported(quotes, answers)) if answered else None
    scores["refused_correctly"] = None if answerable else float(answer.refused)
    scores["false_refusal"] = float(answer.refused) if answerable else None
    # The span: the reader's exact words; an answer without one (sentence or LLM mode) is judged by its text.
    predicted = None if answer.refused else (answer.answer_span.text if answer.answer_span else text)
    scores["span_em"], scores["span_f1"] = span_scores(predicted, answers)
    scores["has_answer_f1"] = scores["span_f1"] if answerable else None
    scores["no_answer_correct"] = float(answer.refused != answerable)
    return scores


def _r(value: float | None, digits: int = 4) -> float | None:
    return None if value is None else round(value, digits)


def summarize(rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Aggregate per-question rows (``scores``, ``latency_ms``, ``timings``) into report.json's sections.

    Rows carrying an ``error`` (the engine rejected the question) are counted but not scored.
    """
    ok = [r for r in rows if not r.get("error")]

    def avg(key: str) -> float | None:
        return _r(mean(r["scores"].get(key) for r in ok))

    latencies = [r["latency_ms"] for r in ok]
    summary: dict[str, Any] = {
        "n": len(rows),
        "retrieval": {
            **{f"recall@{k}": avg(f"recall@{k}") for k in RECALL_KS},
            "mrr": avg("rr"),
            f"ndcg@{NDCG_K}": avg(f"ndcg@{NDCG_K}"),
        },
        "answer": {"accuracy": avg("accuracy"), "f1": avg("f1"), "span_em": avg("span_em"),
                   "span_f1": avg("span_f1"), "has_answer_f1": avg("has_answer_f1")},
        "citation": {"precision": avg("citation_precision"), "support": avg("supported")},
        "refusal": {"recall": avg("refused_correctly"), "false_rate": avg("false_refusal"),
                    "no_answer_accuracy": avg("no_answer_correct")},
        "latency_ms": {
            "p50": _r(percentile(latencies, 50), 1),
            "p95": _r(percentile(latencies, 95), 1),
            "max": _r(max(latencies), 1) if latencies else None,
        },
    }
    summary["recall_curve"] = {str(k): avg(f"recall@{k}") for k in CURVE_KS}
    summary["citation_passage_precision"] = avg("citation_passage_precision")
    summary["counts"] = {
        "answerable": sum(1 for r in ok if r["scores"].get("false_refusal") is not None),
        "unanswerable": sum(1 for r in ok if r["scores"].get("refused_correctly") is not None),
        "with_gold_docs": sum(1 for r in ok if r["scores"].get("rr") is not None),
        "answered": sum(1 for r in ok if r["scores"].get("supported") is not None),
        "errors": len(rows) - len(ok),
    }
    summary["stages_ms"] = {
        stage: {
            "p50": _r(percentile([r["timings"][stage] for r in ok if stage in r.get("timings", {})], 50), 1),
            "p95": _r(percentile([r["timings"][stage] for r in ok if stage in r.get("timings", {})], 95), 1),
        }
        for stage in STAGES
    }
    return summary
