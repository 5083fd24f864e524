"""The embedding model's encoder under ONNX Runtime: the torch vectors, about 1.7× faster on a CPU.

sentence-transformers has an ONNX backend of its own, but it loads through ``optimum-onnx``,
which pins an older ``transformers`` than the rest of this stack needs. So the encoder is
exported here instead, once per model, with ``torch.onnx`` (fp32, no quantisation: int8 cost
recall, see the README), cached under ``Settings.cache_dir``, and run with the ``onnxruntime``
that chromadb already depends on. The graph outputs the contextual token embeddings; pooling
stays with :class:`rag.embedding.Embedder`, so passage vectors and late-chunked sentence
vectors come from the same pass as before.

Nothing here is trusted blindly: a cached graph is checked against the torch model on a probe
sentence when it is loaded, and re-exported (or abandoned for torch) if the vectors disagree.
Once a graph has passed that check, a stamp beside it records the graph's hash, the versions of
ONNX Runtime and tokenizers, and what the embedder needs to know of the model (:func:`write_stamp`);
later processes load the stamped graph without torch (:func:`stamped`), which takes seconds off
every start.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import tempfile
import time
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

log = logging.getLogger(__name__)

_FORMAT = "1"  # bump when the export below changes, so old cached graphs are not reused
_INPUTS = ("input_ids", "attention_mask", "token_type_ids")
_STALE_EXPORT_S = 3600  # a temporary export file this old belongs to no running export


def _fingerprint(model: str) -> str:
    """What identifies an export: the model (its files' sizes and times when it is a folder) and our format."""
    parts = [_FORMAT, model]
    folder = Path(model)
    if folder.is_dir():
        for f in sorted(folder.rglob("*")):
            if f.is_file() and f.suffix in {".json", ".safetensors", ".bin", ".txt"}:
                st = f.stat()
                parts.append(f"{f.relative_to(folder)}:{st.st_size}:{int(st.st_mtime)}")
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:16]


def export(model: str, dest: Path) -> Path:
    """Export ``model``'s transformer to ``dest`` (atomically: a half-written file is never seen)."""
    import torch
    from transformers import AutoModel, AutoTokenizer

    # Eager attention traces to plain ONNX ops; the SDPA path does not export cleanly.
    encoder = AutoModel.from_pretrained(model, attn_implementation="eager").eval()
    tokenizer = AutoTokenizer.from_pretrained(model)

    class LastHidden(torch.nn.Module):
        def __init__(self, inner: torch.nn.Module) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, input_ids: Any, attention_mask: Any, token_type_ids: Any) -> Any:
            return self.inner(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
            ).last_hidden_state

    sample = tokenizer(["an example sentence", "and a second, longer example sentence"], padding=True,
                       return_tensors="pt")
    if "token_type_ids" not in sample:
        raise ValueError(f"{model}: its tokenizer gives no token_type_ids; only BERT-style encoders are exported")
    dest.parent.mkdir(parents=True, exist_ok=True)
    for stale in dest.parent.glob("*.onnx.tmp"):  # left by a process killed mid-export
        with contextlib.suppress(OSError):
            if time.time() - stale.stat().st_mtime > _STALE_EXPORT_S:
                stale.unlink()
    fd, tmp = tempfile.mkstemp(dir=dest.parent, suffix=".onnx.tmp")
    os.close(fd)
    try:
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")  # tracer warnings about shape-dependent Python branches
            torch.onnx.export(
                LastHidden(encoder), tuple(sample[n] for n in _INPUTS), tmp,
                input_names=list(_INPUTS), output_names=["last_hidden_state"],
                dynamic_axes={n: {0: "batch", 1: "tokens"} for n in [*_INPUTS, "last_hidden_state"]},
                opset_version=17, dynamo=False,
            )
        os.replace(tmp, dest)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return dest


def cpu_session_options(threads: int | None = None, spin: bool = False) -> Any:
    """ONNX Runtime options for citewire's CPU models (the encoder here, the reader in rag.reader).

    ``spin`` lets worker threads busy-wait for the next parallel section instead of sleeping.
    Off for the encoder: its idle threads would steal the CPU that Chroma writes (ingest) or other
    requests (serving) need. On for the reader by default (``reader_spin``), which only runs inside
    an ``ask``: there its many small matrix products are 10-15% faster when the threads need not be
    woken for each (an ask up to 8% quicker; 50 concurrent clients got as many answers a second).
    """
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads or len(os.sched_getaffinity(0))
    options.inter_op_num_threads = 1
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.add_session_config_entry("session.intra_op.allow_spinning", "1" if spin else "0")
    options.log_severity_level = 3
    return options


