"""``POST /api/documents``: push articles into the corpus over HTTP (a feed, another service).

Two kinds of body, both ingested by the same pipeline as ``citewire ingest`` (same cleaning,
chunking, hashes; unchanged documents cost nothing, changed ones replace their old chunks):

* ``application/json``: ``{"documents": [{"id", "title", "text", "published", "url", "source"}, …],
  "collection": "news"}`` (or just the list). Every document needs an ``id`` and a ``text``.
* ``multipart/form-data``: one or more ``file`` fields (txt, md, html, json/jsonl, pdf).

The reply says, per document, what happened::

    {"added": ["id", …], "updated": […], "unchanged": […], "rejected": [{"document": "id", "reason": "…"}]}

With ``--auth`` the endpoint wants the same credentials as the rest of the app (HTTP Basic); a
body larger than ``max_upload_mb`` is refused with 413 before anything is read into the store.
"""

from __future__ import annotations

import json
import re
import tempfile
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from ingest.pipeline import IngestSummary
from rag.errors import CitewireError, StoreError
from ui.corpora import Corpora

_SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")


def summary_json(summary: IngestSummary, rejected: list[dict[str, str]] | None = None) -> dict[str, Any]:
    return {
        "added": summary.added,
        "updated": summary.updated,
        "unchanged": summary.unchanged,
        "rejected": [*(rejected or []),
                     *({"document": f"{Path(f.path).name}" + (f":{f.line}" if f.line else ""), "reason": f.reason}
                       for f in summary.failed)],
    }


def _documents_file(documents: object, folder: Path) -> tuple[Path | None, list[dict[str, str]]]:
    """Valid documents as one JSONL file; the others as rejections naming why."""
    if not isinstance(documents, list):
        raise ValueError('"documents" must be a list of {"id", "title", "text", …} objects')
    rejected: list[dict[str, str]] = []
    lines: list[str] = []
    for i, doc in enumerate(documents):
        if not isinstance(doc, dict):
            rejected.append({"document": f"#{i}", "reason": "not a JSON object"})
            continue
        doc_id = doc.get("id")
        if not isinstance(doc_id, str) or not doc_id.strip():
            rejected.append({"document": f"#{i}", "reason": 'missing "id" (a non-empty string)'})
            continue
        if not isinstance(doc.get("text"), str) or not doc["text"].strip():
            rejected.append({"document": doc_id, "reason": 'missing or empty "text"'})
            continue
        lines.append(json.dumps(doc, ensure_ascii=False))
    if not lines:
        return None, rejected
    path = folder / "pushed.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path, rejected


def add_documents_api(app: FastAPI, corpora: Corpora, authorized, max_bytes: int) -> None:
    """Register ``POST /api/documents`` (``authorized(request) -> bool`` decides who may push)."""
    from ui.api import error, unauthorized

    @app.post("/api/documents", summary="Add or update documents (JSON documents or files)")
    async def api_documents(request: Request) -> JSONResponse:
        if not authorized(request):
            return unauthorized()
        size = int(request.headers.get("content-length") or 0)
        if size > max_bytes:
            return error(413, f"the body is larger than {max_bytes // 2**20} MB (CITEWIRE_MAX_UPLOAD_MB)")
        kind = request.headers.get("content-type", "")
        with tempfile.TemporaryDirectory(prefix="citewire-push-") as tmp:
            folder = Path(tmp)
            rejected: list[dict[str, str]] = []
            paths: list[Path] = []
            collection = None
            if kind.startswith("multipart/form-data"):
                form = await request.form()
                collection = form.get("collection") or None
                for upload in form.getlist("file"):
                    if not hasattr(upload, "read"):
                        continue
                    name = _SAFE_NAME.sub("_", Path(upload.filename or "upload").name) or "upload"
                    data = await upload.read()
                    if len(data) > max_bytes:
                        return error(413, f"{name} is larger than {max_bytes // 2**20} MB")
                    (folder / name).write_bytes(data)
                    paths.append(folder / name)
                if not paths:
                    return error(400, 'no "file" fields in the form')
            else:
                body = await request.body()
                if len(body) > max_bytes:
                    return error(413, f"the body is larger than {max_bytes // 2**20} MB (CITEWIRE_MAX_UPLOAD_MB)")
                try:
                    data = json.loads(body or b"null")
                except (json.JSONDecodeError, UnicodeDecodeError):
                    return error(400, "the body is not valid JSON")
                if isinstance(data, dict):
                    collection = data.get("collection")
                    data = data.get("documents")
                try:
                    path, rejected = _documents_file(data, folder)
                except ValueError as exc:
                    return error(400, str(exc))
                if path is not None:
                    paths.append(path)
            if not paths:
                return JSONResponse(summary_json(IngestSummary(), rejected), status_code=422)
            try:
                summary = await run_in_threadpool(corpora.ingest, collection, paths)
            except StoreError as exc:
                return error(503, str(exc))
            except CitewireError as exc:
                return error(400, str(exc))
        return JSONResponse(summary_json(summary, rejected))
