"""Follow-up questions: carry the topic of the conversation into a question that leans on it.

"And what did NATO say about it?" retrieves nothing useful alone. When a question looks like a
follow-up (it refers back with a pronoun, starts with "and"/"what about", or is too short to stand
alone), the content words of the previous question (and the entities of the previous answer) are
appended, so retrieval and ranking see the topic the reader has in mind.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from rag.text import QUESTION_WORDS, STOPWORDS, words

_REFERS_BACK = re.compile(
    r"^\s*(?:and|but|so|also|what about|how about|and what about)\b"
    r"|\b(?:it|its|they|them|their|he|him|his|she|her|this|that|these|those|there|the same)\b",
    re.IGNORECASE,
)
_ENTITY = re.compile(r"\b(?:[A-Z][\w’'-]+(?:\s+[A-Z][\w’'-]+)*|\d[\d,.]*)")
_MAX_CARRIED = 10
_MAX_ANSWER_ENTITIES = 3


def history_turns(history: Sequence[Any] | None) -> list[tuple[str, str]]:
    """Normalise a chat history (messages dicts, or (user, bot) pairs) to (role, text) turns."""
    turns: list[tuple[str, str]] = []
    for item in history or []:
        if isinstance(item, dict):
            content = item.get("content")
            if isinstance(content, list):  # Gradio 6 may give content parts
                content = " ".join(p.get("text", "") if isinstance(p, dict) else str(p) for p in content)
            turns.append((str(item.get("role", "user")), str(content or "")))
        elif isinstance(item, (list, tuple)) and len(item) == 2:
            user, bot = item
            if user:
                turns.append(("user", str(user)))
            if bot:
                turns.append(("assistant", str(bot)))
    return turns


def is_follow_up(question: str) -> bool:
    content = [w for w in words(question) if w not in STOPWORDS and w not in QUESTION_WORDS]
    return bool(_REFERS_BACK.search(question)) or len(content) <= 2


def carried_context(question: str, history: Sequence[Any] | None) -> str:
    """The conversation's topic words a follow-up leans on ("" when the question stands alone)."""
    turns = history_turns(history)
    if not turns or not is_follow_up(question):
        return ""
    last_user = next((text for role, text in reversed(turns) if role == "user"), "")
    last_bot = next((text for role, text in reversed(turns) if role == "assistant"), "")
    own = {w for w in words(question)}
    carried: list[str] = []
    for w in words(last_user):
        if w not in STOPWORDS and w not in QUESTION_WORDS and w not in own and w not in carried:
            carried.append(w)
    answer_text = re.sub(r"\[\d+\]", " ", last_bot)
    entities = 0
    for entity in _ENTITY.findall(answer_text):
        e = entity.lower()
        if entities < _MAX_ANSWER_ENTITIES and e not in carried and e not in own and e not in STOPWORDS:
            carried.append(e)
            entities += 1
    return " ".join(carried[:_MAX_CARRIED])
