"""``bench/ingest.py --ray``: ingest on a loopback Ray cluster against a local ingest, in one run.

On this 2-core machine the cluster is one or two single-CPU nodes on loopback, so no speed-up past
the cores is expected: what this measures is what Ray costs — its throughput as a share of the
local ingest's, and the overhead it adds per article. All three ingests write to one fresh Chroma
server (``chroma run``), each into its own collection, so the store costs the same in each.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))


def _timed_ingest(corpus: Path, *args: str) -> tuple[float, str]:
    citewire = Path(sys.executable).parent / "citewire"
    started = time.perf_counter()
    out = subprocess.run([str(citewire), "ingest", str(corpus), "-q", *args], capture_output=True, text=True,
                         cwd=ROOT, check=False)
    seconds = time.perf_counter() - started
    if out.returncode != 0:
        raise SystemExit(f"ingest {' '.join(args)} failed: {out.stderr[-2000:]}")
    return seconds, out.stdout.strip()


def run(corpus: Path, n_articles: int, log) -> list[tuple[str, float, str]]:
    from chroma_server import ChromaServer
    from ray_cluster import RayCluster

    rows: list[tuple[str, float, str]] = []
    with tempfile.TemporaryDirectory(prefix="citewire-bench-ray-") as tmp:
        chroma = ChromaServer(Path(tmp) / "chroma").start()
        cluster = RayCluster(Path(tmp))
        try:
            seconds, line = _timed_ingest(corpus, "--chroma-url", chroma.url, "--collection", "local")
            rows.append(("local (no Ray)", seconds, line))
            log(f"local: {seconds:.1f}s ({line})")
            cluster._ray("start", "--head", "--node-ip-address", "127.0.0.1", "--port", str(cluster.port),
                         "--num-cpus", "1", "--include-dashboard", "false", "--disable-usage-stats")
            cluster.wait_for_nodes(1)
            seconds, line = _timed_ingest(corpus, "--ray", cluster.address, "--chroma-url", chroma.url,
                                          "--collection", "ray1")
            rows.append(("Ray, 1 node × 1 CPU", seconds, line))
            log(f"ray 1 node: {seconds:.1f}s ({line})")
            cluster.add_worker_node()
            seconds, line = _timed_ingest(corpus, "--ray", cluster.address, "--chroma-url", chroma.url,
                                          "--collection", "ray2")
            rows.append(("Ray, 2 nodes × 1 CPU", seconds, line))
            log(f"ray 2 nodes: {seconds:.1f}s ({line})")
        finally:
            cluster.stop()
            chroma.stop()
    local = rows[0][1]
    print(f"\nRay ingest of {n_articles} articles ({os.cpu_count()} cores), same run, one Chroma server\n")
    print("| pipeline | seconds | articles/s | throughput vs local | overhead per article |\n|---|---|---|---|---|")
    for name, seconds, _ in rows:
        print(f"| {name} | {seconds:.1f} | {n_articles / seconds:.2f} | {local / seconds:.2f} | "
              f"{(seconds - local) / n_articles * 1000:+.0f} ms |")
    return rows
