"""The trained reader at ask time: ONNX Runtime over question + passage windows.

For each passage the reader returns its best answer span (exact character offsets in the
passage) and how sure it is that the passage answers at all. Two signals say that:

* ``span_score - null_score``: SQuAD 2.0's margin between the best span and the "no answer"
  position (``[CLS]``);
* ``answerable_logit``: the separate answerability head's logit.

Their sum is :attr:`SpanPrediction.answerability`; the refusal margin on it is calibrated on the
dev sets (see the README). The model files ship in ``rag/reader/model/`` with a manifest that
records each file's SHA-256: a missing or altered file is a clear :class:`ReaderError` naming
what to run, never a silent wrong answer.
"""

from __future__ import annotations

import json
import logging
import shutil
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from rag.embedding.onnx_encoder import cpu_session_options, file_sha256
from rag.errors import CitewireError
from rag.reader.features import Window, WindowMaker, batch_arrays

log = logging.getLogger(__name__)

MODEL_DIR = Path(__file__).resolve().parent / "model"
MANIFEST = "manifest.json"
MAX_ANSWER_TOKENS = 30
PADDING_SLACK = 0.1  # a batch takes windows at most 10% longer than its shortest (see _length_batches)
_TRAIN_HINT = "run `make reader` to train it (about 4 hours on 2 cores, resumable) or `git checkout rag/reader/model`"


class ReaderError(CitewireError):
    """The reader's model files are missing or not the ones the manifest names."""


@dataclass
class SpanPrediction:
    """The best span of one passage and the scores that weigh it."""

    passage: int
    start: int  # character offsets in the passage text
    end: int
    text: str
    span_score: float
    null_score: float
    answerable_logit: float

    @property
    def margin(self) -> float:
        return self.span_score - self.null_score

    @property
    def answerability(self) -> float:
        """How strongly this passage answers: span-vs-null margin plus the answerability logit."""
        return self.margin + self.answerable_logit


def _session(path: Path, spin: bool, threads: int | None = None) -> Any:
    import onnxruntime as ort

    options = cpu_session_options(threads, spin=spin)
    data: bytes | str = str(path)
    if path.name.endswith("fp16.onnx"):  # fp16 weights on disk, widened to fp32 for the CPU kernels
        import onnx
        from onnx import numpy_helper

        graph = onnx.load(str(path))
        for init in graph.graph.initializer:
            if init.data_type == onnx.TensorProto.FLOAT16:
                init.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(init).astype(np.float32), init.name))
        data = graph.SerializeToString()
    return ort.InferenceSession(data, options, providers=["CPUExecutionProvider"])


class Reader:
    """Reads passages for a question; thread-safe (ONNX Runtime sessions are)."""

    def __init__(
        self,
        model: Path,
        tokenizer: Path,
        max_len: int = 384,
        stride: int = 128,
        verify: bool = True,
        sha256: str | None = None,
        batch: int = 8,
        spin: bool = True,
    ) -> None:
        if not model.exists():
            raise ReaderError(f"the reader model {model} is missing; {_TRAIN_HINT}")
        if verify and sha256 and file_sha256(model) != sha256:
            raise ReaderError(f"the reader model {model} is not the file its manifest names (SHA-256 differs); "
                              f"{_TRAIN_HINT}")
        self.path = model
        self.maker = WindowMaker.from_file(tokenizer, max_len, stride)
        self.session = _session(model, spin=spin)
        self.batch = batch

    @classmethod
    def shipped(cls, folder: Path = MODEL_DIR, spin: bool = True) -> Reader:
        """The reader that ships with citewire (hash-checked against its manifest)."""
        manifest = folder / MANIFEST
        if not manifest.exists():
            raise ReaderError(f"no reader model in {folder} ({MANIFEST} is missing); {_TRAIN_HINT}")
        meta = json.loads(manifest.read_text())
        return cls(folder / meta["file"], folder / "tokenizer.json", max_len=int(meta["max_len"]),
                   stride=int(meta["stride"]), sha256=meta["sha256"], spin=spin)

    def logits(self, windows: list[Window]) -> list[tuple[np.ndarray, np.ndarray, float]]:
        """Start logits, end logits and the answerability logit per window (batched by length)."""
        out: list[Any] = [None] * len(windows)
        for idx in _length_batches([len(w) for w in windows], self.batch):
            arrays = batch_arrays([windows[i] for i in idx], self.maker.pad)
            start, end, answerable = self.session.run(None, arrays)
            for row, i in enumerate(idx):
                n = len(windows[i])
                out[i] = (start[row, :n], end[row, :n], float(answerable[row]))
        return out

    def read(self, question: str, passages: list[str], top: int = 1) -> list[list[SpanPrediction]]:
        """Each passage's ``top`` best spans, best first (an empty list for a passage with no tokens).

        A passage cut into several windows keeps the best spans over all of them, with the lowest
        "no answer" score of its windows and the highest answerability logit (as SQuAD 2.0 readers do).
        """
        if not passages:
            return []
        windows = self.maker.windows(question, passages)
        found: list[list[SpanPrediction]] = [[] for _ in passages]
        nulls: dict[int, float] = {}
        answerable: dict[int, float] = {}
        for w, (start, end, logit) in zip(windows, self.logits(windows), strict=True):
            null = float(start[0] + end[0])
            nulls[w.passage] = min(nulls.get(w.passage, null), null)
            answerable[w.passage] = max(answerable.get(w.passage, logit), logit)
            for i, j, score in _top_spans(w, start, end, top):
                s, e = w.offsets[i][0], w.offsets[j][1]  # type: ignore[index]
                found[w.passage].append(SpanPrediction(w.passage, s, e, passages[w.passage][s:e], score, null, logit))
        out: list[list[SpanPrediction]] = []
        for p, spans in enumerate(found):
            unique: dict[tuple[int, int], SpanPrediction] = {}
            for sp in sorted(spans, key=lambda x: -x.span_score):
                sp.null_score, sp.answerable_logit = nulls[p], answerable[p]
                unique.setdefault((sp.start, sp.end), sp)  # the same span from two overlapping windows
            out.append(list(unique.values())[:top])
        return out


