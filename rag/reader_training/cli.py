"""``python -m rag.reader_training``: train (or resume), evaluate, export and install the reader.

    python -m rag.reader_training --no-dev         # make reader's first stage, resumed if stopped
    python -m rag.reader_training --out ~/.cache/citewire/reader-stage2 --seed 14 --lr 3e-5 --time-budget-min 20 \
        --extra init=$HOME/.cache/citewire/reader-run/checkpoint.pt --install   # its second stage, installed
    python -m rag.reader_training --limit 64 --epochs 1 --time-budget-min 0 --out /tmp/r   # seconds
    ... --extra shared_norm=1 / --extra traps=0.3   # the second stages measured against it (docs/benchmarks.md)

Run it again after a stop (a signal, a closed session, ``--stop-after``) and it resumes from the
checkpoint in ``--out`` (by default in the user cache); once trained, it goes on to export and
evaluation without training again. Exits 3 when stopped before the end.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import random
import shutil
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from rag.errors import CitewireError
from rag.reader.features import WindowMaker
from rag.reader_training import checkpoint
from rag.reader_training.card import render_card
from rag.reader_training.data import load_corpus, make_items, plan_batches, plan_digest
from rag.reader_training.recipe import DEFAULT_DEV, DEFAULT_TRAIN, EXTRAS, Recipe, check_extra, default_out

log = logging.getLogger("rag.reader_training")
STOPPED = 3


def parse(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m rag.reader_training", description=__doc__.split("\n")[0])
    p.add_argument("--train", type=Path, nargs="+", default=list(DEFAULT_TRAIN), help="training JSONL files (.gz too)")
    p.add_argument("--dev", type=Path, default=DEFAULT_DEV, help="dev folder: corpus.jsonl + questions.jsonl")
    p.add_argument("--dev-limit", type=int, default=0, help="score only the first N dev questions")
    p.add_argument("--no-dev", action="store_true", help="skip the dev evaluation")
    p.add_argument("--out", type=Path, default=default_out(), help="the run's folder: checkpoints, graphs, report")
    p.add_argument("--fresh", action="store_true", help="discard a checkpoint in --out and start over")
    p.add_argument("--checkpoint-min", type=float, default=15.0, help="minutes between checkpoints")
    p.add_argument("--stop-after", type=int, default=0, help="stop with a checkpoint after this step (tests)")
    p.add_argument("--train-only", action="store_true", help="train (or resume) to the end, then stop: no export")
    p.add_argument("--install", action="store_true", help="copy the chosen ONNX file and card to rag/reader/model/")
    p.add_argument("--extra", action="append", default=[], metavar="KEY=VALUE",
                   help="an experiment of the recipe: " + "; ".join(f"{k}: {v}" for k, v in EXTRAS.items()))
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
    return p.parse_args(argv)


def setup_logging(out: Path, console: bool) -> None:
    """The run's log: ``train.log`` in its folder (appended to by every resume), and stderr when run as a command.

    Handlers go on the ``rag`` logger, not the root one, so that a run called in-process (the tests)
    leaves the caller's logging alone.
    """
    logger = logging.getLogger("rag")
    for old in [h for h in logger.handlers if getattr(h, "citewire_run", False)]:
        logger.removeHandler(old)
        old.close()
    handlers: list[logging.Handler] = [logging.FileHandler(out / "train.log")]
    if console:
        handlers.append(logging.StreamHandler())
    for handler in handlers:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
        handler.citewire_run = True  # type: ignore[attr-defined]
        logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    for noisy in ("httpx", "onnxruntime", "onnxruntime.quantization"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()


def main(argv: list[str] | None = None) -> int:
    """The command: signals stop the run cleanly from the start (a stop during data loading included)."""
    from rag.reader_training.loop import STOP, install_stop_handlers

    STOP.clear()
    install_stop_handlers()
    return run(parse(argv), console=True)


def run(args: argparse.Namespace, console: bool = False) -> int:
    """Train (or resume), then export, evaluate and install as ``args`` say; the exit code."""
    extra = dict(kv.split("=", 1) if "=" in kv else (kv, "") for kv in args.extra)
    recipe = Recipe(**{k: getattr(args, k) for k in Recipe.__dataclass_fields__ if k != "extra"}, extra=extra)
    args.out.mkdir(parents=True, exist_ok=True)
    setup_logging(args.out, console)
    try:
        check_extra(extra)
    except ValueError as exc:
        log.error("%s", exc)
        return 2
    if args.fresh:
        (args.out / checkpoint.CHECKPOINT).unlink(missing_ok=True)
    log.info("recipe: %s", json.dumps(asdict(recipe)))
    t0 = time.time()
    from rag.embedding import resolve_model_path

    tokenizer_file = Path(resolve_model_path("")) / "tokenizer.json"
    maker = WindowMaker.from_file(tokenizer_file, recipe.max_len, recipe.stride)
    rng = random.Random(recipe.seed)
    corpus = load_corpus(args.train, recipe.limit, recipe.ambiguous)
    if float(extra.get("traps") or 0) > 0:
        from rag.reader_training.traps import make_traps

        corpus.questions += make_traps(corpus, float(extra["traps"]), random.Random(recipe.seed + 1))
    items = make_items(corpus, recipe.near_topic, rng)
    plan = plan_batches(corpus, items, maker, recipe.batch, rng)
    digest = plan_digest(corpus, items, plan)
    log.info("items: %d own-paragraph, %d near-topic; %d batches a pass", len(corpus.questions),
             len(items) - len(corpus.questions), len(plan))

    from rag.reader_training.loop import train

    try:
        outcome = train(recipe, corpus, items, plan, digest, maker, args.out, args.checkpoint_min, args.stop_after)
    except CitewireError as exc:
        log.error("%s", exc)
        return 2
    if not outcome.done:
        log.warning("stopped at step %d of %d; run the same command again to resume", outcome.state["step"],
                    outcome.state["total"])
        return STOPPED
    state = outcome.state
    if args.train_only:
        log.info("trained; run without --train-only to export, evaluate and install")
        return 0
    stats = {"cores": len(os.sched_getaffinity(0)), "steps": state["step"], "questions": state["seen"],
           "windows": state["windows"], "passes": round(state["seen"] / max(1, len(items)), 2),
           "data": corpus.sources, "items": len(items), "near_topic_items": len(items) - len(corpus.questions)}
    report: dict[str, Any] = {"recipe": asdict(recipe), "train_minutes": round(state["train_seconds"] / 60, 1),
                              "run": stats}
    if extra.get("init"):  # a second stage: its card and report name the first one too
        first = Path(extra["init"]).expanduser().parent / "report.json"
        if first.exists():
            before = json.loads(first.read_text())
            report["first_stage"] = {k: before.get(k) for k in ("recipe", "train_minutes", "run")}
    t_finish = time.time()
    report.update(finish(outcome.model, maker, tokenizer_file, args, recipe))
    report["finish_minutes"] = round((time.time() - t_finish) / 60, 1)
    (args.out / "report.json").write_text(json.dumps(report, indent=2))
    from rag.reader.model import install, write_manifest

    write_manifest(args.out, report["chosen"], report)  # the run folder is a reader: CITEWIRE_READER_DIR=<out>
    (args.out / "MODEL_CARD.md").write_text(render_card(report))
    log.info("done in %.1f min (export and evaluation %.1f); chosen %s", (time.time() - t0) / 60,
             report["finish_minutes"], report["chosen"])
    if args.install:
        install(args.out / report["chosen"], args.out / "tokenizer.json", report)
    return 0


def finish(model: Any, maker: WindowMaker, tokenizer_file: Path, args: argparse.Namespace,
           recipe: Recipe) -> dict[str, Any]:
    """Export, quantise, score int8 and fp32 on the dev set, choose; the report's part on them."""
    from rag.reader.model import Reader
    from rag.reader_training.evaluate import dev_metrics, dev_set
    from rag.reader_training.export import export_onnx, quantize_int8, to_fp16_weights

    fp32 = export_onnx(model, maker, args.out / "reader-fp32.onnx")
    int8 = quantize_int8(fp32, args.out / "reader-int8.onnx")
    shutil.copy(tokenizer_file, args.out / "tokenizer.json")
    out: dict[str, Any] = {}
    chosen = int8
    if not args.no_dev:
        dev = dev_set(args.dev, args.dev_limit)
        scores = {}
        for name, path in [("int8", int8), ("fp32", fp32)]:
            reader = Reader(path, args.out / "tokenizer.json", max_len=recipe.max_len, stride=recipe.stride,
                            verify=False)
            scores[name] = dev_metrics(reader, dev)
            log.info("dev %s: %s", name, json.dumps({k: round(v, 3) for k, v in scores[name].items()}))
        out["dev"] = scores
        if any(scores["fp32"][k] - scores["int8"][k] > 1.0 for k in ("best_f1", "f1_at_t")):
            chosen = to_fp16_weights(fp32, args.out / "reader-fp16.onnx")
            log.info("int8 loses more than one F1 point: keeping fp16 weights")
    out["chosen"] = chosen.name
    return out
