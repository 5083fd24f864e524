"""The trained reader: the shipped model, its answers, its refusals, sources compared, and its training."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from ingest import ingest_paths
from rag import Settings
from rag.answer.reader import ReaderAnswerer
from rag.embedding.onnx_encoder import cpu_session_options
from rag.engine import Engine
from rag.reader.model import MANIFEST, MODEL_DIR, Reader, ReaderError, shipped_reader

ROOT = Path(__file__).resolve().parents[1]
SEED = "north-korean-troops-ukraine.txt"

# Reports written for these tests: two agree on a number, one differs (with dates); a negation trap.
REPORTS = [
    {"id": "wire-a", "title": "North Korean troops arrive in Russia", "published": "2024-10-18", "source": "Wire A",
     "text": "South Korea's spy agency said on Friday that about 3,000 North Korean soldiers have arrived in "
             "eastern Russia for training. The troops travelled by ship from the port of Chongjin."},
    {"id": "wire-b", "title": "Seoul: 3,000 North Korean soldiers in Russia", "published": "2024-10-19",
     "source": "Wire B",
     "text": "About 3,000 North Korean soldiers have arrived in eastern Russia, the South Korean intelligence "
             "service told lawmakers. Officials expect more troops to follow."},
    {"id": "wire-c", "title": "Ukraine says troop numbers grew", "published": "2024-11-04", "source": "Wire C",
     "text": "Ukraine's defence intelligence said on Monday that some 11,000 North Korean soldiers have now "
             "arrived in Russia's Kursk region."},
    {"id": "dam", "title": "Valley dam opens", "published": "2024-05-02", "source": "Wire D",
     "text": "The new Orlen Valley dam opened in May after six years of work. Engineers built the dam from "
             "reinforced concrete to withstand floods. The old wooden weir was removed in 2019."},
]


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Engine:
    base = tmp_path_factory.mktemp("reader")
    corpus = base / "corpus"
    shutil.copytree(ROOT / "data" / "sample", corpus)
    (corpus / "reports.jsonl").write_text("\n".join(json.dumps(r) for r in REPORTS) + "\n")
    settings = Settings(store_dir=base / "store")
    assert ingest_paths([corpus], settings, progress=False).ok
    with Engine.open(settings) as e:
        yield e


def test_the_shipped_model_loads_and_is_checked_against_its_manifest(tmp_path: Path) -> None:
    reader = shipped_reader()
    manifest = json.loads((MODEL_DIR / MANIFEST).read_text())
    assert reader.path.name == manifest["file"] and reader.path.stat().st_size < 50 * 2**20
    assert (MODEL_DIR / "MODEL_CARD.md").exists()
    copy = tmp_path / "model"
    shutil.copytree(MODEL_DIR, copy)
    onnx = copy / manifest["file"]
    with onnx.open("r+b") as fh:  # one flipped byte is another file
        fh.seek(1000)
        byte = fh.read(1)
        fh.seek(1000)
        fh.write(bytes([byte[0] ^ 0xFF]))
    with pytest.raises(ReaderError, match=r"SHA-256 differs.*make reader"):
        Reader.shipped(copy)
    onnx.unlink()
    with pytest.raises(ReaderError, match=r"is missing.*make reader"):
        Reader.shipped(copy)


def test_the_reader_spins_unless_told_not_to_and_the_encoder_never_does() -> None:
    """Spinning threads make a single ask quicker but burn CPU while they wait, and the encoder
    also runs beside ingest's Chroma writes, where they would steal its CPU."""
    spin = "session.intra_op.allow_spinning"

    def spins(reader: Reader) -> str:
        return reader.session.get_session_options().get_session_config_entry(spin)

    assert spins(ReaderAnswerer(Settings()).reader) == "1"
    assert spins(ReaderAnswerer(Settings(reader_spin=False)).reader) == "0"
    assert cpu_session_options().get_session_config_entry(spin) == "0"


