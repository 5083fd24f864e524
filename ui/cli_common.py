"""What every ``citewire`` command shares: exit codes, and the settings its flags make."""

from __future__ import annotations

import argparse

from rag.settings import Settings

EXIT_OK, EXIT_PARTIAL, EXIT_USAGE = 0, 1, 2


def settings_from_args(args: argparse.Namespace) -> Settings:
    return Settings().with_overrides(
        store_dir=getattr(args, "store", None),
        collection=getattr(args, "collection", None),
        chroma_url=getattr(args, "chroma_url", None),
        top_k=getattr(args, "top_k", None),
        llm_url=getattr(args, "llm_url", None),
        llm_model=getattr(args, "llm_model", None),
    )
