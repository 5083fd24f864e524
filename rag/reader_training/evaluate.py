"""SQuAD 2.0 metrics of an exported reader on the dev questions, each read against its own paragraph."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np


def load_jsonl(path: Path) -> list[dict]:
    with path.open(encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def dev_set(folder: Path, limit: int = 0) -> list[dict]:
    """Dev questions with their own paragraph.

    Answerable questions name their paragraph; an unanswerable one was written against the
    paragraph of the answerable questions just before it (the file keeps SQuAD's order).
    """
    corpus = {d["id"]: d["text"] for d in load_jsonl(folder / "corpus.jsonl")}
    out, last = [], None
    for q in load_jsonl(folder / "questions.jsonl"):
        if q["doc_ids"]:
            last = q["doc_ids"][0]
        if last is None:
            continue
        out.append({**q, "context": corpus[last], "doc_id": last})
    return out[:limit] if limit else out


def dev_metrics(reader: Any, dev: list[dict], threshold: float = 0.0) -> dict[str, float]:
    """SQuAD 2.0 metrics of a :class:`rag.reader.model.Reader` on each question's own paragraph.

    A question is answered when its best span's answerability beats ``threshold`` (and at the
    threshold that maximises overall F1, reported as ``best_*``).
    """
    from rag.matching import best_over, exact_match

    preds, scores, parts = [], [], []
    for q in dev:
        spans = reader.read(q["question"], [q["context"]])[0]
        pred = spans[0] if spans else None
        preds.append(pred.text if pred else "")
        scores.append(pred.answerability if pred else -1e9)
        parts.append((pred.margin, pred.answerable_logit) if pred else (-1e9, -1e9))
    answerable = [bool(q["answers"]) for q in dev]

    def at(t: float, only: bool | None = None) -> tuple[float, float]:
        f1s, ems = [], []
        for q, text, score, a in zip(dev, preds, scores, answerable, strict=True):
            if only is not None and a != only:
                continue
            said = text if score > t else ""
            f1s.append(best_over(said, q["answers"]))
            ems.append(best_over(said, q["answers"], exact_match))
        return 100 * float(np.mean(f1s)) if f1s else float("nan"), 100 * float(np.mean(ems)) if ems else float("nan")

    has = [(best_over(t, q["answers"]), best_over(t, q["answers"], exact_match))
           for q, t, a in zip(dev, preds, answerable, strict=True) if a]
    thresholds = sorted(set(np.quantile(scores, np.linspace(0.02, 0.98, 49)).tolist()))
    best_t = max(thresholds, key=lambda t: at(t)[0])
    f1_t, em_t = at(threshold)
    has_f1_t, has_em_t = at(threshold, only=True)
    no_t, _ = at(threshold, only=False)
    f1_b, em_b = at(best_t)
    return {
        "questions": len(dev),
        "answerable": sum(answerable),
        "unanswerable": len(dev) - sum(answerable),
        "has_answer_f1": 100 * float(np.mean([f for f, _ in has])) if has else float("nan"),
        "has_answer_em": 100 * float(np.mean([e for _, e in has])) if has else float("nan"),
        "threshold": threshold,
        "f1_at_t": f1_t,
        "em_at_t": em_t,
        "has_f1_at_t": has_f1_t,
        "has_em_at_t": has_em_t,
        "no_answer_at_t": no_t,
        "best_f1": f1_b,
        "best_em": em_b,
        "best_threshold": best_t,
        "answerability_auroc": _auroc(scores, answerable),
        "margin_auroc": _auroc([m for m, _ in parts], answerable),
        "head_auroc": _auroc([h for _, h in parts], answerable),
    }


def _auroc(scores: list[float], positive: list[bool]) -> float:
    """Probability that an answerable question outscores an unanswerable one."""
    pos = np.array([s for s, p in zip(scores, positive, strict=True) if p])
    neg = np.array([s for s, p in zip(scores, positive, strict=True) if not p])
    if not len(pos) or not len(neg):
        return float("nan")
    return float((pos[:, None] > neg[None, :]).mean() + 0.5 * (pos[:, None] == neg[None, :]).mean())


