"""Every input format through the real ingest path into a real embedded Chroma store.

One small corpus (one or two short documents per format, plus the seed article) is ingested
once for the module; the tests then check ids, titles, metadata, date filters and offsets.
"""

from __future__ import annotations

import json
import shutil
from collections import defaultdict
from pathlib import Path

import pytest

from ingest import Ingestor
from rag.settings import Settings
from rag.store import Store

ROOT = Path(__file__).resolve().parents[1]
SEED = ROOT / "data" / "sample" / "north-korean-troops-ukraine.txt"

HTML = """<!doctype html>
<html><head>
<title>Grain corridor reopens after Istanbul talks | Example News</title>
<meta name="date" content="2022-11-03">
<link rel="canonical" href="https://example.org/world/grain-corridor">
</head><body>
<nav><ul><li><a href="/">Home</a></li><li><a href="/world">World</a></li>
<li><a href="/markets">Markets</a></li></ul></nav>
<div class="newsletter">Sign up for our newsletter to get the latest news in your inbox.</div>
<article><h1>Ships leave Odesa as corridor is extended</h1>
<p>Ships carrying grain left the port of Odesa on Thursday after negotiators agreed to extend the corridor
for another four months, officials said.</p>
<p>The agreement followed two weeks of talks in Istanbul, where delegations argued over inspections and
insurance for the vessels crossing the Black Sea.</p>
<p>Traders said wheat prices fell by three percent on the news, the largest daily drop since the summer.</p>
<p>Share this:</p>
</article>
<aside><h3>Most read</h3><ul><li><a href="/a">Celebrity chef opens a restaurant</a></li>
<li><a href="/b">Weather turns cold</a></li></ul></aside>
<footer><p>© 2022 Example News. All rights reserved.</p><p>Follow us on Twitter</p>
<a href="/privacy">Privacy policy</a> <a href="/terms">Terms of use</a></footer>
</body></html>
"""

JSONL = [
    {"id": "wire-0001", "title": "Voters go to the polls in the province", "published": "2022-11-05T10:00:00Z",
     "url": "https://wire.example/0001", "source": "Example Wire", "authors": ["Ana Ruiz"],
     "text": "Voters in the northern province went to the polls on Sunday to choose a new governor. "
             "Turnout was higher than in the last election, officials said."},
    {"id": "wire-0002", "title": "Floods displace thousands in the delta", "published": "2022-09-01",
     "url": "https://wire.example/0002", "authors": ["Li Wei", "Sam Okafor"],
     "text": "Floods displaced thousands of families in the river delta after a week of heavy rain. "
             "Aid agencies set up camps on higher ground."},
]

FILES: dict[str, str] = {
    "plain.txt": "Harbour reopens after the storm\n"
                 "The harbour reopened on Monday after the storm, and fishermen returned to sea.\n"
                 "Repairs to the breakwater will take another month, the port authority said.\n",
    "notes/rates.md": "# Central bank raises rates again\n\n"
                      "The central bank raised interest rates by half a point on Wednesday, citing persistent "
                      "inflation.\n\nAnalysts expect another rise in December.\n",
    "web/grain.html": HTML,
    "feeds/one.json": json.dumps(
        {"id": "obj-1", "title": "Farmers protest over fuel prices", "published": "2022-10-15",
         "url": "https://x.example/farmers", "source": "X News", "authors": ["A. Writer"],
         "text": "Farmers drove tractors into the capital on Tuesday to protest against rising fuel prices."}
    ),
    "feeds/list.json": json.dumps([
        {"id": "rail-7", "title": "Rail workers strike", "published": "2022-11-20",
         "text": "Rail workers walked out on Friday in a dispute over pay, halting most trains."},
        {"title": "Ports close for the holiday",
         "text": "The country's main ports will close for three days over the national holiday."},
    ]),
    "feeds/wire.jsonl": "\n".join(json.dumps(r) for r in JSONL) + "\n",
}

PDF_LINES = [
    "Container traffic through the port rose by twelve percent in October.",
    "Officials credited new cranes and longer opening hours at the terminal.",
]

