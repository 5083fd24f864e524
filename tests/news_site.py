"""A news site on loopback for the feed tests: article pages, RSS and Atom feeds, robots.txt, faults.

It runs on pytest-httpserver (a real HTTP server on 127.0.0.1). Pages and feeds answer
conditional requests (ETag / Last-Modified → 304) as a real site does; every request is logged
so tests can tell a ``304`` from a full fetch.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass, field
from email.utils import formatdate
from html import escape
from typing import Any

from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

ARTICLE = """<!doctype html><html><head><title>{title} | Loopback News</title>
<meta name="date" content="{date}">{canonical}
</head><body><nav><a href="/">Home</a> <a href="/world">World</a></nav>
<article><h1>{title}</h1>{paragraphs}</article>
<footer>Subscribe to get the latest posts delivered to your inbox.</footer></body></html>"""


def article(title: str, body: list[str], date: str = "2025-03-01", canonical: str = "") -> str:
    link = f'<link rel="canonical" href="{canonical}">' if canonical else ""
    return ARTICLE.format(title=escape(title), date=date, canonical=link,
                          paragraphs="".join(f"<p>{escape(p)}</p>" for p in body))


@dataclass
class Resource:
    body: bytes
    content_type: str
    etag: str = ""
    modified: float = field(default_factory=time.time)


class NewsSite:
    """Pages and feeds served from ``server``; ``log`` holds (path, status) of every request."""

    def __init__(self, server: HTTPServer, robots: str = "User-agent: *\nAllow: /\n") -> None:
        self.server = server
        self.log: list[tuple[str, int]] = []
        self.resources: dict[str, Resource] = {}
        self.put("/robots.txt", robots.encode(), "text/plain")

    def url(self, path: str) -> str:
        return self.server.url_for(path)

    def put(self, path: str, body: bytes | str, content_type: str = "text/html; charset=utf-8") -> str:
        data = body.encode() if isinstance(body, str) else body
        if path not in self.resources:  # the handler reads the current resource: one per path
            self.server.expect_request(path).respond_with_handler(self._handler(path))
        self.resources[path] = Resource(data, content_type, '"' + hashlib.sha1(data).hexdigest()[:16] + '"')
        return self.url(path)

    def put_page(self, path: str, title: str, body: list[str], **kw: Any) -> str:
        return self.put(path, article(title, body, **kw))

    def rss(self, path: str, title: str, entries: list[tuple[str, str, str]]) -> str:
        """An RSS 2.0 feed of (link, title, RFC 822 date) entries."""
        items = "".join(f"<item><title>{escape(t)}</title><link>{escape(link)}</link><pubDate>{d}</pubDate></item>"
                        for link, t, d in entries)
        xml = (f'<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel><title>{escape(title)}</title>'
               f"<link>{self.url('/')}</link><description>test feed</description>{items}</channel></rss>")
        return self.put(path, xml, "application/rss+xml; charset=utf-8")

    def atom(self, path: str, title: str, entries: list[tuple[str, str, str]]) -> str:
        """An Atom feed of (link, title, ISO date) entries."""
        items = "".join(f'<entry><title>{escape(t)}</title><link href="{escape(link)}"/><id>{escape(link)}</id>'
                        f"<updated>{d}</updated></entry>" for link, t, d in entries)
        xml = (f'<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom">'
               f"<title>{escape(title)}</title><id>{self.url(path)}</id><updated>2025-03-02T00:00:00Z</updated>"
               f"{items}</feed>")
        return self.put(path, xml, "application/atom+xml")

    def fetched(self, path: str) -> list[int]:
        """Statuses of the requests for ``path`` so far."""
        return [status for p, status in self.log if p == path]

    def _handler(self, path: str):
        def handle(request: Request) -> Response:
            res = self.resources[path]
            stamp = formatdate(res.modified, usegmt=True)
            if request.headers.get("If-None-Match") == res.etag or (
                    not request.headers.get("If-None-Match") and request.headers.get("If-Modified-Since") == stamp):
                self.log.append((path, 304))
                return Response(status=304, headers={"ETag": res.etag})
            self.log.append((path, 200))
            return Response(res.body, status=200, content_type=res.content_type,
                            headers={"ETag": res.etag, "Last-Modified": stamp})

        return handle
