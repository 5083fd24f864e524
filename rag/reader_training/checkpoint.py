"""A training run's whole state on disk, so that a stopped run resumes exactly where it stopped.

The state holds the weights, the optimiser's moments, the scheduler, the step, the training
seconds spent so far (the time budget spans resumes), the schedule fitted to that budget, PyTorch's
random state (dropout) and fingerprints of the recipe and of the batch plan: a checkpoint is only
resumed by the run that made it. Writes are atomic (a temporary file renamed over the old one),
so a run killed while saving keeps its previous checkpoint.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

from rag.errors import CitewireError

log = logging.getLogger(__name__)

CHECKPOINT = "checkpoint.pt"


class CheckpointMismatch(CitewireError):
    """The run folder holds a checkpoint of another recipe or another data plan."""


def save(folder: Path, state: dict[str, Any]) -> Path:
    import torch

    path = folder / CHECKPOINT
    tmp = path.with_suffix(".tmp")
    torch.save(state, tmp)
    with open(tmp, "rb") as fh:
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    log.info("checkpoint at step %d (%.1f training minutes) in %s", state["step"], state["train_seconds"] / 60, path)
    return path


def load(folder: Path, recipe_key: dict[str, Any], digest: str) -> dict[str, Any] | None:
    """The run's checkpoint, or None for a new run; refuses one of another recipe or plan."""
    import torch

    path = folder / CHECKPOINT
    if not path.exists():
        return None
    state = torch.load(path, map_location="cpu", weights_only=False)
    if state.get("recipe") != recipe_key:
        changed = sorted(k for k in recipe_key if state.get("recipe", {}).get(k) != recipe_key[k])
        raise CheckpointMismatch(
            f"{path} belongs to a run with another recipe (differs in: {', '.join(changed)}); "
            "pass --fresh to start over or --out for another folder")
    if state.get("plan") != digest:
        raise CheckpointMismatch(
            f"{path} was trained on other data or another order; "
            "pass --fresh to start over or --out for another folder")
    return state
