"""The feeds and URLs endpoints: what ``citewire feeds`` and ``citewire ingest URL`` do, over HTTP.

* ``GET /api/feeds?collection=C``: the subscriptions (last fetch, status, items, errors);
* ``POST /api/feeds`` ``{"url", "collection"?}``: subscribe and read the feed's entries now;
* ``DELETE /api/feeds`` ``{"url", "collection"?}``: unsubscribe (its articles stay);
* ``POST /api/feeds/refresh`` ``{"urls"?, "collection"?}``: refresh every feed (or those named) once;
* ``POST /api/urls`` ``{"urls": [...], "collection"?}``: ingest article pages or feeds' entries.

Replies carry what happened (``added``, ``updated``, ``unchanged``, ``rejected`` with a reason per
URL, and the feeds' records). URLs that come this way may not reach private, loopback or link-local
addresses unless ``CITEWIRE_FETCH_ALLOW_PRIVATE`` is set: the API must not become a way into the
machine's own network. With ``--auth`` the endpoints want the app's credentials.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from ingest.pipeline import IngestSummary
from rag.errors import CitewireError, StoreError
from rag.store.feeds import Subscription
from ui.corpora import Corpora

MAX_BODY_BYTES = 100_000


def feed_json(sub: Subscription) -> dict[str, Any]:
    """A subscription as the API and ``citewire feeds list --json`` show it (validators left out)."""
    return {k: v for k, v in asdict(sub).items() if k not in ("etag", "last_modified")}


def result_json(summary: IngestSummary, feeds: list[Subscription] | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "added": summary.added, "updated": summary.updated, "unchanged": summary.unchanged,
        "rejected": [{"document": f.path, "reason": f.reason} for f in summary.failed],
    }
    if feeds is not None:
        out["feeds"] = [feed_json(s) for s in feeds]
    return out


def add_feeds_api(app: FastAPI, corpora: Corpora, authorized: Callable[[Request], bool]) -> None:
    """Register the feed and URL endpoints (``authorized(request) -> bool`` decides who may use them)."""
    from ui.api import error

    async def body_of(request: Request, required: tuple[str, ...]) -> dict[str, Any] | JSONResponse:
        if not authorized(request):
            return error(401, "authentication required (HTTP Basic, the --auth user:password)",
                         {"WWW-Authenticate": 'Basic realm="citewire"'})
        raw = await request.body()
        if len(raw) > MAX_BODY_BYTES:
            return error(413, f"the body is larger than {MAX_BODY_BYTES} bytes")
        try:
            data = json.loads(raw or b"{}")
        except (json.JSONDecodeError, UnicodeDecodeError):
            return error(400, "the body is not valid JSON")
        if not isinstance(data, dict):
            return error(400, "the body must be a JSON object")
        for name in required:
            if not isinstance(data.get(name), str) or not data[name].strip():
                return error(400, f'"{name}" is required (a string)')
        urls = data.get("urls")
        if urls is not None and (not isinstance(urls, list) or not all(isinstance(u, str) for u in urls)):
            return error(400, '"urls" must be a list of strings')
        if data.get("collection") is not None and not isinstance(data["collection"], str):
            return error(400, '"collection" must be a string')
        return data

    async def run(fn: Callable[..., Any], *args: Any) -> Any:
        try:
            return await run_in_threadpool(fn, *args)
        except StoreError as exc:
            return error(503, str(exc))
        except CitewireError as exc:  # not a feed, unreachable, a private address, an unknown collection
            return error(400, str(exc))

    @app.get("/api/feeds", summary="The subscribed feeds")
    async def list_feeds(request: Request, collection: str | None = None) -> JSONResponse:
        if not authorized(request):
            return error(401, "authentication required (HTTP Basic, the --auth user:password)",
                         {"WWW-Authenticate": 'Basic realm="citewire"'})
        got = await run(corpora.feeds, collection)
        return got if isinstance(got, JSONResponse) else JSONResponse([feed_json(s) for s in got])

    @app.post("/api/feeds", summary="Subscribe to a feed and read its entries")
    async def add_feed(request: Request) -> JSONResponse:
        data = await body_of(request, ("url",))
        if isinstance(data, JSONResponse):
            return data
        got = await run(corpora.subscribe, data.get("collection"), data["url"].strip())
        return got if isinstance(got, JSONResponse) else JSONResponse(result_json(got.summary, got.feeds))

    @app.delete("/api/feeds", summary="Unsubscribe from a feed (its articles stay)")
    async def remove_feed(request: Request) -> JSONResponse:
        data = await body_of(request, ("url",))
        if isinstance(data, JSONResponse):
            return data
        got = await run(corpora.unsubscribe, data.get("collection"), data["url"].strip())
        if isinstance(got, JSONResponse):
            return got
        return JSONResponse({"removed": data["url"]}) if got else error(404, f"not subscribed: {data['url']}")

    @app.post("/api/feeds/refresh", summary="Refresh the subscribed feeds once")
    async def refresh_feeds(request: Request) -> JSONResponse:
        data = await body_of(request, ())
        if isinstance(data, JSONResponse):
            return data
        got = await run(corpora.refresh_feeds, data.get("collection"), data.get("urls"))
        return got if isinstance(got, JSONResponse) else JSONResponse(result_json(got.summary, got.feeds))

    @app.post("/api/urls", summary="Ingest article pages, or the entries of feeds, by URL")
    async def ingest_urls(request: Request) -> JSONResponse:
        data = await body_of(request, ())
        if isinstance(data, JSONResponse):
            return data
        if not data.get("urls"):
            return error(400, '"urls" is required (a list of http(s) URLs)')
        got = await run(corpora.ingest_urls, data.get("collection"), data["urls"])
        return got if isinstance(got, JSONResponse) else JSONResponse(result_json(got))
