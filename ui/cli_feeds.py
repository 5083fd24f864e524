"""``citewire feeds add | list | remove | refresh``: the corpus's feed subscriptions from the shell."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime
from typing import Any

from ui.cli_common import EXIT_OK, EXIT_PARTIAL, open_ingestor, open_store, settings_from_args


def _when(seconds: int) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%d %H:%M UTC") if seconds else "never"


def _report(result: Any, action: str) -> int:
    """One line per failure on stderr, then a summary line; exit 1 when anything failed."""
    for failure in result.summary.failed:
        print(f"failed: {failure}", file=sys.stderr)
    for sub in result.feeds:
        print(f"{sub.url}: {sub.status}, {sub.items} items, {sub.new_items} new or updated")
    print(f"{action}: {result.summary.line()}")
    return EXIT_OK if result.ok else EXIT_PARTIAL


def cmd_feeds_add(args: argparse.Namespace) -> int:
    from ingest.web.refresh import subscribe

    with open_ingestor(settings_from_args(args)) as ingestor:
        return _report(subscribe(ingestor, args.url, allow_private=True, progress=not args.quiet),
                       f"subscribed to {args.url}")


def cmd_feeds_list(args: argparse.Namespace) -> int:
    with open_store(settings_from_args(args), create=True) as store:
        subs = store.feeds.list()
    if args.json:
        print(json.dumps([{k: v for k, v in vars(s).items() if k not in ("etag", "last_modified")} for s in subs],
                         indent=2))
        return EXIT_OK
    if not subs:
        print("no feeds; add one with: citewire feeds add URL")
        return EXIT_OK
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"{len(subs)} feeds")
    for col in ("url", "title", "last fetch", "status", "items", "errors"):
        table.add_column(col, overflow="fold")
    for s in subs:
        table.add_row(s.url, s.title, _when(s.last_fetch), s.status, str(s.items), s.errors or "")
    Console(soft_wrap=False, width=max(100, Console().width)).print(table)
    return EXIT_OK


def cmd_feeds_remove(args: argparse.Namespace) -> int:
    missing = 0
    with open_store(settings_from_args(args), create=True) as store:
        for url in args.urls:
            if store.feeds.remove(url):
                print(f"unsubscribed from {url} (its articles stay in the corpus)")
            else:
                print(f"not subscribed: {url}", file=sys.stderr)
                missing += 1
    return EXIT_PARTIAL if missing else EXIT_OK


def cmd_feeds_refresh(args: argparse.Namespace) -> int:
    from ingest.web.refresh import interval_seconds, refresh

    settings = settings_from_args(args)
    due = interval_seconds(settings.feed_refresh_every) if settings.feed_refresh_every and not args.urls else 0.0
    with open_ingestor(settings) as ingestor:
        known = {s.url for s in ingestor.store.feeds.list()}
        unknown = [u for u in args.urls if u not in known]
        for url in unknown:
            print(f"not subscribed: {url}", file=sys.stderr)
        result = refresh(ingestor, args.urls or None, allow_private=True, due_every=due, progress=not args.quiet)
    if not result.feeds:
        print("no feed due for a refresh" if known else "no feeds; add one with: citewire feeds add URL")
    code = _report(result, "refreshed")
    return EXIT_PARTIAL if unknown else code


def add_feeds_parser(sub: Any, store: argparse.ArgumentParser) -> None:
    """The ``feeds`` command and its four subcommands."""
    feeds = sub.add_parser("feeds", parents=[store], help="follow RSS/Atom feeds: add, list, remove, refresh",
                           description="Subscriptions live with the store (a Chroma server shares them).")
    actions = feeds.add_subparsers(dest="feeds_command", required=True, metavar="ACTION",
                                   help="add, list, remove or refresh")
    p = actions.add_parser("add", parents=[store], help="subscribe to a feed and ingest its entries now",
                           epilog="Exit codes: 0 subscribed, every entry ingested; 1 some entries failed (one "
                                  "line each); 2 not a feed, unreachable, or another one-line error.")
    p.add_argument("url", help="the RSS or Atom feed's URL")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_feeds_add)
    p = actions.add_parser("list", parents=[store], help="the subscribed feeds: last fetch, status, items, errors")
    p.add_argument("--json", action="store_true", help="print a JSON list instead of a table")
    p.set_defaults(func=cmd_feeds_list)
    p = actions.add_parser("remove", parents=[store], help="unsubscribe (the articles stay in the corpus)")
    p.add_argument("urls", nargs="+", metavar="URL")
    p.set_defaults(func=cmd_feeds_remove)
    p = actions.add_parser("refresh", parents=[store], help="fetch every due feed once (or the ones named)",
                           description="Asks each feed whether it changed (ETag / Last-Modified): an unchanged "
                                       "feed or page costs one request and no embedding. With "
                                       "CITEWIRE_FEED_REFRESH_EVERY set, only feeds not fetched for that long.")
    p.add_argument("urls", nargs="*", metavar="URL", help="only these subscribed feeds")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_feeds_refresh)
