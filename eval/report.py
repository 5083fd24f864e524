"""Writing a run to disk: results.jsonl, report.json, report.md, PNG plots and (with a baseline) compare.json."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from eval.compare import compare as compare_reports
from eval.compare import load_report
from eval.compare import to_markdown as comparison_markdown
from eval.errors import EvalError
from eval.scoring import SECTIONS, STAGES

DEFINITIONS = """\
## How the metrics are defined

Answers are compared after SQuAD-style normalisation: lowercase, accents stripped, digit-group
separators dropped (`10,000` = `10000`), other punctuation and symbols turned into spaces, the
articles *a/an/the* removed, whitespace collapsed, number words up to twenty and the round tens as
digits (`six` = `6`), the same for every system. "Contains" means an accepted answer occurs in the
text as whole normalised tokens. Each metric is a mean over the questions eligible for it; a metric
with no eligible question is `null`.

**Retrieval** (questions with gold `doc_ids`). Per question the engine ranks 10 passages
(`engine.retrieve(question, top_k=10)` with the same retriever and `as_of`; the answer's own
passages when it already has 10 — the engine's ranking for a smaller `top_k` is a prefix of this
one). Their document ids, de-duplicated in rank order, are the *ranked documents*.
- *recall@k*: share of questions with **any** gold document among the first k ranked documents.
- *mrr*: mean of 1/rank of the first gold document (0 when none is among the ranked documents).
- *ndcg@10*: binary relevance, Σ 1/log2(i+1) over gold documents at ranks i ≤ 10, divided by the
  same sum for an ideal ranking (all gold documents first).

**Answer** (answerable questions: non-empty `answers`; a refusal scores 0 on both).
- *accuracy*: share whose answer text (citation markers such as `[1]` removed) contains an
  accepted answer.
- *f1*: SQuAD token F1 between the answer text and the best-matching accepted answer (long
  extractive answers pay in precision, so F1 stays well below accuracy).
- *span_em*, *span_f1* (every question): SQuAD 2.0's exact match and F1 of the answer's span
  (`answer_span.text`; the answer text when there is no span), official SQuAD normalisation plus
  number words, best over the accepted answers. A refusal scores 1 on an unanswerable question
  and 0 on an answerable one; an answer to an unanswerable question scores 0.
- *has_answer_f1*: *span_f1* over the answerable questions only.

**Citation** (answerable questions the engine answered rather than refused).
- *precision*: per answer, the share of its citations whose **quote** contains an accepted
  answer; averaged over answers (0 for an answer without citations). `citation_passage_precision`
  (extra key) is the same with the whole **passage** each citation quotes from.
- *support*: share of answers whose cited quotes, read together, contain an accepted answer.

**Refusal**. *recall*: share of unanswerable questions (empty `answers`) that the engine refused.
*false_rate*: share of answerable questions that it refused. *no_answer_accuracy*: share of all
questions where the choice between answering and refusing was right.

