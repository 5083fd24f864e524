"""Reading article files of every supported format into cleaned :class:`DocumentRecord` objects.

Each reader turns one file into documents or into :class:`ReadFailure` lines that name the file
(and line) and say why, so one bad file or JSONL line never stops the others.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from ingest.clean import clean_text
from rag.dates import coerce_day
from rag.store import DocumentRecord

log = logging.getLogger(__name__)
# pypdf logs every repair it attempts on a damaged file as a WARNING that does not name the file;
# a PDF that cannot be read is reported once, as a ReadFailure, instead.
logging.getLogger("pypdf").setLevel(logging.ERROR)

TEXT_SUFFIXES = {".txt", ".md", ".markdown"}
HTML_SUFFIXES = {".html", ".htm"}
JSON_SUFFIXES = {".json", ".jsonl", ".ndjson"}
PDF_SUFFIXES = {".pdf"}
SUPPORTED_SUFFIXES = TEXT_SUFFIXES | HTML_SUFFIXES | JSON_SUFFIXES | PDF_SUFFIXES
MAX_FILE_BYTES = 200 * 1024 * 1024


@dataclass
class ReadFailure:
    """Why a file (or one line of it) could not be ingested."""

    path: str
    reason: str
    line: int | None = None

    def __str__(self) -> str:
        where = f"{self.path}:{self.line}" if self.line else self.path
        return f"{where}: {self.reason}"


class Rejected(Exception):
    """A reader's way of saying 'skip this input, for this reason'."""


def title_from_filename(path: Path) -> str:
    words = re.split(r"[-_\s]+", path.stem)
    return " ".join(w[:1].upper() + w[1:] for w in words if w)


def _decode(data: bytes, path: Path) -> str:
    if not data.strip():
        raise Rejected("empty file")
    if b"\x00" in data[:8192]:
        raise Rejected("binary file (contains NUL bytes), not text")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise Rejected(f"not UTF-8 text (invalid byte 0x{data[exc.start]:02x} at offset {exc.start})") from None


def _title_from_text(text: str, path: Path) -> tuple[str, str]:
    """A heading or a short first line becomes the title (and leaves the body); else the file name."""
    first, _, rest = text.partition("\n")
    heading = first.lstrip("#").strip()
    looks_like_title = first.startswith("#") or (
        0 < len(heading) <= 120 and not heading.endswith((".", "?", "!", '"', "”"))
    )
    if looks_like_title and rest.strip():
        return heading, rest.strip()
    return title_from_filename(path), text


def _finish(doc: DocumentRecord) -> DocumentRecord:
    doc.text = clean_text(doc.text)
    if not doc.text:
        raise Rejected("no article text left after removing boilerplate")
    doc.title = clean_text(doc.title)[:300] if doc.title else ""
    return doc


_FRONT_MATTER = re.compile(r"\A---[ \t]*\n(.*?)\n---[ \t]*(?:\n|\Z)", re.DOTALL)
_FRONT_KEYS = {"title": "title", "date": "published", "published": "published", "source": "source",
               "author": "source", "authors": "source", "url": "url", "link": "url"}


def front_matter(text: str) -> tuple[dict[str, str], str]:
    """A ``---`` fenced header of ``key: value`` lines at the top of a text file (as static-site tools
    write them) → (its known fields, the text after it). No header: ({}, text).

    Known keys: title; date or published (YYYY-MM-DD); source, author or authors; url or link.
    """
    m = _FRONT_MATTER.match(text)
    if not m:
        return {}, text
    fields: dict[str, str] = {}
    for line in m.group(1).splitlines():
        key, sep, value = line.partition(":")
        key = key.strip().lower()
        if not sep or key not in _FRONT_KEYS:
            continue
        value = value.strip().strip("\"'").strip()
        if value.startswith("[") and value.endswith("]"):  # authors: [A, B]
            value = ", ".join(v.strip().strip("\"'") for v in value[1:-1].split(",") if v.strip())
        fields.setdefault(_FRONT_KEYS[key], value)
    return fields, text[m.end():]


