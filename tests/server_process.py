"""A server run as a child process for the tests: start it, wait until it answers, kill or stop it.

:class:`ChromaServer` (tests/chroma_server.py) and :class:`LlamaServer` (tests/llama_server.py)
differ only in their command line and the URL that says they are up; the lifecycle is here once.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from pathlib import Path

import httpx


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ServerProcess:
    """Subclasses give :meth:`command`, :attr:`health_url`, :attr:`name` and :attr:`start_timeout_s`."""

    name = "server"
    start_timeout_s = 60.0

    def __init__(self, log: Path, port: int | None = None) -> None:
        self.port = port or free_port()
        self.log = log
        self.proc: subprocess.Popen[bytes] | None = None
        self.start_s: float | None = None  # how long the last start took, until the server answered

    @property
    def health_url(self) -> str:
        raise NotImplementedError

    def command(self) -> list[str]:
        raise NotImplementedError

    def env(self) -> dict[str, str]:
        return dict(os.environ)

    def start(self):  # -> Self
        started = time.monotonic()
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(self.command(), stdout=log, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL, env=self.env())
        deadline = started + self.start_timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.proc.returncode}: {self.log.read_text()[-2000:]}")
            if self.alive():
                self.start_s = time.monotonic() - started
                return self
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"{self.name} did not answer within {self.start_timeout_s}s: "
                           f"{self.log.read_text()[-2000:]}")

    def alive(self) -> bool:
        try:
            return httpx.get(self.health_url, timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    def kill(self) -> None:
        """SIGKILL, as a crash would: no shutdown, nothing flushed."""
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=30)

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.kill()

    def ensure_running(self) -> None:
        if self.proc is None or self.proc.poll() is not None or not self.alive():
            self.kill()
            self.start()
