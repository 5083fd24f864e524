"""The chat's HTML: escaping, links, highlights, refusals; request parsing of the JSON API."""

from __future__ import annotations

import pytest

from rag.errors import CitewireError
from rag.types import Answer, Citation, Passage
from ui.api import parse_request
from ui.app import parse_auth
from ui.chat import engine_history
from ui.render_html import plain_answer, render_answer, render_partial, safe_href

DOC = (
    "Intro line.\nThe mayor said <script>window.__xss=2</script> the bridge costs 42 million dollars. "
    "Work starts in May."
)
QUOTE = "The mayor said <script>window.__xss=2</script> the bridge costs 42 million dollars."
START = DOC.index(QUOTE)


def _answer(**overrides) -> Answer:
    passage = Passage(
        chunk_id="d1::0", doc_id="evil<b>.txt", title="<img src=x onerror=window.__xss=1>", text=DOC, start=0,
        end=len(DOC), score=0.9, published="2024-03-12", url="javascript:window.__xss=3", source="<i>Wire</i>",
    )
    citation = Citation(
        n=1, doc_id="evil<b>.txt", title=passage.title, quote=QUOTE, start=START, end=START + len(QUOTE),
        score=0.9, url=passage.url, published="2024-03-12", source=passage.source, chunk_id="d1::0",
    )
    fields = {"question": "How much?", "text": f"{QUOTE} [1]", "citations": [citation], "passages": [passage],
              "resolved_question": "How much?"}
    return Answer(**{**fields, **overrides})


@pytest.mark.parametrize(
    ("url", "ok"),
    [
        ("https://example.org/a?b=1&c=2", True),
        ("http://example.org", True),
        ("javascript:alert(1)", False),
        ("JavaScript:alert(1)", False),
        (" javascript:alert(1)", False),
        ("java\tscript:alert(1)", False),
        ("data:text/html,<script>alert(1)</script>", False),
        ("vbscript:msgbox", False),
        ("//example.org/x", False),
        ("https://example.org/\"onmouseover=alert(1)", False),
        ("", False),
    ],
)
def test_only_http_urls_become_links(url: str, ok: bool) -> None:
    assert (safe_href(url) is not None) is ok


def test_untrusted_fields_are_escaped_and_inert() -> None:
    html = render_answer(_answer(), lambda doc_id: DOC)
    assert "<script" not in html and "<img" not in html and "<i>" not in html and "<b>" not in html
    assert "&lt;script&gt;window.__xss=2&lt;/script&gt;" in html
    assert "&lt;img src=x onerror=window.__xss=1&gt;" in html
    assert "href=" not in html  # the only URL is javascript:, shown as text
    assert '<span class="cw-url-inert" title="not a web link">javascript:window.__xss=3</span>' in html
    assert "\n" not in html  # one HTML block for the Chatbot's Markdown pass


def test_answer_has_markers_sources_highlight_and_context() -> None:
    answer = _answer(passages=[], citations=[])
    good = _answer()
    good.citations[0].url = good.passages[0].url = "https://news.example.org/bridge?id=1&x=2"
    html = render_answer(good, lambda doc_id: DOC)
    assert '<sup class="cw-ref">[1]</sup>' in html
    assert '<div class="cw-sources-title">Sources</div>' in html
    assert 'href="https://news.example.org/bridge?id=1&amp;x=2"' in html
    assert 'rel="noopener noreferrer nofollow"' in html
    assert "2024-03-12" in html and "&lt;i&gt;Wire&lt;/i&gt;" in html
    quote_html = (
        "<mark>The mayor said &lt;script&gt;window.__xss=2&lt;/script&gt; the bridge costs 42 million dollars.</mark>"
    )
    assert html.count(quote_html) == 2  # in the passage and in the expandable surrounding text
    assert '<details class="cw-context"><summary>Surrounding text</summary>' in html
    assert "Intro line.<br>" in html
    assert "cw-refusal" not in render_answer(answer)


