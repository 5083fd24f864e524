"""The recipe: every choice that shapes the reader, saved with each checkpoint and quoted in its card."""

from __future__ import annotations

import os
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SHARED_TRAIN = ROOT.parent / "shared" / "train"
DEFAULT_TRAIN = (
    SHARED_TRAIN / "squad-v2" / "train.jsonl",
    SHARED_TRAIN / "squad-v1.1" / "train.jsonl.gz",
    SHARED_TRAIN / "squad-v2-unanswerable" / "train.jsonl.gz",
)
DEFAULT_DEV = ROOT.parent / "shared" / "eval" / "squad-v2"


# The experiments a recipe may add (``--extra KEY=VALUE``), each off unless named.
EXTRAS = {
    "init": "a checkpoint.pt to start from (a trained run's weights): a second stage on top of it",
    "shared_norm": "1: one span softmax over a question's own paragraph and its nearest non-answering one",
    "traps": "a share (0-1) of answerable questions also asked with one term swapped (see traps.py)",
}


def check_extra(extra: dict[str, str]) -> None:
    """ValueError with one line for an experiment citewire does not know or a value it cannot use."""
    for key, value in extra.items():
        if key not in EXTRAS:
            raise ValueError(f"unknown --extra {key!r}; known: {', '.join(sorted(EXTRAS))}")
        if key == "init" and not Path(value).expanduser().is_file():
            raise ValueError(f"--extra init={value}: no such checkpoint file")
        if key == "shared_norm" and value not in ("0", "1"):
            raise ValueError("--extra shared_norm takes 0 or 1")
        if key == "traps" and not 0.0 <= _float(value) <= 1.0:
            raise ValueError("--extra traps takes a share between 0 and 1")


def _float(value: str) -> float:
    try:
        return float(value)
    except ValueError:
        return -1.0


def default_out() -> Path:
    """Where a run's checkpoints and files go: the user's cache, outside the work tree (a clean
    checkout or `git clean` must not cost hours of training)."""
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return cache / "citewire" / "reader-run"


def cpu_has_bf16() -> bool:
    """Whether the CPU has bfloat16 instructions: autocast to bf16 is 1.4x faster with them, slower without."""
    try:
        flags = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return False
    return bool(re.search(r"\b(?:avx512_bf16|amx_bf16)\b", flags))


@dataclass
class Recipe:
    """Every choice that shapes the model. A resumed run must have the same recipe as the run it resumes."""

    epochs: float = 1.0  # passes over the plan at most; the time budget usually affords less than one
    lr: float = 1e-4
    batch: int = 16  # questions (items) per step; an item of a long paragraph gives several windows
    max_len: int = 384
    stride: int = 128
    warmup: float = 0.06
    weight_decay: float = 0.01
    near_topic: float = 0.3  # share of answerable questions also shown another paragraph of their article
    ambiguous: str = "marginal"  # answers whose offset is a guess: marginal (every occurrence counts), keep, drop
    na_weight: float = 0.5  # weight of the answerability head's loss
    freeze_embeddings: bool = True
    seed: int = 13
    bf16: bool = False  # bfloat16 autocast: faster only where the CPU has bf16 instructions (see cpu_has_bf16)
    limit: int = 0  # train on the first N questions of each file only (tests, probes)
    time_budget_min: float = 215.0  # training minutes over all resumes; the schedule is fitted to it (0: none)
    extra: dict[str, str] = field(default_factory=dict)  # experiments (see EXTRAS); empty in the shipped recipe

    def key(self) -> dict[str, object]:
        """What a resumed run must match (bf16 only changes speed, but also rounding: it counts)."""
        return asdict(self)
