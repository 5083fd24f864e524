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

from rag.models import Answer, Citation, Passage
from rag.store import published_iso

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


def highlighted_window(text: str, start: int, end: int, radius: int) -> str:
    """``text`` around ``[start, end)`` (cut at spaces, with ellipses) with that span in ``<mark>``."""
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
        + f"<mark>{esc(text[start:end])}</mark>"
        + esc(text[end:hi])
        + ("…" if hi < len(text) else "")
    )


def _span_in(text: str, quote: str, start: int, end: int, offset: int) -> tuple[int, int] | None:
    """Where ``quote`` sits in ``text`` (which starts at document offset ``offset``), if anywhere."""
    rel = start - offset
    if quote and rel >= 0 and text[rel : rel + (end - start)] == quote:
        return rel, rel + (end - start)
    found = text.find(quote) if quote else -1
    return (found, found + len(quote)) if found != -1 else None


def _head(n: int | None, title: str, doc_id: str, published: str, source: str, url: str) -> str:
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


def render_citation(c: Citation, passage: Passage | None, doc_text: str | None) -> str:
    span = _span_in(passage.text, c.quote, c.start, c.end, passage.start) if passage else None
    if passage is not None and span is not None:
        quote = highlighted_window(passage.text, span[0], span[1], QUOTE_RADIUS)
    else:
        quote = f"<mark>{esc(c.quote)}</mark>"
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
        + _head(None, p.title, p.doc_id, published_iso(p.published), p.source, p.url)
        + f'<blockquote class="cw-quote">{esc(shown)}</blockquote>'
        + _context(doc_text, p.text, p.start, p.end)
        + "</div>"
    )


def _answer_text(answer: Answer) -> str:
    numbers = {c.n for c in answer.citations}
    return _MARKER.sub(
        lambda m: f'<sup class="cw-ref">[{m.group(1)}]</sup>' if int(m.group(1)) in numbers else m.group(0),
        esc(answer.text),
    )


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
                render_citation(c, by_chunk.get(c.chunk_id), doc_text(c.doc_id)) for c in answer.citations
            )
            out.append("</div>")
    total = answer.timings.get("total_ms")
    footer = answer.mode + (f" · {total / 1000:.1f} s" if total is not None else "")
    out.append(f'<div class="cw-footer">{esc(footer)}</div></div>')
    return "".join(out)


def render_partial(text: str) -> str:
    """The answer as it streams in."""
    return f'<div class="cw-message"><div class="cw-answer cw-streaming">{esc(text)}</div></div>'


def plain_answer(content: str) -> str:
    """The answer text of a rendered chat message (what a follow-up question should see)."""
    m = _ANSWER_BLOCK.search(content)
    body = m.group(1) if m else content
    return html.unescape(_TAG.sub("", body.replace("<br>", "\n"))).strip()
