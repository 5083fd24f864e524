"""Reading a text file's front-matter header (title, date, source, url)."""

from __future__ import annotations

from pathlib import Path

from ingest.readers import front_matter, read_text


def test_front_matter_fields_and_body() -> None:
    fields, body = front_matter('---\ntitle: "Troops sent"\ndate: 2024-10-18\nauthors: [A. Writer, B. Writer]\n'
                                "url: https://example.org/x\nmood: calm\n---\nThe body.\n")
    assert fields == {"title": "Troops sent", "published": "2024-10-18", "source": "A. Writer, B. Writer",
                      "url": "https://example.org/x"}
    assert body == "The body.\n"
    assert front_matter("No header here.\n---\nnot: one\n---\n") == ({}, "No header here.\n---\nnot: one\n---\n")


def test_a_text_file_with_front_matter_keeps_its_date_and_title(tmp_path: Path) -> None:
    f = tmp_path / "troops.md"
    f.write_text("---\ntitle: Troops sent\ndate: 2024-10-18\nsource: Wire\n---\nOver 10,000 troops were sent.\n")
    (doc,) = list(read_text(f, "troops.md"))
    assert (doc.title, doc.published, doc.source, doc.text) == (
        "Troops sent", 20241018, "Wire", "Over 10,000 troops were sent.")
    g = tmp_path / "plain.txt"
    g.write_text("A headline\nThe body of the article.\n")
    (plain,) = list(read_text(g, "plain.txt"))
    assert plain.title == "A headline" and plain.published is None
