"""Sentence vectors packed small enough to keep in Chroma metadata: int8 with a float16 scale per row."""

from __future__ import annotations

import base64

import numpy as np


def pack_vectors(matrix: np.ndarray) -> str:
    """Unit vectors → compact text (int8 with a float16 scale per row, base64) for Chroma storage."""
    matrix = np.asarray(matrix, dtype=np.float32)
    scale = np.maximum(np.abs(matrix).max(axis=1, keepdims=True), 1e-8) / 127.0
    q = np.round(matrix / scale).astype(np.int8)
    blob = np.concatenate([scale.astype(np.float16).view(np.uint8), q.view(np.uint8)], axis=1)
    return base64.b64encode(blob.tobytes()).decode("ascii")


def unpack_vectors(text: str, dim: int) -> np.ndarray:
    """Inverse of :func:`pack_vectors` (re-normalised float32 rows)."""
    raw = np.frombuffer(base64.b64decode(text), dtype=np.uint8).reshape(-1, dim + 2)
    scale = raw[:, :2].copy().view(np.float16).astype(np.float32)
    matrix = raw[:, 2:].copy().view(np.int8).astype(np.float32) * scale
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    return matrix / np.maximum(norms, 1e-8)
