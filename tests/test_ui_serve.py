"""``citewire serve`` as a process: it serves the app over HTTP, and refuses a store that is in use."""

from __future__ import annotations

import httpx
from ui_support import SAMPLE_DIR, SEED_DOC, free_port, start_citewire_serve


def test_citewire_serve_answers_and_holds_the_store(tmp_path, embedder, citewire_cmd, run_cli) -> None:
    from ingest import Ingestor
    from rag.settings import Settings
    from rag.store import Store

    settings = Settings(store_dir=tmp_path / "store", collection="news")
    with Store.open(settings, create=True) as store:
        assert Ingestor(settings, store, embedder).ingest([SAMPLE_DIR], progress=False).ok

    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    proc = start_citewire_serve(citewire_cmd, settings.store_dir, port, "--auth", "ann:pw")
    try:
        question = {"question": "How many North Korean troops were deployed to Russia?"}
        assert httpx.post(url + "api/ask", json=question, timeout=30).status_code == 401
        r = httpx.post(url + "api/ask", json=question, auth=("ann", "pw"), timeout=60)
        assert r.status_code == 200 and r.json()["citations"][0]["doc_id"] == SEED_DOC

        second = run_cli("serve", "--store", settings.store_dir, "--port", free_port())
        assert second.returncode == 2 and "in use" in second.stderr, second.stderr
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_serve_rejects_a_malformed_auth_flag(tmp_path, run_cli) -> None:
    result = run_cli("serve", "--store", tmp_path, "--auth", "no-colon")
    assert result.returncode == 2 and "--auth must be of the form user:password" in result.stderr
