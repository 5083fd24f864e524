"""Safe HTML for the chat: an answer with its inline markers and a Sources panel.

Everything that comes from a document (text, title, source, URL, doc id) is untrusted and goes
through :func:`html.escape`; only ``http``/``https`` URLs become links. The output is a single
line of HTML with no blank lines, so the Chatbot's Markdown pass treats it as one raw HTML block
and never re-interprets article text as Markdown.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable
from urllib.parse import urlsplit

from rag.types import Answer, AnswerSpan, Citation, Passage

QUOTE_RADIUS = 220  # characters of the passage shown either side of a cited span
CONTEXT_RADIUS = 700  # characters of the document shown either side when a source is expanded
CLOSEST_SHOWN = 3  # passages listed under a refusal

DocumentText = Callable[[str], "str | None"]

_MARKER = re.compile(r"\[(\d+)\]")
_ANSWER_BLOCK = re.compile(r'<div class="cw-answer[^"]*">(.*?)</div>', re.DOTALL)
_TAG = re.compile(r"<[^>]*>")


def esc(text: object) -> str:
    """Escape text for HTML (quotes too) and keep it on one line."""
    return html.escape(str(text), quote=True).replace("\r", "").replace("\n", "<br>")


def safe_href(url: str) -> str | None:
    """``url`` when it is an absolute http(s) URL safe to put in an ``href``; otherwise None."""
    url = url.strip()
    if not url or any(ord(ch) < 33 or ch in "\"'<>\\`" for ch in url):
        return None
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        return None
    return url


def link(url: str) -> str:
    """A link for an http(s) URL; any other URL (``javascript:``, ``data:`` …) as inert text."""
    if not url:
        return ""
    href = safe_href(url)
    if href is None:
        return f'<span class="cw-url-inert" title="not a web link">{esc(url)}</span>'
    host = urlsplit(href).netloc
    return f'<a class="cw-link" href="{esc(href)}" target="_blank" rel="noopener noreferrer nofollow">{esc(host)} ↗</a>'


def highlighted_window(
    text: str, start: int, end: int, radius: int, inner: tuple[int, int] | None = None
) -> str:
    """``text`` around ``[start, end)`` (cut at spaces, with ellipses) with that span in ``<mark>``.

    ``inner``: a smaller span inside it (the exact answer words) shown in ``<strong>`` within the mark.
    """
    start, end = max(0, start), min(len(text), end)
    lo, hi = max(0, start - radius), min(len(text), end + radius)
    if lo > 0:
        space = text.find(" ", lo, start)
        lo = space + 1 if space != -1 else lo
    if hi < len(text):
        space = text.rfind(" ", end, hi)
        hi = space if space != -1 else hi
    return (
        ("…" if lo > 0 else "")
        + esc(text[lo:start])
        + f"<mark>{_marked(text, start, end, inner)}</mark>"
        + esc(text[end:hi])
        + ("…" if hi < len(text) else "")
    )


def _marked(text: str, start: int, end: int, inner: tuple[int, int] | None) -> str:
    if inner is None or not (start <= inner[0] < inner[1] <= end):
        return esc(text[start:end])
    return (esc(text[start : inner[0]]) + f'<strong class="cw-span">{esc(text[inner[0] : inner[1]])}</strong>'
            + esc(text[inner[1] : end]))


def _span_in(text: str, quote: str, start: int, end: int, offset: int) -> tuple[int, int] | None:
    """Where ``quote`` sits in ``text`` (which starts at document offset ``offset``), if anywhere."""
    rel = start - offset
    if quote and rel >= 0 and text[rel : rel + (end - start)] == quote:
        return rel, rel + (end - start)
    found = text.find(quote) if quote else -1
    return (found, found + len(quote)) if found != -1 else None


def _head(n: int | None, title: str, doc_id: str, published: str | None, source: str, url: str) -> str:
    parts = [f'<span class="cw-n">[{n}]</span>'] if n is not None else []
    parts.append(f'<span class="cw-title">{esc(title or doc_id)}</span>')
    meta = [f'<span class="cw-date">{esc(published)}</span>'] if published else []
    if source:
        meta.append(f'<span class="cw-src">{esc(source)}</span>')
    if url:
        meta.append(link(url))
    meta.append(f'<span class="cw-docid">{esc(doc_id)}</span>')
    meta_html = '<span class="cw-meta">' + " · ".join(meta) + "</span>"
    return '<div class="cw-source-head">' + " ".join(parts) + meta_html + "</div>"


def _context(doc_text: str | None, quote: str, start: int, end: int) -> str:
    """The expandable surrounding text of a span, from the stored document."""
    if not doc_text:
        return ""
    span = _span_in(doc_text, quote, start, end, 0)
    if span is None:
        return ""
    body = highlighted_window(doc_text, span[0], span[1], CONTEXT_RADIUS)
    return (
        '<details class="cw-context"><summary>Surrounding text</summary>'
        f'<div class="cw-context-text">{body}</div></details>'
    )


def render_citation(
    c: Citation, passage: Passage | None, doc_text: str | None, answer_span: AnswerSpan | None = None
) -> str:
    """One source: its heading, the quote highlighted in its passage (the answer's words in bold)."""
    span = _span_in(passage.text, c.quote, c.start, c.end, passage.start) if passage else None
    inner = None
    if answer_span is not None and answer_span.citation == c.n:
        inner = (answer_span.start - c.start, answer_span.end - c.start)  # relative to the quote
    if passage is not None and span is not None:
        within = (span[0] + inner[0], span[0] + inner[1]) if inner else None
        quote = highlighted_window(passage.text, span[0], span[1], QUOTE_RADIUS, within)
    else:
        quote = f"<mark>{_marked(c.quote, 0, len(c.quote), inner)}</mark>"
    return (
        f'<div class="cw-source" data-n="{c.n}">'
        + _head(c.n, c.title, c.doc_id, c.published, c.source, c.url)
        + f'<blockquote class="cw-quote">{quote}</blockquote>'
        + _context(doc_text, c.quote, c.start, c.end)
        + "</div>"
    )


def render_passage(p: Passage, doc_text: str | None) -> str:
    shown = p.text if len(p.text) <= 2 * QUOTE_RADIUS else p.text[: 2 * QUOTE_RADIUS].rsplit(" ", 1)[0] + "…"
    return (
        '<div class="cw-source cw-closest-passage">'
        + _head(None, p.title, p.doc_id, p.published, p.source, p.url)
        + f'<blockquote class="cw-quote">{esc(shown)}</blockquote>'
        + _context(doc_text, p.text, p.start, p.end)
        + "</div>"
    )


def _with_refs(text: str, numbers: set[int]) -> str:
    return _MARKER.sub(
        lambda m: f'<sup class="cw-ref">[{m.group(1)}]</sup>' if int(m.group(1)) in numbers else m.group(0),
        esc(text),
    )


def _answer_text(answer: Answer) -> str:
    """The answer's lines: a reader answer's headline in bold, a sources-compared line styled by kind."""
    numbers = {c.n for c in answer.citations}
    lines = answer.text.split("\n")
    out = []
    for i, line in enumerate(lines):
        body = _with_refs(line, numbers)
        if i == 0 and answer.answer_span is not None and len(lines) > 1:
            out.append(f'<span class="cw-headline">{body}</span>')
        elif answer.agreement is not None and line == answer.agreement.summary:
            out.append(f'<span class="cw-agreement cw-{esc(answer.agreement.kind)}">{body}</span>')
        else:
            out.append(f'<span class="cw-line">{body}</span>')
    return "".join(out)


def render_answer(answer: Answer, document_text: DocumentText | None = None) -> str:
    """The whole chat message for a finished answer (or refusal), as one line of safe HTML."""
    cache: dict[str, str | None] = {}

    def doc_text(doc_id: str) -> str | None:
        if document_text is None:
            return None
        if doc_id not in cache:
            cache[doc_id] = document_text(doc_id)
        return cache[doc_id]

    out = ['<div class="cw-message">']
    if answer.resolved_question and answer.resolved_question != answer.question:
        out.append(f'<div class="cw-resolved">Searched for: {esc(answer.resolved_question)}</div>')
    if answer.refused:
        out.append(
            '<div class="cw-refusal"><div class="cw-refusal-label">Not in the corpus</div>'
            f'<div class="cw-answer">{esc(answer.text)}</div></div>'
        )
        if answer.passages:
            out.append('<div class="cw-sources cw-closest"><div class="cw-sources-title">Closest passages</div>')
            out.extend(render_passage(p, doc_text(p.doc_id)) for p in answer.passages[:CLOSEST_SHOWN])
            out.append("</div>")
    else:
        out.append(f'<div class="cw-answer">{_answer_text(answer)}</div>')
        if answer.citations:
            by_chunk = {p.chunk_id: p for p in answer.passages}
            out.append('<div class="cw-sources"><div class="cw-sources-title">Sources</div>')
            out.extend(
                render_citation(c, by_chunk.get(c.chunk_id), doc_text(c.doc_id), answer.answer_span)
                for c in answer.citations
            )
            out.append("</div>")
    total = answer.timings.get("total_ms")
    footer = f"answered by: {answer.mode}" + (f" · {total / 1000:.1f} s" if total is not None else "")
    if answer.note:
        footer += f" · {answer.note}"
    out.append(f'<div class="cw-footer">{esc(footer)}</div></div>')
    return "".join(out)


def render_partial(text: str) -> str:
    """The answer as it streams in."""
    return f'<div class="cw-message"><div class="cw-answer cw-streaming">{esc(text)}</div></div>'


def plain_answer(content: str) -> str:
    """The answer text of a rendered chat message (what a follow-up question should see)."""
    m = _ANSWER_BLOCK.search(content)
    body = m.group(1) if m else content
    body = body.replace("<br>", "\n").replace("</span><span", "</span>\n<span")
    return html.unescape(_TAG.sub("", body)).strip()
