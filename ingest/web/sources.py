"""URLs → documents: a feed becomes its entries' article pages, any other URL its own page.

Pages are fetched a few at a time (the fetcher keeps each host's limit) and, when the store has
their document, conditionally: a page answering ``304`` is :class:`~ingest.pipeline.Unchanged`
and costs neither extraction nor embedding; a changed page goes through the same cleaning as an
HTML file and replaces its document when its text changed. Every failure is one
:class:`~ingest.readers.ReadFailure` naming the URL; the other pages still go in.

A page's validators are saved only once its document is in the store (:meth:`WebReader.save_state`),
so a run that dies halfway fetches those pages again rather than believing them stored.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from urllib.parse import urlsplit

from ingest.pipeline import IngestSummary, Unchanged
from ingest.readers import ReadFailure, Rejected, document_from_html, without_heading
from ingest.web.feeds import Entry, Feed, looks_like_html, parse_feed
from ingest.web.fetch import Fetched, Fetcher, FetchError
from ingest.web.urls import canonical_url, without_tracking
from rag.dates import coerce_day
from rag.store import DocumentRecord
from rag.store.feeds import FeedRegistry, Validators

log = logging.getLogger(__name__)
PAGE_WORKERS = 6  # pages fetched at once over all hosts (each host still gets at most fetch_per_host)

Item = DocumentRecord | ReadFailure | Unchanged


def failure(url: str, exc: Exception) -> ReadFailure:
    """A one-line failure for ``url`` (the error's own copy of the URL left out)."""
    message = str(exc)
    return ReadFailure(url, message[len(url) + 2:] if message.startswith(url + ": ") else message)


@dataclass
class _PageState:
    url: str
    validators: Validators
    doc_id: str


class WebReader:
    """Reads feeds and pages for one ingest run; remembers what to record once the run has stored it."""

    def __init__(self, fetcher: Fetcher, registry: FeedRegistry, known: Iterable[str]) -> None:
        self.fetcher = fetcher
        self.registry = registry
        self.known = set(known)
        self._pages: list[_PageState] = []
        self._emitted: set[str] = set()  # documents already given this run (a story in two feeds is one)

    def read(self, urls: Iterable[str]) -> Iterator[Item]:
        """Documents, failures and unchanged markers for every URL given (feeds or pages)."""
        for url in urls:
            validators, doc_id = self._known_page(url)
            try:
                fetched = self.fetcher.get(url, validators)  # a page already stored is asked "changed since?"
                if fetched.unchanged:
                    self._pages.append(_PageState(url, validators or Validators(), doc_id))
                    yield from self._once([Unchanged(doc_id)])
                    continue
                feed = parse_feed(fetched)
            except FetchError as exc:
                yield failure(url, exc)
                continue
            if feed is None:
                yield from self._once([self.page(Entry(url), "", fetched)])
            else:
                yield from self.entries(feed)

    def entries(self, feed: Feed) -> Iterator[Item]:
        """The pages of a feed's entries, fetched a few at a time, in the feed's order."""
        for problem in feed.problems:
            yield ReadFailure(feed.url, problem.split(": ", 1)[-1])
        seen: set[str] = set()
        unique = [e for e in feed.entries if not (e.link in seen or seen.add(e.link))]  # type: ignore[func-returns-value]
        with ThreadPoolExecutor(max_workers=PAGE_WORKERS, thread_name_prefix="citewire-fetch") as pool:
            yield from self._once(pool.map(lambda e: self.page(e, feed.title), unique))

    def _once(self, items: Iterable[Item]) -> Iterator[Item]:
        """Each document once per run, however many URLs or feeds lead to it."""
        for item in items:
            doc_id = getattr(item, "doc_id", None)
            if doc_id is not None:
                if doc_id in self._emitted:
                    log.info("%s: already read in this run", doc_id)
                    continue
                self._emitted.add(doc_id)
            yield item

    def page(self, entry: Entry, source: str, fetched: Fetched | None = None) -> Item:
        """One article page as a document (or unchanged, or a failure); ``fetched``: already fetched."""
        try:
            validators, doc_id = self._known_page(entry.link)
            fetched = fetched or self.fetcher.get(entry.link, validators)
            if fetched.unchanged:
                self._pages.append(_PageState(entry.link, validators or Validators(), doc_id))
                return Unchanged(doc_id)
            record = page_record(fetched, entry, source)
        except (FetchError, Rejected) as exc:
            return failure(entry.link, exc)
        self._pages.append(_PageState(entry.link, fetched.validators, record.doc_id))
        return record

    def _known_page(self, url: str) -> tuple[Validators | None, str]:
        """The validators and document of a page this store has (by its URL or its tracking-free form)."""
        validators, doc_id = self.registry.page(url)
        if not doc_id:  # the same page reached another way (a feed's link with tracking tags)
            validators, doc_id = self.registry.page(without_tracking(url))
        if doc_id not in self.known:  # never stored, or removed since: fetch it whole
            return None, doc_id
        return validators, doc_id

    def save_state(self, summary: IngestSummary) -> None:
        """Record the validators of the pages whose documents this run stored (or found unchanged)."""
        stored = set(summary.added) | set(summary.updated) | set(summary.unchanged)
        for page in self._pages:
            if page.doc_id in stored:
                for url in {page.url, page.doc_id}:  # by the URL fetched and by the story's own
                    self.registry.save_page(url, page.validators, page.doc_id)


def page_record(fetched: Fetched, entry: Entry, source: str) -> DocumentRecord:
    """A fetched article page → its cleaned document, id'd by its canonical URL.

    Title and date come from the feed entry when it gives them (the publisher's own), else from
    the page; the source is the feed's name, else the site's.
    """
    if not looks_like_html(fetched) and not fetched.content_type.startswith("text/"):
        raise FetchError(f"{fetched.url}: not a web page ({fetched.content_type or 'unknown content type'})")
    html = fetched.text()
    doc_id = canonical_url(html, fetched.url)
    record = document_from_html(html, doc_id, fetched.url, fallback_title=entry.title or doc_id)
    record.url = doc_id
    record.text = without_heading(record.text, entry.title)
    record.title = entry.title or record.title
    record.published = coerce_day(entry.published) or record.published
    record.source = source or record.source or (urlsplit(doc_id).hostname or "")
    return record
