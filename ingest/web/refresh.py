"""Ingesting URLs, and keeping subscribed feeds fresh.

A refresh asks each due feed "changed since?" (its ETag / Last-Modified): a ``304`` costs one
request and nothing else. A changed feed's entries are read by :class:`~ingest.web.sources.WebReader`
(their pages asked conditionally too), so new stories are added, corrected ones replace their old
chunks, unchanged ones cost a ``304`` or at most a content-hash comparison, and an entry that left
the feed stays in the corpus. A feed's validators are kept only when all of its entries went in, so a
page that failed is tried again next time instead of hiding behind the feed's ``304``.
"""

from __future__ import annotations

import itertools
import logging
import re
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from ingest.pipeline import Ingestor, IngestSummary
from ingest.readers import ReadFailure
from ingest.web.feeds import Feed, not_a_feed, parse_feed
from ingest.web.fetch import Fetched, Fetcher, FetchError
from ingest.web.sources import Item, WebReader, failure
from rag.errors import CitewireError
from rag.store import DocumentRecord
from rag.store.feeds import Subscription, Validators

log = logging.getLogger(__name__)
_EVERY = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd])\s*$")


def interval_seconds(text: str) -> float:
    """``30m``, ``2h``, ``1d``, ``45s`` → seconds; a one-line error for anything else."""
    m = _EVERY.match(text or "")
    if not m or float(m.group(1)) <= 0:
        raise CitewireError(f"invalid refresh interval {text!r}: use a number and s, m, h or d, e.g. 30m")
    return float(m.group(1)) * {"s": 1, "m": 60, "h": 3600, "d": 86400}[m.group(2)]


def ingest_urls(ingestor: Ingestor, urls: Iterable[str], allow_private: bool, progress: bool = True,
                also: Iterable[Item] = ()) -> IngestSummary:
    """Ingest web pages and feeds' entries (and ``also``, e.g. files read beside them) in one run."""
    with Fetcher(ingestor.settings, allow_private) as fetcher:
        reader = WebReader(fetcher, ingestor.store.feeds, ingestor.store.document_hashes())
        summary = ingestor.ingest_items(itertools.chain(also, reader.read(urls)), progress=progress)
        reader.save_state(summary)
    return summary


@dataclass
class RefreshResult:
    """What a refresh did: the ingest summary over all feeds, and each feed's record after it."""

    summary: IngestSummary = field(default_factory=IngestSummary)
    feeds: list[Subscription] = field(default_factory=list)
    requests: int = 0

    @property
    def ok(self) -> bool:
        return self.summary.ok and all(f.status != "failed" for f in self.feeds)


def fetch_feed(fetcher: Fetcher, url: str, validators: Validators | None = None) -> tuple[Fetched, Feed | None]:
    """A feed's response and its parsed entries (None when it answered 304); a page is an error."""
    fetched = fetcher.get(url, validators)
    if fetched.unchanged:
        return fetched, None
    feed = parse_feed(fetched)
    if feed is None:
        raise not_a_feed(fetched)
    return fetched, feed


def refresh(ingestor: Ingestor, urls: Iterable[str] | None = None, allow_private: bool = True,
            due_every: float = 0.0, progress: bool = False) -> RefreshResult:
    """Refresh the subscribed feeds (``urls``: only these; ``due_every``: only those not fetched for that long)."""
    registry = ingestor.store.feeds
    wanted = set(urls) if urls is not None else None
    now = time.time()
    subs = [s for s in registry.list() if (wanted is None or s.url in wanted)
            and (not due_every or now - s.last_fetch >= due_every)]
    result = RefreshResult(feeds=subs)
    if not subs:
        return result
    with Fetcher(ingestor.settings, allow_private) as fetcher:
        reader = WebReader(fetcher, registry, ingestor.store.document_hashes())
        tally: dict[str, tuple[list[str], list[str]]] = {s.url: ([], []) for s in subs}
        fresh: dict[str, Validators] = {}
        not_modified: set[str] = set()

        def items() -> Iterator[Item]:
            for sub in subs:
                docs, errors = tally[sub.url]
                try:
                    fetched, feed = fetch_feed(fetcher, sub.url, Validators(sub.etag, sub.last_modified))
                except FetchError as exc:
                    errors.append(str(exc))
                    yield failure(sub.url, exc)
                    continue
                if feed is None:
                    not_modified.add(sub.url)
                    continue
                sub.title, sub.items = feed.title or sub.title, len(feed.entries)
                fresh[sub.url] = fetched.validators
                for item in reader.entries(feed):
                    if isinstance(item, ReadFailure):
                        errors.append(str(item))
                    elif isinstance(item, DocumentRecord):
                        docs.append(item.doc_id)
                    yield item

        result.summary = ingestor.ingest_items(items(), progress=progress)
        reader.save_state(result.summary)
        result.requests = fetcher.requests
    changed = set(result.summary.added) | set(result.summary.updated)
    for sub in subs:
        docs, errors = tally[sub.url]
        sub.last_fetch = int(now)
        sub.errors = "\n".join(errors)
        sub.new_items = len(changed & set(docs))
        if sub.url in not_modified:
            sub.status = "unchanged"
        else:
            sub.status = "failed" if errors and not docs else "partial" if errors else "ok"
        validators = fresh.get(sub.url, Validators(sub.etag, sub.last_modified))
        # Kept only when every entry went in: else the next refresh must read the feed again.
        sub.etag, sub.last_modified = ("", "") if errors else (validators.etag, validators.last_modified)
        registry.save(sub)
    return result


def subscribe(ingestor: Ingestor, url: str, allow_private: bool, progress: bool = True) -> RefreshResult:
    """Subscribe the corpus to a feed (checked to be one first) and read its entries now."""
    with Fetcher(ingestor.settings, allow_private) as fetcher:
        _, feed = fetch_feed(fetcher, url)
    registry = ingestor.store.feeds
    registry.add(url, feed.title if feed else "")
    return refresh(ingestor, [url], allow_private=allow_private, progress=progress)
