"""The served app end to end: gradio_client on /chat, /ask, /ingest, /delete; the JSON API; concurrency; auth."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from gradio_client import Client, handle_file
from gradio_client.exceptions import AuthenticationError
from ui_support import FACTS, SAMPLE_QUESTIONS, SEED_DOC, serve_in_thread

from ui.app import build_app
from ui.render_html import plain_answer


def _client(url: str, **kwargs) -> Client:
    return Client(url, verbose=False, download_files=False, **kwargs)


def test_chat_streams_an_answer_citing_the_seed_article(ui_server) -> None:
    job = _client(ui_server.url).submit("How many North Korean troops were deployed to Russia?", api_name="/chat")
    html = job.result(timeout=60)
    assert "10,000 North Korean troops" in plain_answer(html)
    assert '<sup class="cw-ref">[1]</sup>' in html and "Sources" in html
    assert SEED_DOC in html and "<mark>" in html and "Surrounding text" in html
    partial = [o for o in job.outputs()[:-1] if "cw-streaming" in str(o)]
    assert partial, "the answer should arrive in pieces before the final message with its sources"


def test_chat_follow_up_uses_the_conversation(ui_server) -> None:
    client = _client(ui_server.url)  # one client = one session = one conversation
    client.predict("How many North Korean troops were deployed to Russia?", api_name="/chat")
    html = client.predict("What did NATO officials say about it?", api_name="/chat")
    assert "Searched for:" in html and "north korean" in html.lower()
    assert "NATO" in plain_answer(html)


def test_chat_refusal_is_marked_and_lists_passages(ui_server) -> None:
    html = _client(ui_server.url).predict("What is the capital of Australia?", api_name="/chat")
    assert 'class="cw-refusal"' in html and "Closest passages" in html


def test_ask_endpoint_returns_the_answer_dict(ui_server) -> None:
    answer = _client(ui_server.url).predict("Who won the Summit Marathon?", api_name="/ask")
    assert not answer["refused"] and "Kenji Watanabe" in answer["text"]
    cited = answer["citations"][0]
    assert cited["doc_id"] == "summit-marathon" and cited["url"] == "https://news.example.org/summit-marathon"
    assert cited["published"] == "2024-09-15" and cited["quote"] in answer["text"]


def test_chat_settings_are_applied_and_bad_ones_explained(ui_server) -> None:
    client = _client(ui_server.url)
    html = client.predict("How much will the Elm Street bridge repairs cost?", 2, "2024-01-01", "2024-12-31",
                          api_name="/chat")
    assert "42 million" in plain_answer(html) and "https://news.example.org/elm-bridge" in html
    with pytest.raises(Exception, match="not a date of the form YYYY-MM-DD"):
        client.predict("How much will the Elm Street bridge repairs cost?", 5, "last spring", "", api_name="/chat")
    with pytest.raises(Exception, match="no collection 'nope'"):
        client.predict("Who won?", 5, "", "", "sentence", "nope", api_name="/chat")


def test_json_api_answers_with_citations(ui_server) -> None:
    question = "How many North Korean troops were deployed to Russia?"
    r = httpx.post(ui_server.url + "api/ask", json={"question": question}, timeout=60)
    assert r.status_code == 200, r.text
    data = r.json()
    assert set(data) >= {"question", "text", "refused", "citations", "passages", "timings"}
    assert data["citations"][0]["doc_id"] == SEED_DOC and "10,000" in data["text"]

    follow = httpx.post(ui_server.url + "api/ask", timeout=60, json={
        "question": "What did NATO officials say about it?",
        "history": [{"role": "user", "content": question},
                    {"role": "assistant", "content": data["text"]}],
        "top_k": 3,
    }).json()
    assert follow["resolved_question"] != follow["question"] and len(follow["passages"]) <= 3

    q = "How much will the Elm Street bridge repairs cost?"
    dated = httpx.post(ui_server.url + "api/ask", json={"question": q, "since": "2024-01-01"}, timeout=60).json()
    assert dated["citations"][0]["doc_id"] == "elm-bridge"
    later = httpx.post(ui_server.url + "api/ask", json={"question": q, "since": "2024-04-01"}, timeout=60).json()
    assert all(c["doc_id"] != "elm-bridge" for c in later["citations"])
    recent = httpx.post(ui_server.url + "api/ask", timeout=60, json={
        "question": "What is the latest local news about the library?", "as_of": "2024-05-21", "top_k": 1}).json()
    assert recent["passages"][0]["doc_id"] == "northfield-library"  # as_of is the reference day, as in the CLI
    assert recent["passages"][0]["published"] == "2024-05-20"


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        ({"question": "   "}, 400, "the question is empty"),
        ({"question": "why " * 600}, 400, "too long"),
        ({"question": ["a list"]}, 400, '"question" must be a string'),
        ({"question": "q", "top_k": "five"}, 400, '"top_k" must be an integer'),
        ({"question": "q", "top_k": 0}, 400, "top_k must be between 1 and 50"),
        ({"question": "q", "top_k": 51}, 400, "top_k must be between 1 and 50"),
        ({"question": "q", "since": "2024-02-30"}, 400, "is not a date of the form YYYY-MM-DD"),
        ({"question": "q", "since": "2024-05-01", "until": "2024-01-01"}, 400, "after"),
        ({"question": "q", "as_of": "next week"}, 400, "as_of 'next week' is not a date"),
        ({"question": "q", "mode": "oracle"}, 400, "mode must be one of reader, sentence, llm"),
        ({"question": "q", "history": [42]}, 400, "history[0]"),
        ({"question": "q", "collection": "nope"}, 400, "no collection 'nope'"),
        ({"question": "q", "mode": "llm"}, 400, "needs an LLM endpoint"),
        ({"question": "q", "colour": "red"}, 400, "unknown field(s): colour"),
        ({}, 400, '"question" is required'),
    ],
)
def test_json_api_rejects_bad_requests(ui_server, body: dict, status: int, message: str) -> None:
    r = httpx.post(ui_server.url + "api/ask", json=body, timeout=60)
    assert r.status_code == status and message in r.json()["error"], r.text


def test_json_api_rejects_a_body_that_is_not_json(ui_server) -> None:
    r = httpx.post(ui_server.url + "api/ask", content=b"question=hi", timeout=30)
    assert r.status_code == 400 and "not valid JSON" in r.json()["error"]


def test_twenty_concurrent_chats_each_get_their_own_answer(ui_server) -> None:
    questions = [f[4] for f in FACTS] + SAMPLE_QUESTIONS
    assert len(questions) == 20
    expected = {q: ui_server.engine.ask(q).text for q in questions}
    assert len(set(expected.values())) >= 15, "the questions should have mostly distinct answers"

    def chat(question: str) -> tuple[str, str]:
        return question, _client(ui_server.url).predict(question, api_name="/chat")

    with ThreadPoolExecutor(max_workers=20) as pool:
        results = list(pool.map(chat, questions))
    assert len(results) == 20
    for question, html in results:
        assert plain_answer(html) == expected[question], question
    for _, _, _, _, question, fact in FACTS:
        assert fact in dict(results)[question]


def test_corpus_upload_lists_results_and_delete(ui_server, tmp_path) -> None:
    good = tmp_path / "otterburn-cheese.md"
    good.write_text("# Otterburn cheese fair\n\nThe Otterburn cheese fair awarded its gold medal to a smoked "
                    "goat cheese made by Ida Marsh.\n", encoding="utf-8")
    empty = tmp_path / "empty.txt"
    empty.write_text("", encoding="utf-8")
    client = _client(ui_server.url)
    results, status, _, heading, docs, _ = client.predict(
        [handle_file(str(good)), handle_file(str(empty))], api_name="/ingest"
    )
    rows = {row[0]: row for row in results["data"]}
    assert rows["otterburn-cheese.md"][1:] == ["added", "otterburn-cheese.md"]
    assert rows["empty.txt"][1] == "rejected" and "empty file" in rows["empty.txt"][2]
    assert "1 document(s) ingested or unchanged, 1 rejected" in status
    assert any(row[0] == "otterburn-cheese.md" and row[1] == "Otterburn cheese fair" for row in docs["data"])
    assert "documents" in heading

    answer = client.predict("Who made the cheese that won the Otterburn gold medal?", api_name="/ask")
    assert answer["citations"] and answer["citations"][0]["doc_id"] == "otterburn-cheese.md"

    status, _, docs, _ = client.predict(["otterburn-cheese.md", "no-such-doc"], api_name="/delete")
    assert "Deleted 1 document(s)" in status and "Not found: no-such-doc" in status
    assert all(row[0] != "otterburn-cheese.md" for row in docs["data"])
    answer = client.predict("Who made the cheese that won the Otterburn gold medal?", api_name="/ask")
    assert all(c["doc_id"] != "otterburn-cheese.md" for c in answer["citations"])


def test_auth_and_upload_limit(ui_server, tmp_path) -> None:
    settings = ui_server.settings.with_overrides(max_upload_mb=1)
    app = build_app(ui_server.engine, settings, auth=("reader", "s3cret"))
    with serve_in_thread(app) as url:
        question = {"question": "Who won the Summit Marathon?"}
        assert httpx.post(url + "api/ask", json=question, timeout=30).status_code == 401
        wrong = httpx.post(url + "api/ask", json=question, auth=("reader", "nope"), timeout=30)
        assert wrong.status_code == 401 and "authentication required" in wrong.json()["error"]
        ok = httpx.post(url + "api/ask", json=question, auth=("reader", "s3cret"), timeout=60)
        assert ok.status_code == 200 and "Kenji Watanabe" in ok.json()["text"]
        for method, path in (("GET", "api/feeds"), ("POST", "api/feeds"), ("DELETE", "api/feeds"),
                             ("POST", "api/feeds/refresh"), ("POST", "api/urls")):
            refused = httpx.request(method, url + path, json={"url": "http://example.org/feed.xml"}, timeout=30)
            assert refused.status_code == 401, (method, path)
            assert refused.headers["www-authenticate"].startswith("Basic")
        assert httpx.get(url + "api/feeds", auth=("reader", "s3cret"), timeout=30).json() == []

        with pytest.raises(AuthenticationError):
            _client(url).predict("Who won the Summit Marathon?", api_name="/chat")
        client = _client(url, auth=("reader", "s3cret"))
        assert "Kenji Watanabe" in client.predict("Who won the Summit Marathon?", api_name="/chat")

        big = tmp_path / "big.txt"
        big.write_text("Big news. " * 150_000, encoding="utf-8")  # 1.5 MB > 1 MB
        with pytest.raises(ValueError, match="exceeds the maximum file size of 1048576 bytes"):
            client.predict([handle_file(str(big))], api_name="/ingest")


def test_other_collections_of_the_store_are_served(ui_server, tmp_path) -> None:
    from ingest import Ingestor
    from rag.store import Store

    settings = ui_server.settings.with_overrides(collection="briefs")
    store = Store(ui_server.engine.store.client, "briefs", None, settings)  # the store's lock is the app's
    folder = tmp_path / "briefs"
    folder.mkdir()
    (folder / "moon-base.txt").write_text(
        "Moon base plans\n\nThe space agency said its moon base will house 12 astronauts by 2031.\n", encoding="utf-8"
    )
    assert Ingestor(settings, store, ui_server.engine.embedder).ingest([folder], progress=False).added

    question = "How many astronauts will the moon base house?"
    client = _client(ui_server.url)
    answer = client.predict(question, collection="briefs", api_name="/ask")
    assert answer["citations"][0]["doc_id"] == "moon-base.txt" and "12 astronauts" in answer["text"]
    html = client.predict(question, 5, "", "", "sentence", "briefs", api_name="/chat")
    assert "moon-base.txt" in html
    default = httpx.post(ui_server.url + "api/ask", json={"question": question}, timeout=60).json()
    assert all(c["doc_id"] != "moon-base.txt" for c in default["citations"])
    briefs = httpx.post(ui_server.url + "api/ask", json={"question": question, "collection": "briefs"}, timeout=60)
    assert briefs.json()["citations"][0]["doc_id"] == "moon-base.txt"


def test_json_api_answers_at_most_max_concurrent_asks_at_once(ui_server, monkeypatch) -> None:
    engine = ui_server.engine
    limit = engine.settings.max_concurrent_asks
    lock, running, peak = threading.Lock(), [0], [0]
    stream = engine.stream

    def counted(*args, **kwargs):  # the real engine, with a count of the calls in progress
        with lock:
            running[0] += 1
            peak[0] = max(peak[0], running[0])
        try:
            time.sleep(0.2)  # long enough for the other requests to arrive meanwhile
            yield from stream(*args, **kwargs)
        finally:
            with lock:
                running[0] -= 1

    monkeypatch.setattr(engine, "stream", counted)
    question = {"question": "How many North Korean troops were deployed to Russia?"}
    with ThreadPoolExecutor(max_workers=3 * limit) as pool:
        replies = list(pool.map(lambda _: httpx.post(ui_server.url + "api/ask", json=question, timeout=120),
                                range(3 * limit)))
    assert [r.status_code for r in replies] == [200] * (3 * limit)
    assert all("10,000" in r.json()["text"] for r in replies)
    assert 1 < peak[0] <= limit, peak[0]
