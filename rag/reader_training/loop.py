"""The seeded training loop: one pass over many questions, fitted to a time budget, resumable.

The learning rate warms up linearly, then decays linearly to zero at the last planned step. The
number of steps is fixed once, early in the first run, from the measured speed and the time
budget (so the rate still reaches zero rather than the run being cut off mid-schedule), and saved
with the checkpoints: a run resumed on a faster or slower machine keeps its schedule.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rag.reader.features import WindowMaker, batch_arrays
from rag.reader_training import checkpoint
from rag.reader_training.data import Corpus, Example, Item, examples, group_examples, near_topic_paragraphs
from rag.reader_training.network import build_model, gold_mask, loss_of
from rag.reader_training.recipe import Recipe

log = logging.getLogger(__name__)
# The speed is measured over steps WARM_STEPS..PROBE_STEPS of a process: the first steps run slower
# (allocator, caches) and, timed with the rest, would cut the run to two thirds.
WARM_STEPS = 10
PROBE_STEPS = 60
# The schedule is fitted to the budget at the speed of the first steps; other work on the machine
# slows later ones. Past this share of the budget the run stops anyway, its schedule unfinished.
OVERRUN = 1.25


@dataclass
class Outcome:
    model: Any
    done: bool  # False: stopped early (signal or stop_after); the checkpoint resumes it
    state: dict[str, Any]


# Set by SIGTERM / SIGINT (see install_stop_handlers): the run stops after its current step, with a checkpoint.
STOP = threading.Event()


def install_stop_handlers() -> None:
    """Make SIGTERM and SIGINT stop a run cleanly (a closed session, Ctrl-C) instead of killing it."""

    def handler(signum: int, frame: object) -> None:
        log.warning("signal %d: stopping after this step with a checkpoint", signum)
        STOP.set()

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)


def train(recipe: Recipe, corpus: Corpus, items: list[Item], plan: list[list[int]], digest: str,
          maker: WindowMaker, out: Path, checkpoint_min: float = 15.0, stop_after: int = 0) -> Outcome:
    """Train (or resume) until the planned steps are done, the budget is spent, or a stop is asked."""
    import torch

    torch.manual_seed(recipe.seed)
    torch.set_num_threads(len(os.sched_getaffinity(0)))
    model = build_model()
    if recipe.extra.get("init"):  # a second stage: start from a trained run's weights (its own schedule)
        init = Path(recipe.extra["init"]).expanduser()
        model.load_state_dict(torch.load(init, map_location="cpu", weights_only=False)["model"])
        log.info("starting from the weights in %s", init)
    shared = recipe.extra.get("shared_norm") == "1"
    near = near_topic_paragraphs(corpus) if shared else {}
    if recipe.freeze_embeddings:
        model.encoder.embeddings.word_embeddings.weight.requires_grad_(False)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(
        [{"params": [p for p in params if p.dim() >= 2], "weight_decay": recipe.weight_decay},
         {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0}],
        lr=recipe.lr,
    )
    state: dict[str, Any] = {
        "recipe": recipe.key(), "plan": digest, "step": 0, "seen": 0, "windows": 0, "train_seconds": 0.0,
        "total": max(1, int(len(plan) * recipe.epochs)), "fitted": not recipe.time_budget_min,
        "running": 0.0, "done": False,
    }
    state["warmup"] = max(1, int(state["total"] * recipe.warmup))

    def lr_at(step: int) -> float:
        total, warmup = state["total"], state["warmup"]
        if step < warmup:
            return (step + 1) / warmup
        return max(0.0, (total - step) / max(1, total - warmup))

    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lr_at)
    saved = checkpoint.load(out, recipe.key(), digest)
    if saved is not None:
        model.load_state_dict(saved.pop("model"))
        if saved.get("done"):
            log.info("the run in %s is already trained (%d steps)", out, saved["step"])
            model.eval()
            return Outcome(model, True, saved)
        optimizer.load_state_dict(saved.pop("optimizer"))
        scheduler.load_state_dict(saved.pop("scheduler"))
        torch.set_rng_state(saved.pop("torch_rng"))
        state.update(saved)
        log.info("resuming at step %d of %d (%.1f training minutes spent)", state["step"], state["total"],
                 state["train_seconds"] / 60)
        _refit_schedule(state, recipe, len(plan))

    def snapshot(done: bool) -> dict[str, Any]:
        state["done"] = done
        full = {**state, "model": model.state_dict()}
        if not done:
            full.update(optimizer=optimizer.state_dict(), scheduler=scheduler.state_dict(),
                        torch_rng=torch.get_rng_state())
        checkpoint.save(out, full)
        return full

    model.train()
    began, last_save = time.time(), time.time()
    base_seconds, first_step = state["train_seconds"], state["step"]
    warm_at, warm_seen = began, state["seen"]
    while state["step"] < state["total"]:
        planned = plan[state["step"] % len(plan)]
        groups: list[int] | None = None
        if shared:
            batch, groups = [], []
            for g, i in enumerate(planned):
                got = group_examples(corpus, items[i], maker, recipe.ambiguous, near)
                batch += got
                groups += [g] * len(got)
        else:
            batch = [e for i in planned for e in examples(corpus, items[i], maker, recipe.ambiguous)]
        loss = _step(model, batch, maker, recipe, groups)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        state["step"] += 1
        state["seen"] += len(planned)
        state["windows"] += len(batch)
        value = float(loss.detach())
        state["running"] = 0.98 * state["running"] + 0.02 * value if state["step"] > 1 else value
        now = time.time()
        state["train_seconds"] = base_seconds + now - began
        ran = state["step"] - first_step
        if ran == WARM_STEPS:
            warm_at, warm_seen = now, state["seen"]
        if ran == PROBE_STEPS and not state["fitted"]:
            rate = (state["seen"] - warm_seen) / max(1e-9, now - warm_at)
            _fit_schedule(state, recipe, rate=rate, per_pass=len(plan))
        if state["step"] % 20 == 0 or state["step"] == state["total"]:
            rate = state["seen"] / max(1e-9, state["train_seconds"])
            log.info("step %d/%d loss %.3f lr %.2e %.1f questions/s, %.1f min trained, about %.0f min to go",
                     state["step"], state["total"], state["running"], scheduler.get_last_lr()[0], rate,
                     state["train_seconds"] / 60, (state["total"] - state["step"]) * recipe.batch / rate / 60)
        over = recipe.time_budget_min and state["train_seconds"] > recipe.time_budget_min * 60 * OVERRUN
        if over:
            log.warning("time budget of %.0f min spent at step %d of %d: stopping", recipe.time_budget_min,
                        state["step"], state["total"])
            break
        if STOP.is_set() or (stop_after and state["step"] >= stop_after):
            model.eval()
            return Outcome(model, False, snapshot(done=False))
        if now - last_save > checkpoint_min * 60:
            snapshot(done=False)
            last_save = time.time()
    log.info("trained %d steps, %d questions (%d windows) in %.1f min", state["step"], state["seen"],
             state["windows"], state["train_seconds"] / 60)
    model.eval()
    return Outcome(model, True, snapshot(done=True))


def _step(model: Any, batch: list[Example], maker: WindowMaker, recipe: Recipe,
          groups: list[int] | None = None) -> Any:
    import torch

    arrays = {k: torch.from_numpy(v) for k, v in batch_arrays([e.window for e in batch], maker.pad).items()}
    width = arrays["input_ids"].shape[1]
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=recipe.bf16):
        outputs = model(**arrays)
    return loss_of(outputs, gold_mask([e.starts for e in batch], width), gold_mask([e.ends for e in batch], width),
                   torch.tensor([float(e.answerable) for e in batch]), recipe.na_weight, groups)


def _refit_schedule(state: dict[str, Any], recipe: Recipe, per_pass: int) -> None:
    """On resuming, shorten the schedule to what the budget still affords at the speed of every step so far.

    The first fit rests on fifty steps, whose batches may be shorter than the run's average (on
    2026-12-06 they gave 4.1 questions a second against 3.4 over the next two hundred): without
    this, the run would overrun its budget or be cut off with the learning rate above zero. The
    rate then decays to zero over the remaining steps; the warm-up is left as it was.
    """
    if not (recipe.time_budget_min and state["fitted"] and state["train_seconds"] > 0):
        return
    rate = state["seen"] / state["train_seconds"]
    left = recipe.time_budget_min * 60 - state["train_seconds"]
    affordable = int(left * rate / recipe.batch) + state["step"]
    if affordable < state["total"]:
        log.info("at %.1f questions a second the budget affords %d of %d planned steps (%.2f passes)",
                 rate, affordable, state["total"], affordable / per_pass)
        state["total"] = max(affordable, state["step"] + 1, state["warmup"] + 1)


def _fit_schedule(state: dict[str, Any], recipe: Recipe, rate: float, per_pass: int) -> None:
    """Fix the number of steps the time budget affords at ``rate`` questions a second."""
    left = recipe.time_budget_min * 60 - state["train_seconds"]
    affordable = int(left * rate / recipe.batch) + state["step"]
    if affordable < state["total"]:
        log.info("time budget %.0f min affords %d of %d planned steps (%.2f passes over the plan)",
                 recipe.time_budget_min, affordable, state["total"], affordable / per_pass)
        state["total"] = max(affordable, state["step"] + 1)
        state["warmup"] = min(state["warmup"], max(1, int(state["total"] * recipe.warmup)))
    state["fitted"] = True
