"""The ``citewire`` command: ingest, list, remove, ask, serve, eval.

Each subcommand imports its machinery lazily so that ``citewire --help`` and error paths stay
fast. User-facing errors (:class:`rag.CitewireError`) print one line and exit 2; no traceback.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from pathlib import Path

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from pydantic import ValidationError

from rag.errors import CitewireError
from rag.settings import Settings, invalid_setting

log = logging.getLogger("citewire")

EXIT_OK, EXIT_PARTIAL, EXIT_USAGE = 0, 1, 2


def _store_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--store", type=Path, help="store directory (CITEWIRE_STORE_DIR)")
    p.add_argument("--collection", help="corpus name (CITEWIRE_COLLECTION)")
    p.add_argument("--chroma-url", help="use a Chroma server at http://HOST:PORT (CITEWIRE_CHROMA_URL)")


def _settings(args: argparse.Namespace) -> Settings:
    return Settings().with_overrides(
        store_dir=getattr(args, "store", None),
        collection=getattr(args, "collection", None),
        chroma_url=getattr(args, "chroma_url", None),
        top_k=getattr(args, "top_k", None),
        llm_url=getattr(args, "llm_url", None),
        llm_model=getattr(args, "llm_model", None),
    )


def cmd_ingest(args: argparse.Namespace) -> int:
    from ingest import ingest_paths

    settings = _settings(args)
    summary = ingest_paths(args.paths, settings, progress=not args.quiet)
    for failure in summary.failed:
        print(f"failed: {failure}", file=sys.stderr)
    print(f"{summary.line()} → {settings.chroma_url or settings.store_dir} [{settings.collection}]")
    return EXIT_OK if summary.ok else EXIT_PARTIAL


def cmd_list(args: argparse.Namespace) -> int:
    from rag.store import Store, published_iso

    with Store.open(_settings(args)) as store:
        docs = store.list_documents()
        if args.json:
            print(json.dumps([{"doc_id": d.doc_id, "title": d.title, "published": published_iso(d.published),
                               "chunks": d.chunks, "source": d.source, "url": d.url} for d in docs], indent=2))
            return EXIT_OK
        from rich.console import Console
        from rich.table import Table

        table = Table(title=f"{len(docs)} documents, {store.count_chunks()} chunks")
        for col in ("doc id", "title", "date", "chunks"):
            table.add_column(col, overflow="fold")
        for d in docs:
            table.add_row(d.doc_id, d.title, published_iso(d.published), str(d.chunks))
        Console(soft_wrap=False, width=max(100, Console().width)).print(table)
    return EXIT_OK


def cmd_remove(args: argparse.Namespace) -> int:
    from rag.store import Store

    missing = 0
    with Store.open(_settings(args)) as store:
        for doc_id in args.doc_ids:
            if store.remove(doc_id):
                print(f"removed {doc_id}")
            else:
                print(f"not found: {doc_id}", file=sys.stderr)
                missing += 1
    return EXIT_PARTIAL if missing else EXIT_OK


def cmd_ask(args: argparse.Namespace) -> int:
    from rag.engine import Engine
    from ui.render_text import render_answer

    with Engine.open(_settings(args)) as engine:
        answer = engine.ask(
            args.question, since=args.since, until=args.until, top_k=args.top_k, as_of=args.as_of,
            mode=args.mode,
        )
    if args.json:
        print(json.dumps(answer.to_dict(), ensure_ascii=False, indent=2))
    else:
        print(render_answer(answer))
    return EXIT_OK


def cmd_serve(args: argparse.Namespace) -> int:
    from ui.app import serve

    settings = _settings(args).with_overrides(host=args.host, port=args.port)
    serve(settings, auth=args.auth)
    return EXIT_OK


def cmd_eval(args: argparse.Namespace) -> int:
    from eval.command import run_command

    return run_command(args, _settings(args))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="citewire", description="Cited answers over a corpus of news articles.")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("ingest", help="add files or folders of articles to the store")
    p.add_argument("paths", nargs="+", type=Path)
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    _store_flags(p)
    p.set_defaults(func=cmd_ingest)

    p = sub.add_parser("list", help="list the documents in the store")
    p.add_argument("--json", action="store_true")
    _store_flags(p)
    p.set_defaults(func=cmd_list)

    p = sub.add_parser("remove", help="remove documents (and their chunks) by id")
    p.add_argument("doc_ids", nargs="+")
    _store_flags(p)
    p.set_defaults(func=cmd_remove)

    p = sub.add_parser("ask", help="answer a question with citations")
    p.add_argument("question")
    p.add_argument("--json", action="store_true", help="print Answer.to_dict() as JSON")
    p.add_argument("--since", help="only articles published on/after YYYY-MM-DD")
    p.add_argument("--until", help="only articles published on/before YYYY-MM-DD")
    p.add_argument("--as-of", help="reference date for 'this week', 'latest' (default: today)")
    p.add_argument("--top-k", type=int, help="passages to return")
    p.add_argument("--mode", choices=["extractive", "llm"], help="answerer (default: llm when configured)")
    p.add_argument("--llm-url", help="OpenAI-compatible base URL, e.g. http://127.0.0.1:11434/v1")
    p.add_argument("--llm-model", help="model name at that endpoint")
    _store_flags(p)
    p.set_defaults(func=cmd_ask)

    p = sub.add_parser("serve", help="serve the chat UI and the JSON API")
    p.add_argument("--host", help="bind address (default 127.0.0.1)")
    p.add_argument("--port", type=int, help="port (default 7860)")
    p.add_argument("--auth", help="user:password required to use the app")
    p.add_argument("--llm-url")
    p.add_argument("--llm-model")
    _store_flags(p)
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser("eval", help="run a question set and report quality")
    p.add_argument("questions", type=Path)
    p.add_argument("--corpus", type=Path, help="corpus file or folder to ingest first")
    p.add_argument("--out", type=Path, default=Path("eval-out"))
    p.add_argument("--retriever", default="default", help="default | hybrid | dense | bm25")
    p.add_argument("--compare", type=Path, help="an earlier report.json to diff against")
    p.add_argument("--limit", type=int, help="only the first N questions")
    p.add_argument("--top-k", type=int)
    _store_flags(p)
    p.set_defaults(func=cmd_eval)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    try:
        return args.func(args)
    except CitewireError as exc:
        print(f"citewire: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except ValidationError as exc:  # a bad CITEWIRE_* environment variable
        print(f"citewire: error: {invalid_setting(exc)}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("citewire: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
