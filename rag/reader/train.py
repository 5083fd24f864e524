"""Train citewire's extractive reader on SQuAD 2.0 data, from the packaged MiniLM, on a CPU.

    python -m rag.reader.train                      # the shipped recipe (make reader)
    python -m rag.reader.train --limit 64 --epochs 1 --out /tmp/r  # the code path in seconds

The reader is the packaged all-MiniLM-L6-v2 encoder with two small heads:

* a span head: start and end logits per token (``[CLS]``'s pair is SQuAD 2.0's "no answer");
* an answerability head: one logit from ``[CLS]`` trained to say whether this passage answers.

Besides each question's own paragraph, a share of the questions are also shown one of the
*other* paragraphs of their article that shares the most words with them, labelled "no answer":
"this passage is on topic but does not say" is what a reader in a RAG system meets most.

Everything is seeded; progress and metrics go to the log (and ``train.log`` in ``--out``).
At the end the model is evaluated on the dev questions with their own paragraphs, exported to
ONNX, quantised to int8, and the int8 graph is kept when its overall dev F1 is within one point
of the fp32 graph's (else fp16 weights, which read at half int8's speed). ``--install`` copies
the result next to the code (``rag/reader/model/``), where :mod:`rag.reader.model` loads it.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import random
import re
import shutil
import time
from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from rag.reader.card import render_card
from rag.reader.features import Window, WindowMaker, batch_arrays, token_span
from rag.text import content_terms

log = logging.getLogger("rag.reader.train")
# The schedule is fitted to the time budget from the speed of steps _WARM_STEPS.._PROBE_STEPS: the
# first steps run slower (allocator, caches) and, timed with the rest, cut the run to two thirds.
_WARM_STEPS = 10
_PROBE_STEPS = 60

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_TRAIN = ROOT.parent / "shared" / "train" / "squad-v2" / "train.jsonl"
DEFAULT_DEV = ROOT.parent / "shared" / "eval" / "squad-v2"


def cpu_has_bf16() -> bool:
    """Whether the CPU has bfloat16 instructions: autocast to bf16 is 1.4x faster with them, slower without."""
    try:
        flags = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return False
    return bool(re.search(r"\b(?:avx512_bf16|amx_bf16)\b", flags))


@dataclass
class Recipe:
    """Every choice that shapes the model; saved beside it and quoted in its card."""

    epochs: float = 2.3  # the most; a time budget may fit fewer
    lr: float = 1e-4
    batch: int = 16
    max_len: int = 384
    stride: int = 128
    warmup: float = 0.1
    weight_decay: float = 0.01
    hard_negatives: float = 0.5  # other-paragraph negatives per question per epoch
    na_weight: float = 0.5  # weight of the answerability head's loss
    freeze_embeddings: bool = True
    freeze_layers: int = 0  # lowest transformer layers kept as they are (no backward pass through them)
    init: str = "sentence"  # sentence: the packaged sentence-embedding MiniLM; random: same shape, no weights
    seed: int = 13
    compile: bool = False  # torch.compile: no steady gain on a 2-core AVX2 CPU, minutes of compiling
    bf16: bool = cpu_has_bf16()  # bfloat16 autocast for the forward pass, where the CPU has bf16 instructions
    limit: int = 0  # train on the first N questions only (tests, probes)
    time_budget_min: float = 85.0  # the schedule is fitted to this (0: no budget); eval and export follow
    extra: dict[str, str] = field(default_factory=dict)


@dataclass
class Example:
    window: Window
    start: int  # token index of the answer's first token; 0 (CLS) when the window does not answer
    end: int
    answerable: int


# ----------------------------------------------------------------------------- data
def load_jsonl(path: Path) -> list[dict]:
    with path.open(encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def examples_for(maker: WindowMaker, question: str, context: str, answer: dict | None) -> list[Example]:
    """All windows of one question against one paragraph, labelled."""
    out = []
    for w in maker.windows(question, [context]):
        span = None
        if answer is not None:
            span = token_span(w, answer["start"], answer["start"] + len(answer["text"]))
        if span is None:
            out.append(Example(w, 0, 0, 0))
        else:
            out.append(Example(w, span[0], span[1], 1))
    return out


def hard_negative_paragraphs(rows: list[dict], per_question: int = 3) -> dict[str, list[str]]:
    """For each question: the other paragraphs of its article sharing the most (rare) words with it.

    Paragraphs that contain any of the question's answers are never negatives.
    """
    by_title: dict[str, list[str]] = defaultdict(list)
    for r in rows:
        if r["context"] not in by_title[r["title"]]:
            by_title[r["title"]].append(r["context"])
    df: dict[str, int] = defaultdict(int)
    terms: dict[str, frozenset[str]] = {}
    for paragraphs in by_title.values():
        for p in paragraphs:
            terms[p] = frozenset(content_terms(p))
            for t in terms[p]:
                df[t] += 1
    n = len(terms)
    out: dict[str, list[str]] = {}
    for r in rows:
        q = set(content_terms(r["question"]))
        answers = [a["text"].lower() for a in r["answers"]]
        scored = []
        for p in by_title[r["title"]]:
            if p == r["context"] or any(a and a in p.lower() for a in answers):
                continue
            score = sum(math.log(n / df[t]) for t in q & terms[p])
            scored.append((score, p))
        scored.sort(key=lambda x: -x[0])
        out[r["id"]] = [p for s, p in scored[:per_question] if s > 0]
    return out


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


def batches(examples: Sequence[Example], size: int, rng: random.Random) -> Iterator[list[Example]]:
    """Shuffled batches of similar lengths (little padding), in random order."""
    order = list(range(len(examples)))
    rng.shuffle(order)
    pool = size * 50
    out = []
    for i in range(0, len(order), pool):
        chunk = sorted(order[i : i + pool], key=lambda j: len(examples[j].window))
        out.extend([examples[j] for j in chunk[k : k + size]] for k in range(0, len(chunk), size))
    rng.shuffle(out)
    yield from out


# ----------------------------------------------------------------------------- model
def build_model(init: str):
    import torch
    from transformers import AutoConfig, AutoModel

    from rag.embedding import resolve_model_path

    path = resolve_model_path("")

    class Reader(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            if init == "sentence":
                self.encoder = AutoModel.from_pretrained(path, add_pooling_layer=False, attn_implementation="eager")
            else:
                config = AutoConfig.from_pretrained(path, attn_implementation="eager")
                self.encoder = AutoModel.from_config(config, add_pooling_layer=False)
            hidden = self.encoder.config.hidden_size
            self.span = torch.nn.Linear(hidden, 2)
            self.answerable = torch.nn.Sequential(
                torch.nn.Linear(hidden, hidden), torch.nn.Tanh(), torch.nn.Linear(hidden, 1)
            )

        def forward(self, input_ids, attention_mask, token_type_ids):
            h = self.encoder(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
            ).last_hidden_state
            logits = self.span(h)
            start, end = logits[..., 0], logits[..., 1]
            # padding can never be an answer
            neg = torch.finfo(start.dtype).min / 2
            start = start.masked_fill(attention_mask == 0, neg)
            end = end.masked_fill(attention_mask == 0, neg)
            return start, end, self.answerable(h[:, 0]).squeeze(-1)

    return Reader()


def train(recipe: Recipe, train_path: Path, out: Path, maker: WindowMaker) -> object:
    import torch

    random.seed(recipe.seed)
    np.random.seed(recipe.seed)
    torch.manual_seed(recipe.seed)
    torch.set_num_threads(len(os.sched_getaffinity(0)))
    rng = random.Random(recipe.seed)

    rows = load_jsonl(train_path)
    if recipe.limit:
        rows = rows[: recipe.limit]
    log.info("training questions: %d (%d unanswerable)", len(rows), sum(r["is_impossible"] for r in rows))
    own: list[Example] = []
    for r in rows:
        own.extend(examples_for(maker, r["question"], r["context"], r["answers"][0] if r["answers"] else None))
    negatives_of = hard_negative_paragraphs(rows) if recipe.hard_negatives > 0 else {}
    negative_pool = {
        r["id"]: [e for p in negatives_of.get(r["id"], []) for e in examples_for(maker, r["question"], p, None)]
        for r in rows
    }
    log.info("windows: %d own-paragraph (%d answering), hard-negative pool %d", len(own),
             sum(e.answerable for e in own), sum(len(v) for v in negative_pool.values()))

    def epoch_examples() -> list[Example]:
        chosen = list(own)
        for r in rows:
            pool = negative_pool.get(r["id"]) or []
            if pool and rng.random() < recipe.hard_negatives:
                chosen.append(pool[min(int(rng.expovariate(1.0)), len(pool) - 1)])  # mostly the hardest
        return chosen

    model = build_model(recipe.init)
    if recipe.freeze_embeddings:
        model.encoder.embeddings.word_embeddings.weight.requires_grad_(False)
    if recipe.freeze_layers:
        for module in [model.encoder.embeddings, *model.encoder.encoder.layer[: recipe.freeze_layers]]:
            for param in module.parameters():
                param.requires_grad_(False)
    params = [p for p in model.parameters() if p.requires_grad]
    decay = [p for p in params if p.dim() >= 2]
    no_decay = [p for p in params if p.dim() < 2]
    optimizer = torch.optim.AdamW(
        [{"params": decay, "weight_decay": recipe.weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
        lr=recipe.lr,
    )
    per_epoch = math.ceil(len(own) * (1 + recipe.hard_negatives * 0.9) / recipe.batch)
    plan = {"total": max(1, int(per_epoch * recipe.epochs))}
    plan["warmup"] = max(1, int(plan["total"] * recipe.warmup))

    def lr_at(step: int) -> float:
        total, warmup = plan["total"], plan["warmup"]
        if step < warmup:
            return (step + 1) / warmup
        return max(0.0, (total - step) / max(1, total - warmup))

    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lr_at)
    forward = torch.compile(model, dynamic=True) if recipe.compile else model
    ce = torch.nn.CrossEntropyLoss()
    bce = torch.nn.BCEWithLogitsLoss()
    model.train()
    total_steps = plan["total"]
    started = time.time()
    step, seen, running = 0, 0, 0.0
    warm_at, warm_seen = started, 0
    done = False
    epoch = 0
    while not done:
        epoch += 1
        for batch in batches(epoch_examples(), recipe.batch, rng):
            arrays = {k: torch.from_numpy(v) for k, v in batch_arrays([e.window for e in batch], maker.pad).items()}
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=recipe.bf16):
                start, end, na = forward(**arrays)
            start, end, na = start.float(), end.float(), na.float()
            starts = torch.tensor([e.start for e in batch])
            ends = torch.tensor([e.end for e in batch])
            labels = torch.tensor([float(e.answerable) for e in batch])
            loss = (ce(start, starts) + ce(end, ends)) / 2 + recipe.na_weight * bce(na, labels)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
            step += 1
            seen += len(batch)
            value = float(loss.detach())
            running = 0.98 * running + 0.02 * value if step > 1 else value
            elapsed = time.time() - started
            if step == _WARM_STEPS:
                warm_at, warm_seen = time.time(), seen
            if step == _PROBE_STEPS and recipe.time_budget_min:
                # Fit the schedule to the time budget once the speed is known, so the learning rate
                # still decays to zero instead of the run being cut off mid-schedule.
                rate = (seen - warm_seen) / max(1e-9, time.time() - warm_at)
                affordable = int((recipe.time_budget_min * 60 - elapsed) * rate / recipe.batch) + step
                if affordable < plan["total"]:
                    log.info("time budget %.0f min affords %d of %d planned steps (%.2f epochs)",
                             recipe.time_budget_min, affordable, plan["total"], affordable / per_epoch)
                    plan["total"] = max(affordable, step + 1)
                    plan["warmup"] = min(plan["warmup"], max(1, plan["total"] // 10))
            total_steps = plan["total"]
            if step % 20 == 0 or step == total_steps:
                rate = seen / elapsed
                eta = (total_steps - step) * recipe.batch / rate
                log.info("epoch %d step %d/%d loss %.3f lr %.2e %.1f ex/s elapsed %.1f min eta %.1f min",
                         epoch, step, total_steps, running, scheduler.get_last_lr()[0], rate, elapsed / 60, eta / 60)
            if step >= total_steps:
                done = True
                break
            if recipe.time_budget_min and elapsed > recipe.time_budget_min * 60 * 1.05:
                log.warning("time budget of %.0f min reached at step %d of %d: stopping",
                            recipe.time_budget_min, step, total_steps)
                done = True
                break
    log.info("trained %d steps, %d examples in %.1f min", step, seen, (time.time() - started) / 60)
    model.eval()
    torch.save(model.state_dict(), out / "reader.pt")
    return model


# ----------------------------------------------------------------------------- export
def export_onnx(model, maker: WindowMaker, dest: Path) -> Path:
    import warnings

    import torch

    sample = batch_arrays(maker.windows("what is an example?", ["This is an example passage.", "And another."]))
    names = ["input_ids", "attention_mask", "token_type_ids"]
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            model, tuple(torch.from_numpy(sample[n]) for n in names), str(dest),
            input_names=names, output_names=["start_logits", "end_logits", "answerable_logit"],
            dynamic_axes={**{n: {0: "batch", 1: "tokens"} for n in names},
                          "start_logits": {0: "batch", 1: "tokens"}, "end_logits": {0: "batch", 1: "tokens"},
                          "answerable_logit": {0: "batch"}},
            opset_version=17, dynamo=False,
        )
    return dest


def quantize_int8(src: Path, dest: Path) -> Path:
    from onnxruntime.quantization import QuantType, quantize_dynamic

    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.WARNING)  # the quantiser logs every tensor at INFO on the root logger
    try:
        quantize_dynamic(str(src), str(dest), weight_type=QuantType.QInt8, per_channel=True)
    finally:
        root.setLevel(level)
    return dest


def to_fp16_weights(src: Path, dest: Path) -> Path:
    """fp32 graph → the same graph with fp16 weights (half the file); loading widens them back."""
    import onnx
    from onnx import numpy_helper

    graph = onnx.load(str(src))
    for init in graph.graph.initializer:
        arr = numpy_helper.to_array(init)
        if arr.dtype == np.float32 and arr.size > 1024:
            init.CopyFrom(numpy_helper.from_array(arr.astype(np.float16), init.name))
    onnx.save(graph, str(dest))
    return dest


# ----------------------------------------------------------------------------- dev metrics
def dev_metrics(reader, dev: list[dict], threshold: float = 0.0) -> dict[str, float]:
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


# ----------------------------------------------------------------------------- main
def run_stats(log_text: str) -> dict[str, float]:
    """Steps, windows, passes and minutes of the last training run, read back from its log.

    The log is the run's record, so ``--evaluate-only`` on an earlier run reports the same figures.
    """
    out: dict[str, float] = {"cores": len(os.sched_getaffinity(0))}
    trained = re.findall(r"trained (\d+) steps, (\d+) examples in ([\d.]+) min", log_text)
    windows = re.findall(r"windows: (\d+) own-paragraph", log_text)
    if trained:
        steps, examples, minutes = trained[-1]
        out.update(steps=int(steps), examples=int(examples), minutes=float(minutes))
        if windows:
            out["epochs"] = round(int(examples) / int(windows[-1]), 2)
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m rag.reader.train", description=__doc__.split("\n")[0])
    p.add_argument("--train", type=Path, default=DEFAULT_TRAIN, help="training JSONL (SQuAD 2.0 rows)")
    p.add_argument("--dev", type=Path, default=DEFAULT_DEV, help="dev folder: corpus.jsonl + questions.jsonl")
    p.add_argument("--dev-limit", type=int, default=0, help="score only the first N dev questions")
    p.add_argument("--no-dev", action="store_true", help="skip the dev evaluation")
    p.add_argument("--out", type=Path, default=ROOT / "out" / "reader", help="where the run's files go")
    p.add_argument("--install", action="store_true", help="copy the chosen ONNX file and card to rag/reader/model/")
    p.add_argument("--evaluate-only", action="store_true",
                   help="do not train: evaluate (and with --install install) the model already in --out")
    for f in Recipe.__dataclass_fields__.values():
        if f.name == "extra":
            continue
        flag = "--" + f.name.replace("_", "-")
        if f.type in ("bool", bool):
            p.add_argument(flag, type=lambda s: s.lower() in {"1", "true", "yes"}, default=f.default,
                           help=f"(default {f.default})")
        else:
            kind = {"float": float, "int": int, "str": str}[str(f.type)]
            p.add_argument(flag, type=kind, default=f.default, help=f"(default {f.default})")
    args = p.parse_args(argv)
    recipe = Recipe(**{k: getattr(args, k) for k in Recipe.__dataclass_fields__ if k != "extra"})
    args.out.mkdir(parents=True, exist_ok=True)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s",
        handlers=[logging.StreamHandler(), logging.FileHandler(args.out / "train.log")],
    )
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("root").setLevel(logging.INFO)
    for noisy in ("onnxruntime", "onnxruntime.quantization"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    log.info("recipe: %s", json.dumps(asdict(recipe)))
    t0 = time.time()
    from rag.embedding import resolve_model_path

    tokenizer_file = Path(resolve_model_path("")) / "tokenizer.json"
    maker = WindowMaker.from_file(tokenizer_file, recipe.max_len, recipe.stride)
    fp32 = args.out / "reader-fp32.onnx"
    if not args.evaluate_only:  # else a finished run's files: evaluate, choose and (with --install) install them
        export_onnx(train(recipe, args.train, args.out, maker), maker, fp32)
    run = run_stats((args.out / "train.log").read_text())
    train_min = run.pop("minutes", float("nan"))

    from rag.reader.model import Reader

    int8 = quantize_int8(fp32, args.out / "reader-int8.onnx")
    shutil.copy(tokenizer_file, args.out / "tokenizer.json")
    report: dict[str, object] = {"recipe": asdict(recipe), "train_minutes": round(train_min, 1), "run": run}
    chosen = int8
    if not args.no_dev:
        dev = dev_set(args.dev, args.dev_limit)
        scores = {}
        for name, path in [("int8", int8), ("fp32", fp32)]:
            reader = Reader(path, args.out / "tokenizer.json", max_len=recipe.max_len, stride=recipe.stride,
                            verify=False)
            scores[name] = dev_metrics(reader, dev)
            log.info("dev %s: %s", name, json.dumps({k: round(v, 3) for k, v in scores[name].items()}))
        report["dev"] = scores
        if any(scores["fp32"][k] - scores["int8"][k] > 1.0 for k in ("best_f1", "f1_at_t")):
            chosen = to_fp16_weights(fp32, args.out / "reader-fp16.onnx")
            log.info("int8 loses more than one F1 point: keeping fp16 weights")
    report["chosen"] = chosen.name
    report["total_minutes"] = round((time.time() - t0) / 60, 1)
    (args.out / "report.json").write_text(json.dumps(report, indent=2))
    (args.out / "MODEL_CARD.md").write_text(render_card(report))
    log.info("done in %.1f min; chosen %s", (time.time() - t0) / 60, chosen.name)
    if args.install:
        from rag.reader.model import install

        install(chosen, args.out / "tokenizer.json", report)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
