"""Plain-text rendering of an answer for the terminal (``citewire ask``)."""

from __future__ import annotations

import textwrap

from rag.types import Answer


def render_answer(answer: Answer, width: int = 100) -> str:
    lines = [textwrap.fill(line, width) for line in answer.text.split("\n")]
    if answer.note and not answer.refused:
        lines.append(f"({answer.note})")
    if answer.citations:
        lines.append("\nSources:")
        for c in answer.citations:
            head = f"[{c.n}] {c.title or c.doc_id}" + (f" ({c.published})" if c.published else "")
            if c.url:
                head += f" {c.url}"
            lines.append(head)
            lines.append(textwrap.indent(textwrap.fill(f"“{c.quote}”", width - 4), "    "))
    elif answer.passages:
        lines.append("\nClosest passages:")
        for p in answer.passages[:3]:
            lines.append(f"- {p.title or p.doc_id}" + (f" ({p.published})" if p.published else ""))
            lines.append(textwrap.indent(textwrap.fill(textwrap.shorten(p.text, 240), width - 4), "    "))
    lines.append(f"\nanswered by: {answer.mode}")
    return "\n".join(lines)
