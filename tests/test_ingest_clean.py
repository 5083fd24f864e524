"""Boilerplate removal: newsletter, share and follow lines go; the article's own sentences stay."""

from __future__ import annotations

from pathlib import Path

import pytest

from ingest.clean import clean_text, is_boilerplate
from ingest.readers import read_file

ROOT = Path(__file__).resolve().parents[1]
SEED = ROOT / "data" / "sample" / "north-korean-troops-ukraine.txt"

STORY = (
    "Officials confirmed the bridge will reopen in March.\n"
    "The paper said its subscribers had doubled since the war began.\n"
    "Subscribers to the service complained about the price rise.\n"
    "Share prices fell three percent on Monday.\n"
    "Facebook said on Tuesday it would cut 11,000 jobs.\n"
    "Copyright lawsuits against the platform rose in 2023, the report said.\n"
    "Join the queue, the minister told reporters, and wait like everyone else.\n"
)


def test_seed_article_loses_its_footer() -> None:
    raw = SEED.read_text(encoding="utf-8")
    assert raw.rstrip().endswith("Subscribe to get the latest posts sent to your email.")  # the fixture is as described
    (doc,) = read_file(SEED, SEED.name)
    assert "Discover more from" not in doc.text
    assert "Business-News-Today.com" not in doc.text
    assert "Subscribe to get the latest posts" not in doc.text
    assert doc.text.endswith("containing Russia’s expanding alliances.")
    # nothing else of the article was lost
    assert doc.text.count("\n") == raw.strip().count("\n") - 2


@pytest.mark.parametrize(
    "footer",
    [
        "Discover more from Business-News-Today.com\nSubscribe to get the latest posts sent to your email.",
        "Discover more from The Kyiv Independent\nSubscribe to get the latest posts sent to your email.",
        "Discover more from Tech Policy Weekly\nType your email…\nSubscribe",
        "Share this:\nTwitter\nFacebook\nLike this:\nLike Loading...",
        "Follow us on Twitter and Facebook\nSign up for our daily newsletter",
        "Advertisement\nRelated: More stories from the front\nTags: Ukraine, Russia",
        "© 2024 Example Media Ltd. All rights reserved.\nCopyright 2024 Example News",
        "Twitter | Facebook | LinkedIn | Email\nClick here to get our newsletter in your inbox",
        "Already a subscriber? Log in\nContinue reading the main story",
    ],
)
def test_generic_footers_vanish_and_the_story_stays(footer: str) -> None:
    text = clean_text(STORY + "\n" + footer + "\n")
    assert text == STORY.strip()


@pytest.mark.parametrize("line", [line for line in STORY.splitlines() if line])
def test_article_sentences_are_not_boilerplate(line: str) -> None:
    assert not is_boilerplate(line)


def test_boilerplate_must_be_the_whole_line() -> None:
    long_line = "Subscribe " + "and the council said it would review the decision next year " * 5
    assert not is_boilerplate(long_line)  # a paragraph-long line is prose, whatever its first word
    assert clean_text("Intro.\n\n\n\nDiscover more from X\n\n\n\nOutro.") == "Intro.\n\nOutro."


def test_whitespace_is_normalised() -> None:
    assert clean_text("  A\u00a0 b\t c \r\nnext\x07 line  \n\n\n\nend ") == "A b c\nnext line\n\nend"
