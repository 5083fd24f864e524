"""Question + passage → model windows, the one input format shared by training and reading.

A window is ``[CLS] question [SEP] passage piece [SEP]``, BERT's own question-answering layout.
Passages longer than the window are cut into overlapping pieces (``stride`` word pieces shared
between neighbours), so an answer near a cut is whole in at least one piece. Each passage token
keeps its character offsets in the passage, which is how a predicted token span becomes the
exact quoted characters of a document.

Training (:mod:`rag.reader_training`) and reading (:mod:`rag.reader.model`) both build their inputs
here: a format difference between the two would silently cost accuracy.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tokenizers import Tokenizer

MAX_QUESTION_TOKENS = 64  # longer questions keep their last 64 word pieces: a quiz question's ask comes last


@dataclass
class Window:
    """One model input: ids, segment ids and, per token, its passage character span or None."""

    input_ids: list[int]
    token_type_ids: list[int]
    offsets: list[tuple[int, int] | None]
    passage: int  # index of the passage this piece was cut from

    def __len__(self) -> int:
        return len(self.input_ids)


class WindowMaker:
    """Tokenizes questions and passages once and lays them out as model windows."""

    def __init__(self, tokenizer: Tokenizer, max_len: int = 384, stride: int = 128) -> None:
        if stride >= max_len // 2:
            raise ValueError("stride must be under half the window")
        self.tokenizer = tokenizer
        self.max_len = max_len
        self.stride = stride
        self.cls = tokenizer.token_to_id("[CLS]")
        self.sep = tokenizer.token_to_id("[SEP]")
        self.pad = tokenizer.token_to_id("[PAD]") or 0

    @classmethod
    def from_file(cls, path: str | Path, max_len: int = 384, stride: int = 128) -> WindowMaker:
        tokenizer = Tokenizer.from_file(str(path))
        tokenizer.no_truncation()
        tokenizer.no_padding()
        return cls(tokenizer, max_len, stride)

    def question_ids(self, question: str) -> list[int]:
        return self.tokenizer.encode(question, add_special_tokens=False).ids[-MAX_QUESTION_TOKENS:]

    def windows(self, question: str, passages: Sequence[str]) -> list[Window]:
        """All windows of ``question`` against each passage, in passage order."""
        q = self.question_ids(question)
        encodings = self.tokenizer.encode_batch(list(passages), add_special_tokens=False)
        out: list[Window] = []
        for p, enc in enumerate(encodings):
            out.extend(self._pieces(q, enc.ids, enc.offsets, p))
        return out

    def _pieces(
        self, q: list[int], ids: list[int], offsets: list[tuple[int, int]], passage: int
    ) -> list[Window]:
        room = self.max_len - len(q) - 3
        head = [self.cls, *q, self.sep]
        pieces: list[Window] = []
        start = 0
        while True:
            part = slice(start, start + room)
            body = ids[part]
            pieces.append(Window(
                input_ids=[*head, *body, self.sep],
                token_type_ids=[0] * len(head) + [1] * (len(body) + 1),
                offsets=[None] * len(head) + [tuple(o) for o in offsets[part]] + [None],
                passage=passage,
            ))
            if start + room >= len(ids):
                return pieces
            start += room - self.stride


def batch_arrays(windows: Sequence[Window], pad: int = 0) -> dict[str, np.ndarray]:
    """Pad ``windows`` to their longest into the int64 arrays the model takes."""
    width = max(len(w) for w in windows)
    ids = np.full((len(windows), width), pad, dtype=np.int64)
    types = np.zeros((len(windows), width), dtype=np.int64)
    mask = np.zeros((len(windows), width), dtype=np.int64)
    for i, w in enumerate(windows):
        n = len(w)
        ids[i, :n] = w.input_ids
        types[i, :n] = w.token_type_ids
        mask[i, :n] = 1
    return {"input_ids": ids, "attention_mask": mask, "token_type_ids": types}


def token_span(window: Window, char_start: int, char_end: int) -> tuple[int, int] | None:
    """The window's first and last token covering passage characters [char_start, char_end), if whole.

    ``None`` when this piece of the passage does not hold the whole answer (it is then, for
    training, a piece that does not answer).
    """
    tokens = [(i, off) for i, off in enumerate(window.offsets) if off is not None and off[1] > off[0]]
    if not tokens or tokens[0][1][0] > char_start or tokens[-1][1][1] < char_end:
        return None
    first = next((i for i, off in tokens if off[1] > char_start), None)
    last = next((i for i, off in reversed(tokens) if off[0] < char_end), None)
    if first is None or last is None or last < first:
        return None
    return first, last
