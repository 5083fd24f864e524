"""The evaluation's metric functions on hand-computed cases."""

from __future__ import annotations

import math

import pytest

from eval.metrics import (
    citation_precision,
    contains_answer,
    mean,
    ndcg_at_k,
    normalize_answer,
    percentile,
    recall_at_k,
    reciprocal_rank,
    supported,
    token_f1,
    unique_docs,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("The Cat sat on a mat.", "cat sat on mat"),
        ("Émigrés  café", "emigres cafe"),
        ("over 10,000 troops", "over 10000 troops"),
        ("Rutte's statement—today", "rutte s statement today"),
        ("U.S.-led (NATO)", "u s led nato"),
        ("An apple, the end", "apple end"),
        ("", ""),
    ],
)
def test_normalize_answer(text: str, expected: str) -> None:
    assert normalize_answer(text) == expected


def test_contains_answer_matches_whole_normalised_tokens() -> None:
    text = "Reports suggest that over 10,000 North Korean troops were deployed. [1]"
    assert contains_answer(text, ["more than 10,000", "10,000"])
    assert contains_answer(text, ["10000"])  # digit separators do not matter
    assert contains_answer(text, ["north korean troops"])
    assert not contains_answer(text, ["1,000"])  # "1000" is not a token of the text
    assert not contains_answer(text, ["korean troop"])  # no partial words
    assert not contains_answer(text, [])
    assert not contains_answer(text, ["The"])  # normalises to nothing: never matches
    assert contains_answer("Mark Rutte's warning", ["Mark Rutte"])
    assert contains_answer("the Émigré said", ["emigre"])


def test_token_f1_squad_style() -> None:
    # prediction tokens: cat sat on mat (articles removed); gold: cat on mat → p = 3/4, r = 1
    assert token_f1("The cat sat on the mat", ["cat on mat"]) == pytest.approx(2 * 0.75 / 1.75)
    # best over accepted answers
    assert token_f1("Mark Rutte", ["Jens Stoltenberg", "Rutte"]) == pytest.approx(2 * 0.5 * 1 / 1.5)
    assert token_f1("Mark Rutte", ["mark rutte"]) == 1.0
    assert token_f1("nothing shared", ["Rutte"]) == 0.0
    assert token_f1("", ["Rutte"]) == 0.0
    assert token_f1("Rutte", []) == 0.0
    # repeated tokens count only as often as they appear on both sides
    assert token_f1("no no no", ["no"]) == pytest.approx(2 * (1 / 3) * 1 / (1 / 3 + 1))


def test_unique_docs_keeps_first_rank_and_drops_empty() -> None:
    assert unique_docs(["a", "b", "a", "", "c", "b"]) == ["a", "b", "c"]


def test_recall_at_k_any_gold_document() -> None:
    ranked = ["x", "y", "g"]
    assert recall_at_k(ranked, ["g"], 1) == 0.0
    assert recall_at_k(ranked, ["g"], 2) == 0.0
    assert recall_at_k(ranked, ["g"], 3) == 1.0
    assert recall_at_k(ranked, ["g", "y"], 2) == 1.0  # multi-document gold: any one counts
    assert recall_at_k(ranked, ["z"], 10) == 0.0
    assert recall_at_k([], ["g"], 5) == 0.0


def test_reciprocal_rank() -> None:
    assert reciprocal_rank(["x", "y", "g"], ["g"]) == pytest.approx(1 / 3)
    assert reciprocal_rank(["g"], ["g"]) == 1.0
    assert reciprocal_rank(["x", "g2", "g1"], ["g1", "g2"]) == 0.5  # the first gold document decides
    assert reciprocal_rank(["x"], ["g"]) == 0.0


def test_ndcg_binary_relevance() -> None:
    ranked = ["x", "g1", "y", "g2"]
    dcg = 1 / math.log2(3) + 1 / math.log2(5)
    ideal = 1 / math.log2(2) + 1 / math.log2(3)
    assert ndcg_at_k(ranked, ["g1", "g2"], 10) == pytest.approx(dcg / ideal)  # ≈ 0.6509
    assert ndcg_at_k(ranked, ["g1", "g2"], 10) == pytest.approx(0.650921, abs=1e-6)
    assert ndcg_at_k(["g"], ["g"], 10) == 1.0
    assert ndcg_at_k(ranked, ["g2"], 3) == 0.0  # beyond the cut-off
    assert ndcg_at_k(ranked, [], 10) == 0.0
    # one gold document at rank 2: 1/log2(3)
    assert ndcg_at_k(["x", "g"], ["g"], 10) == pytest.approx(1 / math.log2(3))


def test_citation_precision_and_support() -> None:
    answers = ["over 10,000", "10,000"]
    quotes = ["Over 10,000 troops were sent.", "NATO's chief condemned it."]
    assert citation_precision(quotes, answers) == 0.5
    assert citation_precision([], answers) is None
    assert supported(quotes, answers)
    assert not supported(["NATO's chief condemned it."], answers)
    # support reads the quotes together: an answer split over two quotes still counts
    assert supported(["It was Mark", "Rutte who spoke"], ["Mark Rutte"])


def test_mean_skips_none_and_percentile_interpolates() -> None:
    assert mean([1.0, None, 0.0]) == 0.5
    assert mean([None, None]) is None
    assert mean([]) is None
    data = [4.0, 1.0, 3.0, 2.0]
    assert percentile(data, 50) == 2.5
    assert percentile(data, 95) == pytest.approx(3.85)  # position 0.95 × 3 = 2.85 → 3 + 0.85 × (4 − 3)
    assert percentile(data, 100) == 4.0
    assert percentile([7.0], 95) == 7.0
    assert percentile([], 50) is None
