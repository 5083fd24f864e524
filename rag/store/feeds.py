"""Feed subscriptions and fetch state, kept in the corpus's own Chroma (``<name>__feeds``).

Living beside the documents, they move with the store: in server mode every replica sees the
same subscriptions. Two kinds of record:

* ``feed:<url>``: a subscription, with what its last refresh found (when, status, items, errors)
  and the feed's ``ETag`` / ``Last-Modified`` for a conditional request next time;
* ``page:<url>``: an article page reached from a feed or given as a URL, with its validators and
  the document id (canonical URL) it became, so an unchanged page costs one ``304``.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, fields
from typing import TYPE_CHECKING, Any

from rag.store.writes import PLACEHOLDER_VECTOR

if TYPE_CHECKING:
    from chromadb.api.models.Collection import Collection

FEEDS_SUFFIX = "__feeds"
_FEED, _PAGE = "feed:", "page:"


@dataclass
class Validators:
    """What a server said about a resource, to ask it "changed since?" next time."""

    etag: str = ""
    last_modified: str = ""


@dataclass
class Subscription:
    """A feed the corpus follows, and how its last refresh went."""

    url: str
    title: str = ""
    added_at: int = 0
    last_fetch: int = 0  # unix seconds; 0: never fetched
    status: str = "new"  # new | ok | unchanged | partial | failed
    items: int = 0  # entries in the feed at the last fetch
    new_items: int = 0  # documents added or updated by the last refresh
    errors: str = ""  # the last refresh's failures, one per line
    etag: str = ""
    last_modified: str = ""

    def metadata(self) -> dict[str, Any]:
        return {"kind": "feed", **asdict(self)}

    @classmethod
    def from_metadata(cls, meta: dict[str, Any]) -> Subscription:
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in meta.items() if k in names})


class FeedRegistry:
    """Subscriptions and page validators of one corpus."""

    def __init__(self, collection: Collection) -> None:
        self.collection = collection

    # ------------------------------------------------------------------ subscriptions
    def add(self, url: str, title: str = "") -> Subscription:
        """Subscribe (idempotent: an existing subscription is returned as it is)."""
        existing = self.get(url)
        if existing is not None:
            return existing
        sub = Subscription(url=url, title=title, added_at=int(time.time()))
        self.save(sub)
        return sub

    def get(self, url: str) -> Subscription | None:
        got = self.collection.get(ids=[_FEED + url], include=["metadatas"])
        return Subscription.from_metadata(got["metadatas"][0] or {}) if got["ids"] else None

    def save(self, sub: Subscription) -> None:
        self._put(_FEED + sub.url, sub.metadata())

    def remove(self, url: str) -> bool:
        """Unsubscribe; the documents the feed brought stay in the corpus."""
        if self.get(url) is None:
            return False
        self.collection.delete(ids=[_FEED + url])
        return True

    def list(self) -> list[Subscription]:
        got = self.collection.get(where={"kind": "feed"}, include=["metadatas"])
        subs = [Subscription.from_metadata(m or {}) for m in got["metadatas"]]
        return sorted(subs, key=lambda s: (s.added_at, s.url))

    # ------------------------------------------------------------------ pages
    def page(self, url: str) -> tuple[Validators, str]:
        """A page's validators and the document id it became (empty when never fetched)."""
        got = self.collection.get(ids=[_PAGE + url], include=["metadatas"])
        if not got["ids"]:
            return Validators(), ""
        meta = got["metadatas"][0] or {}
        return Validators(str(meta.get("etag", "")), str(meta.get("last_modified", ""))), str(meta.get("doc_id", ""))

    def save_page(self, url: str, validators: Validators, doc_id: str) -> None:
        self._put(_PAGE + url, {"kind": "page", "url": url, "doc_id": doc_id, **asdict(validators),
                                "fetched_at": int(time.time())})

    def _put(self, record_id: str, meta: dict[str, Any]) -> None:
        self.collection.upsert(ids=[record_id], embeddings=[PLACEHOLDER_VECTOR], documents=[""], metadatas=[meta])
