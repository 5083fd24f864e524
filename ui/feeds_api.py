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

import functools
import json
from collections.abc import Awaitable, Callable
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


class _Refused(Exception):
    """A request turned away before any work: carries the reply to send."""

    def __init__(self, response: JSONResponse) -> None:
        super().__init__(response.status_code)
        self.response = response


def add_feeds_api(app: FastAPI, corpora: Corpora, authorized: Callable[[Request], bool]) -> None:
    """Register the feed and URL endpoints (``authorized(request) -> bool`` decides who may use them)."""
    from ui.api import error, unauthorized

    def replies(handler: Callable[..., Awaitable[JSONResponse]]) -> Callable[..., Awaitable[JSONResponse]]:
        """Every endpoint's frame: the credentials first, then one error reply per kind of failure.

        The handlers only say what they do; a refused body, a store that is down (503) or a URL
        citewire will not read (400: not a feed, unreachable, private) are answered here alike.
        """

        @functools.wraps(handler)
        async def endpoint(request: Request, *args: Any, **kwargs: Any) -> JSONResponse:
            if not authorized(request):
                return unauthorized()
            try:
                return await handler(request, *args, **kwargs)
            except _Refused as refused:
                return refused.response
            except StoreError as exc:
                return error(503, str(exc))
            except CitewireError as exc:
                return error(400, str(exc))

        return endpoint

    async def body_of(request: Request, required: tuple[str, ...] = ()) -> dict[str, Any]:
        """The request's JSON object, checked field by field; :class:`_Refused` with a 4xx otherwise."""
        raw = await request.body()
        if len(raw) > MAX_BODY_BYTES:
            raise _Refused(error(413, f"the body is larger than {MAX_BODY_BYTES} bytes"))
        try:
            data = json.loads(raw or b"{}")
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise _Refused(error(400, "the body is not valid JSON")) from None
        if not isinstance(data, dict):
            raise _Refused(error(400, "the body must be a JSON object"))
        for name in required:
            if not isinstance(data.get(name), str) or not data[name].strip():
                raise _Refused(error(400, f'"{name}" is required (a string)'))
        urls = data.get("urls")
        if urls is not None and (not isinstance(urls, list) or not all(isinstance(u, str) for u in urls)):
            raise _Refused(error(400, '"urls" must be a list of strings'))
        if data.get("collection") is not None and not isinstance(data["collection"], str):
            raise _Refused(error(400, '"collection" must be a string'))
        return data

    @app.get("/api/feeds", summary="The subscribed feeds")
    @replies
    async def list_feeds(request: Request, collection: str | None = None) -> JSONResponse:
        subs = await run_in_threadpool(corpora.feeds, collection)
        return JSONResponse([feed_json(s) for s in subs])

    @app.post("/api/feeds", summary="Subscribe to a feed and read its entries")
    @replies
    async def add_feed(request: Request) -> JSONResponse:
        data = await body_of(request, ("url",))
        got = await run_in_threadpool(corpora.subscribe, data.get("collection"), data["url"].strip())
        return JSONResponse(result_json(got.summary, got.feeds))

    @app.delete("/api/feeds", summary="Unsubscribe from a feed (its articles stay)")
    @replies
    async def remove_feed(request: Request) -> JSONResponse:
        data = await body_of(request, ("url",))
        if await run_in_threadpool(corpora.unsubscribe, data.get("collection"), data["url"].strip()):
            return JSONResponse({"removed": data["url"]})
        return error(404, f"not subscribed: {data['url']}")

    @app.post("/api/feeds/refresh", summary="Refresh the subscribed feeds once")
    @replies
    async def refresh_feeds(request: Request) -> JSONResponse:
        data = await body_of(request)
        got = await run_in_threadpool(corpora.refresh_feeds, data.get("collection"), data.get("urls"))
        return JSONResponse(result_json(got.summary, got.feeds))

    @app.post("/api/urls", summary="Ingest article pages, or the entries of feeds, by URL")
    @replies
    async def ingest_urls(request: Request) -> JSONResponse:
        data = await body_of(request)
        if not data.get("urls"):
            return error(400, '"urls" is required (a list of http(s) URLs)')
        return JSONResponse(result_json(await run_in_threadpool(corpora.ingest_urls, data.get("collection"),
                                                                data["urls"])))
