"""Retrieval: BM25 and dense candidates, their fusion, evidence reranking, follow-ups and recency."""

from rag.retrieve.pipeline import Retrieval, RetrievalPipeline
from rag.retrieve.retrievers import RETRIEVERS, RetrieverKind, retriever_spec

__all__ = ["RETRIEVERS", "Retrieval", "RetrievalPipeline", "RetrieverKind", "retriever_spec"]
