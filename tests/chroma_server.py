"""A real Chroma server (``chroma run``, from the chromadb package) on a free port of 127.0.0.1.

Used by the ``chroma_server`` session fixture (tests/conftest.py) and the fault tests, which
kill it and start it again on the same port and path. The server takes a few seconds to start;
:meth:`ChromaServer.start` polls its heartbeat until it answers.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

from server_process import ServerProcess, free_port

__all__ = ["CHROMA", "ChromaServer", "chroma_available", "free_port"]

CHROMA = Path(sys.executable).parent / "chroma"


def chroma_available() -> bool:
    return CHROMA.exists() or shutil.which("chroma") is not None


class ChromaServer(ServerProcess):
    """``chroma run --path DIR --host 127.0.0.1 --port PORT`` as a child process."""

    name = "chroma run"
    start_timeout_s = 60.0

    def __init__(self, path: Path, port: int | None = None) -> None:
        super().__init__(path.parent / f"{path.name}-chroma.log", port)
        self.path = path
        self.url = f"http://127.0.0.1:{self.port}"

    @property
    def health_url(self) -> str:
        return f"{self.url}/api/v2/heartbeat"

    def command(self) -> list[str]:
        exe = str(CHROMA) if CHROMA.exists() else str(shutil.which("chroma"))
        return [exe, "run", "--path", str(self.path), "--host", "127.0.0.1", "--port", str(self.port)]

    def env(self) -> dict[str, str]:
        return {**os.environ, "ANONYMIZED_TELEMETRY": "False"}
