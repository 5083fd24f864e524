"""Faults: a missing, read-only, corrupted or full store, a Chroma server that dies, kill -9 mid-write.

Each ends in one clear line (``citewire: error: ...``, exit 2, no traceback) or a
:class:`StoreError` with that message, and never in a damaged store: a corrupted or read-only
store is not written to, and a write that fails (disk full, process killed) leaves the store as
it was before the document that failed.

The CLI checks call ``ui.cli.main`` in this process (with the session's model, so no reload),
except where the one-line output of the real command is the point (disk full). Read-only and
disk-full stores need root and ``mount`` (a read-only bind mount, a small tmpfs): as root,
chmod does not stop writes, so without mount those tests are skipped, saying why.
"""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import random
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest

from rag.embedding import pack_vectors
from rag.errors import StoreError
from rag.settings import Settings
from rag.store import PENDING_PREFIX, SentenceVectors, Store

ROOT = Path(__file__).resolve().parents[1]
QUESTION = "How many tonnes of pears did the Quincefield orchard grow?"
DOCS = {
    "orchard.txt": "Orchard news\nThe Quincefield orchard grew 300 tonnes of pears this year, its best harvest.\n",
    "ferry.txt": "Ferry fares\nThe Eastport ferry fare will rise from 4 euros to 5 euros in July.\n",
    "library.txt": "Library hours\nThe Northfield library is now open until 10 pm on weekdays.\n",
}


# ---------------------------------------------------------------------------------------- helpers
@pytest.fixture
def cli(embedder, monkeypatch, capsys) -> Callable[..., tuple[int, str, str]]:
    """``cli(*argv) -> (exit code, stdout, stderr)`` of ``citewire`` run in this process."""
    import ingest.pipeline
    import rag.engine
    from ui.cli import main

    monkeypatch.setattr(ingest.pipeline, "Embedder", lambda *a, **k: embedder)
    monkeypatch.setattr(rag.engine, "Embedder", lambda *a, **k: embedder)

    def run(*argv: str | Path) -> tuple[int, str, str]:
        capsys.readouterr()
        code = main([str(a) for a in argv])
        out, err = capsys.readouterr()
        return code, out, err

    return run


def one_error_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert "Traceback" not in err, err
    assert len(lines) == 1 and lines[0].startswith("citewire: error: "), err
    return lines[0]


@pytest.fixture
def small_store(tmp_settings, embedder, write_files, tmp_path: Path) -> Settings:
    """An embedded store holding DOCS (closed again, so the commands under test can open it)."""
    from ingest import Ingestor

    folder = write_files(tmp_path / "docs", DOCS)
    with Store.open(tmp_settings, create=True) as store:
        assert Ingestor(tmp_settings, store, embedder).ingest([folder], progress=False).ok
    return tmp_settings