def read_text(path: Path, doc_id: str) -> Iterator[DocumentRecord]:
    header, text = front_matter(_decode(path.read_bytes(), path).replace("\r\n", "\n"))
    text = clean_text(text)
    if header.get("title"):
        title, body = header["title"], text
    else:
        title, body = _title_from_text(text, path)
    yield _finish(DocumentRecord(
        doc_id=doc_id, text=body, title=title, source=header.get("source", ""), url=header.get("url", ""),
        published=coerce_day(header.get("published")), path=str(path),
    ))


_HTML_TITLE = re.compile(r"<title\b[^>]*>(.*?)</title\s*>", re.IGNORECASE | re.DOTALL)
_TITLE_SITE_SUFFIX = re.compile(r"\s+\|\s+[^|]{1,60}$")  # "Headline | Example News"


def html_title(html: str) -> str:
    """The page's ``<title>``, without a trailing "| Site name"; empty when there is none.

    trafilatura would take a lone ``<h1>`` over it, but the ``<title>`` is the headline the
    publisher chose for the page (and what the browser tab and search results show).
    """
    import html as html_lib

    m = _HTML_TITLE.search(html)
    if not m:
        return ""
    title = " ".join(html_lib.unescape(re.sub(r"<[^>]+>", "", m.group(1))).split())
    head = _TITLE_SITE_SUFFIX.sub("", title)
    if head != title and len(head.split()) >= 3 and len(title[len(head) :].split()) <= 6:
        return head
    return title


def read_html(path: Path, doc_id: str) -> Iterator[DocumentRecord]:
    yield document_from_html(_decode(path.read_bytes(), path), doc_id, str(path), title_from_filename(path))


def document_from_html(html: str, doc_id: str, path: str, fallback_title: str = "") -> DocumentRecord:
    """An HTML page → its cleaned article (trafilatura's extraction) with title, site, URL and date.

    Files and fetched web pages go through here alike, so both are cleaned the same way.
    """
    import trafilatura

    extracted = trafilatura.bare_extraction(
        html, include_comments=False, include_tables=False, favor_precision=True, with_metadata=True
    )
    if extracted is None:
        raise Rejected("no article text found in the HTML")
    data = extracted.as_dict() if hasattr(extracted, "as_dict") else dict(extracted)
    title = html_title(html) or data.get("title") or fallback_title
    text = without_heading(data.get("text") or "", title, data.get("title") or "")
    return _finish(
        DocumentRecord(
            doc_id=doc_id,
            text=text,
            title=title,
            source=data.get("sitename") or data.get("hostname") or "",
            url=data.get("url") or "",
            published=coerce_day(data.get("date")),
            path=path,
        )
    )


def without_heading(text: str, *titles: str) -> str:
    """The text without a first line that only repeats its title (a page's ``<h1>``).

    The title is kept as the document's metadata (and embedded with every chunk); left in the
    text too, the headline would be quoted as if it were a sentence of the story.
    """
    first, sep, rest = text.partition("\n")
    said = " ".join(first.split()).casefold()
    if sep and rest.strip() and said and any(said == " ".join(t.split()).casefold() for t in titles if t):
        return rest.lstrip("\n")
    return text


def read_pdf(path: Path, doc_id: str) -> Iterator[DocumentRecord]:
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    try:
        reader = PdfReader(str(path))
        pages = [page.extract_text() or "" for page in reader.pages]
        meta = reader.metadata or {}
    except (PdfReadError, ValueError, KeyError, OSError) as exc:
        raise Rejected(f"unreadable PDF ({exc})") from None
    text = clean_text("\n".join(pages))
    if not text:
        raise Rejected("PDF has no extractable text (scanned image?)")
    title = str(meta.get("/Title") or "").strip()
    if not title:
        title, text = _title_from_text(text, path)
    yield _finish(
        DocumentRecord(
            doc_id=doc_id,
            text=text,
            title=title,
            source=str(meta.get("/Author") or ""),
            published=coerce_day(str(meta.get("/CreationDate") or "").removeprefix("D:")),
            path=str(path),
        )
    )


