"""All of citewire's configuration in one typed place.

Every field can be set with an environment variable ``CITEWIRE_<FIELD>`` (for example
``CITEWIRE_STORE_DIR``); command-line flags override them by passing keyword arguments to
:class:`Settings`. Nothing else in the code base should carry a tunable literal.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from platformdirs import user_cache_dir, user_data_dir
from pydantic import Field, ValidationError, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from rag.errors import CitewireError


def _default_store_dir() -> Path:
    return Path(user_data_dir("citewire", appauthor=False)) / "store"


class Settings(BaseSettings):
    """Settings shared by ingest, retrieval, the UI and evaluation."""

    model_config = SettingsConfigDict(env_prefix="CITEWIRE_", extra="ignore")

    # --- store -------------------------------------------------------------------------
    store_dir: Path = Field(default_factory=_default_store_dir, description="Embedded Chroma directory.")
    collection: str = Field("news", description="Corpus name; one Chroma collection per corpus.")
    chroma_url: str | None = Field(None, description="http://HOST:PORT of a Chroma server; embedded when unset.")
    ray_address: str | None = Field(
        None, description="Ray cluster to ingest on (HOST:PORT, or auto for the one running here); local when unset."
    )

    # --- embedding ---------------------------------------------------------------------
    embed_model: str = Field(
        "",
        description="Sentence-transformers model name or path; empty means the packaged all-MiniLM-L6-v2.",
    )
    embed_batch_size: int = Field(32, ge=1)
    embed_backend: Literal["onnx", "torch"] = Field(
        "onnx",
        description="onnx: the model exported once to ONNX Runtime (same vectors, faster); torch: as loaded.",
    )
    cache_dir: Path = Field(
        default_factory=lambda: Path(user_cache_dir("citewire", appauthor=False)),
        description="Where derived files (the ONNX export of the model) are kept.",
    )

    # --- chunking ----------------------------------------------------------------------
    chunk_tokens: int = Field(
        0,
        ge=0,
        description="Maximum word pieces per chunk; 0 means the model's own window (minus special tokens).",
    )
    chunk_overlap_tokens: int = Field(32, ge=0)
    ray_task_chars: int = Field(
        200_000, ge=1, description="Characters of text per Ray encode task (about 200 chunks: seconds of model time)."
    )
    ingest_batch_chunks: int = Field(
        256,
        ge=1,
        description="Chunks embedded and written to the store together; a kill loses at most one batch's work.",
    )

    # --- feeds and web pages -------------------------------------------------------------
    fetch_timeout_s: float = Field(20.0, gt=0, description="Seconds a feed or page request may take.")
    fetch_max_mb: float = Field(5.0, gt=0, description="Largest feed or page body read, in MiB; larger is an error.")
    fetch_per_host: int = Field(2, ge=1, le=8, description="Requests at a time to one host.")
    fetch_delay_s: float = Field(0.5, ge=0, description="Pause between two requests to the same host.")
    fetch_max_redirects: int = Field(5, ge=0, le=20, description="Redirects followed before a URL is given up.")
    fetch_allow_private: bool = Field(
        False,
        description="Let URLs given through the API or the UI reach private, loopback and link-local addresses "
                    "(the CLI, run by the machine's owner, always may).",
    )
    feed_refresh_every: str = Field(
        "", description="citewire serve refreshes the feeds this often (30m, 2h, 1d); empty: never on its own."
    )

    # --- retrieval ---------------------------------------------------------------------
    top_k: int = Field(5, ge=1, le=50, description="Passages returned with an answer.")
    candidates: int = Field(40, ge=1, description="Candidates each retriever contributes before fusion.")
    bm25_sync_rebuild_max: int = Field(
        20_000, ge=0,
        description="Past this many chunks, a changed store's BM25 index is rebuilt in the background.",
    )
    reranker_model: str = Field("", description="Cross-encoder name or path; empty means evidence reranking only.")
    recency_weight: float = Field(
        0.35, ge=0, description="How strongly time words ('this week', 'latest') favour recent articles."
    )
    recency_half_life_days: float = Field(30.0, gt=0)
    dedupe_threshold: float = Field(0.9, description="Cosine above which two passages count as one story.")

    # --- answering ---------------------------------------------------------------------
    answer_mode: Literal["", "reader", "sentence", "llm"] = Field(
        "", description="reader | sentence | llm; empty means llm when an LLM is configured, else reader."
    )
    reader_dir: Path | None = Field(
        None,
        description="A folder holding another trained reader (its manifest.json, ONNX file and tokenizer): a "
                    "`python -m rag.reader_training` run folder, for one. Empty: the reader that ships.",
    )
    reader_passages: int = Field(3, ge=1, le=10, description="Top passages the reader reads per question.")
    reader_other_sources: int = Field(
        2, ge=0, le=10,
        description="Also read the best passage of this many other documents among the ranked ones, so that "
                    "sources can be compared when one article fills the top passages.",
    )
    reader_focus_chars: int = Field(
        0, ge=0,
        description="Read at most this many characters of a longer passage: its best-scored sentence and the "
                    "better of its neighbours while they fit (0: whole passages). Reading time falls with length.",
    )
    reader_spin: bool = Field(
        True,
        description="Let the reader's threads busy-wait between layers: single asks up to 8% quicker, at the "
                    "cost of CPU burnt while they wait (turn off when other work shares the machine).",
    )
    # The four reader_* refusal settings below are calibrated together by `bench/reader.py --part sweep`
    # (the seed, SQuAD 2.0 dev and both RealTime QA sets; false refusals at most .10 on each): see the
    # README's "Refusal calibration".
    reader_margin: float = Field(
        2.25,
        description="A span must beat its passage's no-answer score by this much, else refuse (see README).",
    )
    reader_type_weight: float = Field(
        0.0, ge=0, description="How much a span of the wrong kind (a name for 'how many?') counts against it."
    )
    reader_sentence_weight: float = Field(
        8.0, ge=0, description="How much the evidence of the sentence holding a span counts for it (see README)."
    )
    reader_evidence_floor: float = Field(
        0.30, description="Best sentence support below this refuses before reading: the story is not there."
    )
    answer_sentences: int = Field(2, ge=1, le=8, description="Sentences in a sentence-mode answer.")
    sentence_embed_budget: int = Field(4, ge=0, description="Best sentences re-embedded on their own per question.")
    refusal_threshold: float = Field(
        0.45, description="Best sentence support below this means the corpus does not say (see README)."
    )
    max_question_chars: int = Field(2000, ge=10)

    # --- optional LLM ------------------------------------------------------------------
    llm_url: str | None = Field(None, description="Base URL of an OpenAI-compatible endpoint (…/v1).")
    llm_model: str | None = None
    llm_api_key: str = "not-needed"
    llm_timeout_s: float = Field(60.0, gt=0, description="Seconds an LLM reply may take before it is abandoned.")
    llm_max_tokens: int = Field(256, ge=16, description="Most tokens an LLM reply may have.")

    # --- serving -----------------------------------------------------------------------
    host: str = "127.0.0.1"
    port: int = 7860
    max_upload_mb: int = Field(50, ge=1)
    max_concurrent_asks: int = Field(
        4,
        ge=1,
        description="Questions the HTTP API answers at once; more wait their turn (two cores gain nothing from more).",
    )

    @field_validator("store_dir", "cache_dir", "reader_dir", mode="before")
    @classmethod
    def _expand(cls, value: object, info: ValidationInfo) -> object:
        if value == "" and info.field_name == "reader_dir":  # CITEWIRE_READER_DIR= (set, empty): the shipped one
            return None
        return Path(value).expanduser() if isinstance(value, (str, Path)) else value

    def with_overrides(self, **overrides: object) -> Settings:
        """Return a copy with the non-``None`` overrides applied (how CLI flags win over env vars)."""
        clean = {k: v for k, v in overrides.items() if v is not None}
        if not clean:
            return self
        try:
            return type(self)(**{**self.model_dump(), **clean})
        except ValidationError as exc:
            raise invalid_setting(exc) from None


def invalid_setting(exc: ValidationError) -> CitewireError:
    """One line naming each bad setting and why (for flags and ``CITEWIRE_*`` variables alike)."""
    problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
    return CitewireError(f"invalid setting ({problems})")
