"""Two ``citewire serve`` replicas on one Chroma server: the same answers, and a pushed article reaches both."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from chroma_server import free_port

ROOT = Path(__file__).resolve().parents[1]
QUESTION = "How many North Korean troops were deployed to Russia?"
PUSHED = {"id": "ferry-7", "title": "Eastport ferry fares to rise", "published": "2024-05-02",
          "text": "The Eastport ferry fare will rise from 4 euros to 5 euros in July, the harbour authority announced."}


def _serve(url: str, port: int, home: Path) -> subprocess.Popen[str]:
    env = {**os.environ, "XDG_CACHE_HOME": str(home / "cache"), "XDG_DATA_HOME": str(home / "data")}
    return subprocess.Popen([str(Path(sys.executable).parent / "citewire"), "serve", "--chroma-url", url,
                             "--collection", "replicas", "--port", str(port)], cwd=ROOT, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


def _wait(proc: subprocess.Popen[str], base: str) -> None:
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()[0]
        try:
            httpx.get(base, timeout=2)
            return
        except httpx.HTTPError:
            time.sleep(1)
    raise AssertionError(f"{base} did not start")


@pytest.mark.server
def test_two_replicas_answer_alike_and_a_push_through_one_reaches_the_other(chroma_server, tmp_path, run_cli) -> None:
    ingest = run_cli("ingest", str(ROOT / "data" / "sample"), "--chroma-url", chroma_server.url,
                     "--collection", "replicas", "-q")
    assert ingest.returncode == 0, ingest.stderr
    ports = [free_port(), free_port()]
    procs = [_serve(chroma_server.url, p, tmp_path / f"home{i}") for i, p in enumerate(ports)]
    bases = [f"http://127.0.0.1:{p}/" for p in ports]
    try:
        for proc, base in zip(procs, bases, strict=True):
            _wait(proc, base)
        answers = [httpx.post(f"{b}api/ask", json={"question": QUESTION}, timeout=120).json() for b in bases]
        assert answers[0]["text"] == answers[1]["text"] and "10,000" in answers[0]["text"]
        assert [c["quote"] for c in answers[0]["citations"]] == [c["quote"] for c in answers[1]["citations"]]

        pushed = httpx.post(f"{bases[0]}api/documents", json=[PUSHED], timeout=120).json()
        assert pushed["added"] == ["ferry-7"]
        started = time.monotonic()
        while True:
            other = httpx.post(f"{bases[1]}api/ask", json={"question": "How much will the Eastport ferry fare rise "
                                                            "to in July?"}, timeout=120).json()
            if not other["refused"] and other["citations"][0]["doc_id"] == "ferry-7":
                break
            assert time.monotonic() - started < 30, f"replica 2 never saw the pushed article: {other['text']}"
            time.sleep(0.5)
        assert "5 euros" in other["text"]
    finally:
        for proc in procs:
            proc.terminate()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