def document_from_record(record: object, default_id: str, path: Path) -> DocumentRecord:
    """One corpus-format JSON object (``id``, ``title``, ``text``, optional metadata) → document."""
    if not isinstance(record, dict):
        raise Rejected(f"expected a JSON object, got {type(record).__name__}")
    text = record.get("text")
    if not isinstance(text, str) or not text.strip():
        raise Rejected('missing or empty "text" field')
    doc_id = str(record.get("id") or default_id)
    authors = record.get("authors")
    source = record.get("source") or (", ".join(authors) if isinstance(authors, list) else authors) or ""
    title = record.get("title")
    return _finish(
        DocumentRecord(
            doc_id=doc_id,
            text=text,
            title=str(title) if title else title_from_filename(Path(doc_id)),
            source=str(source),
            url=str(record.get("url") or ""),
            published=coerce_day(record.get("published") or record.get("date")),
            path=str(path),
        )
    )


def read_json(path: Path, doc_id: str) -> Iterator[DocumentRecord | ReadFailure]:
    """``.jsonl``: one document a line (bad lines reported, the rest read); ``.json``: an object or a list."""
    text = _decode(path.read_bytes(), path)
    if path.suffix.lower() == ".json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise Rejected(f"malformed JSON at line {exc.lineno}: {exc.msg}") from None
        records = data if isinstance(data, list) else [data]
        for i, record in enumerate(records):
            try:
                yield document_from_record(record, f"{doc_id}#{i}" if len(records) > 1 else doc_id, path)
            except Rejected as exc:
                yield ReadFailure(str(path), f"record {i}: {exc}")
        return
    for lineno, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        try:
            yield document_from_record(json.loads(line), f"{doc_id}#{lineno}", path)
        except json.JSONDecodeError as exc:
            yield ReadFailure(str(path), f"malformed JSON ({exc.msg})", line=lineno)
        except Rejected as exc:
            yield ReadFailure(str(path), str(exc), line=lineno)


_READERS = {
    **{s: read_text for s in TEXT_SUFFIXES},
    **{s: read_html for s in HTML_SUFFIXES},
    **{s: read_json for s in JSON_SUFFIXES},
    **{s: read_pdf for s in PDF_SUFFIXES},
}


def read_file(path: Path, doc_id: str) -> Iterator[DocumentRecord | ReadFailure]:
    """Documents (or failures) of one file; never raises for bad input."""
    reader = _READERS.get(path.suffix.lower())
    if reader is None:
        yield ReadFailure(str(path), f"unsupported file type {path.suffix or '(none)'!r}")
        return
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise Rejected(f"file too large ({size // 2**20} MiB > {MAX_FILE_BYTES // 2**20} MiB)")
        yield from reader(path, doc_id)
    except Rejected as exc:
        yield ReadFailure(str(path), str(exc))
    except PermissionError:
        yield ReadFailure(str(path), "permission denied")
    except OSError as exc:
        yield ReadFailure(str(path), f"cannot read ({exc.strerror or exc})")


def discover(inputs: list[Path]) -> Iterator[tuple[Path, str] | ReadFailure]:
    """(file, doc id) for every supported file under ``inputs``; ids are paths relative to the folder given."""
    for given in inputs:
        if given.is_dir():
            for path in sorted(given.rglob("*")):
                if any(part.startswith(".") for part in path.relative_to(given).parts):
                    continue
                if not path.is_file():
                    if path.is_symlink() and not path.exists() and path.suffix.lower() in SUPPORTED_SUFFIXES:
                        yield ReadFailure(str(path), "broken symbolic link (its target does not exist)")
                    continue
                if path.suffix.lower() in SUPPORTED_SUFFIXES:
                    yield path, path.relative_to(given).as_posix()
                else:
                    log.debug("skipping %s: unsupported type", path)
        elif given.is_file():
            yield given, given.name
        else:
            yield ReadFailure(str(given), "no such file or directory")


def read_inputs(inputs: list[Path]) -> Iterator[DocumentRecord | ReadFailure]:
    """Every document (or failure) of the given files and folders."""
    for item in discover(inputs):
        if isinstance(item, ReadFailure):
            yield item
        else:
            yield from read_file(*item)
