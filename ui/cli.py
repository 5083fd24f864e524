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
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import NoReturn

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from pydantic import ValidationError

from rag.errors import CitewireError, StoreError
from rag.settings import invalid_setting
from ui.cli_common import EXIT_OK, EXIT_PARTIAL, EXIT_USAGE, open_engine, open_ingestor, open_store
from ui.cli_common import settings_from_args as _settings
from ui.cli_feeds import add_feeds_parser

log = logging.getLogger("citewire")

FORMATS = ".txt .md (with an optional --- front-matter header: title, date, source, url), .html/.htm, " \
          ".json (an object or a list), .jsonl (one object a line: id, title, text, published, url, source), .pdf"
# The answer modes and retriever kinds, as their registries name them (kept in step by a test:
# importing the registries here would load the model stack for every `citewire --help`).
MODES = {
    "reader": "the trained reader's exact answer, its sentence quoted, sources compared (default)",
    "sentence": "the best-supported sentences, quoted (no reader model)",
    "llm": "an OpenAI-compatible LLM's answer, every sentence checked against its citation "
           "(default when --llm-url and --llm-model are set)",
}
RETRIEVERS = {
    "default": "hybrid, then evidence reranking (the product)",
    "hybrid": "dense + BM25 fused by reciprocal rank",
    "dense": "embedding similarity only",
    "bm25": "BM25 only",
}


