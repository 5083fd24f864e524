"""Sentence splitting with offsets, content terms, answer matching and dates."""

from __future__ import annotations

import pytest

from rag.dates import coerce_day, parse_day, published_iso
from rag.errors import QuestionError
from rag.matching import best_over, exact_match, squad_normalize, token_f1
from rag.text import content_terms, split_sentences


def test_sentences_carry_exact_offsets_and_skip_abbreviations() -> None:
    text = 'Mr. Smith went to Washington. "It is done," he said. U.S. officials agreed!\nNew line here'
    spans = split_sentences(text, base=100)
    assert [s.text for s in spans] == [
        "Mr. Smith went to Washington.", '"It is done," he said.', "U.S. officials agreed!", "New line here",
    ]
    for s in spans:
        assert text[s.start - 100 : s.end - 100] == s.text


def test_content_terms_drop_stopwords_and_question_words_and_stem() -> None:
    assert content_terms("What did the troops deploy to Russia?") == ["troop", "deploy", "russia"]


@pytest.mark.parametrize(("pred", "gold", "em", "f1"), [
    ("The Six Nations", "six nations", 1.0, 1.0),
    ("six", "6", 1.0, 1.0),  # number words equal digits
    ("10,000 troops", "10000 troops", 1.0, 1.0),
    ("over 10,000", "10,000", 0.0, 2 / 3),
    ("", "anything", 0.0, 0.0),
])
def test_squad_matching(pred: str, gold: str, em: float, f1: float) -> None:
    assert exact_match(pred, gold) == em
    assert token_f1(pred, gold) == pytest.approx(f1)


def test_an_empty_gold_list_means_no_answer() -> None:
    assert best_over("", []) == 1.0
    assert best_over("Paris", []) == 0.0
    assert best_over("in Paris", ["Paris", "France"]) == pytest.approx(2 / 3)
    assert squad_normalize("An apple, the pear!") == "apple pear"


def test_dates_parse_strictly_for_users_and_leniently_for_articles() -> None:
    assert parse_day("2024-10-18", "since") == 20241018
    assert parse_day(None) is None and parse_day("") is None
    with pytest.raises(QuestionError, match="since 'yesterday' is not a date"):
        parse_day("yesterday", "since")
    assert coerce_day("2022-11-03T10:00:00Z") == 20221103
    assert coerce_day("20221103") == 20221103
    assert coerce_day("soon") is None and coerce_day("2022-13-40") is None
    assert published_iso(20221103) == "2022-11-03" and published_iso(None) is None
