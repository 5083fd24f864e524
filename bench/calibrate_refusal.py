"""Calibrate the refusal threshold on the shared dev sets.

For every question the engine's ``support`` (the best sentence's evidence score) is recorded
with the question's kind (answerable or not). The sweep prints, per threshold, the refusal
recall on unanswerable questions, the false-refusal rate on answerable ones, and their
balanced accuracy; the threshold chosen is the one that maximises balanced accuracy while
keeping false refusals at or below ``--max-false``. Usage::

    .venv/bin/python bench/calibrate_refusal.py --set squad-v2 --set seed
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

import numpy as np
from tqdm import tqdm

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from ingest import ingest_paths  # noqa: E402
from rag import Settings  # noqa: E402
from rag.engine import Engine  # noqa: E402

SHARED = ROOT.parent / "shared"
SETS = {
    "seed": (SHARED / "eval" / "seed-dev.jsonl", ROOT / "data" / "sample"),
    "squad-v2": (SHARED / "eval" / "squad-v2" / "questions.jsonl", SHARED / "eval" / "squad-v2" / "corpus.jsonl"),
    "realtimeqa": (SHARED / "eval" / "realtimeqa" / "questions.jsonl",
                   SHARED / "eval" / "realtimeqa" / "corpus.jsonl"),
}
log = logging.getLogger("calibrate")


def contains_answer(text: str, answers: list[str]) -> bool:
    from rag.text import normalise

    return any(normalise(a) in normalise(text) for a in answers)


def supports(name: str, work: Path, limit: int | None) -> list[tuple[float, bool, bool]]:
    questions_path, corpus = SETS[name]
    settings = Settings(store_dir=work / name, collection="calib")
    ingest_paths([corpus], settings, progress=True)
    questions = [json.loads(line) for line in questions_path.read_text().splitlines() if line.strip()]
    rows = []
    with Engine.open(settings) as engine:
        for q in tqdm(questions[:limit], desc=name):
            answer = engine.ask(q["question"], as_of=q.get("date"))
            quotes = " ".join(c.quote for c in answer.citations) if not answer.refused else ""
            rows.append((answer.support, bool(q["answers"]), contains_answer(quotes, q["answers"])))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--set", action="append", choices=sorted(SETS), required=True)
    parser.add_argument("--work", type=Path, default=Path("/tmp/citewire-calibrate"))
    parser.add_argument("--limit", type=int)
    parser.add_argument("--max-false", type=float, default=0.10, help="largest false-refusal rate accepted")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    rows = [row for name in args.set for row in supports(name, args.work, args.limit)]
    ans = np.array([s for s, a, _ in rows if a])
    unans = np.array([s for s, a, _ in rows if not a])
    correct = [c for _, a, c in rows if a]
    log.info("answerable questions whose cited quotes contain an accepted answer: %.3f (at the current threshold)",
             float(np.mean(correct)) if correct else float("nan"))
    log.info("answerable n=%d support p10/p50/p90 %s", len(ans), np.round(np.percentile(ans, [10, 50, 90]), 3))
    if len(unans):
        log.info("unanswerable n=%d support p10/p50/p90 %s", len(unans),
                 np.round(np.percentile(unans, [10, 50, 90]), 3))
    best = None
    print(f"{'threshold':>9} {'refusal recall':>15} {'false refusals':>15} {'balanced':>9}")
    for t in np.arange(0.20, 0.70, 0.02):
        recall = float((unans < t).mean()) if len(unans) else float("nan")
        false = float((ans < t).mean())
        balanced = (recall + 1 - false) / 2 if len(unans) else 1 - false
        print(f"{t:9.2f} {recall:15.3f} {false:15.3f} {balanced:9.3f}")
        if false <= args.max_false and (best is None or balanced > best[1]):
            best = (round(float(t), 2), balanced)
    print(f"chosen threshold: {best[0] if best else 'none meets --max-false'}")


if __name__ == "__main__":
    main()
