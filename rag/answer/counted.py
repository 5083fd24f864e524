"""A number answers "how many X?" only if it counts X.

The reader learnt that "how many …?" wants a number and readily returns one that counts something
else: asked "How many Ukrainian soldiers were killed in the clashes?", it answers "over 10,000"
from "over 10,000 North Korean troops have been deployed to Russia". The check here is narrow on
purpose: it applies only when the question names what it counts with a name or a nationality
("how many Ukrainian soldiers", "how many US troops") and the number in the passage is directly
followed by another ("North Korean troops"). Word forms ("Russians"/"Russian army"), plurals of
acronyms ("MP"/"MPs"), acronyms written out ("US"/"United States"/"U.S.") and a few adjectives
("US"/"American") name the same kind. Whether the sentence mentions the question's kind
elsewhere does not matter: "Ukraine's intelligence said some 11,000 North Korean soldiers …"
still counts North Koreans.

Measured on SQuAD's training questions (not the evaluation sets): of 639 answerable "how many
<Name> …" questions it turns down the right number of 15 (2.3%: another name for the same kind,
"Academy Award" for "Oscar", "Protestants" for "Huguenots"); of 249 unanswerable ones whose
paragraph holds a number, it turns down some number of 95. The SQuAD 2.0 dev set has seven such
questions: the same answers with the check and without.
"""

from __future__ import annotations

import re

from rag.matching import NUMBER_WORDS

_HOW_MANY = re.compile(r"\bhow (?:many|much)\s+(.*)", re.IGNORECASE | re.DOTALL)
_WORD = re.compile(r"[^\W\d_][\w'’.&-]*", re.UNICODE)
_NUMBER = re.compile(r"\d[\d,.\s]*\d|\d")
# Capitalised words that name nothing: sentence starts and the like.
_NOT_NAMES = frozenset({"a", "an", "the", "i", "of", "in", "on", "at", "for", "and", "or"})
# Words between a number and what it counts that say nothing about what is counted.
_BETWEEN = frozenset({"hundred", "thousand", "million", "billion", "trillion", "more", "additional", "other",
                      "new", "extra", "of", "the", "some", "about", "around"})
_PUNCTUATION = re.compile(r"[,;:()\[\]—–]|\s-\s")
_STEM = 4  # characters of a name that must match: "Russians" and "Russian", "Estonia" and "Estonian"
# Acronyms and the adjectives that name the same people, the commonest cases in news.
_SAME_AS = {"US": "american", "USA": "american", "UK": "british", "EU": "european"}


def counts_something_else(question: str, span: str, after: str) -> bool:
    """Whether the number in ``span`` counts something other than what the question counts.

    ``after`` is the sentence's text right after the span. True only when the question counts a
    named kind of thing and the number in the passage counts another named kind.
    """
    match = _HOW_MANY.search(question)
    if match is None:
        return False
    asked = _leading_names(_WORD.findall(match.group(1)))
    if not asked:
        return False
    counted = _counted_after_number(span, after)
    if not counted or (len(counted) == 1 and _acronym(counted[0])):  # "256 MB", "135,000 KPA": a unit or an
        return False  # organisation, not a kind this check can compare
    return not _mentions(" ".join(counted), asked)


def _leading_names(words: list[str]) -> list[str]:
    """The capitalised words at the start of ``words`` ("Ukrainian" of "Ukrainian soldiers were …")."""
    names: list[str] = []
    for w in words:
        if not w[0].isupper() or w.lower() in _NOT_NAMES:
            break
        names.append(w)
    return names


def _counted_after_number(span: str, after: str) -> list[str]:
    """The names right after the span's last number: "North Korean" of "over 10,000 North Korean troops"."""
    numbers = list(_NUMBER.finditer(span))
    if numbers:
        rest = span[numbers[-1].end():] + after
    elif any(w.lower() in NUMBER_WORDS for w in _WORD.findall(span)):
        rest = after
    else:
        return []  # not a number: another check's business
    rest = _PUNCTUATION.split(rest, maxsplit=1)[0]  # "57,906 (2014); the Netherlands" counts nothing named
    words = _WORD.findall(rest)[:6]
    while words and words[0].lower() in _BETWEEN:
        words.pop(0)
    return _leading_names(words)


def _mentions(text: str, names: list[str]) -> bool:
    """Whether ``text`` names what ``names`` name: a word of the same stem, the acronym written
    either way ("US", "U.S.", "United States"; "MP" and "MPs"; "CDs" and "CDS"), or its adjective."""
    words = _WORD.findall(text)
    acronyms = {_acronym(w) for w in words} - {""}
    runs = _run_initials(words)
    asked = [_acronym(n) for n in names] + ([_initials(names)] if len(names) > 1 else [])
    if any(a and (a in acronyms or any(a in run for run in runs)) for a in asked):
        return True
    stems = [n.lower()[:_STEM] for n in names if not _acronym(n)]
    stems += [_SAME_AS[a][:_STEM] for a in asked if a in _SAME_AS]
    if any(w.lower().startswith(stem) for stem in stems for w in words):
        return True
    return any(_SAME_AS.get(a, "").startswith(stem) for stem in stems for a in acronyms)


def _acronym(word: str) -> str:
    """``word`` as an acronym without dots, a plural s or a possessive ("U.S." → "US", "MPs" → "MP"), or ""."""
    bare = re.sub(r"['’]s$", "", word).replace(".", "")
    bare = bare[:-1] if len(bare) > 2 and bare[-1] in "sS" and bare[:-1].isupper() else bare
    return bare.upper() if bare.isupper() and 2 <= len(bare) <= 5 else ""


def _initials(names: list[str]) -> str:
    return "".join(n[0] for n in names).upper()


def _run_initials(words: list[str]) -> list[str]:
    """The initials of each run of two or more capitalised words ("United States Army" → "USA")."""
    out: list[str] = []
    run = ""
    for w in [*words, "."]:
        if w[0].isupper() and w.lower() not in _NOT_NAMES:
            run += w[0]
            continue
        if len(run) > 1:
            out.append(run)
        run = ""
    return out
