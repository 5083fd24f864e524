"""The reader's excerpt of a passage: the best sentence and its neighbours within a budget, offsets kept."""

from __future__ import annotations

from rag.answer.focus import focus

from .fakes import node, retrieval_for
from .test_answers import DOC, _reader_answer

FILLER = ("The weather in the capital stayed mild all week. Markets opened higher on Monday morning. "
          "A new bridge over the river was opened to traffic. ")
LONG = FILLER + DOC + " " + FILLER


def test_a_short_passage_is_read_whole_and_a_long_one_around_its_best_sentence() -> None:
    n = node("seed.txt", LONG, start=500)
    r = retrieval_for("How many North Korean troops were deployed to Russia?", [n])
    whole = focus(r.scorer, n, 0)
    assert whole.text == LONG and whole.offset == 0
    assert focus(r.scorer, n, len(LONG)).text == LONG
    part = focus(r.scorer, n, 200)
    assert "Reports from South Korean intelligence suggest that over 10,000" in part.text and len(part.text) <= 200
    assert LONG[part.offset : part.offset + len(part.text)] == part.text
    assert len(part.text) < len(LONG) and "weather" not in part.text
    # a bigger budget grows the excerpt by whole sentences, never past the budget
    wider = focus(r.scorer, n, 400)
    assert "over 10,000 North Korean troops" in wider.text and len(part.text) < len(wider.text) <= 400
    assert wider.text[-1] in ".!?" and LONG[wider.offset : wider.offset + len(wider.text)] == wider.text


def test_the_best_sentence_is_read_whole_even_over_the_budget() -> None:
    n = node("seed.txt", LONG)
    r = retrieval_for("How many North Korean troops were deployed to Russia?", [n])
    tiny = focus(r.scorer, n, 20)
    assert tiny.text.startswith("Reports from") and tiny.text.endswith("to Russia.")


def test_a_focused_read_keeps_document_offsets() -> None:
    n = node("seed.txt", LONG, start=300)
    question = "How many North Korean troops were deployed to Russia?"
    result, reader = _reader_answer(question, [n], {"over 10,000": (6.0, 3.0)}, reader_focus_chars=250)
    assert len(reader.calls[0][1][0]) <= 250  # the reader saw the excerpt, not the passage
    span = result.answer_span
    assert span is not None and span.text == "over 10,000"
    assert LONG[span.start - 300 : span.end - 300] == "over 10,000"
    cite = result.citations[0]
    assert cite.quote[span.start - cite.start : span.end - cite.start] == "over 10,000"
