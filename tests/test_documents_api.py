"""``POST /api/documents``: articles pushed over HTTP are ingested and answerable at once."""

from __future__ import annotations

import httpx
import pytest
from ui_support import serve_in_thread

from rag.engine import Engine
from ui.app import build_app

DOC = {"id": "ferry-1", "title": "Eastport ferry fares to rise", "published": "2024-05-02", "source": "Harbour News",
       "text": "The Eastport ferry fare will rise from 4 euros to 5 euros in July, the harbour authority announced."}
AUTH = ("feed", "s3cret")


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory, embedder):
    from rag.settings import Settings
    from rag.store import Store

    settings = Settings(store_dir=tmp_path_factory.mktemp("push") / "store", max_upload_mb=1)
    Store.open(settings, create=True).close()
    with Engine(Store.open(settings), settings, embedder=embedder) as engine, \
            serve_in_thread(build_app(engine, settings, AUTH)) as url:
        yield url, engine


def test_pushed_documents_are_added_then_unchanged_then_updated(served) -> None:
    url, _ = served
    push = f"{url}api/documents"
    got = httpx.post(push, json={"documents": [DOC, {"title": "no id", "text": "x"}, {"id": "empty", "text": " "}]},
                     auth=AUTH, timeout=120)
    assert got.status_code == 200, got.text
    body = got.json()
    assert body["added"] == ["ferry-1"] and body["updated"] == [] and body["unchanged"] == []
    assert {r["document"]: r["reason"] for r in body["rejected"]} == {
        "#1": 'missing "id" (a non-empty string)', "empty": 'missing or empty "text"'}
    again = httpx.post(push, json=[DOC], auth=AUTH, timeout=120).json()
    assert again["unchanged"] == ["ferry-1"] and again["added"] == []
    changed = httpx.post(push, json=[{**DOC, "text": DOC["text"].replace("5 euros", "6 euros")}], auth=AUTH,
                         timeout=120).json()
    assert changed["updated"] == ["ferry-1"]
    answer = httpx.post(f"{url}api/ask", json={"question": "How much will the Eastport ferry fare rise to?"},
                        auth=AUTH, timeout=120).json()
    assert "6 euros" in answer["text"] and answer["citations"][0]["doc_id"] == "ferry-1"


def test_files_can_be_pushed_too(served) -> None:
    url, _ = served
    files = [("file", ("brief.md", b"---\ntitle: Library hours\ndate: 2024-05-20\n---\nThe Northfield library now "
                                   b"opens until 10 pm on weekdays.\n", "text/markdown")),
             ("file", ("junk.bin", b"\x00\x01\x02", "application/octet-stream"))]
    body = httpx.post(f"{url}api/documents", files=files, auth=AUTH, timeout=120).json()
    assert body["added"] == ["brief.md"]
    assert any(r["document"] == "junk.bin" and "unsupported" in r["reason"] for r in body["rejected"])


def test_pushing_needs_the_credentials_and_a_reasonable_size(served) -> None:
    url, _ = served
    assert httpx.post(f"{url}api/documents", json=[DOC], timeout=30).status_code == 401
    assert httpx.post(f"{url}api/documents", json=[DOC], auth=("feed", "wrong"), timeout=30).status_code == 401
    huge = [{**DOC, "id": "huge", "text": "word " * 300_000}]
    got = httpx.post(f"{url}api/documents", json=huge, auth=AUTH, timeout=30)
    assert got.status_code == 413 and "MB" in got.json()["error"]
    bad = httpx.post(f"{url}api/documents", content=b"{not json", auth=AUTH,
                     headers={"content-type": "application/json"}, timeout=30)
    assert bad.status_code == 400 and "JSON" in bad.json()["error"]
