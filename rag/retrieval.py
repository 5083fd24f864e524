"""Candidate retrieval: dense (Chroma), BM25, and their reciprocal rank fusion, as LlamaIndex retrievers.

The variants ("dense", "bm25", "hybrid") exist side by side so evaluation can show what each
stage adds; the engine's default is "hybrid" followed by the reranker in :mod:`rag.rerank`.
"""

from __future__ import annotations

from llama_index.core import VectorStoreIndex
from llama_index.core.base.base_retriever import BaseRetriever
from llama_index.core.llms import MockLLM
from llama_index.core.retrievers import QueryFusionRetriever
from llama_index.core.retrievers.fusion_retriever import FUSION_MODES
from llama_index.core.schema import NodeWithScore, QueryBundle
from llama_index.core.vector_stores import FilterOperator, MetadataFilter, MetadataFilters

from rag.lexical import LexicalIndex

RETRIEVERS = ("default", "hybrid", "dense", "bm25")


def date_filters(since: int | None, until: int | None) -> MetadataFilters | None:
    """Chroma ``where`` filters on the integer ``published`` date (YYYYMMDD)."""
    filters = []
    if since is not None:
        filters.append(MetadataFilter(key="published", value=since, operator=FilterOperator.GTE))
    if until is not None:
        filters.append(MetadataFilter(key="published", value=until, operator=FilterOperator.LTE))
    return MetadataFilters(filters=filters) if filters else None


class BM25Search(BaseRetriever):
    """The store's persisted BM25 index as a LlamaIndex retriever, honouring the date range."""

    def __init__(self, lexical: LexicalIndex, k: int, since: int | None, until: int | None) -> None:
        super().__init__()
        self._lexical, self._k, self._since, self._until = lexical, k, since, until

    def _retrieve(self, query_bundle: QueryBundle) -> list[NodeWithScore]:
        return self._lexical.search(query_bundle.query_str, self._k, self._since, self._until)


def build_retriever(
    kind: str,
    index: VectorStoreIndex,
    lexical: LexicalIndex,
    k: int,
    since: int | None = None,
    until: int | None = None,
) -> BaseRetriever:
    """A retriever of the named variant returning up to ``k`` candidates."""
    if kind not in RETRIEVERS:
        raise ValueError(f"unknown retriever {kind!r}; choose one of {', '.join(RETRIEVERS)}")
    dense = index.as_retriever(similarity_top_k=k, filters=date_filters(since, until))
    if kind == "dense":
        return dense
    sparse = BM25Search(lexical, k, since, until)
    if kind == "bm25":
        return sparse
    return QueryFusionRetriever(
        [dense, sparse],
        llm=MockLLM(),  # never called: num_queries=1 means no query rewriting
        mode=FUSION_MODES.RECIPROCAL_RANK,
        num_queries=1,
        use_async=False,
        similarity_top_k=k,
    )
