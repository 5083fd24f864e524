"""A number answers "how many X?" only if it counts X (rag.answer.counted)."""

from __future__ import annotations

import pytest

from rag.answer.counted import counts_something_else

DEPLOYED = "Reports from South Korean intelligence suggest that over 10,000 North Korean troops have been deployed."


def check(question: str, sentence: str, span: str) -> bool:
    at = sentence.index(span) + len(span)
    return counts_something_else(question, span, sentence[at:])


def test_a_number_that_counts_another_named_kind_is_no_answer() -> None:
    assert check("How many Ukrainian soldiers were killed in the clashes?", DEPLOYED, "over 10,000")
    # the span may hold what it counts
    assert check("How many Ukrainian soldiers were killed?", DEPLOYED, "over 10,000 North Korean troops")
    assert check("How many UK troops took part?", "In all, 250,000 United States troops took part.", "250,000")
    # the sentence naming the question's kind elsewhere (as the source) changes nothing
    assert check("How many Ukrainian soldiers were killed?",
                 "Ukraine's intelligence said some 11,000 North Korean soldiers arrived.", "some 11,000")


@pytest.mark.parametrize(("question", "sentence", "span"), [
    ("How many North Korean troops were deployed?", DEPLOYED, "over 10,000"),
    ("How many Russians troops were sent?", "Some 10 000 Russian army corps landed on the shore.", "10 000"),
    ("How many US troops took part?", "In all, 250,000 United States troops took part.", "250,000"),
    ("How many United States presidents are buried there?", "It holds two U.S. Presidents.", "two"),
    ("How many MP were elected in 1910?", "The party had 42 Labour MPs elected.", "42"),
    ("How many CDS were sold?", "Contestants sold 47 million CDs by 2010.", "47 million"),
    ("How many Estonian museums were there?", "There were 245 museums in Estonia in 2010.", "245"),
    ("How many US soldiers were killed?", "Eighteen American soldiers were killed.", "Eighteen"),
    ("How many Somalis lived in Sweden?", "Sweden: 57,906 (2014); the Netherlands: 37,432.", "57,906"),
    ("How much XDR DRAM is on board?", "It has 256 MB of XDR DRAM.", "256"),  # a unit
])
def test_the_same_kind_written_another_way_is_an_answer(question: str, sentence: str, span: str) -> None:
    assert not check(question, sentence, span)


@pytest.mark.parametrize(("question", "sentence", "span"), [
    ("How many soldiers were killed?", DEPLOYED, "over 10,000"),  # the question names no kind
    ("How many Ukrainian soldiers were killed?", "Officials said 4,000 soldiers were killed.", "4,000"),
    ("How many Ukrainian soldiers were killed?", "Officials said 4,000 died.", "4,000"),
    ("When did Ukrainian soldiers arrive?", DEPLOYED, "over 10,000"),  # not a "how many" question
    ("How many Ukrainian soldiers were killed?", "The North Korean troops arrived in May.", "May"),  # no number
])
def test_the_check_stays_out_where_it_cannot_tell(question: str, sentence: str, span: str) -> None:
    assert not check(question, sentence, span)
