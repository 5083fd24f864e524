"""``citewire eval QUESTIONS.jsonl [--corpus …] [--store …] [--out …] [--retriever …] [--compare …]``.

With ``--corpus`` and no ``--store``, the corpus is ingested into a store of its own under the
user cache directory (one per corpus path), never into the user's default store; re-running
reuses it because ingest skips unchanged documents.
"""

from __future__ import annotations

import hashlib
import re
import subprocess
import sys
import time
from argparse import Namespace
from pathlib import Path
from typing import Any

from eval.compare import load_report, to_text
from eval.errors import EvalError
from eval.questions import Question, load_questions
from eval.scoring import SECTIONS
from rag.settings import Settings

EXIT_OK = 0


def corpus_key(corpus: Path) -> str:
    """A stable directory/collection-safe name for a corpus path, e.g. ``squad-v2-corpus-1a2b3c4d5e``."""
    resolved = corpus.resolve()
    digest = hashlib.sha1(str(resolved).encode()).hexdigest()[:10]
    stem = resolved.stem if resolved.is_file() else resolved.name
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", f"{resolved.parent.name}-{stem}").strip("-._")[:36]
    return f"{slug or 'corpus'}-{digest}"


def eval_store_dir(corpus: Path) -> Path:
    """Where an evaluation keeps the index of ``corpus`` when no --store is given."""
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("citewire", appauthor=False)) / "eval" / corpus_key(corpus)


def _git_commit() -> str | None:
    try:
        got = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=Path(__file__).resolve().parents[1],
                             capture_output=True, text=True, timeout=5, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    return got.stdout.strip() or None


def _check_retriever(name: str) -> None:
    from rag.retrieve import RETRIEVERS

    if name not in RETRIEVERS:
        raise EvalError(f"unknown retriever {name!r}; choose one of {', '.join(RETRIEVERS)}")


def _warn_unknown_gold(questions: list[Question], store: Any) -> None:
    """Gold doc ids that the store does not hold mean the corpus and the questions do not match."""
    known = {d.doc_id for d in store.list_documents()}
    gold = {d for q in questions for d in q.doc_ids}
    missing = sorted(gold - known)
    if missing:
        print(f"citewire eval: warning: {len(missing)} of {len(gold)} gold doc ids are not in the store "
              f"(e.g. {missing[0]!r}); is this the questions' corpus?", file=sys.stderr)


def open_engine(settings: Settings, corpus: Path | None, questions: list[Question]) -> tuple[Any, dict[str, Any]]:
    """Ingest ``corpus`` (when given) and open the engine on the store; returns it and ingest details."""
    from rag.engine import Engine
    from rag.store import Store

    details: dict[str, Any] = {}
    if corpus is None:
        engine = Engine.open(settings)
        _warn_unknown_gold(questions, engine.store)
        return engine, details
    from ingest import Ingestor

    store = Store.open(settings, create=True)
    try:
        ingestor = Ingestor(settings, store)
        started = time.perf_counter()
        summary = ingestor.ingest([corpus], progress=True)
        details["ingest_s"] = round(time.perf_counter() - started, 2)
        details["ingest"] = {"added": len(summary.added), "updated": len(summary.updated),
                             "unchanged": len(summary.unchanged), "failed": len(summary.failed),
                             "chunks_written": summary.chunks}
        for failure in summary.failed[:10]:
            print(f"citewire eval: warning: not ingested: {failure}", file=sys.stderr)
        if len(summary.failed) > 10:
            print(f"citewire eval: warning: … and {len(summary.failed) - 10} more", file=sys.stderr)
        print(f"ingest: {summary.line()} → {settings.chroma_url or settings.store_dir} [{settings.collection}]",
              file=sys.stderr)
        if store.count_chunks() == 0:
            raise EvalError(f"--corpus {corpus}: nothing could be ingested")
        _warn_unknown_gold(questions, store)
        return Engine(store, settings, embedder=ingestor.embedder), details
    except BaseException:
        store.close()
        raise


def _summary_text(data: dict[str, Any], paths: dict[str, Path]) -> str:
    counts = data.get("counts", {})
    lines = [f"eval: {data['n']} questions ({counts.get('answerable')} answerable, "
             f"{counts.get('unanswerable')} unanswerable"
             + (f", {counts['errors']} errors" if counts.get("errors") else "")
             + f") · retriever {data.get('retriever')} · top_k {data.get('top_k')}"]
    for section, metrics in SECTIONS.items():
        cells = []
        for m in metrics:
            v = data[section].get(m)
            cells.append(f"{m} {'–' if v is None else (f'{v:.0f}' if section == 'latency_ms' else f'{v:.3f}')}")
        lines.append(f"  {section:<10} " + "  ".join(cells))
    if data.get("ingest_s") is not None:
        lines.append(f"  ingest     {data['ingest_s']:.1f}s")
    out = paths["report"].parent
    lines.append(f"wrote {out}/: " + ", ".join(sorted(p.name for p in paths.values())))
    return "\n".join(lines)


def run_command(args: Namespace, settings: Settings) -> int:
    """The ``citewire eval`` subcommand (``args`` from :func:`ui.cli.build_parser`)."""
    from eval.runner import run

    questions = load_questions(args.questions, getattr(args, "limit", None))
    old = load_report(args.compare) if getattr(args, "compare", None) else None
    out = Path(getattr(args, "out", None) or "eval-out")
    if out.exists() and not out.is_dir():
        raise EvalError(f"--out {out} is a file, not a directory")
    corpus: Path | None = getattr(args, "corpus", None)
    if corpus is not None and not corpus.exists():
        raise EvalError(f"--corpus {corpus}: no such file or directory")
    retriever = getattr(args, "retriever", None) or "default"
    _check_retriever(retriever)
    if corpus is not None:
        if getattr(args, "store", None) is None:
            settings = settings.with_overrides(store_dir=eval_store_dir(corpus))
        if settings.chroma_url and getattr(args, "collection", None) is None:
            settings = settings.with_overrides(collection="eval-" + corpus_key(corpus).rsplit("-", 1)[1])

    engine, details = open_engine(settings, corpus, questions)
    try:
        report = run(questions, engine, retriever=retriever, top_k=getattr(args, "top_k", None),
                     mode=getattr(args, "mode", None), progress=True)
    finally:
        engine.close()
    modes = sorted({r.answer.mode for r in report.results if r.answer is not None})
    report.meta.update({
        "questions_file": str(args.questions),
        "corpus": str(corpus) if corpus else None,
        "store": settings.chroma_url or str(settings.store_dir),
        "collection": settings.collection,
        "mode": ",".join(modes) or None,
        **details,
        "commit": _git_commit(),
    })
    paths = report.write(out, compare=old, compare_label=str(args.compare) if old else None)
    print(_summary_text(report.to_dict(), paths))
    if old is not None:
        from eval.compare import compare

        print(to_text(compare(old, report.to_dict()), str(args.compare)))
    return EXIT_OK
