"""What every ``citewire`` command shares: exit codes, and the settings its flags make."""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from rag.settings import Settings

EXIT_OK, EXIT_PARTIAL, EXIT_USAGE = 0, 1, 2
# Commands a second terminal may run inside a `citewire serve` that holds their store (ui.local_api).
SERVER_FILE = ".citewire.server.json"
TOKEN_HEADER = "X-Citewire-Token"
FORWARDED = ("ingest", "list", "remove", "ask", "feeds")


def settings_from_args(args: argparse.Namespace) -> Settings:
    """The settings of a command: ``CITEWIRE_*`` variables (the caller's, when run inside a server for
    a second terminal), then its flags."""
    env = _client_env.get()
    base = Settings(**{k[len("CITEWIRE_"):].lower(): v for k, v in env.items()}) if env else Settings()
    return base.with_overrides(
        store_dir=getattr(args, "store", None),
        collection=getattr(args, "collection", None),
        chroma_url=getattr(args, "chroma_url", None),
        top_k=getattr(args, "top_k", None),
        llm_url=getattr(args, "llm_url", None),
        llm_model=getattr(args, "llm_model", None),
    )


# ---------------------------------------------------------------------------- where a command's store comes from
# A command normally opens the store itself. Run inside `citewire serve` on behalf of a second
# terminal (ui.local_api), it borrows the server's open engine for its collection instead: the
# embedded store is single-process, and the server already holds it.
_server: ContextVar[Any] = ContextVar("citewire_server_corpora", default=None)
_client_env: ContextVar[dict[str, str] | None] = ContextVar("citewire_client_env", default=None)


@contextmanager
def serving_for(corpora: Any, env: dict[str, str] | None = None) -> Iterator[None]:
    """Within this block, commands use ``corpora`` (a :class:`ui.corpora.Corpora`) for their stores,
    and ``env`` (the calling terminal's ``CITEWIRE_*`` variables) for their settings."""
    token, env_token = _server.set(corpora), _client_env.set(env or {})
    try:
        yield
    finally:
        _server.reset(token)
        _client_env.reset(env_token)


@contextmanager
def open_engine(settings: Settings) -> Iterator[Any]:
    """The :class:`rag.engine.Engine` of ``settings.collection`` (the server's own when run inside it)."""
    corpora = _server.get()
    if corpora is not None:
        yield corpora.get(settings.collection, create=True)
        return
    from rag.engine import Engine

    with Engine.open(settings) as engine:
        yield engine


@contextmanager
def open_ingestor(settings: Settings) -> Iterator[Any]:
    """An :class:`ingest.Ingestor` on the collection (created if new); writes take the server's turn."""
    from ingest.pipeline import Ingestor

    corpora = _server.get()
    if corpora is not None:
        engine = corpora.get(settings.collection, create=True)
        with corpora.writing():
            yield Ingestor(settings, engine.store, engine.embedder)
        return
    from rag.store import Store

    with Store.open(settings, create=True) as store:
        yield Ingestor(settings, store)


@contextmanager
def open_store(settings: Settings, create: bool = False) -> Iterator[Any]:
    """The collection's :class:`rag.store.Store` (the server's own when run inside it)."""
    corpora = _server.get()
    if corpora is not None:
        with corpora.writing():
            yield corpora.get(settings.collection, create=create).store
        return
    from rag.store import Store

    with Store.open(settings, create=create) as store:
        yield store
