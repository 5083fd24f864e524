"""Feeds and URLs: ingest from RSS/Atom and pages on a loopback news site, refresh, corrections, bad input."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from news_site import NewsSite, article
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from ingest.web.fetch import Fetcher, FetchError
from ingest.web.refresh import ingest_urls, refresh, subscribe
from rag.errors import CitewireError
from rag.settings import Settings

GRAIN = ["Ships carrying grain left the port of Odesa on Thursday after negotiators agreed to extend the corridor.",
         "The agreement followed two weeks of talks in Istanbul about inspections of the vessels."]
PORT = ["The port of Rotterdam handled a record 470 million tonnes of cargo last year, its operator said.",
        "Container volumes rose by four percent while coal shipments fell."]
RAIL = ["A new night train links Vienna and Paris three times a week from December.",
        "Tickets went on sale on Monday and the first trains sold out within hours."]


@pytest.fixture
def site(httpserver: HTTPServer) -> NewsSite:
    return NewsSite(httpserver)


def test_an_rss_feed_ingests_its_entries_pages_with_canonical_ids_dates_and_source(site: NewsSite, ingestor) -> None:
    site.put_page("/world/grain", "Grain corridor extended", GRAIN, date="2025-02-27",
                  canonical=site.url("/world/grain-corridor"))
    site.put_page("/business/port", "Rotterdam port sets record", PORT, date="2025-02-20")
    feed = site.rss("/rss.xml", "Loopback News", [
        (site.url("/world/grain?utm_source=rss&utm_medium=feed"), "Grain corridor extended for four months",
         "Fri, 28 Feb 2025 09:00:00 GMT"),
        (site.url("/business/port?fbclid=abc"), "Rotterdam port sets record", ""),
    ])
    summary = ingest_urls(ingestor, [feed], allow_private=True, progress=False)
    assert summary.ok and len(summary.added) == 2, summary.failed
    grain = ingestor.store.get_document(site.url("/world/grain-corridor"))  # the page's canonical link
    port = ingestor.store.get_document(site.url("/business/port"))  # the URL without tracking parameters
    assert grain is not None and port is not None
    assert grain.title == "Grain corridor extended for four months"  # the entry's title
    assert grain.published == 20250228 and port.published == 20250220  # the entry's date, else the page's
    assert grain.source == port.source == "Loopback News"
    assert grain.url == grain.doc_id and "Odesa" in grain.text
    assert "Subscribe" not in grain.text and "Home" not in grain.text  # cleaned as HTML files are
    assert port.text.startswith("The port of Rotterdam")  # the <h1> repeating the title is not quoted as text
    again = ingest_urls(ingestor, [feed], allow_private=True, progress=False)  # the same story twice: one document
    assert sorted(again.unchanged) == sorted(summary.added) and not again.added


def test_a_page_url_is_ingested_and_the_same_story_via_two_urls_is_one_document(site: NewsSite, ingestor) -> None:
    url = site.put_page("/rail", "Night train to Paris", RAIL)
    summary = ingest_urls(ingestor, [url + "?utm_campaign=x", url], allow_private=True, progress=False)
    assert summary.added == [url] and summary.ok


def test_an_atom_subscription_refreshes_with_conditional_requests_grows_and_takes_corrections(
        site: NewsSite, ingestor) -> None:
    site.put_page("/a", "Grain corridor extended", GRAIN)
    site.put_page("/b", "Rotterdam port sets record", PORT)
    entries = [(site.url("/a"), "Grain corridor extended", "2025-02-28T09:00:00Z"),
               (site.url("/b"), "Rotterdam port sets record", "2025-02-27T09:00:00Z")]
    feed = site.atom("/atom.xml", "Loopback Atom", entries)
    first = subscribe(ingestor, feed, allow_private=True, progress=False)
    assert first.ok and len(first.summary.added) == 2
    (sub,) = ingestor.store.feeds.list()
    assert (sub.url, sub.title, sub.status, sub.items, sub.new_items) == (feed, "Loopback Atom", "ok", 2, 2)
    assert sub.etag and sub.last_fetch > 0

    chunks = ingestor.store.count_chunks()
    quiet = refresh(ingestor, allow_private=True)  # nothing changed: one conditional request, no page, no embedding
    assert site.fetched("/atom.xml")[-1] == 304 and len(site.fetched("/a")) == 1
    assert quiet.summary.chunks == 0 and quiet.summary.tokens == 0 and quiet.feeds[0].status == "unchanged"
    assert ingestor.store.count_chunks() == chunks

    site.put_page("/c", "Night train to Paris", RAIL)  # the feed grows, and one page is corrected
    site.put_page("/a", "Grain corridor extended", [GRAIN[0].replace("Thursday", "Friday"), GRAIN[1]])
    site.atom("/atom.xml", "Loopback Atom", [(site.url("/c"), "Night train to Paris", "2025-03-01T09:00:00Z"),
                                             *entries[:1]])  # /b left the feed
    grown = refresh(ingestor, allow_private=True)
    assert grown.ok and grown.summary.added == [site.url("/c")] and grown.summary.updated == [site.url("/a")]
    assert grown.feeds[0].new_items == 2 and grown.feeds[0].items == 2
    assert site.fetched("/b") == [200]  # left the feed: not fetched again ...
    assert ingestor.store.get_document(site.url("/b")) is not None  # ... and still in the corpus
    assert "Friday" in ingestor.store.get_document(site.url("/a")).text

    site.put("/atom.xml", site.resources["/atom.xml"].body + b" ", "application/atom+xml")  # pages unchanged
    unchanged_pages = refresh(ingestor, allow_private=True)
    assert site.fetched("/a")[-1] == 304 and site.fetched("/c")[-1] == 304
    assert unchanged_pages.summary.tokens == 0 and sorted(unchanged_pages.summary.unchanged) == sorted(
        [site.url("/a"), site.url("/c")])


def test_an_answer_cites_the_corrected_text(site: NewsSite, tmp_settings, embedder) -> None:
    from ingest import Ingestor
    from rag.engine import Engine
    from rag.store import Store

    feed = site.rss("/rss.xml", "Loopback News", [(site.url("/port"), "Rotterdam port sets record", "")])
    site.put_page("/port", "Rotterdam port sets record", PORT)
    with Store.open(tmp_settings, create=True) as store:
        assert subscribe(Ingestor(tmp_settings, store, embedder), feed, allow_private=True, progress=False).ok
    site.put_page("/port", "Rotterdam port sets record", [PORT[0].replace("470", "438"), PORT[1]])
    site.rss("/rss.xml", "Loopback News", [(site.url("/port"), "Rotterdam port sets record (corrected)", "")])
    with Store.open(tmp_settings, create=True) as store:
        assert refresh(Ingestor(tmp_settings, store, embedder), allow_private=True).summary.updated == [
            site.url("/port")]
    with Engine.open(tmp_settings) as engine:
        answer = engine.ask("How many tonnes of cargo did the port of Rotterdam handle last year?")
    assert not answer.refused and "438" in answer.citations[0].quote and "470" not in answer.text


def _bad_site(site: NewsSite, server: HTTPServer) -> dict[str, str]:
    """A feed whose entries include every kind of bad page, and the bad feeds beside it."""
    site.put_page("/ok", "Rotterdam port sets record", PORT)
    site.put("/big", article("Big", ["word " * 400_000]))
    site.put("/latin1", article("Caf\u00e9", RAIL).encode("latin-1"), "text/html; charset=iso-8859-1")
    site.put("/binary", b"\x89PNG\r\n\x1a\n\x00\x00" + bytes(range(256)) * 8, "image/png")
    server.expect_request("/gone").respond_with_data("gone", status=404)
    server.expect_request("/loop1").respond_with_response(Response(status=302, headers={"Location": "/loop2"}))
    server.expect_request("/loop2").respond_with_response(Response(status=302, headers={"Location": "/loop1"}))
    server.expect_request("/error.xml").respond_with_data("oops", status=500)
    server.expect_request("/slow.xml").respond_with_handler(lambda r: (time.sleep(2.5), Response("late"))[1])
    site.put("/broken.xml", '<?xml version="1.0"?><rss version="2.0"><channel><title>x</title><item>',
             "application/rss+xml")
    site.put("/page-as-feed", article("Front page", ["Just a page."]))
    feed = site.rss("/mixed.xml", "Mixed", [(site.url(p), p, "") for p in
                                            ("/ok", "/big", "/latin1", "/binary", "/gone", "/loop1")])
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{s.getsockname()[1]}/feed.xml"
    return {"feed": feed, "closed": closed, "500": site.url("/error.xml"), "slow": site.url("/slow.xml"),
            "broken": site.url("/broken.xml"), "page": site.url("/page-as-feed")}


def test_every_bad_input_is_one_line_and_the_rest_goes_in(site: NewsSite, httpserver: HTTPServer,
                                                          tmp_path: Path, run_cli,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    urls = _bad_site(site, httpserver)
    store = ["--store", str(tmp_path / "store")]
    monkeypatch.setenv("CITEWIRE_FETCH_MAX_MB", "1")
    monkeypatch.setenv("CITEWIRE_FETCH_TIMEOUT_S", "1")
    out = run_cli("ingest", urls["feed"], urls["closed"], urls["500"], urls["broken"], urls["slow"], *store,
                  "-q", timeout=300)
    assert out.returncode == 1, out.stderr
    failed = [line for line in out.stderr.splitlines() if line.startswith("failed: ")]
    reasons = "\n".join(failed)
    for expected in ("/big: too large", "/binary: not a web page (image/png)", "/gone: HTTP 404",
                     "/loop1: redirect loop", "/error.xml: HTTP 500", "/slow.xml: timed out after 1 s",
                     "/broken.xml: malformed feed XML", urls["closed"] + ": ConnectError"):
        assert expected in reasons, (expected, reasons)
    assert len(failed) == 8, reasons
    assert "2 added" in out.stdout  # /ok, and /latin1 read in its declared charset
    listed = run_cli("list", "--json", *store)
    ids = {d["doc_id"] for d in json.loads(listed.stdout)}
    assert ids == {site.url("/ok"), site.url("/latin1")}

    not_feed = run_cli("feeds", "add", urls["page"], *store)
    assert not_feed.returncode == 2 and "not an RSS or Atom feed" in not_feed.stderr
    assert len(not_feed.stderr.strip().splitlines()) == 1
    assert "[]" in run_cli("feeds", "list", "--json", *store).stdout  # nothing subscribed


def test_a_page_in_an_undeclared_non_utf8_charset_is_refused_in_one_line(site: NewsSite, ingestor) -> None:
    site.put("/mystery", article("Caf\u00e9 opens", RAIL).encode("latin-1"), "text/html")  # no charset, not UTF-8
    summary = ingest_urls(ingestor, [site.url("/mystery")], allow_private=True, progress=False)
    (failure,) = summary.failed
    assert "not UTF-8 text and no other charset declared" in str(failure) and not summary.added


def test_robots_txt_is_honoured(httpserver: HTTPServer, ingestor) -> None:
    site = NewsSite(httpserver, robots="User-agent: *\nDisallow: /private/\n")
    site.put_page("/private/memo", "Memo", RAIL)
    site.put_page("/public", "Rotterdam port sets record", PORT)
    summary = ingest_urls(ingestor, [site.url("/private/memo"), site.url("/public")], allow_private=True,
                          progress=False)
    assert summary.added == [site.url("/public")]
    assert "robots.txt" in str(summary.failed[0]) and site.fetched("/private/memo") == []


def test_private_addresses_are_refused_unless_allowed(site: NewsSite) -> None:
    url = site.put_page("/x", "Rotterdam port sets record", PORT)
    with Fetcher(Settings(), allow_private=False) as fetcher, pytest.raises(FetchError, match="loopback"):
        fetcher.get(url)
    with Fetcher(Settings(fetch_allow_private=True)) as fetcher:
        assert fetcher.get(url).status == 200
    # The connection itself is checked, not only the URL: a name that answered a public address to
    # the check and a private one when connecting (DNS rebinding) still reaches nothing. Skipping
    # the URL check, as such a name would, the client connects to no loopback address either.
    with Fetcher(Settings(), allow_private=False) as fetcher, pytest.raises(FetchError, match="loopback"):
        fetcher.client.get(url)
    assert site.fetched("/x") == [200]  # only the allowed fetcher's request arrived
    for bad in ("file:///etc/passwd", "ftp://127.0.0.1/x", "gopher://x"):
        with Fetcher(Settings(), allow_private=True) as fetcher, pytest.raises(FetchError, match="only http"):
            fetcher.get(bad)


@pytest.fixture
def threaded_server() -> Iterator[HTTPServer]:
    server = HTTPServer(host="127.0.0.1", threaded=True)
    server.start()
    yield server
    server.clear()
    server.stop()


def test_the_fetcher_names_itself_and_keeps_two_requests_per_host(threaded_server: HTTPServer) -> None:
    import threading

    httpserver = threaded_server
    state = {"now": 0, "most": 0, "agents": set()}
    lock = threading.Lock()

    def slow(request: Request) -> Response:
        with lock:
            state["now"] += 1
            state["most"] = max(state["most"], state["now"])
            state["agents"].add(request.headers.get("User-Agent"))
        time.sleep(0.3)
        with lock:
            state["now"] -= 1
        return Response("ok")

    httpserver.expect_request("/robots.txt").respond_with_data("", status=404)
    httpserver.expect_request("/p").respond_with_handler(slow)
    from concurrent.futures import ThreadPoolExecutor

    with Fetcher(Settings(fetch_delay_s=0), allow_private=True) as fetcher, ThreadPoolExecutor(6) as pool:
        list(pool.map(lambda _: fetcher.get(httpserver.url_for("/p")), range(6)))
    assert state["most"] == 2
    (agent,) = state["agents"]
    assert agent.startswith("citewire/")


def test_the_background_refresher_brings_in_a_new_story(site: NewsSite, tmp_path: Path, embedder) -> None:
    import threading

    from rag.engine import Engine
    from rag.store import Store
    from ui.corpora import Corpora
    from ui.refresher import interval_seconds, start_refresher

    assert interval_seconds("30m") == 1800 and interval_seconds("2h") == 7200 and interval_seconds("1d") == 86400
    with pytest.raises(CitewireError, match="invalid refresh interval"):
        interval_seconds("soon")
    settings = Settings(store_dir=tmp_path / "store", fetch_allow_private=True)  # as the app would be told
    site.put_page("/a", "Rotterdam port sets record", PORT)
    feed = site.rss("/rss.xml", "Loopback News", [(site.url("/a"), "Rotterdam port sets record", "")])
    engine = Engine(Store.open(settings, create=True), settings, embedder=embedder)
    stop, thread = threading.Event(), None
    try:
        corpora = Corpora(engine)
        assert corpora.subscribe(None, feed).ok
        thread = start_refresher(corpora, every=1.0, stop=stop)
        site.put_page("/b", "Night train to Paris", RAIL)  # the feed grows while the app serves
        site.rss("/rss.xml", "Loopback News", [(site.url("/b"), "Night train to Paris", ""),
                                               (site.url("/a"), "Rotterdam port sets record", "")])
        deadline = time.monotonic() + 60
        while engine.store.get_document(site.url("/b")) is None and time.monotonic() < deadline:
            time.sleep(0.3)
        assert engine.store.get_document(site.url("/b")) is not None
        assert engine.ask("Which cities does the new night train link?").citations[0].doc_id == site.url("/b")
    finally:
        stop.set()
        if thread is not None:
            thread.join(timeout=30)
        engine.close()
    assert thread is not None and not thread.is_alive()