class OnnxEncoder:
    """Token embeddings from an exported encoder; thread-safe (ONNX Runtime sessions are)."""

    def __init__(self, path: Path, threads: int | None = None) -> None:
        import onnxruntime as ort

        self.path = path
        self.session = ort.InferenceSession(str(path), cpu_session_options(threads),
                                            providers=["CPUExecutionProvider"])

    def hidden_states(self, batch: Mapping[str, np.ndarray]) -> np.ndarray:
        """``[batch, tokens, dim]`` contextual embeddings for a tokenizer's numpy output."""
        feed = {name: np.asarray(batch[name], dtype=np.int64) for name in _INPUTS}
        return self.session.run(None, feed)[0]


def load(model: str, cache_dir: Path, probe: tuple[Any, np.ndarray] | None = None) -> OnnxEncoder:
    """The cached export of ``model`` (exported on first use), verified against ``probe`` if given.

    ``probe`` is (tokenizer output for one sentence, the torch token embeddings for it). A graph
    that disagrees is exported again once; if that one disagrees too, ``ValueError``.
    """
    path = _graph_path(model, cache_dir)
    for attempt in range(2):
        if not path.exists() or attempt:
            log.info("exporting the embedding model to ONNX (once per model): %s", path)
            export(model, path)
        try:
            encoder = OnnxEncoder(path)
        except Exception as exc:  # a truncated or foreign file in the cache: export again
            log.warning("cached ONNX encoder %s is unusable (%s)", path, exc)
            continue
        if probe is None:
            return encoder
        batch, expected = probe
        got = encoder.hidden_states(batch)[0]
        if got.shape == expected.shape and float(np.abs(got - expected).max()) < 1e-3:
            return encoder
        log.warning("cached ONNX encoder %s disagrees with the model", path)
    raise ValueError(f"the ONNX export of {model} does not reproduce its vectors")


def _graph_path(model: str, cache_dir: Path) -> Path:
    return cache_dir / f"encoder-{_fingerprint(model)}.onnx"


def _stamp_path(graph: Path) -> Path:
    return graph.with_suffix(".verified.json")


def file_sha256(path: Path) -> str:
    """The SHA-256 of a model file, read in blocks (the reader's manifest check uses it too)."""
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _runtime_version() -> str:
    """The libraries a stamped start uses instead of torch: ONNX Runtime and ``tokenizers``."""
    import onnxruntime as ort
    import tokenizers

    return f"onnxruntime {ort.__version__}, tokenizers {tokenizers.__version__}"


def write_stamp(model: str, cache_dir: Path, facts: dict[str, Any]) -> None:
    """Record that the cached graph of ``model`` reproduced the torch vectors, with ``facts`` to reuse.

    Written atomically; a cache that cannot be written only costs the next process its fast start.
    """
    graph = _graph_path(model, cache_dir)
    stamp = {"graph_sha256": file_sha256(graph), "runtime": _runtime_version(), **facts}
    tmp = ""
    try:
        fd, tmp = tempfile.mkstemp(dir=cache_dir, suffix=".json.tmp")
        with os.fdopen(fd, "w") as out:
            json.dump(stamp, out)
        os.replace(tmp, _stamp_path(graph))
    except OSError as exc:
        log.info("could not stamp the verified ONNX encoder (%s)", exc)
        with contextlib.suppress(OSError):
            if tmp:
                os.unlink(tmp)


def stamped(model: str, cache_dir: Path) -> tuple[OnnxEncoder, dict[str, Any]] | None:
    """The verified cached graph of ``model`` and its stamp's facts, when the stamp still holds.

    It holds when the graph's bytes and the runtime's versions are those that passed the check
    (the model's own files are in the graph's name). Anything else, None: load the slow way.
    """
    graph = _graph_path(model, cache_dir)
    try:
        stamp = json.loads(_stamp_path(graph).read_text())
        if stamp.get("runtime") != _runtime_version() or stamp.get("graph_sha256") != file_sha256(graph):
            return None
        if not all(isinstance(stamp.get(k), int) and stamp[k] > 0 for k in ("max_tokens", "dim")):
            return None  # a stamp from another version of this code
        return OnnxEncoder(graph), stamp
    except Exception as exc:  # no stamp, a torn file, an unloadable graph: none of them fatal
        log.debug("no usable stamped ONNX encoder for %s (%s)", model, exc)
        return None
