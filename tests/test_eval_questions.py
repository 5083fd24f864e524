"""Loading question files: valid sets load, malformed ones fail with one line naming file:line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from eval.errors import EvalError
from eval.questions import load_questions
from rag.errors import CitewireError

SEED = Path(__file__).resolve().parents[2] / "shared" / "eval" / "seed-dev.jsonl"


def _write(tmp_path: Path, *lines: str) -> Path:
    path = tmp_path / "q.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


GOOD = json.dumps({"id": "q1", "question": "Who?", "answers": ["Rutte"], "doc_ids": ["a.txt"]})


def test_loads_questions_with_optional_date_and_limit(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        GOOD,
        "",
        json.dumps({"id": "q2", "question": "What?", "answers": [], "doc_ids": [], "date": "2022-06-16"}),
        json.dumps({"id": 3, "question": "Where?"}),
    )
    qs = load_questions(path)
    assert [q.id for q in qs] == ["q1", "q2", "3"]
    assert qs[0].answerable and qs[0].doc_ids == ["a.txt"] and qs[0].date is None
    assert not qs[1].answerable and qs[1].date == "2022-06-16"
    assert qs[2].answers == [] and qs[2].doc_ids == []
    assert [q.id for q in load_questions(path, limit=2)] == ["q1", "q2"]


@pytest.mark.skipif(not SEED.exists(), reason="../shared is not checked out")
def test_loads_the_shared_seed_set() -> None:
    qs = load_questions(SEED)
    assert len(qs) == 6 and sum(q.answerable for q in qs) == 4


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ('{"id": "q2", "question": "Who?", "answers": [', "malformed JSON"),
        ('["not", "an", "object"]', "expected a JSON object, got list"),
        ('{"question": "Who?"}', 'missing or empty "id"'),
        ('{"id": "q2", "question": "  "}', 'missing or empty "question"'),
        ('{"id": "q2", "question": "Who?", "answers": "Rutte"}', '"answers" must be a list of strings'),
        ('{"id": "q2", "question": "Who?", "doc_ids": [1]}', '"doc_ids" must be a list of strings'),
        ('{"id": "q2", "question": "Who?", "date": "16/06/2022"}', '"date" must be YYYY-MM-DD'),
        ('{"id": "q2", "question": "Who?", "date": "2022-02-30"}', "is not a real date"),
        ('{"id": "q1", "question": "Again?"}', "duplicate id 'q1' (first on line 1)"),
    ],
)
def test_malformed_line_is_one_line_error_naming_file_and_line(tmp_path: Path, line: str, message: str) -> None:
    path = _write(tmp_path, GOOD, line, GOOD.replace("q1", "q3"))
    with pytest.raises(EvalError) as info:
        load_questions(path, limit=1)  # the limit does not skip validating the rest
    text = str(info.value)
    assert text.startswith(f"{path}:2: ")
    assert message in text
    assert "\n" not in text
    assert isinstance(info.value, CitewireError)  # the CLI prints it as one line and exits 2


def test_file_level_errors(tmp_path: Path) -> None:
    with pytest.raises(EvalError, match="no such question file"):
        load_questions(tmp_path / "missing.jsonl")
    with pytest.raises(EvalError, match="not a file"):
        load_questions(tmp_path)
    with pytest.raises(EvalError, match="no questions"):
        load_questions(_write(tmp_path, "", "  "))
    binary = tmp_path / "b.jsonl"
    binary.write_bytes(b'{"id": "\xff"}\n')
    with pytest.raises(EvalError, match="not UTF-8"):
        load_questions(binary)
    with pytest.raises(EvalError, match="--limit must be at least 1"):
        load_questions(_write(tmp_path, GOOD), limit=0)


def test_cli_reports_malformed_questions_in_one_line_exit_2(tmp_path: Path, run_cli) -> None:
    path = _write(tmp_path, GOOD, '{"id": "q2", "question": ')
    got = run_cli("eval", path, "--out", tmp_path / "out", timeout=60)
    assert got.returncode == 2, got.stderr
    lines = [ln for ln in got.stderr.splitlines() if ln.strip()]
    assert lines == [f"citewire: error: {path}:2: malformed JSON (Expecting value at column 26)"]
    assert not (tmp_path / "out").exists()
