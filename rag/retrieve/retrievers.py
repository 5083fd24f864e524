"""Candidate retrieval: the retriever kinds, each a LlamaIndex retriever, in one builder table.

* ``dense``: Chroma's vector search (LlamaIndex's ``VectorIndexRetriever``), dates as a ``where`` filter;
* ``bm25``: the store's BM25 index (:mod:`rag.retrieve.lexical`);
* ``hybrid``: both, fused by reciprocal rank (LlamaIndex's ``QueryFusionRetriever``);
* ``default``: ``hybrid``, then the evidence reranker (:mod:`rag.retrieve.rerank`).

The kinds exist side by side so evaluation can show what each stage adds. A new kind is a
builder function (in its own module if it is more than a few lines) plus one line in
:data:`RETRIEVERS`; :class:`RetrieverKind`, the CLI's choices and evaluation follow from it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum

from llama_index.core import VectorStoreIndex
from llama_index.core.base.base_retriever import BaseRetriever
from llama_index.core.llms import MockLLM
from llama_index.core.retrievers import QueryFusionRetriever
from llama_index.core.retrievers.fusion_retriever import FUSION_MODES
from llama_index.core.vector_stores import FilterOperator, MetadataFilter, MetadataFilters

from rag.retrieve.lexical import LexicalIndex


@dataclass(frozen=True)
class Sources:
    """What a retriever may search: the vector index and the BM25 index of one corpus."""

    index: VectorStoreIndex
    lexical: LexicalIndex


@dataclass(frozen=True)
class Window:
    """How many candidates, and from which published dates (YYYYMMDD ints, inclusive)."""

    k: int
    since: int | None = None
    until: int | None = None


def date_filters(since: int | None, until: int | None) -> MetadataFilters | None:
    """Chroma ``where`` filters on the integer ``published`` date (YYYYMMDD)."""
    filters = []
    if since is not None:
        filters.append(MetadataFilter(key="published", value=since, operator=FilterOperator.GTE))
    if until is not None:
        filters.append(MetadataFilter(key="published", value=until, operator=FilterOperator.LTE))
    return MetadataFilters(filters=filters) if filters else None


def dense(sources: Sources, window: Window) -> BaseRetriever:
    return sources.index.as_retriever(similarity_top_k=window.k, filters=date_filters(window.since, window.until))


def bm25(sources: Sources, window: Window) -> BaseRetriever:
    return sources.lexical.retriever(window.k, window.since, window.until)


def hybrid(sources: Sources, window: Window) -> BaseRetriever:
    return QueryFusionRetriever(
        [dense(sources, window), bm25(sources, window)],
        llm=MockLLM(),  # never called: num_queries=1 means no query rewriting
        mode=FUSION_MODES.RECIPROCAL_RANK,
        num_queries=1,
        use_async=False,
        similarity_top_k=window.k,
    )


@dataclass(frozen=True)
class RetrieverSpec:
    """A retriever kind: how to build it, whether the evidence reranker reorders its candidates, what it is."""

    build: Callable[[Sources, Window], BaseRetriever]
    reranked: bool
    help: str


RETRIEVERS: dict[str, RetrieverSpec] = {
    "default": RetrieverSpec(hybrid, True, "hybrid, then evidence reranking (the product)"),
    "hybrid": RetrieverSpec(hybrid, False, "dense + BM25 fused by reciprocal rank"),
    "dense": RetrieverSpec(dense, False, "embedding similarity only"),
    "bm25": RetrieverSpec(bm25, False, "BM25 only"),
}

RetrieverKind = Enum("RetrieverKind", {name.upper(): name for name in RETRIEVERS}, type=str)  # type: ignore[misc]
RetrieverKind.__doc__ = "The retriever kinds of :data:`RETRIEVERS`, by name."


def retriever_spec(kind: str) -> RetrieverSpec:
    """The spec of ``kind`` (a name or a :class:`RetrieverKind`); ``ValueError`` names the choices."""
    name = kind.value if isinstance(kind, Enum) else str(kind)
    if name not in RETRIEVERS:
        raise ValueError(f"unknown retriever {name!r}; choose one of {', '.join(RETRIEVERS)}")
    return RETRIEVERS[name]
