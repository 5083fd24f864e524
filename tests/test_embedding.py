"""The embedding backends: ONNX Runtime must give the torch model's vectors, and fail safe."""

from __future__ import annotations

import logging

import numpy as np
import pytest

TEXTS = [
    "How many North Korean troops were deployed to Russia?",
    "Über 10.000 Soldaten — “offiziell” bestätigt — wurden nach Kursk verlegt.",
    "short",
    " ".join(["Officials in Seoul confirmed the deployment on Tuesday."] * 60),  # past the 256-piece window
]


@pytest.fixture(scope="module")
def torch_embedder():  # -> rag.embedding.Embedder on the torch backend
    from rag.embedding import Embedder

    return Embedder(backend="torch")


def test_default_backend_is_onnx_and_matches_torch(embedder, torch_embedder) -> None:
    assert embedder.backend == "onnx"
    assert torch_embedder.backend == "torch"
    got, want = embedder.embed_texts(TEXTS), torch_embedder.embed_texts(TEXTS)
    assert got.shape == want.shape == (len(TEXTS), 384)
    assert np.abs(got - want).max() < 1e-4
    assert np.allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-5)
    assert np.abs(embedder.embed_query(TEXTS[0]) - want[0]).max() < 1e-4


def test_late_chunked_spans_match_torch(embedder, torch_embedder) -> None:
    spans = [[(0, 20), (20, len(t))] for t in TEXTS]
    p_onnx, s_onnx = embedder.embed_with_spans(TEXTS, spans)
    p_torch, s_torch = torch_embedder.embed_with_spans(TEXTS, spans)
    assert np.abs(p_onnx - p_torch).max() < 1e-4
    for a, b in zip(s_onnx, s_torch, strict=True):
        assert a.shape == b.shape == (2, 384)
        assert np.abs(a - b).max() < 1e-4
    # The passage vector from the span pass is the ordinary embedding of the passage.
    assert np.abs(p_onnx - embedder.embed_texts(TEXTS)).max() < 1e-5


def test_a_corrupt_cached_export_is_exported_again(tmp_path, caplog) -> None:
    from rag.embedding import Embedder, onnx_encoder, resolve_model_path

    cached = tmp_path / f"encoder-{onnx_encoder._fingerprint(resolve_model_path(''))}.onnx"
    cached.write_bytes(b"not an onnx graph")  # a crash mid-copy, a disk error…
    with caplog.at_level(logging.WARNING, logger="rag.embedding.onnx_encoder"):
        fresh = Embedder(cache_dir=tmp_path)
    assert fresh.backend == "onnx"
    assert "unusable" in caplog.text
    assert cached.stat().st_size > 1_000_000
    assert not list(tmp_path.glob("*.tmp"))  # the export was written aside and renamed into place


def test_no_usable_cache_falls_back_to_torch(tmp_path, caplog, torch_embedder) -> None:
    from rag.embedding import Embedder

    blocker = tmp_path / "not-a-directory"
    blocker.write_text("a file where the cache directory should be")
    with caplog.at_level(logging.WARNING, logger="rag.embedding"):
        fallback = Embedder(cache_dir=blocker)
    assert fallback.backend == "torch"
    assert "embedding with torch" in caplog.text
    assert np.abs(fallback.embed_texts(TEXTS[:2]) - torch_embedder.embed_texts(TEXTS[:2])).max() < 1e-6


def test_backend_setting_is_validated() -> None:
    from rag.errors import CitewireError
    from rag.settings import Settings

    assert Settings().embed_backend == "onnx"
    assert Settings().with_overrides(embed_backend="torch").embed_backend == "torch"
    with pytest.raises(CitewireError, match="embed_backend"):
        Settings().with_overrides(embed_backend="tensorrt")


