"""Commands from a second terminal, run inside ``citewire serve`` (``POST /api/local/run``).

An embedded store belongs to one process; while ``citewire serve`` holds it, ``citewire ask``,
``ingest``, ``list``, ``remove`` and ``feeds`` in another terminal would stop with "store is in
use". Instead, the server writes where it listens and a random token into ``.citewire.server.json``
beside its lock (readable by its owner only), and those commands send their arguments there: the
server runs them on its own open store (taking the write turn for writes) and returns their output
and exit code, so they read the same as when run alone. The token keeps anyone who can reach the
port but not read the store directory out: they get the ordinary API, whose URLs may not reach
private addresses.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import secrets
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

from rag.errors import CitewireError
from rag.settings import invalid_setting
from ui.cli_common import FORWARDED, SERVER_FILE, TOKEN_HEADER
from ui.corpora import Corpora

_one_at_a_time = threading.Lock()


def announce(store_dir: Path, url: str) -> str:
    """Write the server's address and a new token beside the store's lock; returns the token."""
    token = secrets.token_urlsafe(24)
    path = store_dir / SERVER_FILE
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump({"url": url, "token": token, "pid": os.getpid()}, fh)
    return token


def withdraw(store_dir: Path) -> None:
    (store_dir / SERVER_FILE).unlink(missing_ok=True)


def run_here(argv: list[str], corpora: Corpora, parser: Callable[[], argparse.ArgumentParser],
             env: dict[str, str] | None = None) -> tuple[int, str, str]:
    """Run a ``citewire`` command line on the server's stores: (exit code, stdout, stderr).

    ``env``: the calling terminal's ``CITEWIRE_*`` variables, so that the command's settings (its
    answer mode among them) are the caller's, not the server's.
    """
    from ui.cli_common import EXIT_USAGE, serving_for

    out, err = io.StringIO(), io.StringIO()
    # The redirection is process-wide: commands from two terminals take turns, or their output would mix.
    with _one_at_a_time, contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            args = parser().parse_args(argv)
        except SystemExit as exc:
            return int(exc.code or 0), out.getvalue(), err.getvalue()
        if args.command not in FORWARDED:
            return EXIT_USAGE, "", f"citewire: error: {args.command} cannot run beside a server on its store\n"
        if hasattr(args, "quiet"):
            args.quiet = True  # no progress bar to draw on another terminal
        try:
            with serving_for(corpora, env):
                code = args.func(args)
        except CitewireError as exc:
            print(f"citewire: error: {exc}", file=err)
            code = EXIT_USAGE
        except ValidationError as exc:  # a bad CITEWIRE_* variable of the caller
            print(f"citewire: error: {invalid_setting(exc)}", file=err)
            code = EXIT_USAGE
    return code, out.getvalue(), err.getvalue()


def add_local_api(app: FastAPI, corpora: Corpora, token: str, parser: Callable[[], argparse.ArgumentParser]) -> None:
    """Register ``POST /api/local/run`` for the holder of ``token`` (``parser``: the ``citewire`` command's)."""
    from ui.api import error

    @app.post("/api/local/run", include_in_schema=False)
    async def local_run(request: Request) -> JSONResponse:
        if not secrets.compare_digest(request.headers.get(TOKEN_HEADER, ""), token):
            return error(403, "not a command from this machine's citewire (no valid token)")
        try:
            data: Any = json.loads(await request.body())
        except (json.JSONDecodeError, UnicodeDecodeError):
            return error(400, "the body is not valid JSON")
        argv = data.get("argv") if isinstance(data, dict) else None
        if not isinstance(argv, list) or not all(isinstance(a, str) for a in argv):
            return error(400, '"argv" must be a list of strings')
        env = data.get("env") or {}
        if not isinstance(env, dict) or not all(isinstance(k, str) and k.startswith("CITEWIRE_")
                                                and isinstance(v, str) for k, v in env.items()):
            return error(400, '"env" must map CITEWIRE_* names to strings')
        code, out, err = await run_in_threadpool(run_here, argv, corpora, parser, env)
        return JSONResponse({"code": code, "stdout": out, "stderr": err})
