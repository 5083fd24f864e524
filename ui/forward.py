"""The client side of :mod:`ui.local_api`: a command whose store a running ``citewire serve`` holds goes there."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import httpx

from rag.errors import CitewireError
from rag.settings import Settings
from ui.cli_common import FORWARDED, SERVER_FILE, TOKEN_HEADER

# A question or an ingest may take a while on a busy server; a refresh of many feeds longer.
TIMEOUT_S = 3600.0


def server_for(settings: Settings) -> tuple[str, str] | None:
    """(url, token) of the ``citewire serve`` holding this embedded store, if one announced itself."""
    if settings.chroma_url:
        return None
    try:
        data = json.loads((settings.store_dir / SERVER_FILE).read_text())
        os.kill(int(data["pid"]), 0)  # still running?
        return str(data["url"]), str(data["token"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def absolute_paths(argv: list[str], command: str) -> list[str]:
    """``ingest``'s file and folder arguments made absolute: the server runs in another directory."""
    if command != "ingest":
        return argv
    from ingest.web.urls import is_url

    out, skip = [], False
    for arg in argv:
        if skip or arg.startswith("-") or arg == command or is_url(arg):
            skip = arg in ("--store", "--collection", "--chroma-url", "--ray")
            out.append(arg)
            continue
        out.append(str(Path(arg).resolve()) if Path(arg).exists() else arg)
    return out


def forward(argv: list[str], command: str, server: tuple[str, str]) -> int:
    """Run the command line in the server; print its output as if run here; its exit code."""
    if command not in FORWARDED:
        raise CitewireError(f"the store is in use by citewire serve at {server[0]}; stop it to run {command}")
    url, token = server
    try:
        reply = httpx.post(url.rstrip("/") + "/api/local/run", json={"argv": absolute_paths(argv, command),
                                                               "env": {k: v for k, v in os.environ.items()
                                                                       if k.startswith("CITEWIRE_")}},
                           headers={TOKEN_HEADER: token}, timeout=TIMEOUT_S, trust_env=False)
    except httpx.HTTPError as exc:
        raise CitewireError(f"the store is held by citewire serve at {url}, which does not answer ({exc})") from None
    if reply.status_code != 200:
        raise CitewireError(f"citewire serve at {url} refused the command: {reply.text[:200]}")
    data = reply.json()
    sys.stdout.write(data["stdout"])
    sys.stderr.write(data["stderr"])
    return int(data["code"])