class _Parser(argparse.ArgumentParser):
    """argparse with citewire's error style: one line naming the problem, exit 2, no usage dump."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"citewire: error: {message} (see {self.prog} --help)\n")


def _choices(table: dict[str, str]) -> str:
    return "; ".join(f"{k}: {v}" for k, v in table.items())


def _version() -> str:
    try:
        return version("citewire")
    except PackageNotFoundError:  # run from a checkout without installing
        return "unknown"


def _store_parent() -> argparse.ArgumentParser:
    """The flags every command shares: where the store is, and -v.

    -v works before or after the command; SUPPRESS keeps a command from resetting it when absent.
    """
    parent = argparse.ArgumentParser(add_help=False)
    p = parent.add_argument_group("store and logging")
    p.add_argument("-v", "--verbose", action="store_true", default=argparse.SUPPRESS,
                   help="debug logging on stderr")
    p.add_argument("--store", type=Path, metavar="DIR",
                   help="embedded store directory (default ~/.local/share/citewire/store; CITEWIRE_STORE_DIR)")
    p.add_argument("--collection", metavar="NAME", help="corpus name (default news; CITEWIRE_COLLECTION)")
    p.add_argument("--chroma-url", metavar="URL",
                   help="use a Chroma server at http://HOST:PORT instead of the directory (CITEWIRE_CHROMA_URL)")
    return parent


def _llm_parent() -> argparse.ArgumentParser:
    """The flags of the commands that can answer with an LLM."""
    parent = argparse.ArgumentParser(add_help=False)
    p = parent.add_argument_group("LLM answerer")
    p.add_argument("--llm-url", metavar="URL",
                   help="OpenAI-compatible base URL, e.g. http://127.0.0.1:8080/v1 (CITEWIRE_LLM_URL)")
    p.add_argument("--llm-model", metavar="NAME", help="model name at that endpoint (CITEWIRE_LLM_MODEL)")
    return parent


def cmd_ingest(args: argparse.Namespace) -> int:
    from ingest.web.urls import is_url

    settings = _settings(args).with_overrides(ray_address=args.ray)
    urls = [p for p in args.paths if is_url(p)]
    paths = [Path(p) for p in args.paths if not is_url(p)]
    if settings.ray_address:
        if urls:
            raise CitewireError("--ray ingests files and folders; ingest URLs and feeds without it")
        from ingest.ray_ingest import ingest_on_ray

        summary = ingest_on_ray(paths, settings, settings.ray_address, progress=not args.quiet)
    elif urls:
        from ingest.readers import read_inputs
        from ingest.web.refresh import ingest_urls

        with open_ingestor(settings) as ingestor:  # the CLI is the machine's owner: any address
            summary = ingest_urls(ingestor, urls, allow_private=True, progress=not args.quiet,
                                  also=read_inputs(paths) if paths else ())
    else:
        with open_ingestor(settings) as ingestor:
            summary = ingestor.ingest(paths, progress=not args.quiet)
    for failure in summary.failed:
        print(f"failed: {failure}", file=sys.stderr)
    print(f"{summary.line()} → {settings.chroma_url or settings.store_dir} [{settings.collection}]")
    return EXIT_OK if summary.ok else EXIT_PARTIAL


def cmd_list(args: argparse.Namespace) -> int:
    from rag.dates import published_iso

    with open_store(_settings(args)) as store:
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
            table.add_row(d.doc_id, d.title, published_iso(d.published) or "", str(d.chunks))
        Console(soft_wrap=False, width=max(100, Console().width)).print(table)
    return EXIT_OK


def cmd_remove(args: argparse.Namespace) -> int:
    missing = 0
    with open_store(_settings(args)) as store:
        for doc_id in args.doc_ids:
            if store.remove(doc_id):
                print(f"removed {doc_id}")
            else:
                print(f"not found: {doc_id}", file=sys.stderr)
                missing += 1
    return EXIT_PARTIAL if missing else EXIT_OK


def cmd_ask(args: argparse.Namespace) -> int:
    from rag.answer import default_mode
    from rag.query import Query
    from ui.render_text import render_answer

    settings = _settings(args)
    with open_engine(settings) as engine:  # the mode is this command's (a server's engine has its own)
        answer = engine.ask(Query(
            args.question, since=args.since, until=args.until, as_of=args.as_of, top_k=args.top_k,
            mode=args.mode or default_mode(settings), retriever=args.retriever,
        ))
    if args.json:
        print(json.dumps(answer.to_dict(), ensure_ascii=False, indent=2))
    else:
        print(render_answer(answer))
    return EXIT_OK


def cmd_serve(args: argparse.Namespace) -> int:
    from ui.app import serve

    settings = _settings(args).with_overrides(host=args.host, port=args.port, feed_refresh_every=args.refresh_every)
    serve(settings, auth=args.auth, parser=build_parser)
    return EXIT_OK


def cmd_eval(args: argparse.Namespace) -> int:
    from eval.command import run_command

    return run_command(args, _settings(args))


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="citewire", description="Cited answers over a corpus of news articles.",
        epilog="Exit codes: 0 ok; 1 partly done (some files or ids failed, each said on stderr); "
               "2 a one-line error (bad input, missing store, bad setting).",
    )
    parser.add_argument("--version", action="version", version=f"citewire {_version()}")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging on stderr")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    store, llm = _store_parent(), _llm_parent()

    p = sub.add_parser(
        "ingest", parents=[store], help="add files, folders, feeds or web pages of articles to the store",
        description=f"Read, clean, chunk, embed and store articles. Formats: {FORMATS}. Folders are read "
                    "recursively; a document's id is its path relative to the folder given, or a web page's "
                    "canonical URL. Re-ingesting skips unchanged documents and replaces changed ones.",
        epilog="Exit codes: 0 everything ingested; 1 some files or lines failed (one line each on stderr, "
               "the rest ingested); 2 a one-line error (no store access, bad setting).",
    )
    p.add_argument("paths", nargs="+", metavar="PATH|URL",
                   help="article files or folders; http(s) URLs of RSS/Atom feeds (each entry's page is "
                        "ingested) or of article pages")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    p.add_argument("--ray", nargs="?", const="auto", metavar="ADDRESS",
                   help="read, chunk and embed on a Ray cluster (HOST:PORT; auto, the default, joins the one "
                        "running here; CITEWIRE_RAY_ADDRESS); needs --chroma-url and citewire[ray]")
    p.set_defaults(func=cmd_ingest)

    add_feeds_parser(sub, store)

    p = sub.add_parser("list", parents=[store], help="list the documents in the store",
                       description="The store's documents, newest first: id, title, date, chunks.")
    p.add_argument("--json", action="store_true", help="print a JSON list instead of a table")
    p.set_defaults(func=cmd_list)

    p = sub.add_parser("remove", parents=[store], help="remove documents (and their chunks) by id",
                       description="Remove documents by id (as `citewire list` shows them).",
                       epilog="Exit codes: 0 all removed; 1 some ids were not found; 2 a one-line error.")
    p.add_argument("doc_ids", nargs="+", metavar="DOC_ID", help="document ids to remove")
    p.set_defaults(func=cmd_remove)

    p = sub.add_parser("ask", parents=[llm, store], help="answer a question with citations",
                       description="Answer one question from the store, citing the exact passages, or say "
                                   "that the corpus does not say.",
                       epilog="Exit codes: 0 an answer or a refusal; 2 a one-line error (empty or too long "
                              "question, bad date, missing store).")
    p.add_argument("question", help="the question, in quotes")
    p.add_argument("--json", action="store_true", help="print the answer as JSON (Answer.to_dict())")
    p.add_argument("--since", metavar="YYYY-MM-DD", help="only articles published on or after this date")
    p.add_argument("--until", metavar="YYYY-MM-DD", help="only articles published on or before this date")
    p.add_argument("--as-of", metavar="YYYY-MM-DD",
                   help="the reference date for 'this week', 'latest' (default today)")
    p.add_argument("--top-k", type=int, metavar="N", help="passages to return, 1-50 (default 5; CITEWIRE_TOP_K)")
    p.add_argument("--mode", choices=list(MODES), help=f"answerer: {_choices(MODES)}")
    p.add_argument("--retriever", choices=list(RETRIEVERS), default="default",
                   help=f"retriever: {_choices(RETRIEVERS)}")
    p.set_defaults(func=cmd_ask)

    p = sub.add_parser("serve", parents=[llm, store], help="serve the chat UI and the JSON API",
                       description="Serve the chat (Gradio) at / and POST /api/ask on one port.")
    p.add_argument("--host", help="bind address (default 127.0.0.1; CITEWIRE_HOST)")
    p.add_argument("--port", type=int, help="port (default 7860; CITEWIRE_PORT)")
    p.add_argument("--auth", metavar="USER:PASSWORD", help="require these credentials for the UI and the API")
    p.add_argument("--refresh-every", metavar="INTERVAL",
                   help="refresh the subscribed feeds in the background this often, e.g. 30m, 2h "
                        "(CITEWIRE_FEED_REFRESH_EVERY)")
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser("eval", parents=[llm, store], help="run a question set and report quality",
                       description="Ask every question of a JSONL set and write results.jsonl, report.json, "
                                   "report.md and plots (retrieval, answer, citation, refusal, latency).")
    p.add_argument("questions", type=Path, metavar="QUESTIONS.jsonl",
                   help='question set: one {"id", "question", "answers", "doc_ids", "date"?} a line')
    p.add_argument("--corpus", type=Path, metavar="PATH",
                   help="corpus file or folder to ingest first (into a store of its own under the user cache)")
    p.add_argument("--out", type=Path, default=Path("eval-out"), metavar="DIR",
                   help="where the report goes (default eval-out)")
    p.add_argument("--mode", choices=list(MODES), help=f"answerer: {_choices(MODES)}")
    p.add_argument("--retriever", choices=list(RETRIEVERS), default="default",
                   help=f"retriever: {_choices(RETRIEVERS)}")
    p.add_argument("--compare", type=Path, metavar="REPORT.json", help="an earlier report.json to diff against")
    p.add_argument("--limit", type=int, metavar="N", help="only the first N questions")
    p.add_argument("--top-k", type=int, metavar="N", help="passages per answer (default 5)")
    p.set_defaults(func=cmd_eval)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    try:
        code = args.func(args)
        sys.stdout.flush()
        return code
    except BrokenPipeError:
        # `citewire ask --json | head`: the reader left; end quietly, as Unix tools do.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_OK
    except StoreError as exc:
        from ui.forward import forward, server_for

        server = server_for(_settings(args)) if "is in use by" in str(exc) else None
        if server is None:
            print(f"citewire: error: {exc}", file=sys.stderr)
            return EXIT_USAGE
        try:  # the store is held by a running `citewire serve`: run the command there
            return forward(argv, args.command, server)
        except CitewireError as again:
            print(f"citewire: error: {again}", file=sys.stderr)
            return EXIT_USAGE
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