def _length_batches(lengths: list[int], size: int, slack: float = PADDING_SLACK) -> list[list[int]]:
    """Indices grouped into batches of at most ``size`` windows of nearly equal length.

    A batch is padded to its longest window and padding costs as much as text: five passages of
    120 to 300 word pieces padded together cost a quarter more than read one by one. So a batch
    only takes windows at most ``slack`` longer than its shortest.
    """
    batches: list[list[int]] = []
    for i in sorted(range(len(lengths)), key=lambda i: lengths[i]):
        if batches and len(batches[-1]) < size and lengths[i] <= lengths[batches[-1][0]] * (1 + slack):
            batches[-1].append(i)
        else:
            batches.append([i])
    return batches


def _top_spans(w: Window, start: np.ndarray, end: np.ndarray, top: int) -> list[tuple[int, int, float]]:
    """The ``top`` highest start+end over passage tokens with start ≤ end < start + MAX_ANSWER_TOKENS."""
    idx = np.array([i for i, o in enumerate(w.offsets) if o is not None], dtype=np.int64)
    if not len(idx):
        return []
    s, e = start[idx], end[idx]
    n = len(idx)
    grid = s[:, None] + e[None, :]
    band = np.triu(np.ones((n, n), dtype=bool)) & ~np.triu(np.ones((n, n), dtype=bool), MAX_ANSWER_TOKENS)
    grid = np.where(band, grid, -np.inf)
    flat = grid.ravel()
    k = min(top, int(band.sum()))
    best = np.argpartition(-flat, k - 1)[:k]
    best = best[np.argsort(-flat[best])]
    return [(int(idx[b // n]), int(idx[b % n]), float(flat[b])) for b in best]


_shared: dict[tuple[Path, bool], Reader] = {}
_lock = threading.Lock()


def shipped_reader(folder: Path | None = None, spin: bool = True) -> Reader:
    """The process's one reader of ``folder`` (default: the shipped one; ``reader_dir`` names another),
    loaded and hash-checked once; ``spin``: see ``reader_spin``."""
    folder = folder or MODEL_DIR
    with _lock:
        if (folder, spin) not in _shared:
            _shared[folder, spin] = Reader.shipped(folder, spin)
        return _shared[folder, spin]


def write_manifest(folder: Path, model_file: str, report: dict[str, Any]) -> None:
    """Pin ``folder/model_file`` by its hash with the window its recipe read: the folder is then a reader
    :func:`shipped_reader` (and ``CITEWIRE_READER_DIR``) can load."""
    recipe = report.get("recipe", {})
    manifest = {
        "file": model_file,
        "sha256": file_sha256(folder / model_file),
        "max_len": int(recipe.get("max_len", 384)),
        "stride": int(recipe.get("stride", 96)),
    }
    (folder / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")


def install(model: Path, tokenizer: Path, report: dict[str, Any], folder: Path = MODEL_DIR) -> None:
    """Copy a trained model next to the code with a manifest that pins its hash."""
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("reader-*.onnx"):
        old.unlink()
    shutil.copy(model, folder / model.name)
    shutil.copy(tokenizer, folder / "tokenizer.json")
    write_manifest(folder, model.name, report)
    (folder / "metrics.json").write_text(json.dumps(report, indent=2) + "\n")
    card = model.parent / "MODEL_CARD.md"
    if card.exists():  # written by the training run from the same report
        shutil.copy(card, folder / "MODEL_CARD.md")
    log.info("installed %s in %s", model.name, folder)
