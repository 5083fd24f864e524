"""``citewire serve --refresh-every 30m``: the subscribed feeds of every collection, refreshed in the background.

One daemon thread wakes every interval and refreshes each collection's due feeds through the app's
:class:`~ui.corpora.Corpora` (so refreshes and uploads take turns on the one write lock, and the
answers see new stories at once). A failing refresh is logged and recorded on its feeds; the thread
goes on.
"""

from __future__ import annotations

import logging
import threading
import time

from ingest.web.refresh import interval_seconds
from rag.errors import CitewireError
from ui.corpora import Corpora

log = logging.getLogger(__name__)

__all__ = ["interval_seconds", "refresh_all", "start_refresher"]


def refresh_all(corpora: Corpora, every: float) -> None:
    """One round: every collection's feeds not fetched for ``every`` seconds."""
    for name in corpora.names():
        try:
            if not corpora.feeds(name):
                continue
            result = corpora.refresh_feeds(name, due_every=every * 0.9)  # a little early beats a round late
            if result.feeds:
                log.info("refreshed %d feeds of %s: %s", len(result.feeds), name, result.summary.line())
        except CitewireError as exc:
            log.warning("refreshing the feeds of %s failed: %s", name, exc)


def start_refresher(corpora: Corpora, every: float, stop: threading.Event | None = None) -> threading.Thread:
    """Start the background refresh (first round at once, then every ``every`` seconds, until ``stop``)."""
    stop = stop or threading.Event()

    def loop() -> None:
        while not stop.is_set():
            started = time.monotonic()
            refresh_all(corpora, every)
            stop.wait(max(0.5, every - (time.monotonic() - started)))

    thread = threading.Thread(target=loop, name="citewire-feed-refresh", daemon=True)
    thread.start()
    log.info("refreshing feeds every %.0f s", every)
    return thread
