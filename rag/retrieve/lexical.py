"""The BM25 side of hybrid search: LlamaIndex's ``BM25Retriever`` (bm25s), persisted with the store.

The index is built from the chunks in Chroma and saved with the store revision it reflects.
Queries never rebuild it; they only compare that revision with the store's (one id lookup) and
rebuild once when another writer (an ingest, a remove, another process in server mode) moved on.

Each question gets its own view of the one shared retriever (:meth:`LexicalIndex.retriever`):
its own depth, and its date range as the retriever's own corpus weight mask, so a date range
never costs more than a plain search.
"""

from __future__ import annotations

import copy
import json
import logging
import os
import shutil
import threading
from pathlib import Path

import numpy as np
from llama_index.core.base.base_retriever import BaseRetriever
from llama_index.core.schema import NodeWithScore, QueryBundle, TextNode
from llama_index.core.vector_stores.utils import metadata_dict_to_node
from llama_index.retrievers.bm25 import BM25Retriever

from rag.store import Store

log = logging.getLogger(__name__)
logging.getLogger("bm25s").setLevel(logging.WARNING)  # bm25s sets its own logger to DEBUG

_REVISION_FILE = "citewire-revision.json"


class PositiveBM25Retriever(BM25Retriever):
    """LlamaIndex's BM25 retriever, minus hits that share no term with the query (or lie outside the mask).

    bm25s returns ``k`` documents whatever their score; a masked-out or unrelated chunk scores
    0 and must not reach rank fusion as if it were a candidate.
    """

    def _retrieve(self, query_bundle: QueryBundle) -> list[NodeWithScore]:
        return [h for h in super()._retrieve(query_bundle) if (h.score or 0.0) > 0.0]


