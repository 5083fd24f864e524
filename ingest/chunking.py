"""Sentence-aware chunking that never exceeds the embedding model's window.

LlamaIndex's ``SentenceSplitter`` does the splitting, counting with the embedding model's own
tokenizer and subtracting the title that is embedded with every chunk, so each chunk's embedded
text (title + passage + the two special tokens) fits the model's window: all-MiniLM-L6-v2
silently truncates past 256 word pieces, which would leave text unsearchable.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from llama_index.core import Document
from llama_index.core.node_parser import SentenceSplitter
from llama_index.core.schema import MetadataMode, NodeRelationship, RelatedNodeInfo, TextNode

from rag.store import DocumentRecord

if TYPE_CHECKING:
    from rag.embedding import Embedder

log = logging.getLogger(__name__)
logging.getLogger("transformers.tokenization_utils_base").setLevel(logging.ERROR)

# Metadata kept on each chunk for filters and citations; only the title is embedded with the text.
_NOT_EMBEDDED = ["doc_id", "source", "url", "published", "chunk", "start", "end"]
_SPECIAL_TOKENS = 2  # [CLS] and [SEP]
_TITLE_SHARE = 4  # the embedded title gets at most 1/4 of a chunk's word pieces


class Chunker:
    """Turns a cleaned document into LlamaIndex ``TextNode`` chunks with exact character offsets."""

    def __init__(self, embedder: Embedder, chunk_tokens: int = 0, overlap_tokens: int = 32) -> None:
        self.embedder = embedder
        self.window = embedder.max_tokens - _SPECIAL_TOKENS
        self.chunk_tokens = min(chunk_tokens or self.window, self.window)
        self.title_tokens = max(1, self.chunk_tokens // _TITLE_SHARE)
        self.splitter = SentenceSplitter(
            chunk_size=self.chunk_tokens,
            chunk_overlap=min(overlap_tokens, self.chunk_tokens // 4),
            tokenizer=embedder.words.ids,
            include_prev_next_rel=False,
        )

    def embed_title(self, title: str) -> str:
        """``title`` cut (at a word, with "…") to its share of the window.

        A long title is embedded with every chunk, so uncapped it would crowd the passage out, and
        one longer than the window (a 300-character Cyrillic or CJK title is ~300 word pieces)
        would make the splitter fail the whole document.
        """
        if self.embedder.count_tokens(title) <= self.title_tokens:
            return title
        budget = self.title_tokens - 1  # room for the "…"
        cut = self.embedder.words.offsets(title)[budget - 1][1] if budget > 0 else 0
        head = title[:cut]
        if cut < len(title) and not title[cut].isspace() and " " in head:
            head = head.rsplit(" ", 1)[0]  # do not end on half a word
        return head.rstrip(" ,;:-–—") + "…"

    def chunk(self, doc: DocumentRecord, content_hash: str) -> list[TextNode]:
        title = self.embed_title(doc.title)
        base_meta = {"doc_id": doc.doc_id, "title": title, "source": doc.source, "url": doc.url}
        if doc.published is not None:
            base_meta["published"] = doc.published
        li_doc = Document(
            text=doc.text,
            id_=doc.doc_id,
            metadata=base_meta,
            excluded_embed_metadata_keys=_NOT_EMBEDDED,
            excluded_llm_metadata_keys=_NOT_EMBEDDED,
        )
        nodes: list[TextNode] = []
        cursor = 0
        for i, node in enumerate(self.splitter.get_nodes_from_documents([li_doc])):
            start = node.start_char_idx
            if start is None or doc.text[start : start + len(node.text)] != node.text:
                start = doc.text.find(node.text, max(0, cursor - len(node.text)))
            if start < 0:  # the splitter rewrote whitespace: fall back to the nearest exact span
                log.warning("%s chunk %d: text not found verbatim, offsets approximate", doc.doc_id, i)
                start = cursor
            end = start + len(node.text)
            cursor = end
            nodes.append(
                TextNode(
                    id_=f"{doc.doc_id}::{content_hash[:12]}::{i}",
                    text=node.text,
                    metadata={**base_meta, "chunk": i, "start": start, "end": end},
                    excluded_embed_metadata_keys=_NOT_EMBEDDED,
                    excluded_llm_metadata_keys=_NOT_EMBEDDED,
                    start_char_idx=start,
                    end_char_idx=end,
                    relationships={NodeRelationship.SOURCE: RelatedNodeInfo(node_id=doc.doc_id)},
                )
            )
        return nodes

    def embed_text(self, node: TextNode) -> str:
        """Exactly what gets embedded for ``node`` (its title and passage)."""
        return node.get_content(metadata_mode=MetadataMode.EMBED)

    def fits_window(self, node: TextNode) -> bool:
        return self.embedder.count_tokens(self.embed_text(node)) + _SPECIAL_TOKENS <= self.embedder.max_tokens