def test_only_plain_mean_pooled_models_take_the_onnx_path(embedder) -> None:
    from rag.embedding.embedder import _mean_pooled

    class Transformer:
        pass

    class Pooling:
        def __init__(self, mode: str) -> None:
            self.pooling_mode = mode

    class Dense:
        pass

    assert _mean_pooled(embedder._st)  # the packaged MiniLM: encoder, mean pooling, Normalize
    assert _mean_pooled([Transformer(), Pooling("mean")])
    assert not _mean_pooled([Transformer(), Pooling("cls")])  # the export's pooling would be wrong
    assert not _mean_pooled([Transformer(), Pooling("mean"), Dense()])  # a projection the export lacks
    assert not _mean_pooled([Transformer()])


def test_the_word_pieces_split_text_as_the_models_own_tokenizer(embedder, tmp_path) -> None:
    import json
    from pathlib import Path

    from rag.embedding import resolve_model_path
    from rag.embedding.wordpieces import PROBE_TEXTS, WordPieces, same_pieces

    file = Path(resolve_model_path("")) / "tokenizer.json"
    texts = [*PROBE_TEXTS, *TEXTS]
    assert same_pieces(WordPieces.from_file(file, 256), embedder.tokenizer, texts)
    assert embedder.words.ids(TEXTS[1]) == embedder.tokenizer.encode(TEXTS[1], add_special_tokens=False)
    # A tokenizer that keeps case is told apart: the check can fail.
    cased = json.loads(file.read_text())
    cased["normalizer"]["lowercase"] = False
    (tmp_path / "tokenizer.json").write_text(json.dumps(cased))
    assert not same_pieces(WordPieces.from_file(tmp_path / "tokenizer.json", 256), embedder.tokenizer, texts)


def _fresh_process_embedder(cache_dir) -> dict:
    """Backend, heavy modules imported, window and vectors of TEXTS from an Embedder in a new process."""
    import json
    import subprocess
    import sys

    script = (
        "import sys, json\n"
        "from pathlib import Path\n"
        "from rag.embedding import Embedder\n"
        f"e = Embedder(cache_dir=Path({str(cache_dir)!r}))\n"
        f"v = e.embed_texts({TEXTS!r})\n"
        "heavy = [m for m in ('torch', 'transformers', 'sentence_transformers') if m in sys.modules]\n"
        "print(json.dumps({'backend': e.backend, 'heavy': heavy, 'max': e.max_tokens, 'v': v.tolist()}))\n"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_a_stamped_encoder_starts_without_torch_and_gives_the_same_vectors(embedder, tmp_path) -> None:
    import json

    from rag.embedding import Embedder, onnx_encoder, resolve_model_path

    first = Embedder(cache_dir=tmp_path)  # exports, checks against torch, stamps
    assert first.backend == "onnx"
    stamps = list(tmp_path.glob("*.verified.json"))
    assert len(stamps) == 1 and json.loads(stamps[0].read_text())["dim"] == 384
    got = _fresh_process_embedder(tmp_path)
    assert got["backend"] == "onnx" and got["heavy"] == [] and got["max"] == 256
    assert np.abs(np.array(got["v"]) - embedder.embed_texts(TEXTS)).max() < 1e-5
    # A stamp is only believed for the graph and the libraries it was written for.
    model = resolve_model_path("")
    assert onnx_encoder.stamped(model, tmp_path) is not None
    stamp = json.loads(stamps[0].read_text())
    stamps[0].write_text(json.dumps({**stamp, "graph_sha256": "0" * 64}))
    assert onnx_encoder.stamped(model, tmp_path) is None
    stamps[0].write_text(json.dumps({**stamp, "runtime": "onnxruntime 0.0.1, tokenizers 0.0.1"}))
    assert onnx_encoder.stamped(model, tmp_path) is None
    stamps[0].write_text(json.dumps({k: v for k, v in stamp.items() if k != "dim"}))
    assert onnx_encoder.stamped(model, tmp_path) is None
    # A torn stamp costs one slow start, which checks the graph again and stamps it anew.
    stamps[0].write_text("{not json")
    assert onnx_encoder.stamped(model, tmp_path) is None
    again = _fresh_process_embedder(tmp_path)
    assert again["backend"] == "onnx" and "torch" in again["heavy"]
    assert np.abs(np.array(again["v"]) - np.array(got["v"])).max() < 1e-6
    assert json.loads(stamps[0].read_text()) == stamp
