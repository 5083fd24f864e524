"""Reading, cleaning, chunking and storing news articles (writes through ``rag.store``)."""

from ingest.pipeline import Ingestor, IngestSummary, ingest_paths

__all__ = ["IngestSummary", "Ingestor", "ingest_paths"]
