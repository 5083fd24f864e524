"""The Corpus tab: upload articles (with a progress bar and a result per file), list and delete documents,
follow feeds (:mod:`ui.feeds_tab`)."""

from __future__ import annotations

import html
from pathlib import Path

import gradio as gr

from ingest.pipeline import IngestSummary
from rag.dates import published_iso
from rag.errors import CitewireError
from rag.settings import Settings
from ui.corpora import Corpora
from ui.feeds_tab import build_feeds_section

ACCEPTED = [".txt", ".md", ".html", ".htm", ".json", ".jsonl", ".pdf"]
RESULT_HEADERS = ["file", "result", "details"]
DOC_HEADERS = ["doc id", "title", "date", "chunks", "source"]


def _file_rows(name: str, summary: IngestSummary) -> list[list[str]]:
    rows = [[name, "added", d] for d in summary.added]
    rows += [[name, "updated", d] for d in summary.updated]
    rows += [[name, "unchanged", f"{d} (already in the corpus)"] for d in summary.unchanged]
    rows += [[name, "rejected", f"line {f.line}: {f.reason}" if f.line else f.reason] for f in summary.failed]
    return rows or [[name, "rejected", "no documents found in the file"]]


def ingest_files(
    corpora: Corpora, collection: str | None, paths: list[str], max_bytes: int, progress: gr.Progress
) -> list[list[str]]:
    """Ingest each uploaded file on its own, so that every file gets its own result rows."""
    rows: list[list[str]] = []
    n = len(paths)
    for i, path in enumerate(paths):
        file = Path(path)
        name = file.name
        progress(i / n, desc=f"Ingesting {name} ({i + 1}/{n})")
        if file.suffix.lower() not in ACCEPTED:
            kind = file.suffix or "(none)"
            rows.append([name, "rejected", f"unsupported file type {kind}; use one of {' '.join(ACCEPTED)}"])
            continue
        size = file.stat().st_size
        if size > max_bytes:
            limit = max_bytes // 2**20
            rows.append([name, "rejected", f"file too large ({size / 2**20:.1f} MB; the limit is {limit} MB)"])
            continue

        def step(done: int, total: int, i: int = i, name: str = name) -> None:
            progress((i + done / max(total, 1)) / n, desc=f"Ingesting {name} ({i + 1}/{n})")

        summary = corpora.ingest(collection, [file], on_progress=step)
        rows.extend(_file_rows(name, summary))
    progress(1.0, desc="Done")
    return rows


def build_corpus_tab(demo: gr.Blocks, corpora: Corpora, settings: Settings, collection: gr.Dropdown) -> None:
    """Lay out the tab's components (inside the current Blocks) and wire its events."""
    note = gr.Markdown(label="collection")
    files = gr.File(
        label=f"Article files: {', '.join(ACCEPTED)} (at most {settings.max_upload_mb} MB each)",
        file_count="multiple",
        file_types=ACCEPTED,
        type="filepath",
        elem_id="cw-upload",
    )
    ingest_btn = gr.Button("Ingest files", variant="primary")
    results = gr.Dataframe(headers=RESULT_HEADERS, value=[], label="Upload results", interactive=False, wrap=True,
                           elem_id="cw-results")
    docs = gr.Dataframe(headers=DOC_HEADERS, value=[], label="Documents", interactive=False, wrap=True)
    with gr.Row():
        to_delete = gr.Dropdown(label="Documents to delete (by doc id)", multiselect=True, choices=[],
                                allow_custom_value=True, scale=4)
        delete_btn = gr.Button("Delete selected", variant="stop", scale=1)
    status = gr.Textbox(label="Status", interactive=False, lines=1)

    def refresh(collection: str | None):
        name = collection
        try:
            records = corpora.documents(name)
        except CitewireError as exc:
            raise gr.Error(str(exc), print_exception=False) from None
        chunks = sum(r.chunks for r in records)
        table = [[r.doc_id, r.title, published_iso(r.published) or "", r.chunks, r.source] for r in records]
        heading = (
            f"Collection **{html.escape(name or corpora.default)}**: {len(records)} documents, {chunks} chunks."
            " (Choose the collection under Settings in the Chat tab.)"
        )
        return heading, table, gr.Dropdown(choices=[r.doc_id for r in records], value=[])

    def on_ingest(files: list[str] | None, collection: str | None, progress=gr.Progress()):  # noqa: B008 - Gradio's idiom
        name, paths = collection, files
        if not paths:
            raise gr.Error("Choose one or more files to ingest first.", print_exception=False)
        try:
            rows = ingest_files(corpora, name, paths, settings.max_upload_mb * 2**20, progress)
        except CitewireError as exc:
            raise gr.Error(str(exc), print_exception=False) from None
        ok = sum(r[1] != "rejected" for r in rows)
        return rows, f"{ok} document(s) ingested or unchanged, {len(rows) - ok} rejected.", None, *refresh(name)

    def on_delete(doc_ids: list[str] | None, collection: str | None):
        name = collection
        if not doc_ids:
            raise gr.Error("Choose the documents to delete first.", print_exception=False)
        removed, missing = corpora.remove(name, doc_ids)
        message = f"Deleted {len(removed)} document(s)." + (f" Not found: {', '.join(missing)}." if missing else "")
        return message, *refresh(name)

    listing = [note, docs, to_delete]
    ingest_btn.click(on_ingest, [files, collection], [results, status, files, *listing],
                     concurrency_limit=1, api_name="ingest")
    delete_btn.click(on_delete, [to_delete, collection], [status, *listing], concurrency_limit=1, api_name="delete")
    collection.change(refresh, [collection], listing, api_visibility="undocumented")
    demo.load(refresh, [collection], listing, api_visibility="undocumented")
    build_feeds_section(demo, corpora, collection, listing, refresh)
