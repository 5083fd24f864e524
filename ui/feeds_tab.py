"""The Corpus tab's Feeds section: follow a feed, see how each refresh went, unfollow, refresh now."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import gradio as gr

from rag.errors import CitewireError
from ui.corpora import Corpora

FEED_HEADERS = ["feed", "title", "last fetch", "status", "items", "errors"]


def _when(seconds: int) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%d %H:%M UTC") if seconds else "never"


def feed_rows(corpora: Corpora, collection: str | None) -> list[list[Any]]:
    return [[s.url, s.title, _when(s.last_fetch), s.status, s.items, s.errors.replace("\n", "; ")]
            for s in corpora.feeds(collection)]


def last_refresh(corpora: Corpora, collection: str | None) -> str:
    subs = corpora.feeds(collection)
    if not subs:
        return "No feeds yet: paste a feed's URL above."
    latest = max(s.last_fetch for s in subs)
    return f"{len(subs)} feed(s); last refresh {_when(latest)}."


def build_feeds_section(demo: gr.Blocks, corpora: Corpora, collection: gr.Dropdown, listing: list[Any],
                        refresh_listing: Callable[[str | None], Any]) -> None:
    """Lay out the Feeds section (inside the Corpus tab) and wire it to ``corpora``."""
    gr.Markdown("### Feeds\nFollow an RSS or Atom feed: its articles are ingested now and at every refresh "
                "(`citewire serve --refresh-every 30m`). Articles stay when they leave the feed.")
    with gr.Row():
        url = gr.Textbox(label="Feed URL (RSS or Atom)", placeholder="https://example.com/rss.xml", scale=4,
                         elem_id="cw-feed-url")
        add = gr.Button("Add feed", variant="primary", scale=1, elem_id="cw-feed-add")
    table = gr.Dataframe(headers=FEED_HEADERS, value=[], label="Feeds", interactive=False, wrap=True,
                         elem_id="cw-feeds")
    with gr.Row():
        chosen = gr.Dropdown(label="Feeds to remove", multiselect=True, choices=[], scale=3)
        remove = gr.Button("Remove selected", variant="stop", scale=1)
        refresh_now = gr.Button("Refresh now", scale=1, elem_id="cw-feed-refresh")
    status = gr.Textbox(label="Feeds status", interactive=False, lines=2, elem_id="cw-feed-status")

    def show(name: str | None, message: str = "") -> tuple[Any, ...]:
        try:
            rows = feed_rows(corpora, name)
            note = last_refresh(corpora, name)
        except CitewireError as exc:
            raise gr.Error(str(exc), print_exception=False) from None
        return (rows, gr.Dropdown(choices=[r[0] for r in rows], value=[]),
                f"{message}\n{note}".strip(), *refresh_listing(name))

    def summary_line(result: Any) -> str:
        failures = "; ".join(str(f) for f in result.summary.failed[:5])
        more = f" (+{len(result.summary.failed) - 5} more)" if len(result.summary.failed) > 5 else ""
        return result.summary.line() + (f". Failed: {failures}{more}" if failures else "")

    def on_add(feed_url: str, name: str | None) -> tuple[Any, ...]:
        if not (feed_url or "").strip():
            raise gr.Error("Paste a feed's URL first.", print_exception=False)
        try:
            result = corpora.subscribe(name, feed_url.strip())
        except CitewireError as exc:
            raise gr.Error(str(exc), print_exception=False) from None
        return "", *show(name, f"Subscribed to {feed_url.strip()}: {summary_line(result)}")

    def on_remove(urls: list[str] | None, name: str | None) -> tuple[Any, ...]:
        if not urls:
            raise gr.Error("Choose the feeds to remove first.", print_exception=False)
        gone = [u for u in urls if corpora.unsubscribe(name, u)]
        return show(name, f"Removed {len(gone)} feed(s); their articles stay in the corpus.")

    def on_refresh(name: str | None) -> tuple[Any, ...]:
        try:
            result = corpora.refresh_feeds(name)
        except CitewireError as exc:
            raise gr.Error(str(exc), print_exception=False) from None
        return show(name, f"Refreshed: {summary_line(result)}")

    outputs = [table, chosen, status, *listing]
    add.click(on_add, [url, collection], [url, *outputs], concurrency_limit=1, api_name="add_feed")
    url.submit(on_add, [url, collection], [url, *outputs], concurrency_limit=1, api_visibility="undocumented")
    remove.click(on_remove, [chosen, collection], outputs, concurrency_limit=1, api_name="remove_feeds")
    refresh_now.click(on_refresh, [collection], outputs, concurrency_limit=1, api_name="refresh_feeds")
    collection.change(show, [collection], outputs, api_visibility="undocumented")
    demo.load(show, [collection], outputs, api_visibility="undocumented")
