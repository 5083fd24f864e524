"""Bad input through the real ``citewire`` command: one clear line per failure, the rest ingested, exit 1."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from rag.store import Store

GOOD = {
    "good.txt": "Bridge reopens\nThe old bridge reopened on Monday after two years of repairs.",
    "nested/good.md": "# Council votes on budget\n\nThe council approved the budget by seven votes to two.",
}
MIXED_JSONL = "\n".join([
    '{"id": "ok-1", "title": "Trains", "text": "Fine line one about trains."}',
    '{"id": "broken", "text": ',
    '{"id": "ok-2", "title": "Buses", "text": "Fine line three about buses."}',
    '["not", "an", "object"]',
    '{"id": "no-text", "title": "Nothing here"}',
]) + "\n"

# file (relative to the folder) -> (jsonl line or None, words the reason must contain)
BAD = {
    "binary.txt": (None, "binary"),
    "empty.txt": (None, "empty"),
    "latin1.txt": (None, "utf-8"),
    "broken.json": (None, "malformed json"),
    "mixed.jsonl": (2, "malformed json"),
    "fake.pdf": (None, "pdf"),
    "unreadable.txt": (None, "cannot read"),
    "dangling.txt": (None, "broken symbolic link"),
}
JSONL_RECORD_FAILURES = {4: "expected a json object", 5: '"text"'}


def _make_unreadable(path: Path) -> None:
    """A file whose read fails. chmod 000 does nothing for root (the usual test user here), so as
    root the file is a symlink to /proc/self/mem, which stats as a regular file but fails every
    read at offset 0 with EIO: a real unreadable file, as far as ingest can tell."""
    if os.geteuid() != 0:
        path.write_text("Secret\nYou cannot read me.", encoding="utf-8")
        path.chmod(0)
    else:
        path.symlink_to("/proc/self/mem")


@pytest.fixture(scope="module")
def bad_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("bad") / "in"
    for rel, text in GOOD.items():
        (folder / rel).parent.mkdir(parents=True, exist_ok=True)
        (folder / rel).write_text(text, encoding="utf-8")
    (folder / "binary.txt").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)))
    (folder / "empty.txt").write_bytes(b"")
    (folder / "latin1.txt").write_bytes("Café reopens\nThe café on the square reopened.".encode("latin-1"))
    (folder / "broken.json").write_text('{"id": "x", "text": "unterminated', encoding="utf-8")
    (folder / "mixed.jsonl").write_text(MIXED_JSONL, encoding="utf-8")
    (folder / "fake.pdf").write_bytes(b"%PDF-1.4\nthis is not really a pdf\n")
    _make_unreadable(folder / "unreadable.txt")
    (folder / "dangling.txt").symlink_to(folder / "does-not-exist.txt")
    (folder / "picture.png").write_bytes(b"\x89PNG\r\n\x1a\n")  # unsupported types in a folder are skipped
    return folder


@pytest.fixture(scope="module")
def ingest_run(bad_folder: Path, citewire_cmd: list[str]):
    """(CompletedProcess, store dir) of one ``citewire ingest`` over the bad folder."""
    import subprocess

    store_dir = bad_folder.parent / "store"
    proc = subprocess.run(
        [*citewire_cmd, "ingest", "-q", str(bad_folder), "--store", str(store_dir)],
        capture_output=True, text=True, timeout=180,
    )
    return proc, store_dir


def _lines(text: str) -> list[str]:
    return [line for chunk in text.splitlines() for line in chunk.split("\r") if line.strip()]


def test_exit_code_is_1_and_there_is_no_traceback(ingest_run) -> None:
    proc, _ = ingest_run
    assert proc.returncode == 1, proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout
    assert "4 added" in proc.stdout and f"{len(BAD) + len(JSONL_RECORD_FAILURES)} failed" in proc.stdout


@pytest.mark.parametrize("name", sorted(BAD))
def test_each_bad_file_gets_one_clear_line(ingest_run, bad_folder: Path, name: str) -> None:
    proc, _ = ingest_run
    line_no, reason = BAD[name]
    where = f"{bad_folder / name}:{line_no}:" if line_no else f"{bad_folder / name}:"
    mentions = [line for line in _lines(proc.stderr) if str(bad_folder / name) in line]
    assert len(mentions) == (1 if line_no is None else 1 + len(JSONL_RECORD_FAILURES)), proc.stderr
    (line,) = [m for m in mentions if where in m]
    assert line.startswith("failed: ") and reason in line.lower(), line


@pytest.mark.parametrize("line_no", sorted(JSONL_RECORD_FAILURES))
def test_bad_jsonl_records_are_named_by_line(ingest_run, bad_folder: Path, line_no: int) -> None:
    proc, _ = ingest_run
    where = f"{bad_folder / 'mixed.jsonl'}:{line_no}:"
    (line,) = [line for line in _lines(proc.stderr) if where in line]
    assert JSONL_RECORD_FAILURES[line_no] in line.lower()


def test_only_failures_and_progress_reach_stderr(ingest_run) -> None:
    proc, _ = ingest_run
    noise = [line for line in _lines(proc.stderr) if not line.startswith("failed: ") and "Loading weights" not in line]
    assert noise == []


def test_every_good_document_is_ingested(ingest_run) -> None:
    from rag.settings import Settings

    _, store_dir = ingest_run
    with Store.open(Settings(store_dir=store_dir)) as store:
        docs = {d.doc_id: d for d in store.list_documents()}
        assert set(docs) == {"good.txt", "nested/good.md", "ok-1", "ok-2"}
        assert store.get_document("ok-2").text == "Fine line three about buses."
        assert store.count_chunks() == sum(d.chunks for d in docs.values()) == 4


def test_cli_list_and_remove(ingest_run, run_cli) -> None:
    _, store_dir = ingest_run
    listed = run_cli("list", "--json", "--store", store_dir)
    assert listed.returncode == 0, listed.stderr
    assert {d["doc_id"] for d in json.loads(listed.stdout)} == {"good.txt", "nested/good.md", "ok-1", "ok-2"}
    removed = run_cli("remove", "ok-1", "not-there", "--store", store_dir)
    assert removed.returncode == 1
    assert "removed ok-1" in removed.stdout
    assert _lines(removed.stderr) == ["not found: not-there"]


def test_cli_list_without_a_store_is_one_line_exit_2(tmp_path: Path, run_cli) -> None:
    missing = tmp_path / "no-such-store"
    proc = run_cli("list", "--store", missing)
    assert proc.returncode == 2
    assert proc.stdout == ""
    (line,) = _lines(proc.stderr)
    assert line.startswith("citewire: error: ") and str(missing) in line
    assert not missing.exists()  # looking did not create it