def digests(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def _mount(*args: str) -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root to mount (as root, chmod does not stop writes, so a mount is the way)")
    got = subprocess.run(["mount", *args], capture_output=True, text=True, check=False)
    if got.returncode != 0:
        pytest.skip(f"cannot mount here ({got.stderr.strip()}); as root chmod does not stop writes")


def _umount(path: Path) -> None:
    if subprocess.run(["umount", str(path)], capture_output=True, check=False).returncode != 0:
        subprocess.run(["umount", "-l", str(path)], capture_output=True, check=False)


@contextmanager
def read_only(folder: Path) -> Iterator[None]:
    """``folder`` bind-mounted read-only onto itself."""
    _mount("--bind", str(folder), str(folder))
    try:
        got = subprocess.run(["mount", "-o", "remount,bind,ro", str(folder)], capture_output=True, text=True)
        if got.returncode != 0:
            pytest.skip(f"cannot remount read-only here ({got.stderr.strip()})")
        yield
    finally:
        _umount(folder)


@contextmanager
def small_disk(folder: Path, size: str = "3m") -> Iterator[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    _mount("-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder))
    try:
        yield folder
    finally:
        _umount(folder)


def store_state(store_dir: Path) -> tuple[dict[str, str], dict[str, str]]:
    """(chunk id -> text, doc id -> content hash) of a store, checked whole (see test_ingest_kill)."""
    from test_ingest_kill import _state

    chunks, hashes, _ = _state(store_dir)
    with Store.open(Settings(store_dir=store_dir)) as store:  # and no sentence rows without their chunk
        assert set(store.sentences.get(include=[])["ids"]) <= set(chunks)
    return chunks, hashes


# ---------------------------------------------------------------------------------------- stores
def test_a_missing_store_is_one_clear_line(cli, tmp_path: Path) -> None:
    missing = tmp_path / "nowhere" / "store"
    for argv in (["ask", QUESTION], ["list"], ["remove", "x"]):
        code, out, err = cli(*argv, "--store", missing)
        assert code == 2 and out == ""
        assert f"no store at {missing}" in one_error_line(err)
    assert not missing.parent.exists()  # nothing was created for a read


def test_a_read_only_store_is_refused_and_left_untouched(cli, small_store, tmp_path: Path) -> None:
    store_dir = small_store.store_dir
    before = digests(store_dir)
    new = tmp_path / "new.txt"
    new.write_text("News\nA new story about the harbour.\n")
    with read_only(store_dir):
        for argv in (["list"], ["ask", QUESTION], ["ingest", new, "-q"], ["remove", "orchard.txt"]):
            code, out, err = cli(*argv, "--store", store_dir)
            assert code == 2, (argv, out, err)
            assert f"store directory {store_dir} is read-only" in one_error_line(err)
    assert digests(store_dir) == before
    code, out, _ = cli("list", "--json", "--store", store_dir)  # writable again: all there
    assert code == 0 and len(json.loads(out)) == len(DOCS)


@pytest.mark.parametrize("damage", ["garbage", "torn"])
def test_a_corrupted_store_is_one_clear_line_and_not_overwritten(cli, small_store, damage: str) -> None:
    database = small_store.store_dir / "chroma.sqlite3"
    size = database.stat().st_size
    rng = np.random.default_rng(1)
    if damage == "garbage":  # the whole file overwritten
        database.write_bytes(rng.bytes(size))
    else:  # the second half of the file overwritten, the header intact
        with database.open("r+b") as fh:
            fh.seek(size // 2)
            fh.write(rng.bytes(size - size // 2))
    before = digests(small_store.store_dir)
    for argv in (["list"], ["ask", QUESTION], ["ingest", small_store.store_dir.parent / "docs", "-q"]):
        code, _, err = cli(*argv, "--store", small_store.store_dir)
        assert code == 2
        assert f"the store {small_store.store_dir} is corrupted" in one_error_line(err)
    assert digests(small_store.store_dir) == before


# ``citewire`` (ui.cli.main, what the console script runs) in a subprocess that prints every thread's
# stack on SIGUSR1: a hang shows where it hangs.
CLI_WITH_STACKS = """
import faulthandler, signal, sys
faulthandler.register(signal.SIGUSR1, all_threads=True, chain=False)
from ui.cli import main
sys.exit(main(sys.argv[1:]))
"""


def run_with_stacks_on_timeout(argv: list[str | Path], timeout: float = 300) -> tuple[int, str]:
    proc = subprocess.Popen([sys.executable, "-c", CLI_WITH_STACKS, *map(str, argv)], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        _, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.kill(proc.pid, signal.SIGUSR1)
        time.sleep(3)
        proc.kill()
        _, err = proc.communicate()
        pytest.fail(f"citewire {' '.join(map(str, argv))} hung for {timeout:.0f}s; its threads:\n{err[-8000:]}")
    return proc.returncode, err


def test_disk_full_during_ingest_keeps_the_store_as_it_was(embedder, tmp_path: Path, write_files) -> None:
    from ingest import Ingestor

    small = write_files(tmp_path / "small", DOCS)
    paragraphs = [
        f"Paragraph {p}: the council debated the railway budget for the {p}th time, and residents complained "
        f"about noise, cost overruns of {p * 7} percent and the delays that kept the line closed." for p in range(300)
    ]
    big = write_files(tmp_path / "big", {"big.txt": "The railway story\n" + "\n".join(paragraphs)})
    with small_disk(tmp_path / "disk") as disk:
        settings = Settings(store_dir=disk / "store")
        with Store.open(settings, create=True) as store:
            assert Ingestor(settings, store, embedder).ingest([small], progress=False).ok
        before = store_state(settings.store_dir)

        filler = disk / "filler"
        free = os.statvfs(disk).f_bavail * os.statvfs(disk).f_frsize
        filler.write_bytes(b"\0" * max(0, free - 200 * 1024))  # 200 KiB left: not enough for the big article
        code, err = run_with_stacks_on_timeout(["ingest", big, "--store", settings.store_dir, "-q"])
        assert code == 2, err[-2000:]
        line = one_error_line(err)
        assert "is full" in line and "big.txt was not written" in line, line

        filler.unlink()  # space again: the store opens, repairs any leftover, and is what it was
        assert store_state(settings.store_dir) == before
        with Store.open(settings) as store:
            assert not [i for i in store.docs.get(include=[])["ids"] if i.startswith(PENDING_PREFIX)]
            assert store.get_document("big.txt") is None


# ---------------------------------------------------------------------------------------- server
@pytest.mark.server
def test_the_chroma_server_going_away_and_coming_back(
    chroma_server, embedder, cli, tmp_path: Path, write_files, monkeypatch
) -> None:
    from ingest import Ingestor
    from rag.engine import Engine

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    chroma_server.ensure_running()
    settings = Settings(chroma_url=chroma_server.url, collection="faults")
    store = Store.open(settings, create=True)
    engine = Engine(store, settings, embedder=embedder)
    try:
        assert Ingestor(settings, store, embedder).ingest([write_files(tmp_path / "docs", DOCS)], progress=False).ok
        assert "300 tonnes" in engine.ask(QUESTION).text

        from fastapi import FastAPI
        from fastapi.testclient import TestClient

        from ui.api import add_json_api
        from ui.corpora import Corpora

        app = FastAPI()
        corpora = Corpora(engine)
        add_json_api(app, corpora)
        http = TestClient(app)
        assert http.post("/api/ask", json={"question": QUESTION}).status_code == 200

        chroma_server.kill()
        for call in (lambda: engine.ask(QUESTION), lambda: engine.retrieve(QUESTION), store.list_documents,
                     corpora.names):
            with pytest.raises(StoreError, match=f"lost the Chroma server at {chroma_server.url}") as err:
                call()
            assert "\n" not in str(err.value)
        reply = http.post("/api/ask", json={"question": QUESTION})  # the store's fault, not the request's
        assert reply.status_code == 503 and "lost the Chroma server" in reply.json()["error"]
        code, _, err = cli("ask", QUESTION, "--chroma-url", chroma_server.url, "--collection", "faults")
        assert code == 2 and f"cannot reach the Chroma server at {chroma_server.url}" in one_error_line(err)

        chroma_server.start()  # same port, same data directory
        answer = engine.ask(QUESTION)  # the same engine, no reopening
        assert "300 tonnes" in answer.text and answer.citations[0].doc_id == "orchard.txt"
    finally:
        engine.close()
        chroma_server.ensure_running()


# ---------------------------------------------------------------------------------------- kill -9
# Replays pickled store operations; SIGKILLs itself at one write call to Chroma (before or after it).
KILLER = """
import os, pickle, signal, sys
from rag import store as store_mod
from rag.store import failures
from rag.settings import Settings
ops, store_dir, kill_at, after = pickle.load(open(sys.argv[1], "rb"))
calls = 0
plain = failures.GuardedCollection.__getattr__
def counting(self, name):
    attr = plain(self, name)
    if name not in ("add", "upsert", "delete", "update"):
        return attr
    def call(*args, **kwargs):
        global calls
        calls += 1
        if calls == kill_at and not after:
            os.kill(os.getpid(), signal.SIGKILL)
        result = attr(*args, **kwargs)
        if calls == kill_at:
            os.kill(os.getpid(), signal.SIGKILL)
        return result
    return call
failures.GuardedCollection.__getattr__ = counting
store = store_mod.Store.open(Settings(store_dir=store_dir), create=True)
for op in ops:
    if op[0] == "write":
        store.write_document(*op[1:])
    elif op[0] == "write_many":
        store.write_documents(op[1])
    else:
        store.remove(op[1])
print(calls)
"""
KILL_SEEDS = [int(s) for s in os.environ.get("FAULT_KILL_SEEDS", "1,2,3").split(",") if s.strip()]


def _operations(embedder) -> list[tuple]:
    """Writes of new documents, an update, a removal: (op, ...) tuples for Store.write_document / remove."""
    from test_store import _prepared

    def write(doc_id: str, text: str) -> tuple:
        record, nodes = _prepared(embedder, doc_id, text)
        sentences = [SentenceVectors([(int(n.metadata["start"]), int(n.metadata["end"]))],
                                     pack_vectors(np.asarray([n.embedding], dtype=np.float32))) for n in nodes]
        return ("write", record, nodes, sentences)

    long = " ".join(f"The canal lock number {i} was rebuilt in stone after the winter floods of that year."
                    for i in range(60))
    return [
        write("canal", "Canal works\n" + long),  # several chunks
        write("mill", "The old mill reopened as a museum of bread."),
        write("canal", "Canal works (updated)\n" + long.replace("stone", "granite")),
        ("remove", "mill"),
        write("quay", "The quay was extended by forty metres for the new ferries."),
        # An ingest batch: two new documents and an update, in one crash-safe write.
        ("write_many", [write("pier", "The pier reopened after repairs to its timber deck.")[1:],
                        write("canal", "Canal works (final)\n" + long.replace("stone", "basalt"))[1:],
                        write("ferry", "A second ferry joined the route in the spring.")[1:]]),
    ]


def _replay(store_dir: Path, ops: list[tuple]) -> None:
    """What re-running the ingest does: write what differs from the store, remove what is listed."""
    with Store.open(Settings(store_dir=store_dir), create=True) as store:
        for op in ops:
            if op[0] == "remove":
                store.remove(op[1])
            elif op[0] == "write_many":
                hashes = store.document_hashes()
                store.write_documents([w for w in op[1] if hashes.get(w[0].doc_id) != w[0].content_hash])
            elif store.document_hashes().get(op[1].doc_id) != op[1].content_hash:
                store.write_document(*op[1:])


@pytest.mark.late  # a minute of kills: on a fresh CI machine it runs beside the README test
def test_kill_9_at_any_store_write_then_a_rerun_equals_a_clean_run(embedder, tmp_path: Path) -> None:
    ops = _operations(embedder)
    payload = tmp_path / "ops.pickle"

    def run(ops: list[tuple], store_dir: Path, kill_at: int = 0, after: bool = False) -> subprocess.CompletedProcess:
        payload.write_bytes(pickle.dumps((ops, str(store_dir), kill_at, after)))
        return subprocess.run([sys.executable, "-c", KILLER, str(payload)], cwd=ROOT, capture_output=True,
                              text=True, timeout=300)

    clean_dir = tmp_path / "clean"
    got = run(ops, clean_dir)
    assert got.returncode == 0, got.stderr[-2000:]
    total_writes = int(got.stdout.split()[-1])
    clean = store_state(clean_dir)
    assert set(clean[1]) == {"canal", "quay", "pier", "ferry"} and total_writes > 10
    got = run(ops[:-1], tmp_path / "head")
    batch_first_write = int(got.stdout.split()[-1]) + 1

    kill_points = [(f"seed {seed}", random.Random(seed)) for seed in KILL_SEEDS]
    points = [(name, rng.randint(1, total_writes), rng.random() < 0.5) for name, rng in kill_points]
    # And inside the batched write (what an ingest does), before and after alternately.
    points += [(f"batch write {k}", k, k % 2 == 0) for k in range(batch_first_write, total_writes + 1)]
    for name, kill_at, after in points:
        killed_dir = tmp_path / f"killed-{kill_at}-{after}"
        if killed_dir.exists():
            continue
        got = run(ops, killed_dir, kill_at, after)
        assert got.returncode == -9, (name, kill_at, got.stderr[-2000:])
        store_state(killed_dir)  # opening repaired it: whole documents only, each in one version
        _replay(killed_dir, ops)
        assert store_state(killed_dir) == clean, (name, kill_at, after)
