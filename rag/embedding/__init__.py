"""The embedding model: loading it offline, its ONNX Runtime export, packed sentence vectors."""

from rag.embedding.embedder import Embedder, load_sentence_transformer, resolve_model_path
from rag.embedding.packing import pack_vectors, unpack_vectors

__all__ = ["Embedder", "load_sentence_transformer", "pack_vectors", "resolve_model_path", "unpack_vectors"]
