"""RSS 2.0 and Atom feeds (read with feedparser): the feed's name and its entries' links, titles, dates."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from urllib.parse import urljoin

from ingest.web.fetch import Fetched, FetchError

_HTML_TYPES = ("text/html", "application/xhtml+xml")
_XML_START = re.compile(rb"^\s*(?:<\?xml|<rss\b|<feed\b|<rdf:RDF\b)", re.IGNORECASE)
_HTML_START = re.compile(rb"^\s*(?:<!doctype html|<html\b)", re.IGNORECASE)
_ALTERNATE = re.compile(
    r"""<link\b[^>]*\btype\s*=\s*["']application/(?:rss|atom)\+xml["'][^>]*>""", re.IGNORECASE)
_HREF = re.compile(r"""\bhref\s*=\s*["']([^"']+)["']""", re.IGNORECASE)


@dataclass
class Entry:
    link: str
    title: str = ""
    published: str = ""  # YYYY-MM-DD when the entry says


@dataclass
class Feed:
    url: str
    title: str
    entries: list[Entry] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # entries that could not be used, one line each


def looks_like_html(fetched: Fetched) -> bool:
    return fetched.content_type in _HTML_TYPES or bool(_HTML_START.match(fetched.body[:512]))


def parse_feed(fetched: Fetched) -> Feed | None:
    """The feed in ``fetched``, or None when it is a web page; malformed feed XML is a :class:`FetchError`."""
    if looks_like_html(fetched):
        return None
    import feedparser

    kind = fetched.content_type + (f"; charset={fetched.charset}" if fetched.charset else "")
    parsed = feedparser.parse(fetched.body, response_headers={"content-location": fetched.url,
                                                              "content-type": kind or "application/xml"})
    benign = (feedparser.CharacterEncodingOverride, feedparser.NonXMLContentType)
    if parsed.get("bozo") and isinstance(parsed.get("bozo_exception"), benign):
        parsed["bozo"] = 0  # a content type or charset label that disagrees with the XML: read as XML
    looks_xml = "xml" in fetched.content_type or bool(_XML_START.match(fetched.body[:512]))
    if not parsed.get("version"):
        if looks_xml or parsed.get("bozo"):
            reason = parsed.get("bozo_exception")
            why = str(reason).splitlines()[0] if reason else "no RSS or Atom root element"
            raise FetchError(f"{fetched.url}: malformed feed XML ({why})")
        return None
    feed = Feed(fetched.url, " ".join(str(parsed.feed.get("title", "")).split()))
    problems = []
    for i, e in enumerate(parsed.entries, start=1):
        link = e.get("link") or next((x.get("href") for x in e.get("links", []) if x.get("href")), "")
        if not link:
            problems.append(f"{fetched.url}: entry {i} ({e.get('title', 'untitled')}) has no link")
            continue
        day = e.get("published_parsed") or e.get("updated_parsed")
        feed.entries.append(Entry(urljoin(fetched.url, link.strip()), " ".join(str(e.get("title", "")).split()),
                                  time.strftime("%Y-%m-%d", day) if day else ""))
    if parsed.get("bozo"):  # feedparser reads what it can of a broken feed; say it was broken, once
        why = str(parsed.get("bozo_exception")).splitlines()[0]
        if not feed.entries:
            raise FetchError(f"{fetched.url}: malformed feed XML ({why})")
        problems = [f"{fetched.url}: malformed feed XML ({why}); its {len(feed.entries)} readable entries are read"]
    feed.problems = problems
    return feed


def not_a_feed(fetched: Fetched) -> FetchError:
    """The error for a page given where a feed was expected, naming the feed the page links to, if any."""
    try:
        html = fetched.text()
    except FetchError:
        html = ""
    for tag in _ALTERNATE.findall(html[:200_000]):
        href = _HREF.search(tag)
        if href:
            return FetchError(f"{fetched.url}: an HTML page, not an RSS or Atom feed "
                              f"(it names a feed: {urljoin(fetched.url, href.group(1))})")
    return FetchError(f"{fetched.url}: not an RSS or Atom feed ({fetched.content_type or 'unknown content type'})")
