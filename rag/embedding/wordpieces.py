"""The embedding model's tokenizer through the ``tokenizers`` library alone.

``transformers`` wraps the same Rust tokenizer (its ``tokenizer.json``) but takes seconds to
import with torch behind it; a ``citewire ask`` whose encoder runs in ONNX Runtime needs neither.
The embedder checks, before relying on this, that it splits text exactly as the model's own
``transformers`` tokenizer does (:func:`same_pieces`).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np


class WordPieces:
    """Token ids and character offsets for chunking (no special tokens) and padded model batches."""

    def __init__(self, tokenizer: Any, max_tokens: int) -> None:
        from tokenizers import Tokenizer

        serialised = tokenizer.to_str()
        self._plain = Tokenizer.from_str(serialised)  # two copies: their settings are per object
        self._plain.no_truncation()
        self._plain.no_padding()
        self._batch = Tokenizer.from_str(serialised)
        self._batch.enable_truncation(max_length=max_tokens)
        pad = self._batch.token_to_id("[PAD]")
        self._batch.enable_padding(pad_id=pad if pad is not None else 0, pad_token="[PAD]")
        self.max_tokens = max_tokens

    @classmethod
    def from_file(cls, path: Path, max_tokens: int) -> WordPieces:
        from tokenizers import Tokenizer

        return cls(Tokenizer.from_file(str(path)), max_tokens)

    def ids(self, text: str) -> list[int]:
        """The word pieces of ``text``, without ``[CLS]``/``[SEP]`` and uncut."""
        return list(self._plain.encode(text, add_special_tokens=False).ids)

    def offsets(self, text: str) -> list[tuple[int, int]]:
        """Each word piece's character span in ``text`` (as :meth:`ids`)."""
        return [tuple(o) for o in self._plain.encode(text, add_special_tokens=False).offsets]  # type: ignore[misc]

    def count(self, text: str) -> int:
        return len(self.ids(text))

    def batch(self, texts: Sequence[str]) -> dict[str, np.ndarray]:
        """The model's inputs for ``texts``: special tokens, cut at the window, padded to the longest.

        Keys as a ``transformers`` tokenizer returns them with ``return_offsets_mapping``.
        """
        encodings = self._batch.encode_batch(list(texts))
        return {
            "input_ids": np.array([e.ids for e in encodings], dtype=np.int64),
            "attention_mask": np.array([e.attention_mask for e in encodings], dtype=np.int64),
            "token_type_ids": np.array([e.type_ids for e in encodings], dtype=np.int64),
            "offset_mapping": np.array([e.offsets for e in encodings], dtype=np.int64).reshape(len(texts), -1, 2),
        }


# Texts that exercise what differs between tokenizers: accents, typographic quotes and dashes,
# digits with separators, CJK, emoji, control characters, and a text past the window.
PROBE_TEXTS = (
    "Officials in Seoul said on Tuesday that more than 10,000 troops had been sent.",
    "Über 10.000 Soldaten — “offiziell” bestätigt — wurden nach Kursk verlegt; l'été à Montréal.",
    "北朝鮮の兵士 1万人以上がロシアに派遣された 🇰🇷🚀 naïve café\tRÉSUMÉ\u00a0end",
    "   leading spaces, A.B.C. e-mail@example.com $4.96 (approx.) 3½ x² ﬁne",
    " ".join(["The deployment was confirmed by three agencies."] * 50),
)


def same_pieces(mine: WordPieces, theirs: Any, texts: Sequence[str] = PROBE_TEXTS) -> bool:
    """Whether ``mine`` tokenizes ``texts`` exactly as the ``transformers`` tokenizer ``theirs``."""
    want = theirs(list(texts), padding=True, truncation=True, max_length=mine.max_tokens,
                  return_offsets_mapping=True, return_tensors="np")
    got = mine.batch(texts)
    if any(not np.array_equal(got[k], np.asarray(want[k])) for k in got if k in want):
        return False
    plain = theirs(list(texts), add_special_tokens=False, verbose=False)["input_ids"]  # verbose: no length warning
    return all(mine.ids(t) == list(ids) for t, ids in zip(texts, plain, strict=True))
