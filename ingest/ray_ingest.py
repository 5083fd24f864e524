"""Ingest on a Ray cluster: reading, cleaning, chunking and embedding as Ray tasks across its nodes.

    citewire ingest ARTICLES/ --ray auto --chroma-url http://HOST:8000

The driver (this process) only discovers the files, decides what is new, and writes: the file
bytes go to the cluster (no shared filesystem needed), and the store is written through the same
crash-safe batch writer as a local ingest, against the Chroma server every node can reach.

1. **read** tasks (a few files each) read and clean the files and hash each document exactly as
   a local ingest does (the hash covers the text, the metadata and the chunking settings);
2. the driver drops documents whose hash the store already holds: they are never sent to be
   embedded;
3. **encode** tasks chunk and embed batches of documents with :class:`ingest.encoder.DocumentEncoder`,
   the class a local ingest uses, so chunk ids, texts, metadata and vectors are the same;
4. the driver writes each finished batch in one crash-safe store call.

Ray retries a task whose worker or node died (``max_retries``); each worker process loads the
model once and keeps it for later tasks. A driver killed at any point leaves every document
wholly old or wholly new, and the next run sends only what is still missing.
"""

from __future__ import annotations

import logging
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from tqdm import tqdm

from ingest.pipeline import IngestSummary
from ingest.readers import ReadFailure, discover, read_file
from rag.errors import CitewireError
from rag.settings import Settings
from rag.store import DocumentRecord, Store

log = logging.getLogger(__name__)

FILES_PER_READ_TASK = 16
TASK_RETRIES = 3

_encoders: dict[str, Any] = {}  # per worker process: the loaded model, reused by later tasks


def _encoder(settings: Settings) -> Any:
    from ingest.encoder import DocumentEncoder

    key = settings.model_dump_json(include={"embed_model", "embed_backend", "chunk_tokens", "chunk_overlap_tokens"})
    if key not in _encoders:
        _encoders[key] = DocumentEncoder(settings)
    return _encoders[key]


def _signature(settings: Settings) -> str:
    return _encoder(settings).signature


def _read(files: list[tuple[str, str, bytes]], signature: str) -> list[tuple[DocumentRecord, str] | ReadFailure]:
    """Read and clean files (sent as bytes); each document with its content hash."""
    from ingest.encoder import content_hash

    out: list[tuple[DocumentRecord, str] | ReadFailure] = []
    with tempfile.TemporaryDirectory(prefix="citewire-ray-") as tmp:
        for i, (original, doc_id, data) in enumerate(files):
            path = Path(tmp) / str(i) / Path(original).name  # the file's own name: titles may come from it
            path.parent.mkdir()
            path.write_bytes(data)
            for item in read_file(path, doc_id):
                if isinstance(item, ReadFailure):
                    out.append(ReadFailure(original, item.reason, item.line))
                else:
                    item.path = original
                    out.append((item, content_hash(item, signature)))
    return out


def _encode(settings: Settings, docs: list[tuple[DocumentRecord, str]]) -> tuple[list[Any], list[ReadFailure], int]:
    """Chunk and embed documents: (the store writes, the documents that could not be chunked, tokens)."""
    encoder = _encoder(settings)
    batch, failed = [], []
    for doc, digest in docs:
        try:
            batch.append((doc, digest, encoder.chunk(doc, digest)))
        except ValueError as exc:
            failed.append(ReadFailure(doc.path, f"{doc.doc_id}: cannot chunk ({exc})"))
    writes, tokens = encoder.embed(batch) if batch else ([], 0)
    return writes, failed, tokens


def connect(address: str) -> Any:
    """Join the Ray cluster at ``address`` (``auto``: the one running on this machine)."""
    try:
        import ray
    except ImportError:
        raise CitewireError("--ray needs Ray: pip install 'citewire[ray]'") from None
    if not ray.is_initialized():
        try:
            ray.init(address=address, logging_level=logging.WARNING, log_to_driver=False,
                     runtime_env={"env_vars": {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
                                               "TOKENIZERS_PARALLELISM": "false", "ANONYMIZED_TELEMETRY": "False"}})
        except Exception as exc:  # ConnectionError, RuntimeError, ValueError … for "no cluster there"
            raise CitewireError(f"cannot join the Ray cluster at {address}: {' '.join(str(exc).split())[:300]} "
                                "(start one with: ray start --head)") from None
    return ray


