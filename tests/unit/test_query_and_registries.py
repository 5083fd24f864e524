"""The typed query, and the registries of answerers and retrievers that the CLI mirrors."""

from __future__ import annotations

import pytest

from rag.answer import ANSWERERS, MODES, default_mode
from rag.errors import QuestionError
from rag.query import Query
from rag.retrieve import RETRIEVERS, RetrieverKind
from rag.settings import Settings
from ui import cli


def test_query_is_checked_once_with_one_line_errors() -> None:
    assert Query("  How   many? ").checked(100).question == "How many?"
    for bad, message in [
        (Query("   "), "empty"),
        (Query("x" * 101), "too long"),
        (Query("q", top_k=0), "top_k"),
        (Query("q", since="2024-02-01", until="2024-01-01"), "after"),
        (Query("q", as_of="tomorrow"), "as_of 'tomorrow'"),
    ]:
        with pytest.raises(QuestionError, match=message):
            bad.checked(100)
    q = Query("q", since="2024-01-01", as_of="2024-03-08")
    assert (q.since_day, q.until_day, q.as_of_day) == (20240101, None, 20240308)


def test_the_cli_lists_exactly_the_registered_modes_and_retrievers() -> None:
    assert list(cli.MODES) == list(MODES) == list(ANSWERERS)
    for mode, (_, help_text) in ANSWERERS.items():
        assert help_text in cli.MODES[mode]
    assert list(cli.RETRIEVERS) == list(RETRIEVERS)
    assert [k.value for k in RetrieverKind] == list(RETRIEVERS)
    for name, spec in RETRIEVERS.items():
        assert cli.RETRIEVERS[name] == spec.help


def test_default_mode_is_the_reader_unless_an_llm_is_configured() -> None:
    assert default_mode(Settings()) == "reader"
    assert default_mode(Settings(llm_url="http://x/v1", llm_model="m")) == "llm"
    assert default_mode(Settings(llm_url="http://x/v1", llm_model="m", answer_mode="sentence")) == "sentence"


def test_every_parser_option_has_help() -> None:
    parser = cli.build_parser()
    subparsers = next(a for a in parser._actions if a.dest == "command").choices
    for name, sub in subparsers.items():
        for action in sub._actions:
            if action.dest != "help":
                assert action.help, f"citewire {name} {action.dest} has no help"


def test_verbose_is_taken_before_or_after_the_command() -> None:
    parse = cli.build_parser().parse_args
    assert parse(["-v", "list"]).verbose and parse(["list", "-v"]).verbose
    assert parse(["ingest", "x", "-q", "--verbose"]).verbose
    assert not parse(["list"]).verbose