**Latency**: wall time of `engine.ask` per question (one untimed warm-up retrieval before the
first), p50/p95 with linear interpolation, and the maximum. `stages_ms` splits it by
`Answer.timings`. `ingest_s` is the ingest's wall time (a no-op when the index was already there).
"""


def _fmt(value: object) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def render_markdown(report: dict[str, Any], rows: list[dict[str, Any]], comparison_md: str = "") -> str:
    lines = ["# citewire evaluation", ""]
    details = [(k, report[k]) for k in ("questions_file", "corpus", "store", "retriever", "top_k", "mode",
                                          "ingest_s", "ingest", "created", "commit") if report.get(k) is not None]
    lines += [f"- **{k}**: {_fmt(v) if not isinstance(v, dict) else json.dumps(v)}" for k, v in details]
    counts = report.get("counts", {})
    lines += [f"- **questions**: {report['n']} ({counts.get('answerable', '?')} answerable, "
              f"{counts.get('unanswerable', '?')} unanswerable, {counts.get('errors', 0)} errors)", ""]
    lines += ["## Results", "", "| section | metric | value |", "|---|---|---:|"]
    for section, metrics in SECTIONS.items():
        lines += [f"| {section} | {m} | {_fmt(report[section].get(m))} |" for m in metrics]
        if section == "citation":
            lines.append(f"| citation | passage precision (extra) | {_fmt(report.get('citation_passage_precision'))} |")
    lines.append("")
    stages = report.get("stages_ms", {})
    if stages:
        lines += ["| stage | p50 ms | p95 ms |", "|---|---:|---:|"]
        lines += [f"| {s} | {_fmt(stages[s]['p50'])} | {_fmt(stages[s]['p95'])} |" for s in STAGES if s in stages]
        lines.append("")
    lines += ["![metrics](metrics.png)", "![recall@k](recall_at_k.png)", "![latency](latency.png)",
              "![stages](stages.png)", ""]
    if comparison_md:
        lines += [comparison_md]
    lines += [_misses(rows), DEFINITIONS]
    return "\n".join(lines)


def _misses(rows: list[dict[str, Any]], limit: int = 15) -> str:
    """Ids of the questions that went wrong, by kind (the first ``limit`` of each)."""
    kinds = {
        "gold document not in the top 5": lambda s: s.get("recall@5") == 0.0,
        "answer does not contain an accepted answer": lambda s: s.get("accuracy") == 0.0 and not s.get("false_refusal"),
        "refused although answerable": lambda s: s.get("false_refusal") == 1.0,
        "answered although unanswerable": lambda s: s.get("refused_correctly") == 0.0,
    }
    lines = ["## Misses", ""]
    for label, test in kinds.items():
        ids = [r["id"] for r in rows if not r.get("error") and test(r["scores"])]
        more = f" … and {len(ids) - limit} more" if len(ids) > limit else ""
        lines.append(f"- {label} ({len(ids)}): {', '.join(ids[:limit]) or 'none'}{more}")
    errors = [f"{r['id']} ({r['error']})" for r in rows if r.get("error")]
    if errors:
        lines.append(f"- engine errors ({len(errors)}): {'; '.join(errors[:limit])}")
    return "\n".join(lines) + "\n"


def write_report(
    rows: list[dict[str, Any]],
    data: dict[str, Any],
    out: Path,
    compare: dict[str, Any] | str | Path | None = None,
    compare_label: str | None = None,
) -> dict[str, Path]:
    """Write every output of a run into ``out`` (created if needed); returns name → path.

    ``rows`` are the per-question results (``QuestionResult.to_dict()``), ``data`` the report.json
    object: plain data, so this module needs nothing of the runner's.
    """
    from eval.plots import write_plots

    if out.exists() and not out.is_dir():
        raise EvalError(f"--out {out} is a file, not a directory")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise EvalError(f"cannot create output directory {out}: {exc.strerror or exc}") from None
    paths: dict[str, Path] = {}

    paths["results"] = out / "results.jsonl"
    with paths["results"].open("w", encoding="utf-8") as fh:
        for row in rows:
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")

    comparison_md = ""
    if compare is not None:
        label = compare_label or (str(compare) if not isinstance(compare, dict) else "the earlier report")
        old = compare if isinstance(compare, dict) else load_report(compare)
        comparison = compare_reports(old, data)
        paths["compare"] = out / "compare.json"
        paths["compare"].write_text(json.dumps({"against": label, **comparison}, indent=2) + "\n", encoding="utf-8")
        comparison_md = comparison_markdown(comparison, label)

    paths["report"] = out / "report.json"
    paths["report"].write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    paths.update(write_plots(rows, data, out))
    paths["markdown"] = out / "report.md"
    paths["markdown"].write_text(render_markdown(data, rows, comparison_md), encoding="utf-8")
    return paths
