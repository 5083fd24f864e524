"""Client-server mode: ``--chroma-url`` against a real Chroma server started by the test session.

The ``chroma_server`` fixture runs ``chroma run`` on a free loopback port with its data in a tmp
dir. The real ``citewire`` command ingests, asks and evaluates against it from other processes,
and an engine in this process sees their writes: BM25 follows the store's revision without being
rebuilt for every question.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path
from types import SimpleNamespace

import chromadb
import pytest

from rag.errors import StoreError
from rag.settings import Settings
from rag.store import Store

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "data" / "sample"
SEED = ROOT.parent / "shared" / "eval" / "seed-dev.jsonl"
SEED_DOC = "north-korean-troops-ukraine.txt"
QUESTION = "How many North Korean troops were deployed to Russia?"

pytestmark = pytest.mark.server

TINY = [
    {"id": "elm-bridge", "title": "Elm Street bridge repairs approved", "published": "2024-03-12",
     "text": "The Riverton city council approved repairs to the Elm Street bridge. The repairs will cost "
             "42 million dollars and take two years."},
    {"id": "eastport-ferry", "title": "Eastport ferry fares to rise", "published": "2024-05-02",
     "text": "The Eastport ferry fare will rise from 4 euros to 5 euros in July, the harbour authority announced."},
]


def _jsonl(path: Path, records: list[dict]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def served(chroma_server, citewire_cmd, tmp_path_factory):
    """The sample corpus and a tiny JSONL ingested into collection ``news`` by ``citewire ingest --chroma-url``.

    Commands run with their own cache and data dirs: server mode keeps its BM25 index in the user
    cache dir, and nothing may land in a default embedded store.
    """
    chroma_server.ensure_running()
    root = tmp_path_factory.mktemp("server-mode")
    env = {**os.environ, "XDG_CACHE_HOME": str(root / "cache"), "XDG_DATA_HOME": str(root / "data")}

    def run(*args: str | Path, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*citewire_cmd, *map(str, args)], cwd=ROOT, env=env, capture_output=True,
                              text=True, timeout=timeout)

    tiny = _jsonl(root / "in" / "tiny.jsonl", TINY)
    got = run("ingest", SAMPLE, tiny, "--chroma-url", chroma_server.url, "-q")
    assert got.returncode == 0, got.stderr[-3000:]
    assert "3 added" in got.stdout and chroma_server.url in got.stdout
    return SimpleNamespace(url=chroma_server.url, server=chroma_server, run=run, root=root, env=env)


def test_ingest_list_and_ask_go_to_the_server(served) -> None:
    got = served.run("list", "--json", "--chroma-url", served.url)
    assert got.returncode == 0, got.stderr
    assert {d["doc_id"] for d in json.loads(got.stdout)} == {SEED_DOC, "elm-bridge", "eastport-ferry"}

    got = served.run("ask", QUESTION, "--json", "--chroma-url", served.url)
    assert got.returncode == 0, got.stderr
    answer = json.loads(got.stdout)
    assert "over 10,000" in answer["text"] and not answer["refused"]
    assert answer["citations"] and {c["doc_id"] for c in answer["citations"]} == {SEED_DOC}
    assert "Traceback" not in got.stderr

    # the data is in the server's directory; no embedded store was created anywhere
    assert (served.server.path / "chroma.sqlite3").exists()
    assert not (served.root / "data" / "citewire").exists()
    client = chromadb.HttpClient(host="127.0.0.1", port=served.server.port)
    names = {c.name for c in client.list_collections()}
    assert {"news", "news__docs", "news__sentences", "news__feeds"} <= names


def test_feed_subscriptions_live_on_the_server_and_every_replica_sees_them(served) -> None:
    feed = "https://news.example.org/rss.xml"
    added = served.run("feeds", "add", feed, "--chroma-url", served.url)  # a replica's shell: unreachable host
    assert added.returncode == 2 and "news.example.org" in added.stderr  # refused before subscribing
    settings = Settings(chroma_url=served.url, collection="news")
    with Store.open(settings) as one:
        one.feeds.add(feed, "Example News")
    with Store.open(settings) as other:  # another replica of the app, another client
        assert [(s.url, s.title) for s in other.feeds.list()] == [(feed, "Example News")]
    listed = served.run("feeds", "list", "--json", "--chroma-url", served.url)
    assert [f["url"] for f in json.loads(listed.stdout)] == [feed]
    removed = served.run("feeds", "remove", feed, "--chroma-url", served.url)
    assert removed.returncode == 0 and json.loads(served.run("feeds", "list", "--json", "--chroma-url",
                                                             served.url).stdout) == []


@pytest.mark.skipif(not SEED.exists(), reason="../shared is not checked out")
def test_eval_runs_against_the_server(served, tmp_path: Path) -> None:
    out = tmp_path / "out"
    got = served.run("eval", SEED, "--chroma-url", served.url, "--out", out, timeout=600)
    assert got.returncode == 0, got.stderr[-3000:]
    report = json.loads((out / "report.json").read_text())
    assert report["n"] == 6 and report["store"] == served.url and report["collection"] == "news"
    assert report["retrieval"]["recall@5"] == 1.0
    assert not report["counts"].get("errors")


def test_a_missing_collection_on_the_server_is_a_clear_error(served) -> None:
    got = served.run("ask", QUESTION, "--chroma-url", served.url, "--collection", "nosuch")
    assert got.returncode == 2
    lines = got.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("citewire: error: no collection 'nosuch' on the Chroma server")
    assert "news" in lines[0]  # the collections it does have
    with pytest.raises(StoreError, match="no collection 'nosuch'"):  # what list, remove and serve open too
        Store.open(Settings(chroma_url=served.url, collection="nosuch"))
    client = chromadb.HttpClient(host="127.0.0.1", port=served.server.port)
    assert not {c.name for c in client.list_collections()} & {"nosuch", "nosuch__docs"}


def test_an_unreachable_server_and_a_bad_url_are_clear_errors(chroma_server) -> None:
    from chroma_server import free_port

    with pytest.raises(StoreError, match=r"cannot reach the Chroma server at http://127\.0\.0\.1:\d+"):
        Store.open(Settings(chroma_url=f"http://127.0.0.1:{free_port()}"))
    with pytest.raises(StoreError, match="not of the form http://HOST:PORT"):
        Store.open(Settings(chroma_url="127.0.0.1:8000"))


def test_every_store_command_takes_chroma_url(monkeypatch) -> None:
    from ui.cli import _settings, build_parser

    url = "http://127.0.0.1:9"
    argvs = {
        "ingest": ["ingest", "x.txt"], "list": ["list"], "remove": ["remove", "d"], "ask": ["ask", "q"],
        "serve": ["serve"], "eval": ["eval", "q.jsonl"],
    }
    parser = build_parser()
    for name, argv in argvs.items():
        assert _settings(parser.parse_args([*argv, "--chroma-url", url])).chroma_url == url, name
    monkeypatch.setenv("CITEWIRE_CHROMA_URL", url)
    assert _settings(parser.parse_args(["ask", "q"])).chroma_url == url


def test_bm25_follows_writes_from_other_processes(served, embedder, tmp_path: Path, monkeypatch) -> None:
    from ingest import Ingestor
    from rag.engine import Engine

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))  # where server mode keeps its BM25 index
    settings = Settings(chroma_url=served.url, collection="bm25-follow")
    folder = tmp_path / "in"
    store = Store.open(settings, create=True)
    assert Ingestor(settings, store, embedder).ingest([_jsonl(folder / "base.jsonl", [TINY[0]])], progress=False).ok
    engine = Engine(store, settings, embedder=embedder)
    builds = []
    original_build = engine.lexical._build
    monkeypatch.setattr(engine.lexical, "_build", lambda rev: (builds.append(rev), original_build(rev))[1])
    try:
        def hits(word: str) -> set[str]:
            return {h.node.metadata["doc_id"] for h in engine.lexical.search(word, 5)}

        assert hits("bridge") == {"elm-bridge"}
        index = engine.lexical._retriever
        for _ in range(3):  # nothing changed: the same index object answers, no rebuild
            assert hits("Riverton") == {"elm-bridge"}
            assert engine.lexical._retriever is index
        assert builds == []
        assert engine.lexical.path.is_relative_to(tmp_path / "cache")

        # another process (the citewire command) adds a document
        record = {"id": "orchard", "title": "Orchard news", "text": "The Quincefield orchard grew 300 tonnes of pears."}
        got = served.run("ingest", _jsonl(folder / "v1.jsonl", [record]), "--chroma-url", served.url,
                         "--collection", settings.collection, "-q")
        assert got.returncode == 0, got.stderr
        assert hits("Quincefield") == {"orchard"} and len(builds) == 1
        assert hits("pears") == {"orchard"} and len(builds) == 1  # built once, then reused
        assert engine.ask("How many tonnes of pears did the Quincefield orchard grow?").citations[0].doc_id == "orchard"

        # ... updates it
        record["text"] = "The Quincefield orchard now grows 120 tonnes of plums instead."
        got = served.run("ingest", _jsonl(folder / "v2.jsonl", [record]), "--chroma-url", served.url,
                         "--collection", settings.collection, "-q")
        assert got.returncode == 0 and "1 updated" in got.stdout, got.stderr
        assert hits("plums") == {"orchard"} and hits("pears") == set() and len(builds) == 2

        # ... and removes it
        got = served.run("remove", "orchard", "--chroma-url", served.url, "--collection", settings.collection)
        assert got.returncode == 0, got.stderr
        assert hits("Quincefield") == set() and hits("bridge") == {"elm-bridge"} and len(builds) == 3
    finally:
        engine.close()


def test_server_mode_repairs_only_pending_markers_old_enough_to_be_dead(chroma_server, embedder) -> None:
    """Other processes may be writing to a server: a fresh marker is theirs, an old one was left by a crash."""
    from test_store import _prepared

    from rag.store import PENDING_PREFIX

    chroma_server.ensure_running()
    settings = Settings(chroma_url=chroma_server.url, collection="stale-markers")
    with Store.open(settings, create=True) as store:
        for doc_id, age in (("crashed", 3600.0), ("in-flight", 0.0)):
            record, nodes = _prepared(embedder, doc_id, f"The {doc_id} story, half written.")
            store._mark_pending([(record.doc_id, record.content_hash)])  # what write_documents does first
            store.docs.update(ids=[PENDING_PREFIX + doc_id], metadatas=[{"at": time.time() - age}])
            for node in nodes:
                node.metadata["content_hash"] = record.content_hash
            store.vector_store.add(nodes)  # ... and then the writer died (or is still busy)
        # a writer killed in its last step: the record names the new version, only the marker is left
        record, nodes = _prepared(embedder, "landed", "The landed story, written whole.")
        store.write_document(record, nodes)
        store._mark_pending([(record.doc_id, record.content_hash)])

    def state() -> tuple[set[str], set[str]]:
        with Store.open(settings) as store:
            pending = {i for i in store.docs.get(include=[])["ids"] if i.startswith(PENDING_PREFIX)}
            return pending, {m["doc_id"] for _, metas, _ in store.iter_chunks() for m in metas}

    # a reader repairs nothing; a writer (ingest opens with create=True) repairs the dead one and
    # finishes the landed one's clean-up, and leaves the one still in flight alone
    everything = {"crashed", "in-flight", "landed"}
    assert state() == ({PENDING_PREFIX + d for d in everything}, everything)
    Store.open(settings, create=True).close()
    assert state() == ({PENDING_PREFIX + "in-flight"}, {"in-flight", "landed"})