# doc id -> (title, source, url, published)
EXPECTED = {
    "plain.txt": ("Harbour reopens after the storm", "", "", None),
    "notes/rates.md": ("Central bank raises rates again", "", "", None),
    "web/grain.html": ("Grain corridor reopens after Istanbul talks", "example.org",
                       "https://example.org/world/grain-corridor", 20221103),
    "obj-1": ("Farmers protest over fuel prices", "X News", "https://x.example/farmers", 20221015),
    "rail-7": ("Rail workers strike", "", "", 20221120),
    "feeds/list.json#1": ("Ports close for the holiday", "", "", None),
    "wire-0001": ("Voters go to the polls in the province", "Example Wire", "https://wire.example/0001", 20221105),
    "wire-0002": ("Floods displace thousands in the delta", "Li Wei, Sam Okafor", "https://wire.example/0002",
                  20220901),
    # reportlab's invariant mode stamps CreationDate 2000-01-01, which the PDF reader takes as the date
    "reports/port.pdf": ("Port traffic report for October", "Port Authority", "", 20000101),
    "sample/north-korean-troops-ukraine.txt": ("North Korean Troops Ukraine", "", "", None),
}


def make_pdf(path: Path) -> None:
    from reportlab.lib.pagesizes import A4
    from reportlab.pdfgen import canvas

    path.parent.mkdir(parents=True, exist_ok=True)
    pdf = canvas.Canvas(str(path), pagesize=A4, invariant=1)
    pdf.setTitle("Port traffic report for October")
    pdf.setAuthor("Port Authority")
    text = pdf.beginText(72, 750)
    for line in PDF_LINES:
        text.textLine(line)
    pdf.drawText(text)
    pdf.showPage()
    pdf.save()


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory, embedder):
    """(store, summary, folder): the format corpus ingested once into a fresh store."""
    base = tmp_path_factory.mktemp("formats")
    folder = base / "corpus"
    for rel, content in FILES.items():
        (folder / rel).parent.mkdir(parents=True, exist_ok=True)
        (folder / rel).write_text(content, encoding="utf-8")
    make_pdf(folder / "reports" / "port.pdf")
    (folder / "sample").mkdir()
    shutil.copy(SEED, folder / "sample" / SEED.name)
    settings = Settings(store_dir=base / "store")
    store = Store.open(settings, create=True)
    summary = Ingestor(settings, store, embedder).ingest([folder], progress=False)
    yield store, summary, folder
    store.close()


def test_every_document_is_ingested(corpus) -> None:
    store, summary, _ = corpus
    assert summary.failed == []
    assert sorted(summary.added) == sorted(EXPECTED)
    assert {d.doc_id for d in store.list_documents()} == set(EXPECTED)


@pytest.mark.parametrize("doc_id", sorted(EXPECTED))
def test_ids_titles_and_metadata(corpus, chunk_rows, doc_id: str) -> None:
    store, _, _ = corpus
    title, source, url, published = EXPECTED[doc_id]
    doc = store.get_document(doc_id)
    assert doc is not None
    assert (doc.title, doc.source, doc.url, doc.published) == (title, source, url, published)
    metas = [m for _, m in chunk_rows(store).values() if m["doc_id"] == doc_id]
    assert metas, f"no chunks for {doc_id}"
    for meta in metas:
        assert (meta["title"], meta["source"], meta["url"]) == (title, source, url)
        assert meta.get("published") == published
        if published is not None:
            assert type(meta["published"]) is int


def test_published_works_in_chroma_where_filters(corpus, embedder) -> None:
    store, _, _ = corpus
    recent = {"published": {"$gte": 20221101}}
    got = store.chunks.get(where=recent, include=["metadatas"])
    assert {m["doc_id"] for m in got["metadatas"]} == {"web/grain.html", "rail-7", "wire-0001"}
    window = {"$and": [{"published": {"$gte": 20221001}}, {"published": {"$lt": 20221104}}]}
    got = store.chunks.get(where=window, include=["metadatas"])
    assert {m["doc_id"] for m in got["metadatas"]} == {"web/grain.html", "obj-1"}
    # and in a vector query, which is how retrieval applies it
    hits = store.chunks.query(
        query_embeddings=[embedder.embed_query("grain ships leaving Odesa").tolist()], n_results=5, where=recent
    )
    assert hits["metadatas"][0][0]["doc_id"] == "web/grain.html"
    assert all(m["published"] >= 20221101 for m in hits["metadatas"][0])