def test_the_answer_leads_with_the_span_and_its_offsets_are_the_quoted_text(engine: Engine) -> None:
    answer = engine.ask("How many North Korean troops were deployed to Russia, according to the reports?")
    assert not answer.refused and answer.mode == "reader"
    assert answer.text.split("\n")[0].lower().rstrip(".") in ("over 10,000", "10,000")
    span, cite = answer.answer_span, answer.citations[0]
    doc = engine.store.get_document(span.doc_id).text
    assert doc[span.start : span.end] == span.text
    assert doc[cite.start : cite.end] == cite.quote
    assert cite.start <= span.start and span.end <= cite.end and span.citation == cite.n


def test_the_demo_question_gets_the_weaponry(engine: Engine) -> None:
    answer = engine.ask("What did Zelenskyy ask Ukraine's allies to provide?")
    assert "advanced weaponry and increased logistical support" in answer.answer_span.text
    assert answer.citations[0].quote.startswith("President Zelenskyy emphasized")  # quoted with its antecedent
    assert "military operations" not in answer.text  # the reader's short span from the wrong sentence


def test_a_question_wanting_a_clause_leads_with_the_clause_that_holds_the_span(engine: Engine) -> None:
    answer = engine.ask("How did Zelenskyy characterise the first clashes?")
    assert not answer.refused and answer.mode == "reader"
    lead, span, quote = answer.text.split("\n")[0], answer.answer_span.text, answer.citations[0].quote
    assert span in lead and len(lead) > len(span) + 10, (lead, span)  # the clause, not the fragment
    assert lead.rstrip(".").lower() in quote.lower()  # cut from the quoted sentence
    assert all(mark not in lead.rstrip(".") for mark in (". ", "\n"))


@pytest.mark.parametrize("question", [
    "What is the population of Pyongyang?",
    "Who won the 2018 FIFA World Cup?",
])
def test_it_refuses_what_the_corpus_does_not_say(engine: Engine, question: str) -> None:
    answer = engine.ask(question)
    assert answer.refused and answer.answer_span is None and answer.citations == []
    assert "does not say" in answer.text and answer.passages


def test_a_number_counting_something_else_is_no_answer(engine: Engine) -> None:
    # The articles say how many North Korean troops were deployed (over 10,000; some 11,000), not
    # how many Ukrainians died.
    trap = engine.ask("How many Ukrainian soldiers were killed in the clashes with North Korean troops?")
    assert trap.refused, trap.text
    answered = engine.ask("How many North Korean troops were deployed to Russia?")
    assert not answered.refused and "10,000" in answered.answer_span.text


def test_what_someone_says_a_thing_shows_is_their_statement_quoted(engine: Engine) -> None:
    answer = engine.ask("According to Rutte, what does the deployment show about Putin?")
    assert not answer.refused and answer.note == "a statement, quoted", answer.text
    assert "Rutte" in answer.citations[0].quote and "desperation" in answer.answer_span.text


def test_a_negation_trap_is_refused(engine: Engine) -> None:
    answered = engine.ask("What did engineers build the new Orlen Valley dam from?")
    assert not answered.refused and "concrete" in answered.answer_span.text
    trap = engine.ask("What did engineers not build the new Orlen Valley dam from?")
    assert trap.refused or "concrete" not in trap.answer_span.text


def test_agreeing_sources_are_counted_and_differing_ones_shown_with_dates(engine: Engine) -> None:
    answer = engine.ask("How many North Korean soldiers have arrived in eastern Russia?", since="2024-10-01")
    ag = answer.agreement
    assert ag is not None, answer.text
    docs = {d for g in ag.groups for d in g.doc_ids}
    assert {"wire-a", "wire-b"} <= docs
    lead = ag.groups[0]
    assert set(lead.doc_ids) >= {"wire-a", "wire-b"} and "3,000" in lead.answer
    if ag.kind == "differ":
        assert "wire-c" in ag.groups[1].doc_ids and "2024-11-04" in ag.summary and "Sources differ" in answer.text
    else:
        assert "2 independent sources agree" in answer.text or "3 independent sources agree" in answer.text
    for n in [n for g in ag.groups for n in g.citations]:
        c = answer.citations[n - 1]
        assert engine.store.get_document(c.doc_id).text[c.start : c.end] == c.quote
