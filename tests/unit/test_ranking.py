"""Sentence scoring, evidence reranking, dedupe, recency and follow-up context on hand-built nodes."""

from __future__ import annotations

import numpy as np

from rag.retrieve.evidence import SentenceScorer
from rag.retrieve.followup import carried_context, is_follow_up
from rag.retrieve.recency import is_time_sensitive, recency
from rag.retrieve.rerank import EvidenceQuery, EvidenceReranker

from .fakes import FakeEmbedder, FakeStore, node

EMB = FakeEmbedder()


def _rerank(question: str, nodes, **kwargs):
    store = FakeStore(EMB)
    store.add(*nodes)
    reranker = EvidenceReranker(store, EMB.embed_texts, lambda t: 1.0, **kwargs)
    q = EMB.embed_query(question).tolist()
    bundle = EvidenceQuery(query_str=question, embedding=q, question=question, top_n=kwargs.pop("top_n", 5),
                           as_of=20240601)
    return reranker.postprocess_nodes(nodes, query_bundle=bundle), bundle


def test_the_sentence_holding_the_question_terms_scores_best() -> None:
    text = "The harbour was quiet. The ferry fare rises to four euros in May. Gulls circled overhead."
    n = node("ferry", text, start=10)
    q = "How much will the ferry fare rise?"
    scorer = SentenceScorer(q, EMB.embed_query(q), EMB.embed_texts, lambda t: 1.0, budget=4)
    scorer.score_passages([n.node], [0.5])
    best = scorer.best(n.node.node_id)
    assert best is not None and best.span.text == "The ferry fare rises to four euros in May."
    assert best.span.start == 10 + text.index("The ferry") and best.embedded


def test_a_sentence_leaning_on_the_one_before_is_quoted_with_it() -> None:
    text = "Mayor Ortiz spoke on Monday. She promised a new bridge by 2026."
    n = node("bridge", text)
    q = "What did the mayor promise?"
    scorer = SentenceScorer(q, EMB.embed_query(q), EMB.embed_texts, lambda t: 1.0, budget=4)
    scorer.score_passages([n.node], [0.5])
    spans = [s.span.text for s in scorer.sentences(n.node.node_id)]
    assert spans == ["Mayor Ortiz spoke on Monday.", text]


def test_evidence_reranking_puts_the_answering_passage_first_and_leaves_its_scorer() -> None:
    off_topic = node("weather", "Rain is expected across the region this weekend.", score=1.0)
    answer = node("ferry", "The ferry fare rises to four euros in May, the operator said.", score=0.5)
    ranked, bundle = _rerank("When does the ferry fare rise?", [off_topic, answer])
    assert [n.node.metadata["doc_id"] for n in ranked] == ["ferry", "weather"]
    assert bundle.scorer is not None and bundle.scorer.best("ferry::0") is not None


def test_near_duplicate_passages_collapse_to_the_best_copy() -> None:
    a = node("wire-a", "The ferry fare rises to four euros in May.")
    b = node("wire-b", "The ferry fare rises to four euros in May.")
    c = node("other", "A new bakery opened on the square.")
    ranked, _ = _rerank("ferry fare", [a, b, c], dedupe_threshold=0.9)
    assert [n.node.metadata["doc_id"] for n in ranked] == ["wire-a", "other"]


def test_time_words_favour_recent_articles_only_when_asked() -> None:
    old = node("old", "The council approved the harbour budget.", published=20200101)
    new = node("new", "The council approved the harbour budget.", published=20240530, chunk=1)
    ranked, _ = _rerank("What did the council approve this week?", [old, new], recency_weight=0.35,
                        dedupe_threshold=1.1)
    assert ranked[0].node.metadata["doc_id"] == "new"
    assert ranked[0].score - ranked[1].score > 0.3
    plain, _ = _rerank("What did the council approve?", [old, new], recency_weight=0.35, dedupe_threshold=1.1)
    assert abs(plain[0].score - plain[1].score) < 1e-6
    assert is_time_sensitive("the latest figures") and not is_time_sensitive("the 2019 figures")
    assert recency(20240601, 20240601, 30) == 1.0
    assert recency(20240502, 20240601, 30) == 0.5
    assert recency(20240701, 20240601, 30) == 0.0  # after the reference date: no boost


def test_score_only_keeps_the_retrievers_order() -> None:
    first = node("a", "Nothing relevant here at all.")
    second = node("b", "The ferry fare rises to four euros.")
    store = FakeStore(EMB)
    store.add(first, second)
    reranker = EvidenceReranker(store, EMB.embed_texts, lambda t: 1.0)
    bundle = EvidenceQuery(query_str="ferry fare", embedding=EMB.embed_query("ferry fare").tolist(),
                           question="ferry fare", reorder=False, top_n=2)
    ranked = reranker.postprocess_nodes([first, second], query_bundle=bundle)
    assert [n.node.metadata["doc_id"] for n in ranked] == ["a", "b"]
    assert bundle.scorer.best("b::0") is not None


def test_follow_ups_carry_the_topic_and_standalone_questions_do_not() -> None:
    history = [{"role": "user", "content": "How many North Korean troops were deployed to Russia?"},
               {"role": "assistant", "content": "Over 10,000, South Korean intelligence says. [1]"}]
    assert is_follow_up("And what did NATO say about it?")
    context = carried_context("And what did NATO say about it?", history)
    assert "korean" in context and "troops" in context and "russia" in context
    assert carried_context("Who won the 2018 World Cup final in Moscow?", history) == ""
    assert carried_context("And NATO?", []) == ""


def test_unit_vectors_of_the_fake_embedder() -> None:
    v = EMB.embed_texts(["ferry fare", "ferry fare", "bakery"])
    assert np.allclose(np.linalg.norm(v, axis=1), 1.0)
    assert abs(float(v[0] @ v[1]) - 1.0) < 1e-6 and float(v[0] @ v[2]) < 0.5


def test_a_chain_of_leaning_sentences_reaches_back_to_the_one_that_names_its_subject() -> None:
    text = "Zelenskyy asked the allies for help. He wants more weapons. This plea moved NATO officials."
    n = node("plea", text)
    q = "What moved NATO officials?"
    scorer = SentenceScorer(q, EMB.embed_query(q), EMB.embed_texts, lambda t: 1.0, budget=4)
    scorer.score_passages([n.node], [0.5])
    spans = [s.span.text for s in scorer.sentences(n.node.node_id)]
    first = "Zelenskyy asked the allies for help."
    assert spans == [first, f"{first} He wants more weapons.", text]
