"""Support for the UI tests: a small extra corpus, and the web app served from a thread.

The server is the real app (:func:`ui.app.build_app`) on a real store and model, run by uvicorn
on a free port of 127.0.0.1 in a daemon thread of the test process.
"""

from __future__ import annotations

import json
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import uvicorn

ROOT = Path(__file__).resolve().parents[1]
SAMPLE_DIR = ROOT / "data" / "sample"
SEED_DOC = "north-korean-troops-ukraine.txt"

# Tiny dated articles with one distinct fact each, and a question whose answer is that fact.
FACTS = [
    ("elm-bridge", "Elm Street bridge repairs approved", "2024-03-12",
     "The Riverton city council approved repairs to the Elm Street bridge. The repairs will cost 42 million dollars "
     "and take two years.", "How much will the Elm Street bridge repairs cost?", "42 million"),
    ("valley-orchestra", "Valley Orchestra names conductor", "2024-04-02",
     "The Valley Orchestra appointed Maria Jensen as its new chief conductor. She starts in September.",
     "Who is the new chief conductor of the Valley Orchestra?", "Maria Jensen"),
    ("northfield-library", "Northfield library extends hours", "2024-05-20",
     "The Northfield public library extended its opening hours until 10 pm on weekdays after a petition by students.",
     "Until what time is the Northfield library open on weekdays?", "10 pm"),
    ("coastal-rail", "Coastal Rail orders electric trains", "2024-06-01",
     "Coastal Rail will introduce 14 electric trains on the Bayline route next spring, replacing its diesel fleet.",
     "How many electric trains will Coastal Rail introduce on the Bayline route?", "14 electric trains"),
    ("greenhill-festival", "Record crowd at Greenhill pumpkin festival", "2024-10-28",
     "The annual pumpkin festival in Greenhill attracted 25,000 visitors this year, a record for the village.",
     "How many visitors came to the Greenhill pumpkin festival?", "25,000 visitors"),
    ("lakeside-snail", "New snail species found at Lakeside", "2024-02-14",
     "Researchers at Lakeside University discovered a new species of freshwater snail, named Radix lakesidensis, in "
     "the reeds of Lake Orm.", "What new species did researchers at Lakeside University discover?", "snail"),
    ("summit-marathon", "Watanabe wins Summit Marathon", "2024-09-15",
     "Kenji Watanabe won the Summit Marathon in 2 hours 11 minutes, beating last year's champion by a minute.",
     "Who won the Summit Marathon?", "Kenji Watanabe"),
    ("apex-recall", "Apex Dairy recalls yogurt", "2024-07-09",
     "Apex Dairy recalled 3,000 cartons of yogurt because the labels did not list hazelnut allergens.",
     "Why did Apex Dairy recall its yogurt cartons?", "allergens"),
    ("pine-ridge-fire", "Pine Ridge wildfire contained", "2024-08-03",
     "A wildfire near Pine Ridge burned 1,200 hectares of forest before firefighters contained it on Sunday.",
     "How many hectares of forest did the Pine Ridge wildfire burn?", "1,200 hectares"),
    ("eastport-ferry", "Eastport ferry fares to rise", "2024-05-02",
     "The Eastport ferry fare will rise from 4 euros to 5 euros in July, the harbour authority announced.",
     "How much will the Eastport ferry fare rise to in July?", "5 euros"),
    ("brookside-teachers", "Brookside hires teachers", "2024-08-20",
     "The Brookside school district hired 60 new teachers for the autumn term to reduce class sizes.",
     "How many new teachers did the Brookside school district hire?", "60 new teachers"),
]
SAMPLE_QUESTIONS = [
    "How many North Korean troops were deployed to Russia?",
    "What did Zelenskyy ask Ukraine's allies to provide?",
    "Who is the NATO Secretary-General quoted on the deployment?",
    "Where are the North Korean soldiers believed to be positioned?",
    "What precedent do military experts say the North Korean deployment sets?",
    "What could North Korea lose by sending troops to Russia?",
    "What diplomatic efforts followed the involvement of North Korean forces?",
    "Who does the analysis say is growing desperate and sourcing support from unconventional allies?",
    "What technology exchanges could the partnership between Russia and North Korea involve?",
]

# An article whose every field tries to run script in the page.
XSS_DOC = {
    "id": "xss-lighthouse",
    "title": "<img src=x onerror=window.__xss=1>",
    "url": "javascript:window.__xss=3",
    "source": "<script>window.__xss=4</script>",
    "published": "2024-04-01",
    "text": (
        "The Zephyr lighthouse keeper said the old lamp was replaced with a solar beacon. "
        "<script>window.__xss=2</script> The Zephyr lighthouse beacon now shines 30 kilometres out to sea. "
        '<a href="javascript:window.__xss=5">more</a>'
    ),
}
XSS_QUESTION = "How far does the Zephyr lighthouse beacon shine?"


def write_extra_corpus(folder: Path) -> Path:
    """The FACTS articles as one JSONL file (with dates, sources and https URLs)."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "local-news.jsonl"
    with path.open("w", encoding="utf-8") as fh:
        for doc_id, title, day, text, _, _ in FACTS:
            record = {"id": doc_id, "title": title, "published": day, "source": "Local Wire",
                      "url": f"https://news.example.org/{doc_id}", "text": text}
            fh.write(json.dumps(record) + "\n")
    return path


def write_xss_doc(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "xss-lighthouse.json"
    path.write_text(json.dumps(XSS_DOC), encoding="utf-8")
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Served:
    url: str
    engine: object  # rag.engine.Engine
    settings: object  # rag.settings.Settings


@contextmanager
def serve_in_thread(app, timeout: float = 60) -> Iterator[str]:
    """Run ``app`` with uvicorn on a free port in a daemon thread; yields its base URL."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(
        app, host="127.0.0.1", port=port, log_level="warning", timeout_graceful_shutdown=2  # open event streams
    ))
    thread = threading.Thread(target=server.run, name=f"uvicorn-{port}", daemon=True)
    thread.start()
    deadline = time.monotonic() + timeout
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the test server did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}/"
    finally:
        server.should_exit = True
        thread.join(timeout=15)


def start_citewire_serve(citewire_cmd: list[str], store_dir: Path, port: int, *extra: str,
                         timeout: float = 120) -> subprocess.Popen[str]:
    """``citewire serve`` on ``store_dir`` as a child process, waited for until it answers on ``port``."""
    proc = subprocess.Popen([*citewire_cmd, "serve", "--store", str(store_dir), "--port", str(port), *extra],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + timeout
    while True:
        assert proc.poll() is None, proc.communicate()[0]
        assert time.monotonic() < deadline, "citewire serve did not start"
        try:
            httpx.get(f"http://127.0.0.1:{port}/", timeout=2)
            return proc
        except httpx.TransportError:
            time.sleep(0.5)
