"""The plain JSON endpoint beside the UI: ``POST /api/ask`` → ``Answer.to_dict()``.

Request body (JSON object)::

    {"question": "...", "history": [{"role": "user", "content": "..."}, ...],
     "since": "YYYY-MM-DD", "until": "YYYY-MM-DD", "as_of": "YYYY-MM-DD", "top_k": 5,
     "mode": "reader" | "sentence" | "llm", "collection": "news"}

Only ``question`` is required. Bad requests get a 4xx status and ``{"error": "<message>"}``;
a store that cannot be read (a Chroma server gone away, a full or damaged disk) gets 503, an
LLM endpoint that fails 502.
When the app runs with ``--auth user:password``, the endpoint wants the same credentials as
HTTP Basic auth.
"""

from __future__ import annotations

import base64
import binascii
import json
import secrets
import threading
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from rag.errors import CitewireError, LLMError, StoreError
from rag.types import Answer
from ui.chat import query_from, stream_answer
from ui.corpora import Corpora

MAX_BODY_BYTES = 1_000_000
_FIELDS: dict[str, tuple[type, ...]] = {
    "question": (str,),
    "history": (list,),
    "since": (str,),
    "until": (str,),
    "as_of": (str,),
    "top_k": (int,),
    "collection": (str,),
    "mode": (str,),
}


def error(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status, headers=headers)


def unauthorized() -> JSONResponse:
    """The 401 every endpoint answers without the ``--auth`` credentials (with the Basic challenge)."""
    return error(401, "authentication required (HTTP Basic, the --auth user:password)",
                 {"WWW-Authenticate": 'Basic realm="citewire"'})


def _type_name(types: tuple[type, ...]) -> str:
    return {str: "a string", list: "a list", int: "an integer"}[types[0]]


def parse_request(body: bytes) -> dict[str, Any]:
    """The validated fields of a request body; ValueError with a user message otherwise."""
    try:
        data = json.loads(body or b"null")
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise ValueError("the body is not valid JSON") from None
    if not isinstance(data, dict):
        raise ValueError('the body must be a JSON object like {"question": "..."}')
    unknown = sorted(set(data) - set(_FIELDS))
    if unknown:
        raise ValueError(f"unknown field(s): {', '.join(unknown)} (allowed: {', '.join(_FIELDS)})")
    if "question" not in data:
        raise ValueError('"question" is required')
    for name, value in data.items():
        types = _FIELDS[name]
        if value is None and name != "question":
            continue
        if not isinstance(value, types) or isinstance(value, bool):
            raise ValueError(f'"{name}" must be {_type_name(types)}')
    for i, turn in enumerate(data.get("history") or []):
        message = isinstance(turn, dict) and all(isinstance(turn.get(k), str) for k in ("role", "content"))
        pair = isinstance(turn, list) and len(turn) == 2 and all(isinstance(t, str) or t is None for t in turn)
        if not (message or pair):
            raise ValueError(
                f'history[{i}] must be {{"role": "user"|"assistant", "content": "..."}} or a [user, assistant] pair'
            )
    return data


def authorized(request: Request, auth: tuple[str, str]) -> bool:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic":
        return False
    try:
        user, _, password = base64.b64decode(value, validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return False
    return secrets.compare_digest(user, auth[0]) & secrets.compare_digest(password, auth[1])


def add_json_api(app: FastAPI, corpora: Corpora, auth: tuple[str, str] | None = None) -> None:
    """Register ``POST /api/ask`` on ``app``.

    At most ``max_concurrent_asks`` questions are answered at once; the others wait in their
    worker threads. Answering is CPU-bound, so on a small machine fifty at once would only make
    each one fifty times slower and hold fifty sets of candidates in memory.
    """
    gate = threading.BoundedSemaphore(corpora.primary.settings.max_concurrent_asks)

    def answer(data: dict[str, Any]) -> Answer:
        with gate:
            return _answer(data)

    def _answer(data: dict[str, Any]) -> Answer:
        result: Answer | None = None
        query = query_from(data["question"], data.get("history"), data.get("since"), data.get("until"),
                           data.get("top_k"), data.get("mode"), data.get("as_of"))
        for piece in stream_answer(corpora, query, data.get("collection")):
            if isinstance(piece, Answer):
                result = piece
        assert result is not None
        return result

    @app.post("/api/ask", summary="Answer a question with citations (Answer.to_dict() JSON)")
    async def api_ask(request: Request) -> JSONResponse:
        if auth is not None and not authorized(request, auth):
            return unauthorized()
        body = await request.body()
        if len(body) > MAX_BODY_BYTES:
            return error(413, f"the body is larger than {MAX_BODY_BYTES} bytes")
        try:
            data = parse_request(body)
        except ValueError as exc:
            return error(400, str(exc))
        if data.get("top_k") is not None and data["top_k"] <= 0:
            return error(400, "top_k must be between 1 and 50")
        try:
            result = await run_in_threadpool(answer, data)
        except LLMError as exc:
            return error(502, str(exc))
        except StoreError as exc:  # the store, not the request, is at fault: worth retrying later
            return error(503, str(exc))
        except CitewireError as exc:
            return error(400, str(exc))
        return JSONResponse(result.to_dict())