def test_chunk_numbers_and_offsets_are_exact(corpus, chunk_rows) -> None:
    store, _, _ = corpus
    by_doc: dict[str, list[tuple[str, dict]]] = defaultdict(list)
    for text, meta in chunk_rows(store).values():
        by_doc[meta["doc_id"]].append((text, meta))
    assert set(by_doc) == set(EXPECTED)
    for doc_id, chunks in by_doc.items():
        doc = store.get_document(doc_id)
        assert sorted(m["chunk"] for _, m in chunks) == list(range(doc.chunks)), doc_id
        for text, meta in chunks:
            assert text
            assert doc.text[meta["start"] : meta["end"]] == text, (doc_id, meta["chunk"])
            assert meta["content_hash"] == doc.content_hash
    # the seed article is long enough for several chunks, and they cover all of its text
    seed = store.get_document("sample/north-korean-troops-ukraine.txt")
    assert seed.chunks > 1
    covered = set()
    for _, meta in by_doc[seed.doc_id]:
        covered.update(range(meta["start"], meta["end"]))
    assert all(i in covered for i, ch in enumerate(seed.text) if not ch.isspace())


def test_text_formats_keep_the_body(corpus) -> None:
    store, _, _ = corpus
    plain = store.get_document("plain.txt").text
    assert plain.startswith("The harbour reopened on Monday")  # the title line became the title
    assert "breakwater" in plain
    md = store.get_document("notes/rates.md").text
    assert not md.startswith("#") and "Central bank raises" not in md
    assert md.endswith("Analysts expect another rise in December.")
    pdf = store.get_document("reports/port.pdf").text
    assert all(line in pdf for line in PDF_LINES)
    assert store.get_document("wire-0002").text == JSONL[1]["text"]


def test_html_boilerplate_is_stripped(corpus) -> None:
    store, _, _ = corpus
    text = store.get_document("web/grain.html").text
    assert "Ships carrying grain left the port of Odesa" in text
    assert "wheat prices fell by three percent" in text
    for junk in ["Home", "Markets", "Sign up", "newsletter", "Most read", "Celebrity chef", "All rights reserved",
                 "Follow us", "Privacy policy", "Terms of use", "Share this"]:
        assert junk not in text, junk


def test_seed_footer_is_gone_from_the_store(corpus) -> None:
    store, _, _ = corpus
    text = store.get_document("sample/north-korean-troops-ukraine.txt").text
    assert "Discover more" not in text
    assert "Subscribe" not in text and "sent to your email" not in text
    assert text.endswith("containing Russia’s expanding alliances.")
    assert text.startswith("The Russia-Ukraine conflict has taken a dramatic turn")


def test_embedded_text_is_title_and_passage_only(corpus) -> None:
    """What was embedded (title + passage) must not carry bookkeeping such as the content hash."""
    from llama_index.core.schema import MetadataMode
    from llama_index.core.vector_stores.utils import metadata_dict_to_node

    store, _, _ = corpus
    got = store.chunks.get(where={"doc_id": "rail-7"}, include=["metadatas", "documents"])
    node = metadata_dict_to_node(got["metadatas"][0], text=got["documents"][0])
    assert node.get_content(metadata_mode=MetadataMode.EMBED) == (
        "title: Rail workers strike\n\nRail workers walked out on Friday in a dispute over pay, halting most trains."
    )
    assert "content_hash" not in node.get_content(metadata_mode=MetadataMode.LLM)


def test_a_single_file_gets_its_name_as_id(tmp_path: Path, ingestor, write_files) -> None:
    write_files(tmp_path / "in", {"deep/dir/story.txt": "Bridge closes for repairs\nThe old bridge closed on Monday."})
    summary = ingestor.ingest([tmp_path / "in" / "deep" / "dir" / "story.txt"], progress=False)
    assert summary.added == ["story.txt"]
    doc = ingestor.store.get_document("story.txt")
    assert (doc.title, doc.text) == ("Bridge closes for repairs", "The old bridge closed on Monday.")
