"""Feed ingest: a 500-item RSS feed from loopback against the same pages ingested from files, and a quiet refresh.

    .venv/bin/python bench/feeds.py [--items 500] [--delay 0]

The pages are the first ``--items`` articles of ../shared/eval/realtimeqa/corpus.jsonl, written
as HTML files into a temporary folder (read at run time, never copied into the project). In one run:

* ``files``: :class:`ingest.Ingestor` on that folder into a fresh store (the baseline);
* ``feed``: ``citewire``'s URL ingest of an RSS feed of the same pages, served by a threaded
  ``http.server`` on 127.0.0.1, into another fresh store: robots.txt, the feed, every page, the
  same cleaning, chunking and embedding;
* ``refresh``: a refresh of that feed when nothing changed: the feed answers 304 (Last-Modified),
  so nothing else is fetched and nothing embedded.

Printed: pages a second and the ratio feed/files, and the refresh's requests, seconds, chunks
and tokens embedded. ``--delay`` is the politeness pause between two requests to one host
(the default setting is 0.5 s, which bounds a single-host feed to 4 pages a second on its own;
0 measures the pipeline).
"""

from __future__ import annotations

import argparse
import functools
import json
import tempfile
import threading
import time
from html import escape
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from _common import ROOT, log

CORPUS = ROOT.parent / "shared" / "eval" / "realtimeqa" / "corpus.jsonl"


class QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


def write_site(folder: Path, items: int, port: int) -> int:
    """HTML pages of the first ``items`` articles and an RSS feed of them; the number written."""
    pages = folder / "pages"
    pages.mkdir(parents=True)
    entries = []
    with CORPUS.open(encoding="utf-8") as fh:
        for n, line in enumerate(fh):
            if n >= items:
                break
            doc = json.loads(line)
            paragraphs = "".join(f"<p>{escape(p)}</p>" for p in doc["text"].split("\n") if p.strip())
            name = f"a{n:04d}.html"
            (pages / name).write_text(
                f"<!doctype html><html><head><meta charset='utf-8'><title>{escape(doc['title'])}</title>"
                f"<meta name='date' content='{doc.get('published', '')}'></head><body><article>"
                f"<h1>{escape(doc['title'])}</h1>{paragraphs}</article></body></html>", encoding="utf-8")
            entries.append(f"<item><title>{escape(doc['title'])}</title>"
                           f"<link>http://127.0.0.1:{port}/pages/{name}</link></item>")
    (folder / "feed.xml").write_text(
        '<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel><title>Bench feed</title>'
        f"<link>http://127.0.0.1:{port}/</link><description>bench</description>{''.join(entries)}"
        "</channel></rss>", encoding="utf-8")
    return len(entries)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--items", type=int, default=500)
    p.add_argument("--delay", type=float, default=0.0, help="politeness pause per host (the setting's default: 0.5)")
    args = p.parse_args()

    from ingest.pipeline import Ingestor
    from ingest.web.refresh import refresh, subscribe
    from rag.embedding import Embedder
    from rag.settings import Settings
    from rag.store import Store

    with tempfile.TemporaryDirectory(prefix="citewire-bench-feeds-") as tmp:
        work = Path(tmp)
        site = work / "site"
        site.mkdir()
        server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(QuietHandler, directory=str(site)))
        port = server.server_address[1]
        threading.Thread(target=server.serve_forever, daemon=True).start()
        n = write_site(site, args.items, port)
        embedder = Embedder()
        embedder.embed_query("warm up the encoder")
        log(f"{n} pages on http://127.0.0.1:{port}/feed.xml")

        files = Settings(store_dir=work / "files")
        with Store.open(files, create=True) as store:
            started = time.perf_counter()
            by_file = Ingestor(files, store, embedder).ingest([site / "pages"], progress=False)
            files_s = time.perf_counter() - started
        log(f"files: {by_file.line()}")

        fed = Settings(store_dir=work / "feed", fetch_delay_s=args.delay)
        with Store.open(fed, create=True) as store:
            ingestor = Ingestor(fed, store, embedder)
            started = time.perf_counter()
            by_feed = subscribe(ingestor, f"http://127.0.0.1:{port}/feed.xml", allow_private=True, progress=False)
            feed_s = time.perf_counter() - started
            log(f"feed: {by_feed.summary.line()}")
            started = time.perf_counter()
            quiet = refresh(ingestor, allow_private=True)
            quiet_s = time.perf_counter() - started
        server.shutdown()

    files_rate, feed_rate = len(by_file.added) / files_s, len(by_feed.summary.added) / feed_s
    print(f"\n| step | pages | seconds | pages/s | ratio to files |\n|---|---|---|---|---|\n"
          f"| files (baseline) | {len(by_file.added)} | {files_s:.1f} | {files_rate:.1f} | 1.00 |\n"
          f"| feed from loopback (delay {args.delay:g} s) | {len(by_feed.summary.added)} | {feed_s:.1f} | "
          f"{feed_rate:.1f} | {feed_rate / files_rate:.2f} |\n")
    print(f"refresh with nothing changed: {quiet.requests} requests, {quiet_s:.2f} s "
          f"({quiet_s / files_s:.4f} of the files ingest), {quiet.summary.chunks} chunks and "
          f"{quiet.summary.tokens} tokens embedded, feed status {quiet.feeds[0].status}")


if __name__ == "__main__":
    main()
