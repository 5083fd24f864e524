"""Questions about what someone said: the answer is the speaker's statement, quoted whole.

"What did NATO say about it?" and "What did Zelenskyy ask Ukraine's allies to provide?" ask for
what a statement says, not for a name or a number. The extractive reader, trained on SQuAD's short
spans, reads them badly: for the second it picks "military operations" out of "ready to provide
support to Russia's military operations", because that sentence shares the word "provide". What a
reader of news wants is the sentence in which the speaker says it, with the sentences that carry
the thought on ("President Zelenskyy emphasized … allies. He underscored the need for advanced
weaponry …"). So these questions are answered by quoting the best-supported sentence that names
the speaker, and the whole quote is the answer span.

Only the plain shapes count: "what did X say/warn/claim [about …]?", "what did X ask/urge Y to
do?", and a question that wants a clause asked of what someone said ("According to Rutte, what
does the deployment show about Putin?", "Why …, according to X?"). "What did X say *that* … was
inspired by?" or "According to X, how many …?" want a thing inside the statement, and go to the
reader as any other question.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from llama_index.core.schema import NodeWithScore

from rag.answer.sentence import with_continuation
from rag.answer.span_shape import wants_clause
from rag.retrieve.evidence import ScoredSentence, SentenceScorer
from rag.text import NEGATION, content_terms, split_sentences, term_set

_SAYING = (r"say|tell|warn|announce|claim|argue|suggest|propose|promise|pledge|mention|stress|emphasi[sz]e|"
           r"insist|call for|demand")
_ASKING = r"ask|urge|tell|call on|want|press"
_WHO = r"(?P<who>(?:[\w'’.-]+ ){0,3}?[\w'’.-]+)"
_STATEMENT = re.compile(
    r"^\s*(?:(?:and|so|but|then|ok|okay),? )?what (?:did|does|do|has|have|had|will|would) " + _WHO + " "
    r"(?:(?:" + _SAYING + r")(?: (?:about|of|on|regarding|concerning|in response to|after|when) .*)?"
    r"|(?:" + _ASKING + r") (?:[\w'’.-]+ ){1,4}to \w+)\s*\??\s*$",
    re.IGNORECASE,
)


# "According to X, what does Y show about Z?" and "What does Y show about Z, according to X?"
_ACCORDING = (
    re.compile(r"^\s*according to " + _WHO + r",\s*(?P<rest>.+)$", re.IGNORECASE),
    re.compile(r"^(?P<rest>.+?),?\s+according to " + _WHO + r"\s*\??\s*$", re.IGNORECASE),
)


@dataclass(frozen=True)
class Speaker:
    """Whom a question asks about, as the content terms a sentence must hold to be theirs."""

    terms: frozenset[str]
    every: bool  # all terms must be there (a common noun phrase), or any (names: "NATO officials" → NATO)

    def named_in(self, text: str) -> bool:
        found = self.terms & term_set(text)
        return found == self.terms if self.every else bool(found)


def asked_speaker(question: str) -> Speaker | None:
    """The speaker when ``question`` asks what someone said or asked for, else None."""
    parts = split_sentences(question)
    asking = parts[-1].text if parts else question
    if NEGATION.search(asking):
        return None
    m = _STATEMENT.match(asking)
    if m is not None:
        who = m.group("who").split()
    else:
        m = _ACCORDING[0].match(asking) or _ACCORDING[1].match(asking)
        if m is None or not wants_clause(m.group("rest")):
            return None
        who = m.group("who").split()
    names = [w for w in who if w[:1].isupper()]
    terms = frozenset(content_terms(" ".join(names or who)))
    if not terms:  # "what did he say?": the conversation's resolver, not this, knows who
        return None
    return Speaker(terms, every=not names)


def speaker_statement(
    speaker: Speaker, scorer: SentenceScorer, passages: Iterable[NodeWithScore], floor: float
) -> tuple[ScoredSentence, NodeWithScore] | None:
    """The best-supported sentence naming ``speaker`` (with the sentences leaning on it) and its passage.

    None when no sentence names the speaker with support of at least ``floor``: the reader then
    reads the question as any other (and may refuse).
    """
    best: tuple[ScoredSentence, NodeWithScore] | None = None
    for node in passages:
        for s in scorer.sentences(node.node.node_id):
            if speaker.named_in(s.span.text) and (best is None or s.score > best[0].score):
                best = (s, node)
    if best is None or best[0].score < floor:
        return None
    return with_continuation(scorer, best[0]), best[1]
