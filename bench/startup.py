"""Start-up benchmark: how long one ``citewire ask`` takes from the shell, process start included.

    .venv/bin/python bench/startup.py [--runs 3]

On a fresh store holding the bundled sample corpus and a fresh cache directory, it times:

1. **first run**: no export of the embedding model yet (exported, checked against torch, stamped);
2. **baseline**: the export is there but its stamp is removed before each run, so each loads the
   torch model to check the export again (what every run did before stamps);
3. **stamped**: the export and its stamp are there; the run starts without torch.

Each of 2 and 3 is the median of ``--runs`` runs; the report gives the stamped runs' time as a
ratio of the baseline of this same run. Wall time of the whole process, answer printed.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import ROOT, log

CITEWIRE = Path(sys.executable).parent / "citewire"
QUESTION = "How many North Korean troops were deployed to Russia?"


def timed_ask(env: dict[str, str]) -> float:
    """Seconds for one ``citewire ask`` process; it must answer."""
    start = time.perf_counter()
    out = subprocess.run([str(CITEWIRE), "ask", QUESTION], env=env, capture_output=True, text=True, timeout=600)
    took = time.perf_counter() - start
    if out.returncode != 0 or "10,000" not in out.stdout:
        raise SystemExit(f"citewire ask failed ({out.returncode}):\n{out.stdout}\n{out.stderr}")
    return took


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3, help="runs per phase (the median is reported)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="citewire-bench-startup-") as tmp:
        work = Path(tmp)
        env = {**os.environ, "CITEWIRE_STORE_DIR": str(work / "store"), "CITEWIRE_CACHE_DIR": str(work / "cache")}
        subprocess.run([str(CITEWIRE), "ingest", str(ROOT / "data" / "sample")], env=env, check=True,
                       capture_output=True)
        for stamp in (work / "cache").glob("*.verified.json"):  # the ingest made them: start from none
            stamp.unlink()
        for graph in (work / "cache").glob("*.onnx"):
            graph.unlink()
        first = timed_ask(env)
        log(f"first run (export, check, stamp): {first:.1f} s")
        baseline = []
        for _ in range(args.runs):
            for stamp in (work / "cache").glob("*.verified.json"):
                stamp.unlink()
            baseline.append(timed_ask(env))
        log(f"baseline (export checked against torch each run): {baseline}")
        stamped = [timed_ask(env) for _ in range(args.runs)]
        log(f"stamped: {stamped}")
    b, s = statistics.median(baseline), statistics.median(stamped)
    print("\n| run | seconds (median) | ratio to baseline |\n|---|---|---|")
    print(f"| first (export + check) | {first:.1f} | {first / b:.2f} |")
    print(f"| baseline: checked against torch | {b:.1f} | 1.00 |")
    print(f"| stamped: no torch | {s:.1f} | {s / b:.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
