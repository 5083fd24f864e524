"""The training questions and the run's plan of batches.

Questions come from JSONL files (plain or gzip) in SQuAD 2.0's row format, read line by line:
paragraphs are stored once (SQuAD asks about five questions of each), so the whole SQuAD 2.0 train
set fits in a few hundred megabytes. Windows (token ids) are made per batch, when the batch is
trained, never for the whole set at once.

An *item* is one question against one paragraph:

* ``own``: the question's own paragraph (answerable, or one of SQuAD 2.0's written traps);
* ``near``: another paragraph of the question's article that shares the most rare words with it
  and does not hold the answer: "on topic but does not say", what a reader in a RAG system meets
  most (a share ``Recipe.near_topic`` of the answerable questions get one).

The plan is a list of batches of items, fixed by the recipe's seed: shuffled, then grouped by
length in pools so that a batch pads little, and the batches shuffled again. A resumed run
rebuilds the same plan and skips the batches already trained.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import logging
import math
import random
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from rag.reader.features import Window, WindowMaker, token_span
from rag.text import content_terms

log = logging.getLogger(__name__)

POOL_BATCHES = 50  # batches per length-sorting pool: little padding, still well shuffled


@dataclass
class Question:
    """One training question; its paragraph is an index into :attr:`Corpus.paragraphs`."""

    qid: str
    text: str
    paragraph: int
    title: str
    answer: str | None  # None: the paragraph does not answer it
    start: int = -1
    exact: bool = True  # False: the answer text occurs several times and ``start`` is a guess


@dataclass
class Item:
    question: int
    paragraph: int
    kind: str  # "own" or "near"


@dataclass
class Example:
    """One labelled window: gold start and end token positions ([0] for CLS, "no answer")."""

    window: Window
    starts: list[int]
    ends: list[int]
    answerable: int


@dataclass
class Corpus:
    questions: list[Question] = field(default_factory=list)
    paragraphs: list[str] = field(default_factory=list)
    sources: dict[str, int] = field(default_factory=dict)  # questions per file


def read_rows(path: Path) -> Iterator[dict]:
    """The rows of a JSONL file, plain or gzip, one at a time."""
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                yield json.loads(line)


def load_corpus(paths: Iterable[Path], limit: int = 0, ambiguous: str = "marginal") -> Corpus:
    """Every question of ``paths`` (the first ``limit`` of each file when set), paragraphs shared.

    ``ambiguous="drop"`` leaves out answerable questions whose offset is a guess (``start_exact``
    false); otherwise they are kept and :func:`examples` decides how their span is labelled.
    """
    corpus = Corpus()
    index: dict[str, int] = {}
    for path in paths:
        n = 0
        for row in read_rows(path):
            if limit and n >= limit:
                break
            exact = bool(row.get("start_exact", True))
            if row["answers"] and not exact and ambiguous == "drop":
                continue
            context = row["context"]
            if context not in index:
                index[context] = len(corpus.paragraphs)
                corpus.paragraphs.append(context)
            answer = row["answers"][0] if row["answers"] else None
            corpus.questions.append(Question(
                qid=row["id"], text=row["question"], paragraph=index[context], title=row["title"],
                answer=answer["text"] if answer else None, start=answer["start"] if answer else -1,
                exact=exact,
            ))
            n += 1
        corpus.sources[path.name if path.parent.name == "" else f"{path.parent.name}/{path.name}"] = n
    log.info("training questions: %d (%d unanswerable) on %d paragraphs", len(corpus.questions),
             sum(q.answer is None for q in corpus.questions), len(corpus.paragraphs))
    return corpus


def near_topic_paragraphs(corpus: Corpus, per_question: int = 3) -> dict[int, list[int]]:
    """For each answerable question: the other paragraphs of its article sharing the most rare words with it.

    A paragraph that contains the answer text is never one of them.
    """
    by_title: dict[str, set[int]] = defaultdict(set)
    for q in corpus.questions:
        by_title[q.title].add(q.paragraph)
    terms = [frozenset(content_terms(p)) for p in corpus.paragraphs]
    df: dict[str, int] = defaultdict(int)
    for t in terms:
        for w in t:
            df[w] += 1
    n = max(1, len(terms))
    out: dict[int, list[int]] = {}
    for i, q in enumerate(corpus.questions):
        if q.answer is None:
            continue
        words = set(content_terms(q.text))
        answer = q.answer.lower()
        scored = []
        for p in sorted(by_title[q.title]):
            if p == q.paragraph or answer in corpus.paragraphs[p].lower():
                continue
            # summed in a fixed order: set order follows the process's string hashing, and a float sum in
            # another order can break a tie the other way, giving a resumed run another plan
            score = sum(math.log(n / df[w]) for w in sorted(words & terms[p]))
            if score > 0:
                scored.append((-score, p))
        scored.sort()
        out[i] = [p for _, p in scored[:per_question]]
    return out


def make_items(corpus: Corpus, near_topic: float, rng: random.Random) -> list[Item]:
    """Every question on its own paragraph, and a share of the answerable ones on a near-topic paragraph."""
    items = [Item(i, q.paragraph, "own") for i, q in enumerate(corpus.questions)]
    if near_topic > 0:
        for i, pool in sorted(near_topic_paragraphs(corpus).items()):
            if pool and rng.random() < near_topic:
                items.append(Item(i, pool[min(int(rng.expovariate(1.0)), len(pool) - 1)], "near"))  # mostly the hardest
    return items


def plan_batches(corpus: Corpus, items: list[Item], maker: WindowMaker, batch: int,
                 rng: random.Random) -> list[list[int]]:
    """Batches of item indices: shuffled, length-sorted within pools, batch order shuffled."""
    para_len = [len(e.ids) for e in maker.tokenizer.encode_batch(corpus.paragraphs, add_special_tokens=False)]
    q_len = [len(e.ids) for e in maker.tokenizer.encode_batch([q.text for q in corpus.questions],
                                                             add_special_tokens=False)]
    length = [min(maker.max_len, q_len[it.question] + para_len[it.paragraph] + 3) for it in items]
    order = list(range(len(items)))
    rng.shuffle(order)
    pool = batch * POOL_BATCHES
    out: list[list[int]] = []
    for i in range(0, len(order), pool):
        chunk = sorted(order[i : i + pool], key=lambda j: length[j])
        out.extend(chunk[k : k + batch] for k in range(0, len(chunk), batch))
    rng.shuffle(out)
    return out


def plan_digest(corpus: Corpus, items: list[Item], plan: list[list[int]]) -> str:
    """A fingerprint of the data and its order: a run resumes only on the plan it started."""
    h = hashlib.sha256()
    for q in corpus.questions:
        h.update(f"{q.qid}\x00{q.text}\x00{q.answer}\x00{q.start}\x00{len(corpus.paragraphs[q.paragraph])}\n".encode())
    for it in items:
        h.update(f"{it.question},{it.paragraph},{it.kind};".encode())
    for b in plan:
        h.update((",".join(map(str, b)) + "|").encode())
    return h.hexdigest()


def occurrences(text: str, answer: str) -> list[int]:
    """Every character offset where ``answer`` occurs in ``text``."""
    out, at = [], text.find(answer)
    while at >= 0 and answer:
        out.append(at)
        at = text.find(answer, at + 1)
    return out


def examples(corpus: Corpus, item: Item, maker: WindowMaker, ambiguous: str) -> list[Example]:
    """The labelled windows of one item.

    An answer whose offset is a guess (``exact`` false) is labelled, with ``ambiguous="marginal"``,
    at every occurrence of its text: the loss then rewards probability on any of them (as Clark &
    Gardner 2018 do for distantly supervised answers) instead of teaching a wrong occurrence one
    time in four.
    """
    q = corpus.questions[item.question]
    paragraph = corpus.paragraphs[item.paragraph]
    spans: list[tuple[int, int]] = []
    if item.kind == "own" and q.answer is not None:
        starts = [q.start]
        if not q.exact and ambiguous == "marginal":
            starts = occurrences(paragraph, q.answer) or [q.start]
        spans = [(s, s + len(q.answer)) for s in starts]
    out = []
    for w in maker.windows(q.text, [paragraph]):
        gold = sorted({t for s, e in spans if (t := token_span(w, s, e)) is not None})
        if gold:
            out.append(Example(w, sorted({s for s, _ in gold}), sorted({e for _, e in gold}), 1))
        else:
            out.append(Example(w, [0], [0], 0))
    return out


def group_examples(corpus: Corpus, item: Item, maker: WindowMaker, ambiguous: str,
                   near: dict[int, list[int]]) -> list[Example]:
    """An item's examples and, for an answerable question on its own paragraph, those of the nearest
    paragraph of its article that does not answer it (labelled "no answer"): one group, normalised
    together by :func:`rag.reader_training.network.shared_span_loss`."""
    out = examples(corpus, item, maker, ambiguous)
    pool = near.get(item.question) if item.kind == "own" else None
    if pool:
        out += examples(corpus, Item(item.question, pool[0], "near"), maker, ambiguous)
    return out
