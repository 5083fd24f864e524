"""The chat in a real browser (headless Chromium through Playwright): a cited answer, and inert hostile articles."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from ui_support import ROOT, SEED_DOC, XSS_QUESTION, write_xss_doc

pytestmark = pytest.mark.browser

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
TIMEOUT_MS = 60_000


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    sync_api = pytest.importorskip("playwright.sync_api")
    if not Path(CHROMIUM).exists():
        pytest.skip(f"no Chromium at {CHROMIUM}")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser, ui_server):
    context = browser.new_context(viewport={"width": 1280, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    page.goto(ui_server.url)
    page.wait_for_selector("#cw-question textarea")
    yield page
    context.close()


def ask(page, question: str):
    """Type a question, send it, and wait for the finished answer (the last message's Sources or refusal)."""
    before = page.locator(".cw-footer").count()
    box = page.locator("#cw-question textarea")
    box.fill(question)
    box.press("Enter")
    page.wait_for_function(f"document.querySelectorAll('.cw-footer').length > {before}")
    return page.locator(".cw-message").last


def test_chat_shows_a_streamed_cited_answer(page, tmp_path) -> None:
    for example in ("How many North Korean troops were deployed to Russia?",
                    "Who is the NATO Secretary-General quoted on the deployment?"):
        assert page.get_by_text(example).first.is_visible()
    message = ask(page, "How many North Korean troops were deployed to Russia?")
    answer = message.locator(".cw-answer")
    assert answer.locator(".cw-headline").inner_text() == "Over 10,000."  # the answer first
    assert answer.locator("sup.cw-ref").first.inner_text() == "[1]"
    source = message.locator(".cw-source").first
    assert source.locator(".cw-docid").inner_text() == SEED_DOC
    assert "over 10,000 North Korean troops" in source.locator("blockquote mark").inner_text()
    span = source.locator("blockquote mark strong.cw-span")  # the answer's own words, inside the quote
    assert span.is_visible() and span.inner_text() == "over 10,000"
    assert "answered by: reader" in message.locator(".cw-footer").inner_text()
    shot = tmp_path / "screenshot-chat.png"
    page.screenshot(path=str(shot))
    # refresh the README picture on request only (not a CITEWIRE_* variable: the session drops those)
    if os.environ.get("UPDATE_README_SCREENSHOT"):
        docs = ROOT / "docs"
        docs.mkdir(exist_ok=True)
        shutil.copyfile(shot, docs / "screenshot-chat.png")

    context = source.locator("details.cw-context")
    assert not context.locator(".cw-context-text").is_visible()
    context.locator("summary").click()
    assert context.locator(".cw-context-text").is_visible()
    assert "North Korean" in context.locator(".cw-context-text").inner_text()


def test_hostile_article_renders_inert(page, tmp_path) -> None:
    hostile = write_xss_doc(tmp_path / "upload")
    empty = tmp_path / "upload" / "empty.txt"
    empty.write_text("", encoding="utf-8")

    page.get_by_role("tab", name="Corpus").click()
    page.locator("#cw-upload input[type=file]").set_input_files([str(hostile), str(empty)])
    page.get_by_role("button", name="Ingest files").click()
    results = page.locator("#cw-results")
    results.get_by_text("empty file").wait_for()
    assert "xss-lighthouse" in results.inner_text()
    body = page.locator("body").inner_text()
    assert "<img src=x onerror=window.__xss=1>" in body  # the title, listed as text

    page.get_by_role("tab", name="Chat").click()
    message = ask(page, XSS_QUESTION)
    assert "30 kilometres" in message.locator(".cw-answer").inner_text()
    source = message.locator(".cw-source").first
    assert source.locator(".cw-title").inner_text() == "<img src=x onerror=window.__xss=1>"
    assert source.locator(".cw-url-inert").inner_text() == "javascript:window.__xss=3"
    assert "<script>window.__xss=2</script>" in source.locator("blockquote").inner_text()
    source.locator("details.cw-context summary").click()
    page.wait_for_timeout(500)  # give any injected handler the chance to run

    assert page.evaluate("typeof window.__xss") == "undefined"
    assert page.evaluate("[...document.scripts].filter(s => s.textContent.includes('__xss')).length") == 0
    assert page.evaluate("document.querySelectorAll('img[src=\"x\"], [onerror]').length") == 0
    hrefs = page.evaluate("[...document.querySelectorAll('[href]')].map(a => a.getAttribute('href'))")
    assert not [h for h in hrefs if h.strip().lower().startswith("javascript:")], hrefs