def ingest_on_ray(inputs: Iterable[Path], settings: Settings, address: str, progress: bool = True) -> IngestSummary:
    """Ingest files and folders on the Ray cluster at ``address`` into the Chroma server of ``settings``."""
    if not settings.chroma_url:
        raise CitewireError("--ray needs --chroma-url (CITEWIRE_CHROMA_URL): every node writes to one Chroma server")
    started = time.perf_counter()
    ray = connect(address)
    from ray.exceptions import RayError

    read_task = ray.remote(max_retries=TASK_RETRIES, num_cpus=1)(_read)
    encode_task = ray.remote(max_retries=TASK_RETRIES, num_cpus=1)(_encode)
    signature_task = ray.remote(max_retries=TASK_RETRIES, num_cpus=1)(_signature)
    summary = IngestSummary()
    try:
        with Store.open(settings, create=True) as store:
            known = store.document_hashes()
            signature = ray.get(signature_task.remote(settings))
            files: list[tuple[str, str, bytes]] = []
            for item in discover(list(inputs)):
                if isinstance(item, ReadFailure):
                    summary.failed.append(item)
                    continue
                path, doc_id = item
                try:
                    files.append((str(path), doc_id, path.read_bytes()))
                except OSError as exc:
                    summary.failed.append(ReadFailure(str(path), f"cannot read ({exc.strerror or exc})"))
            reads = [read_task.remote(files[i : i + FILES_PER_READ_TASK], signature)
                     for i in range(0, len(files), FILES_PER_READ_TASK)]
            todo: list[tuple[DocumentRecord, str]] = []
            seen: set[str] = set()
            for result in ray.get(reads):
                for item in result:
                    if isinstance(item, ReadFailure):
                        summary.failed.append(item)
                        continue
                    doc, digest = item
                    if doc.doc_id in seen:
                        summary.failed.append(ReadFailure(doc.path, f"duplicate document id {doc.doc_id!r}"))
                        continue
                    seen.add(doc.doc_id)
                    (summary.unchanged.append(doc.doc_id) if known.get(doc.doc_id) == digest
                     else todo.append((doc, digest)))
            log.info("ray ingest: %d to encode, %d unchanged", len(todo), len(summary.unchanged))
            pending = [encode_task.remote(settings, batch) for batch in _batches(todo, settings.ray_task_chars)]
            with tqdm(total=len(todo), unit="doc", desc="ingest (ray)", disable=not progress or not todo) as bar:
                while pending:
                    done, pending = ray.wait(pending, num_returns=1)
                    writes, failed, tokens = ray.get(done[0])
                    store.write_documents(writes)
                    for record, nodes, _ in writes:
                        (summary.updated if record.doc_id in known else summary.added).append(record.doc_id)
                        summary.chunks += len(nodes)
                    summary.failed.extend(failed)
                    summary.tokens += tokens
                    bar.update(len(writes) + len(failed))
    except RayError as exc:
        raise CitewireError(f"the Ray cluster failed during the ingest ({type(exc).__name__}: "
                            f"{' '.join(str(exc).split())[:300]}); documents written so far are kept: "
                            "run the same command again to finish") from None
    summary.seconds = time.perf_counter() - started
    log.info("ray ingest: %s", summary.line())
    return summary


def _batches(todo: list[tuple[DocumentRecord, str]], chars: int) -> list[list[tuple[DocumentRecord, str]]]:
    """Documents grouped into encode tasks of about ``chars`` characters of text."""
    out: list[list[tuple[DocumentRecord, str]]] = []
    current: list[tuple[DocumentRecord, str]] = []
    size = 0
    for doc, digest in todo:
        current.append((doc, digest))
        size += len(doc.text)
        if size >= chars:
            out.append(current)
            current, size = [], 0
    if current:
        out.append(current)
    return out

