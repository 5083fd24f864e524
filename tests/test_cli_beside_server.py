"""A second terminal beside ``citewire serve``: its commands run in the server, with the same output."""

from __future__ import annotations

import json
import subprocess

import httpx
import pytest
from news_site import NewsSite
from pytest_httpserver import HTTPServer
from ui_support import ROOT, SAMPLE_DIR, free_port, start_citewire_serve

QUESTION = "How many North Korean troops were deployed to Russia?"


def _answer(stdout: str) -> dict:
    data = json.loads(stdout)
    return {k: data[k] for k in ("text", "refused", "citations", "answer_span")}


@pytest.fixture
def served_store(tmp_path, embedder, citewire_cmd):
    from ingest import Ingestor
    from rag.settings import Settings
    from rag.store import Store

    store_dir = tmp_path / "store"
    settings = Settings(store_dir=store_dir, collection="news")
    with Store.open(settings, create=True) as store:
        assert Ingestor(settings, store, embedder).ingest([SAMPLE_DIR], progress=False).ok
    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    proc = None

    def start() -> None:
        nonlocal proc
        proc = start_citewire_serve(citewire_cmd, store_dir, port)

    def stop() -> None:
        proc.terminate()
        proc.wait(timeout=30)

    yield store_dir, url, start, stop
    if proc is not None and proc.poll() is None:
        stop()


def test_commands_beside_a_server_go_through_it_with_the_same_output(served_store, run_cli, tmp_path, citewire_cmd,
                                                                     httpserver: HTTPServer) -> None:
    store_dir, url, start, stop = served_store
    store = ["--store", str(store_dir)]
    alone_list = run_cli("list", "--json", *store)
    alone_ask = run_cli("ask", QUESTION, "--json", *store)
    alone_text = run_cli("ask", QUESTION, *store)
    assert alone_list.returncode == alone_ask.returncode == 0
    start()
    try:
        beside_list = run_cli("list", "--json", *store)
        assert beside_list.returncode == 0, beside_list.stderr
        assert json.loads(beside_list.stdout) == json.loads(alone_list.stdout)
        beside_ask = run_cli("ask", QUESTION, "--json", *store)
        assert beside_ask.returncode == 0 and _answer(beside_ask.stdout) == _answer(alone_ask.stdout)
        assert run_cli("ask", QUESTION, *store).stdout == alone_text.stdout

        note = tmp_path / "harbour-note.txt"
        note.write_text("Port Ellis harbour\n\nThe harbour of Port Ellis will get a 600-metre breakwater, the "
                        "council decided.\n", encoding="utf-8")
        ingested = subprocess.run([*citewire_cmd, "ingest", note.name, *store], cwd=tmp_path,  # a relative path
                                  capture_output=True, text=True, timeout=120)
        assert ingested.returncode == 0 and "1 added" in ingested.stdout, ingested.stderr
        assert str(store_dir) in ingested.stdout
        reply = httpx.post(url + "api/ask", json={"question": "How long will the Port Ellis breakwater be?"},
                           timeout=60).json()
        assert "600-metre" in reply["text"]  # the server answers from what the shell ingested

        site = NewsSite(httpserver)
        site.put_page("/rail", "Night train to Paris", ["A night train links Vienna and Paris from December."])
        feed = site.rss("/feed.xml", "Loopback Rail", [(site.url("/rail"), "Night train to Paris", "")])
        subscribed = run_cli("feeds", "add", feed, *store)  # the shell is the machine's owner: loopback allowed
        assert subscribed.returncode == 0 and "1 added" in subscribed.stdout, subscribed.stderr
        assert [f["url"] for f in httpx.get(url + "api/feeds", timeout=30).json()] == [feed]  # the server has it
        listed = run_cli("feeds", "list", "--json", *store)
        assert json.loads(listed.stdout)[0]["status"] == "ok"

        held = run_cli("eval", str(ROOT / "tests" / "does-not-matter.jsonl"), *store)
        assert held.returncode == 2
        refused = httpx.post(url + "api/local/run", json={"argv": ["list"]}, timeout=30)
        assert refused.status_code == 403  # no token, no commands
    finally:
        stop()
    assert not (store_dir / ".citewire.server.json").exists()
    after = run_cli("list", "--json", *store)  # alone again, and the writes made through the server are there
    assert {d["doc_id"] for d in json.loads(after.stdout)} == {
        *(d["doc_id"] for d in json.loads(alone_list.stdout)), "harbour-note.txt", site.url("/rail")}
