"""Boilerplate removal for article text: keep the story, drop the newsletter around it.

The rules are general patterns of newsletter, subscription, share and navigation lines, not
tied to any site: "Discover more from <any site>", "Subscribe to get the latest posts …",
"Share this:", "Follow us on …", "Advertisement", "Sign up for our newsletter", a share button's
lone "Facebook" or "Print", a copyright line and the like.
A line is only dropped when the whole line is such boilerplate (short, and matching a pattern
from its start), so an article sentence that merely mentions subscribers is kept.
"""

from __future__ import annotations

import re
import unicodedata

_MAX_BOILERPLATE_CHARS = 220

_BOILERPLATE_LINE = re.compile(
    r"""^(?:
        discover\s+more\s+from\b.*
      | subscribe\b.*
      | (?:sign\s+up|signup)\b.*(?:newsletter|email|inbox|updates|posts).*
      | (?:get|receive)\s+(?:the\s+latest|our)\b.*(?:email|inbox|newsletter).*
      | (?:join|enter\s+your\s+email)\b.*(?:newsletter|subscribers|email|inbox).*
      | type\s+your\s+email.*
      | (?:share|share\s+this(?:\s+(?:article|story|post))?)(?:\s*(?:on|via)\b.*|\s*:.*)?
      | (?:follow|like)\s+us\s+on\b.*
      | (?:click|tap)\s+here\s+to\b.*
      | (?:read|see)\s+(?:more|also)\s*[:»>].*
      | related\s*(?:articles?|stories|posts|coverage)?\s*:.*
      | advertisement
      | (?:continue\s+reading|keep\s+reading)\b.*
      | (?:already\s+a\s+subscriber|not\s+a\s+subscriber)\b.*
      | ©.*
      | (?:copyright|\(c\))\s*©?\s*(?:\d{4}\b|by\b).*
      | (?:copyright|©|\(c\)).*all\s+rights\s+reserved\.?
      | all\s+rights\s+reserved\.?
      | (?:tags?|filed\s+under)\s*:.*
      | skip\s+to\s+(?:main\s+)?content
      | (?:home|menu|search|log\s*in|sign\s*in)(?:\s*[|/·•]\s*\w[\w ]*)+
      | (?:facebook|twitter|x|linkedin|whatsapp|email|print|reddit)
        (?:\s*[|/·•,]\s*(?:facebook|twitter|x|linkedin|whatsapp|email|print|reddit|copy\s+link))+
      | (?:facebook|twitter|linkedin|whatsapp|telegram|reddit|pinterest|tumblr|pocket|print|email|copy\s+link)
      | like\s+this\s*:.*
      | like\s+loading\.*…?
      | this\s+(?:post|article)\s+(?:was\s+)?(?:originally\s+)?(?:appeared|published)\s+(?:on|in)\b.*
    )$""",
    re.IGNORECASE | re.VERBOSE,
)

_SPACES = re.compile(r"[ \t\u00a0\u2000-\u200b\u202f\u205f\u3000]+")
_MANY_NEWLINES = re.compile(r"\n{3,}")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def is_boilerplate(line: str) -> bool:
    """True when the whole line is newsletter, share or navigation text."""
    stripped = line.strip().strip("*_#>-–— ").strip()
    if not stripped:
        return False
    return len(stripped) <= _MAX_BOILERPLATE_CHARS and bool(_BOILERPLATE_LINE.match(stripped))


def normalise_whitespace(text: str) -> str:
    """Unicode NFC, no control characters, single spaces, at most one blank line in a row."""
    text = unicodedata.normalize("NFC", text).replace("\r\n", "\n").replace("\r", "\n")
    text = _CONTROL.sub("", text)
    lines = [_SPACES.sub(" ", line).strip() for line in text.split("\n")]
    return _MANY_NEWLINES.sub("\n\n", "\n".join(lines)).strip()


def clean_text(text: str) -> str:
    """The article's own text: boilerplate lines dropped, whitespace normalised."""
    kept = [line for line in normalise_whitespace(text).split("\n") if not is_boilerplate(line)]
    return _MANY_NEWLINES.sub("\n\n", "\n".join(kept)).strip()
