"""Every command and example of the README, run as written on the bundled sample corpus.

The README's examples are parsed out of it, so the two cannot drift apart:

* ```` ```console ```` blocks: each ``$ command`` runs in a shell (``citewire`` from the project's
  venv on the PATH, a private home so the default store is a fresh one, the project as the working
  directory); the lines below it, up to the next ``$``, must each appear in its output, with ``…``
  standing for any text (times, paths). Commands ending in ``&`` start a server in the background
  (stopped at the end); blocks run in README order.
* ```` ```python ```` blocks run in a subprocess in the same environment, after the console blocks
  of their section; their ``# →`` comments say what they print.

``make run`` / ``make test`` (the two commands) are what CI itself runs, so they are not re-run here.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
_FENCE = re.compile(r"^```(\w+)\n(.*?)^```", re.MULTILINE | re.DOTALL)
SKIPPED = ("make ", "pip ", "python3 -m venv", ". .venv", "source ", "ollama ", "chroma run", "curl -fsSL")


def blocks() -> list[tuple[str, str]]:
    """(language, body) of every fenced block of the README, in order."""
    return [(m.group(1), m.group(2)) for m in _FENCE.finditer(README.read_text())]


def console_steps(body: str) -> list[tuple[str, list[str]]]:
    """(command, expected output lines) of a console block; continuation lines ending in ``\\`` joined."""
    steps: list[tuple[str, list[str]]] = []
    lines = body.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.startswith("$ "):
            command = line[2:]
            while command.endswith("\\") and i + 1 < len(lines):
                i += 1
                command = command[:-1] + " " + lines[i].strip()
            steps.append((command, []))
        elif steps and line.strip():
            steps[-1][1].append(line)
        i += 1
    return steps


def matches(expected: str, output: str) -> bool:
    """``expected`` (with ``…`` as a wildcard, whitespace loose) occurs in ``output``."""
    parts = [re.escape(" ".join(p.split())) for p in expected.strip().split("…")]
    pattern = r".*?".join(parts).replace(r"\ ", r"\s+")
    return re.search(pattern, " ".join(output.split()), re.DOTALL) is not None


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    home = tmp_path_factory.mktemp("readme-home")
    e = {k: v for k, v in os.environ.items() if not k.startswith("CITEWIRE_")}
    e.update({
        "HOME": str(home),
        "XDG_DATA_HOME": str(home / ".local" / "share"),
        "XDG_CACHE_HOME": str(home / ".cache"),
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{e.get('PATH', '')}",
        "COLUMNS": "120",
    })
    return e


def test_the_readme_has_examples_to_run() -> None:
    kinds = [lang for lang, _ in blocks()]
    assert kinds.count("console") >= 3 and "python" in kinds


@pytest.mark.llama  # its "LLM answers" section starts llama.cpp's server
def test_every_readme_example_works_as_written(env: dict[str, str], tmp_path: Path) -> None:
    servers: list[subprocess.Popen[str]] = []
    try:
        for lang, body in blocks():
            if lang == "console":
                for command, expected in console_steps(body):
                    if command.startswith(SKIPPED):
                        continue
                    if command.rstrip().endswith("&"):
                        servers.append(_start(command.rstrip()[:-1], env, tmp_path / f"server-{len(servers)}.log"))
                        continue
                    out = subprocess.run(["bash", "-o", "pipefail", "-c", command], cwd=ROOT, env=env,
                                         capture_output=True, text=True, timeout=600)
                    text = out.stdout + out.stderr
                    assert "Traceback" not in text, f"{command}\n{text}"
                    for line in expected:
                        assert matches(line, text), f"`{command}` did not print\n  {line}\nbut\n{text}"
            elif lang == "python":
                script = tmp_path / "example.py"
                script.write_text(body)
                out = subprocess.run([sys.executable, str(script)], cwd=ROOT, env=env, capture_output=True,
                                     text=True, timeout=600)
                assert out.returncode == 0, f"{body}\n{out.stdout}\n{out.stderr}"
                for said in re.findall(r"# → (.+)$", body, re.MULTILINE):
                    assert matches(said, out.stdout), f"the example did not print {said!r}:\n{out.stdout}"
    finally:
        for proc in servers:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()


def _start(command: str, env: dict[str, str], log: Path) -> subprocess.Popen[str]:
    """A README server command, waited for until it answers on its port.

    Its output goes to a file, not a pipe: nobody reads a pipe while the test runs, and a chatty
    server (llama.cpp logs its whole graph) blocks once the pipe's buffer is full.
    """
    with log.open("w") as out:
        proc = subprocess.Popen(["bash", "-c", f"exec {command}"], cwd=ROOT, env=env, text=True,
                                stdout=out, stderr=subprocess.STDOUT)
    port = re.search(r"--port (\d+)", command) or re.search(r"http\.server (\d+)", command)
    url = f"http://127.0.0.1:{port.group(1) if port else 7860}/"
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        assert proc.poll() is None, log.read_text()[-4000:]
        try:
            if httpx.get(url, timeout=2).status_code < 500:
                return proc
        except httpx.HTTPError:
            time.sleep(1)
    proc.kill()
    raise AssertionError(f"{command} did not start serving {url}")