def test_refusal_is_distinct_and_lists_closest_passages() -> None:
    refused = _answer(text="The corpus does not say.", citations=[], refused=True)
    html = render_answer(refused, lambda doc_id: None)
    assert '<div class="cw-refusal">' in html and "Closest passages" in html
    assert "Sources" not in html and "42 million dollars" in html


def test_plain_answer_recovers_the_answer_text() -> None:
    answer = _answer(resolved_question="How much? (bridge)")
    html = render_answer(answer, lambda doc_id: DOC)
    assert plain_answer(html) == answer.text
    assert plain_answer(render_partial("Partial <b>text")) == "Partial <b>text"
    assert plain_answer("plain words") == "plain words"


def test_engine_history_keeps_answers_not_sources() -> None:
    html = render_answer(_answer(), lambda doc_id: DOC)
    history = [
        {"role": "user", "content": "How much is the bridge?"},
        {"role": "assistant", "content": [{"type": "text", "text": html}]},
    ]
    assert engine_history(history) == [
        {"role": "user", "content": "How much is the bridge?"},
        {"role": "assistant", "content": f"{QUOTE} [1]"},
    ]
    assert engine_history([["q", "a"]]) == [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"not json", "not valid JSON"),
        (b"[1, 2]", "JSON object"),
        (b"{}", '"question" is required'),
        (b'{"question": 5}', '"question" must be a string'),
        (b'{"question": "q", "top_k": "5"}', '"top_k" must be an integer'),
        (b'{"question": "q", "top_k": true}', '"top_k" must be an integer'),
        (b'{"question": "q", "history": "earlier"}', '"history" must be a list'),
        (b'{"question": "q", "history": [{"role": "user"}]}', "history[0]"),
        (b'{"question": "q", "since": 20240101}', '"since" must be a string'),
        (b'{"question": "q", "k": 1}', "unknown field(s): k"),
    ],
)
def test_bad_api_requests_are_rejected_with_a_message(body: bytes, message: str) -> None:
    with pytest.raises(ValueError) as err:
        parse_request(body)
    assert message in str(err.value)


def test_good_api_request_parses() -> None:
    body = b'{"question": "q", "history": [["a", "b"]], "since": null, "top_k": 3}'
    assert parse_request(body)["top_k"] == 3


def test_auth_flag() -> None:
    assert parse_auth("ann:pa:ss") == ("ann", "pa:ss")
    assert parse_auth(None) is None
    with pytest.raises(CitewireError, match="user:password"):
        parse_auth("ann")


def test_the_reader_answer_shows_its_words_inside_the_quote_and_how_sources_compare() -> None:
    from rag.types import Agreement, AnswerSpan, SourceGroup

    at = START + QUOTE.index("42 million dollars")
    span = AnswerSpan("42 million dollars", "evil<b>.txt", at, at + len("42 million dollars"), 5.0, citation=1,
                      chunk_id="d1::0")
    agreement = Agreement("differ", [SourceGroup("42 million dollars", [1], ["evil<b>.txt"], ["2024-03-12"], ["W"]),
                                     SourceGroup("40 million <b>", [2], ["b"], [None], ["B"])],
                          "Sources differ: 42 million dollars (W, 2024-03-12) [1]; 40 million <b> (B) [2].")
    answer = _answer(text=f"42 million dollars.\n“{QUOTE}” [1]\n{agreement.summary}", answer_span=span,
                     agreement=agreement, mode="reader")
    html = render_answer(answer, lambda doc_id: DOC)
    assert '<span class="cw-headline">42 million dollars.</span>' in html
    assert '<strong class="cw-span">42 million dollars</strong>' in html
    assert 'class="cw-agreement cw-differ"' in html and "40 million &lt;b&gt;" in html and "<b>" not in html
    assert "answered by: reader" in html
    assert plain_answer(html).split("\n") == answer.text.split("\n")
