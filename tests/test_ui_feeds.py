"""Feeds in the UI and the API: a loopback feed added in Chromium and asked about; refused without the setting."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from news_site import NewsSite
from pytest_httpserver import HTTPServer
from test_ui_browser import CHROMIUM_ARGS, TIMEOUT_MS, ask, browser  # noqa: F401 - the browser fixture
from ui_support import Served, serve_in_thread

pytestmark = pytest.mark.browser

HARBOUR = ["The harbour of Port Ellis will get a new 600-metre breakwater, the town council decided on Tuesday.",
           "Construction starts in April and is expected to take three years."]


@pytest.fixture(scope="module")
def open_server(tmp_path_factory, embedder) -> Iterator[Served]:
    """The app on an empty store, allowed to fetch from loopback (CITEWIRE_FETCH_ALLOW_PRIVATE)."""
    from rag.engine import Engine
    from rag.settings import Settings
    from rag.store import Store
    from ui.app import build_app

    settings = Settings(store_dir=tmp_path_factory.mktemp("feeds-ui") / "store", fetch_allow_private=True)
    engine = Engine(Store.open(settings, create=True), settings, embedder=embedder)
    try:
        with serve_in_thread(build_app(engine, settings)) as url:
            yield Served(url, engine, settings)
    finally:
        engine.close()


def open_corpus_tab(browser, url: str):  # noqa: F811
    context = browser.new_context(viewport={"width": 1280, "height": 1200})
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    page.goto(url)
    page.get_by_role("tab", name="Corpus").click()
    page.wait_for_selector("#cw-feed-url textarea, #cw-feed-url input")
    return context, page


def feed_box(page):
    return page.locator("#cw-feed-url textarea, #cw-feed-url input").first


def test_a_feed_added_in_the_browser_is_listed_and_its_article_answers(browser, open_server: Served,  # noqa: F811
                                                                        httpserver: HTTPServer) -> None:
    site = NewsSite(httpserver)
    site.put_page("/harbour", "Port Ellis to build breakwater", HARBOUR)
    feed = site.rss("/feed.xml", "Ellis Gazette", [(site.url("/harbour"), "Port Ellis to build breakwater",
                                                    "Tue, 04 Mar 2025 08:00:00 GMT")])
    context, page = open_corpus_tab(browser, open_server.url)
    try:
        feed_box(page).fill(feed)
        page.locator("#cw-feed-add").click()
        status = page.locator("#cw-feed-status textarea")
        page.wait_for_function("document.querySelector('#cw-feed-status textarea').value.includes('Subscribed')")
        assert "1 added" in status.input_value()
        feeds = page.locator("#cw-feeds")
        assert feed in feeds.inner_text() and "Ellis Gazette" in feeds.inner_text() and "ok" in feeds.inner_text()
        assert "last refresh" in status.input_value()
        page.get_by_role("tab", name="Chat").click()
        message = ask(page, "How long will the Port Ellis breakwater be?")
        assert "600-metre" in message.inner_text() and "Ellis Gazette" in message.inner_text()
    finally:
        context.close()


def test_without_the_setting_a_loopback_feed_is_refused_in_the_browser_and_the_api(
        browser, ui_server: Served, httpserver: HTTPServer) -> None:  # noqa: F811
    site = NewsSite(httpserver)
    site.put_page("/harbour", "Port Ellis to build breakwater", HARBOUR)
    feed = site.rss("/feed.xml", "Ellis Gazette", [(site.url("/harbour"), "Port Ellis to build breakwater", "")])
    context, page = open_corpus_tab(browser, ui_server.url)
    try:
        feed_box(page).fill(feed)
        page.locator("#cw-feed-add").click()
        page.get_by_text("private, loopback or link-local").first.wait_for()
        assert feed not in page.locator("#cw-feeds").inner_text()
    finally:
        context.close()
    for path, body in (("api/feeds", {"url": feed}), ("api/urls", {"urls": [site.url("/harbour")]})):
        reply = httpx.post(ui_server.url + path, json=body, timeout=60)
        if path == "api/feeds":
            assert reply.status_code == 400 and "loopback" in reply.json()["error"]
        else:
            assert reply.status_code == 200 and "loopback" in reply.json()["rejected"][0]["reason"]
    assert httpx.get(ui_server.url + "api/feeds", timeout=30).json() == []
    assert site.fetched("/feed.xml") == [] and site.fetched("/harbour") == []  # nothing was even asked


def test_the_feeds_api_subscribes_lists_refreshes_and_removes(open_server: Served, httpserver: HTTPServer) -> None:
    site = NewsSite(httpserver)
    site.put_page("/harbour", "Port Ellis to build breakwater", HARBOUR)
    feed = site.atom("/atom.xml", "Ellis Atom", [(site.url("/harbour"), "Port Ellis to build breakwater",
                                                  "2025-03-04T08:00:00Z")])
    base = open_server.url
    added = httpx.post(base + "api/feeds", json={"url": feed}, timeout=120).json()
    assert added["feeds"][0]["url"] == feed and added["feeds"][0]["status"] == "ok"
    assert added["added"] == [] or added["added"] == [site.url("/harbour")]  # the page may already be in
    assert feed in [f["url"] for f in httpx.get(base + "api/feeds", timeout=30).json()]
    again = httpx.post(base + "api/feeds/refresh", json={"urls": [feed]}, timeout=120).json()
    assert again["feeds"][0]["status"] == "unchanged" and site.fetched("/atom.xml")[-1] == 304
    assert httpx.request("DELETE", base + "api/feeds", json={"url": feed}, timeout=30).status_code == 200
    assert httpx.request("DELETE", base + "api/feeds", json={"url": feed}, timeout=30).status_code == 404
    assert feed not in [f["url"] for f in httpx.get(base + "api/feeds", timeout=30).json()]
    bad = httpx.post(base + "api/feeds", json={"url": site.url("/harbour")}, timeout=60)
    assert bad.status_code == 400 and "not an RSS or Atom feed" in bad.json()["error"]
    for path, body, says in (("api/feeds", b"{not json", "not valid JSON"), ("api/feeds", b"[]", "a JSON object"),
                             ("api/feeds", b'{"url": "  "}', '"url" is required'),
                             ("api/urls", b'{"urls": "http://x.org/"}', "a list of strings"),
                             ("api/urls", b"{}", '"urls" is required'),
                             ("api/feeds/refresh", b'{"collection": 3}', '"collection" must be a string'),
                             ("api/feeds", b'{"url": "' + b"x" * 100_001 + b'"}', "larger than")):
        refused = httpx.post(base + path, content=body, timeout=30)
        assert refused.status_code in (400, 413) and says in refused.json()["error"], (path, refused.text)
