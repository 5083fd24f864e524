"""Chunks never exceed the embedding model's window, whatever the sentences or the title.

all-MiniLM-L6-v2 reads 256 word pieces including [CLS] and [SEP] and silently drops the rest,
so every chunk's embedded text (title + passage, exactly as :meth:`Chunker.embed_text` gives it)
is counted here with the model's own tokenizer, special tokens included.
"""

from __future__ import annotations

import random

import pytest

from ingest.chunking import Chunker
from rag.store import DocumentRecord

WORDS = [
    "the", "troops", "crossed", "border", "Zelenskyy", "Pyongyang", "artillery", "counteroffensive,",
    "logistics;", "reinforcement-heavy", "10,000", "km²", "officials", "negotiators", "grain", "corridor",
    "déjà-vu", "naïve", "Kharkiv", "Zaporizhzhia", "2022-11-03", "$4.5bn", "(estimated)", "«quoted»", "—", "dashes",
]


def _long_sentence(rng: random.Random, words: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(words)) + "."


def _doc(text: str, title: str) -> DocumentRecord:
    return DocumentRecord(doc_id="long.txt", text=text, title=title)


LONG_TITLE = (
    "Analysis: what the deployment of North Korean troops to the Kursk region means for Ukraine's "
    "counteroffensive, for NATO's eastern flank, for grain exports through the Black Sea corridor and "
    "for the negotiations that diplomats in Istanbul, Geneva and Riyadh say could begin before winter, "
    "with analysts, officials and the troops' own families weighing in"
)
CYRILLIC_TITLE = "Северокорейские войска в Курской области: " + "что это значит для Украины и НАТО " * 8
CJK_TITLE = "朝鲜军队抵达库尔斯克地区" * 25


def _texts() -> dict[str, str]:
    rng = random.Random(20221103)
    return {
        # one run-on sentence of ~2,000 words, no paragraph breaks
        "run-on": _long_sentence(rng, 2000),
        # paragraphs of very long sentences with short ones between them
        "mixed": "\n\n".join(
            " ".join([_long_sentence(rng, rng.randint(150, 400)), "Short one.", _long_sentence(rng, 30)])
            for _ in range(4)
        ),
        # single lines, many of them
        "lines": "\n".join(_long_sentence(rng, rng.randint(3, 40)) for _ in range(120)),
    }


@pytest.fixture(scope="module")
def chunker(embedder) -> Chunker:
    return Chunker(embedder)


@pytest.mark.parametrize("title", [LONG_TITLE, CYRILLIC_TITLE, CJK_TITLE, "Short title", ""],
                         ids=["long", "cyrillic", "cjk", "short", "none"])
@pytest.mark.parametrize("kind", ["run-on", "mixed", "lines"])
def test_no_chunk_exceeds_the_window(chunker: Chunker, embedder, title: str, kind: str) -> None:
    text = _texts()[kind]
    nodes = chunker.chunk(_doc(text, title), "0" * 64)
    assert len(nodes) > 3
    assert embedder.max_tokens == 256
    for node in nodes:
        embedded = chunker.embed_text(node)
        pieces = embedder.tokenizer(embedded, add_special_tokens=True, truncation=False)["input_ids"]
        assert len(pieces) <= 256, (node.metadata["chunk"], len(pieces))
        assert chunker.fits_window(node)
        if title:
            assert embedded.startswith("title: ")
        # offsets are exact and the passage is whole
        assert text[node.metadata["start"] : node.metadata["end"]] == node.text
    # nothing of the text is dropped between chunks
    covered = set()
    for node in nodes:
        covered.update(range(node.metadata["start"], node.metadata["end"]))
    assert all(i in covered for i, ch in enumerate(text) if not ch.isspace())


@pytest.mark.parametrize("title", [LONG_TITLE, CYRILLIC_TITLE, CJK_TITLE])
def test_a_long_title_is_capped_but_leaves_room_for_the_passage(chunker: Chunker, embedder, title: str) -> None:
    capped = chunker.embed_title(title)
    assert capped.endswith("…") and len(capped) < len(title)
    assert embedder.count_tokens(capped) <= chunker.title_tokens
    assert title.startswith(capped[:-1].rstrip())
    nodes = chunker.chunk(_doc(_texts()["lines"], title), "0" * 64)
    assert all(n.metadata["title"] == capped for n in nodes)
    # most of each full chunk is passage, not title
    assert max(embedder.count_tokens(n.text) for n in nodes) >= chunker.chunk_tokens // 2


def test_a_short_title_is_kept_as_is(chunker: Chunker) -> None:
    assert chunker.embed_title("Rail workers strike") == "Rail workers strike"
