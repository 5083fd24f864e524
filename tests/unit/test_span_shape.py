"""Reader spans as answers: never across a sentence, line or table break; a clause when the question wants one."""

from __future__ import annotations

import pytest

from rag.answer.reader import clean_candidate
from rag.answer.span_shape import clause_around, crosses_break, sentence_of, wants_clause, within_sentence
from rag.reader.model import SpanPrediction
from rag.text import Span

NEWS = "Talks between Russia and Ukraine is underway in Istanbul today. Turkey hosts them.\nTimeline\n2016\n3. Troops"


def candidate(passage: str, text: str, occurrence: int = 0) -> SpanPrediction:
    start = -1
    for _ in range(occurrence + 1):
        start = passage.index(text, start + 1)
    return SpanPrediction(0, start, start + len(text), text, 1.0, 0.0, 0.0)


@pytest.mark.parametrize("span, crosses", [
    ("Russia and Ukraine is underway in Istanbul today. Turkey", True),
    ("2016\n3", True),
    ("Istanbul", False),
    ("Russia and Ukraine is underway in Istanbul today.", False),
])
def test_a_span_over_a_sentence_end_or_a_line_break_crosses(span: str, crosses: bool) -> None:
    c = candidate(NEWS, span)
    assert crosses_break(NEWS, c.start, c.end) is crosses


def test_a_span_over_a_table_cell_border_crosses() -> None:
    row = "| Year | Deaths |\n| 2016 | 3 |"
    c = candidate(row, "2016 | 3")
    assert crosses_break(row, c.start, c.end)


def test_the_next_clean_candidate_is_taken_else_the_best_is_cut_to_its_sentence() -> None:
    crossing = candidate(NEWS, "Istanbul today. Turkey")
    clean = candidate(NEWS, "Istanbul")
    assert clean_candidate([crossing, clean], "Where are the talks?", NEWS) == clean
    cut = clean_candidate([crossing], "Where are the talks?", NEWS)
    assert cut is not None and cut.text == "Istanbul today." and NEWS[cut.start:cut.end] == cut.text
    listed = candidate(NEWS, "2016\n3")
    cut = clean_candidate([listed], "When?", NEWS)
    assert cut is not None and cut.text == "2016"
    assert clean_candidate([candidate(NEWS, "Turkey hosts them")], "Who hosts them, Turkey?", NEWS) is None


def test_within_sentence_keeps_offsets_exact() -> None:
    c = candidate(NEWS, "today. Turkey hosts")
    start, end = within_sentence(NEWS, c.start, c.end)
    assert NEWS[start:end] == "today." and sentence_of(NEWS, start).text.startswith("Talks between")


@pytest.mark.parametrize("question, wants", [
    ("Why did the troops withdraw?", True),
    ("How did Zelenskyy characterise the first clashes?", True),
    ("According to Rutte, what does the deployment show about Putin?", True),
    ("What was the reason for the delay?", True),
    ("How many soldiers were killed?", False),
    ("Who is the NATO Secretary-General?", False),
    ("What did the spy agency say on Friday?", True),
])
def test_questions_that_want_a_clause(question: str, wants: bool) -> None:
    assert wants_clause(question) is wants


def test_the_clause_around_a_fragment_runs_between_clause_marks() -> None:
    text = "Rutte said the deployment showed Putin's growing desperation, and he called it a dangerous escalation."
    sentence = Span(text, 100, 100 + len(text))
    at = 100 + text.index("desperation")
    start, end = clause_around(sentence, at, at + len("desperation"))
    assert text[start - 100 : end - 100] == "Rutte said the deployment showed Putin's growing desperation"
    at = 100 + text.index("dangerous")
    start, end = clause_around(sentence, at, at + len("dangerous escalation"))
    assert text[start - 100 : end - 100] == "and he called it a dangerous escalation"