class LexicalIndex:
    """A store's BM25 index, kept in step with the store's revision."""

    def __init__(self, store: Store, sync_rebuild_max: int = 20_000) -> None:
        self.store = store
        self.sync_rebuild_max = sync_rebuild_max
        self._background: threading.Thread | None = None
        self._background_lock = threading.Lock()
        self.path: Path = store.bm25_dir
        self._retriever: PositiveBM25Retriever | None = None
        self._published = np.zeros(0, dtype=np.int64)  # per corpus entry, 0 when undated
        self._revision: str | None = None
        self._idf: dict[str, float] = {}
        self._unseen_idf = 1.0
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ freshness
    def refresh(self, force: bool = False) -> None:
        """Load or rebuild the index when the store has changed since it was built.

        A small index is rebuilt there and then. A large one (more than ``sync_rebuild_max``
        chunks) is rebuilt in a background thread while questions keep using the previous one,
        so a push of one article does not stall every replica's next question for the length of
        a rebuild; dense retrieval, which reads Chroma directly, sees the new article at once.
        """
        current = self.store.revision()
        if not force and self._retriever is not None and self._revision == current:
            return
        if not force and self._retriever is not None and self.size > self.sync_rebuild_max:
            self._refresh_in_background(current)
            return
        with self._lock:
            if not force and self._retriever is not None and self._revision == current:
                return
            if not force and self._load(current):
                return
            self._build(current)

    def _refresh_in_background(self, revision: str) -> None:
        with self._background_lock:
            if self._background is not None and self._background.is_alive():
                return

            def rebuild() -> None:  # builds aside; only the final swap of attributes touches what queries use
                try:
                    if self._revision != revision and not self._load(revision):
                        self._build(revision)
                except Exception as exc:  # the old index keeps answering; the next question tries again
                    log.warning("background BM25 rebuild failed: %s", exc)

            self._background = threading.Thread(target=rebuild, name="citewire-bm25-rebuild", daemon=True)
            self._background.start()

    def _load(self, revision: str) -> bool:
        marker = self.path / _REVISION_FILE
        try:
            if json.loads(marker.read_text())["revision"] != revision:
                return False
            retriever = PositiveBM25Retriever.from_persist_dir(str(self.path), show_progress=False)
            # still the same index? (another process may have replaced it while we read it)
            if json.loads(marker.read_text())["revision"] != revision:
                return False
        except (OSError, ValueError, KeyError):
            return False
        self._install(retriever, revision)
        log.debug("loaded BM25 index for revision %s", revision)
        return True

    def _build(self, revision: str) -> None:
        nodes: list[TextNode] = []
        for ids, metas, texts in self.store.iter_chunks():
            for chunk_id, meta, text in zip(ids, metas, texts, strict=True):
                node = metadata_dict_to_node(meta, text=text)
                node.id_ = chunk_id
                nodes.append(node)
        if not nodes:
            self._retriever, self._revision, self._idf = None, revision, {}
            return
        log.info("building the BM25 index over %d chunks", len(nodes))
        retriever = PositiveBM25Retriever.from_defaults(nodes=nodes, similarity_top_k=min(10, len(nodes)))
        self._persist(retriever, revision)
        self._install(retriever, revision)

    def _persist(self, retriever: PositiveBM25Retriever, revision: str) -> None:
        """Save the index beside the store (best effort: the in-memory index answers either way).

        Several processes may share the directory (``citewire serve`` and ``citewire ask`` against
        one Chroma server), so each writes a private temporary directory and renames it into place:
        readers see a whole index, old or new, never half of one.
        """
        tmp = self.path.with_name(f"{self.path.name}.tmp-{os.getpid()}-{threading.get_ident()}")
        try:
            shutil.rmtree(tmp, ignore_errors=True)
            tmp.mkdir(parents=True, exist_ok=True)
            retriever.persist(str(tmp), show_progress=False)
            (tmp / _REVISION_FILE).write_text(json.dumps({"revision": revision}))
            for _ in range(3):  # another process may put its own index there between our two steps
                shutil.rmtree(self.path, ignore_errors=True)
                try:
                    tmp.rename(self.path)
                    return
                except OSError:
                    continue
            log.debug("another process keeps replacing %s; not persisting this index", self.path)
        except OSError as exc:
            log.warning("could not persist the BM25 index to %s: %s", self.path, exc)
        shutil.rmtree(tmp, ignore_errors=True)

    def _install(self, retriever: PositiveBM25Retriever, revision: str) -> None:
        bm25 = retriever.bm25
        vocab = bm25.vocab_dict  # token → id
        n = max(int(bm25.scores.get("num_docs", 1)), 1)
        df = np.diff(bm25.scores["indptr"]) if "indptr" in bm25.scores else None
        idf: dict[str, float] = {}
        if df is not None:
            for token, tid in vocab.items():
                if token and tid < len(df):
                    idf[token] = float(np.log(1 + (n - df[tid] + 0.5) / (df[tid] + 0.5)))
        published = [entry.get("published") for entry in retriever.corpus]
        self._published = np.array([p if isinstance(p, int) else 0 for p in published], dtype=np.int64)
        self._retriever, self._revision, self._idf = retriever, revision, idf
        self._unseen_idf = max(idf.values(), default=1.0)

    # ------------------------------------------------------------------ queries
    @property
    def size(self) -> int:
        return len(self._retriever.corpus) if self._retriever is not None else 0

    def idf(self, stemmed_term: str) -> float:
        """Inverse document frequency of a stemmed term (rare words weigh more in overlap scores)."""
        if not self._idf:
            return 1.0
        return self._idf.get(stemmed_term, self._unseen_idf)  # a word no chunk has is as rare as they come

    def retriever(self, k: int, since: int | None = None, until: int | None = None) -> BaseRetriever:
        """This question's view of the index: top ``k``, only chunks published in [since, until] when given."""
        self.refresh()
        retriever = self._retriever
        if retriever is None:
            return _Empty()
        view = copy.copy(retriever)  # per-question depth and mask without touching the shared object
        view.similarity_top_k = min(self.size, k)
        if since is not None or until is not None:
            inside = (self._published >= (since or 0)) & (self._published <= (until or 99991231))
            inside &= self._published > 0  # an undated chunk is outside every date range
            if not inside.any():
                return _Empty()
            view.corpus_weight_mask = inside.astype(np.int8).tolist()
        return view

    def search(self, query: str, k: int, since: int | None = None, until: int | None = None) -> list[NodeWithScore]:
        """Top-``k`` chunks by BM25, restricted to the published-date range when one is given."""
        return self.retriever(k, since, until).retrieve(QueryBundle(query))


class _Empty(BaseRetriever):
    """No candidates: an empty index, or a date range no chunk falls in."""

    def _retrieve(self, query_bundle: QueryBundle) -> list[NodeWithScore]:
        return []
