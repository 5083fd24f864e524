"""Load benchmark: concurrent clients POSTing ``/api/ask`` to a real ``citewire serve``.

    .venv/bin/python bench/load.py [--store DIR | --chroma-url URL] [--collection NAME]
                                   [--clients 50] [--seconds 30] [--max-requests 3000]
                                   [--baseline-seconds 15] [--json-out FILE]

It starts ``citewire serve`` as a subprocess on a free port of 127.0.0.1 (only loopback: this
benchmark never binds or connects elsewhere), on ``--store`` or, by default, on a fresh store in
a temporary directory holding the bundled sample corpus (ingested with ``citewire ingest``).
Then, after a warm-up:

1. **baseline**: one client asks the questions one after another for ``--baseline-seconds``;
2. **load**: ``--clients`` threads, each with its own HTTP connection, ask in a loop until
   ``--seconds`` have passed or ``--max-requests`` were sent (requests in flight then finish).

Both phases ask the same questions, so the report compares load with the baseline of this same
run: throughput (answers/s), latency p50/p95/max, errors (any non-200 answer or transport error:
must be 0), and the ratios. The server is stopped at the end, whatever happened.

``--replicas N`` starts N ``citewire serve`` processes on one Chroma server (a fresh ``chroma run``
holding the sample unless ``--chroma-url`` is given) and adds a third phase: the same clients
spread over all replicas, against the load on one replica of this run.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from _common import ROOT, log, percentile

SAMPLE = ROOT / "data" / "sample"
CITEWIRE = Path(sys.executable).parent / "citewire"
HOST = "127.0.0.1"  # loopback only
QUESTIONS = [
    "How many North Korean troops were deployed to Russia?",
    "What did Zelenskyy ask Ukraine's allies to provide?",
    "Who is the NATO Secretary-General quoted on the deployment?",
    "Where are the North Korean soldiers believed to be positioned?",
    "What precedent do military experts say the North Korean deployment sets?",
    "What could North Korea lose by sending troops to Russia?",
    "What is the population of Pyongyang?",
    "Who won the 2018 FIFA World Cup?",
]
REQUEST_TIMEOUT_S = 300.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def citewire_cmd() -> list[str]:
    return [str(CITEWIRE)] if CITEWIRE.exists() else [sys.executable, "-m", "ui.cli"]


def rss_mb(pid: int) -> float | None:
    """Resident memory of a process (Linux /proc), in MiB."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


@dataclass
class Phase:
    """What one phase measured."""

    name: str
    clients: int
    latencies_ms: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    refused: int = 0
    seconds: float = 0.0

    def summary(self) -> dict[str, Any]:
        n = len(self.latencies_ms)
        return {
            "phase": self.name, "clients": self.clients, "requests": n + len(self.errors), "ok": n,
            "errors": len(self.errors), "refusals": self.refused, "seconds": round(self.seconds, 2),
            "throughput_rps": round(n / self.seconds, 3) if self.seconds else None,
            "p50_ms": round(percentile(self.latencies_ms, 50), 1),
            "p95_ms": round(percentile(self.latencies_ms, 95), 1),
            "max_ms": round(max(self.latencies_ms), 1) if n else None,
        }


class Server:
    """``citewire serve`` as a subprocess on a free loopback port."""

    def __init__(self, store_args: list[str], env: dict[str, str], port: int | None = None) -> None:
        self.port = port or free_port()
        self.url = f"http://{HOST}:{self.port}"
        self.log_path = Path(tempfile.mkstemp(prefix="citewire-load-serve-", suffix=".log")[1])
        with self.log_path.open("wb") as fh:
            self.proc = subprocess.Popen(
                [*citewire_cmd(), "serve", "--host", HOST, "--port", str(self.port), *store_args],
                cwd=ROOT, env=env, stdout=fh, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            )

    def wait_ready(self, timeout: float = 600) -> float:
        started = time.monotonic()
        while time.monotonic() - started < timeout:
            if self.proc.poll() is not None:
                raise RuntimeError(f"citewire serve exited ({self.proc.returncode}): {self.tail()}")
            try:
                if httpx.get(self.url + "/", timeout=5).status_code == 200:
                    return time.monotonic() - started
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        raise RuntimeError(f"citewire serve did not answer within {timeout:.0f}s: {self.tail()}")

    def tail(self) -> str:
        return self.log_path.read_text(errors="replace")[-2000:]

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def ask(client: httpx.Client, url: str, question: str, phase: Phase, lock: threading.Lock) -> None:
    started = time.perf_counter()
    try:
        resp = client.post(url, json={"question": question, "top_k": 5})
        ms = (time.perf_counter() - started) * 1000
        if resp.status_code != 200:
            error = f"HTTP {resp.status_code}: {resp.text[:200]}"
        else:
            body = resp.json()
            error = None if body.get("text") else f"no answer text: {str(body)[:200]}"
    except (httpx.HTTPError, ValueError) as exc:
        ms, error = (time.perf_counter() - started) * 1000, f"{type(exc).__name__}: {exc}"
        body = {}
    with lock:
        if error:
            phase.errors.append(error)
        else:
            phase.latencies_ms.append(ms)
            phase.refused += bool(body.get("refused"))


def run_phase(url: str | list[str], name: str, clients: int, seconds: float, max_requests: int) -> Phase:
    """``clients`` threads asking in a loop; with several URLs, client k asks replica k mod N."""
    urls = [url] if isinstance(url, str) else url
    phase = Phase(name, clients)
    lock = threading.Lock()
    budget = iter(range(max_requests))
    deadline = time.monotonic() + seconds

    def worker(offset: int) -> None:
        with httpx.Client(timeout=REQUEST_TIMEOUT_S) as client:
            i = offset
            while time.monotonic() < deadline:
                with lock:
                    if next(budget, None) is None:
                        return
                ask(client, urls[offset % len(urls)], QUESTIONS[i % len(QUESTIONS)], phase, lock)
                i += 1

    started = time.monotonic()
    threads = [threading.Thread(target=worker, args=(k,), daemon=True) for k in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=seconds + REQUEST_TIMEOUT_S + 60)
    phase.seconds = time.monotonic() - started
    return phase


def prepare_store(work: Path, env: dict[str, str]) -> list[str]:
    store = work / "store"
    log(f"ingesting {SAMPLE} into {store}")
    got = subprocess.run([*citewire_cmd(), "ingest", str(SAMPLE), "--store", str(store), "-q"], cwd=ROOT, env=env,
                         capture_output=True, text=True, check=False)
    if got.returncode != 0:
        raise SystemExit(f"ingest failed: {got.stderr[-2000:]}")
    return ["--store", str(store)]


def start_chroma(work: Path, env: dict[str, str]) -> tuple[subprocess.Popen[bytes], str]:
    """A fresh ``chroma run`` on loopback holding the sample corpus (collection ``news``)."""
    port = free_port()
    url = f"http://{HOST}:{port}"
    chroma = Path(sys.executable).parent / "chroma"
    proc = subprocess.Popen([str(chroma), "run", "--path", str(work / "chroma"), "--host", HOST, "--port", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT, env=env)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/api/v2/heartbeat", timeout=2).status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(0.2)
    got = subprocess.run([*citewire_cmd(), "ingest", str(SAMPLE), "--chroma-url", url, "-q"], cwd=ROOT, env=env,
                         capture_output=True, text=True, check=False)
    if got.returncode != 0:
        proc.kill()
        raise SystemExit(f"ingest into the Chroma server failed: {got.stderr[-2000:]}")
    return proc, url


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--store", type=Path, help="an existing embedded store (default: a temporary one with the sample)")
    ap.add_argument("--chroma-url", help="serve a collection of a Chroma server instead (loopback only)")
    ap.add_argument("--collection", help="collection to serve (default: news)")
    ap.add_argument("--clients", type=int, default=50)
    ap.add_argument("--seconds", type=float, default=30.0, help="length of the load phase")
    ap.add_argument("--max-requests", type=int, default=3000, help="cap on requests sent in the load phase")
    ap.add_argument("--baseline-seconds", type=float, default=15.0)
    ap.add_argument("--replicas", type=int, default=1, help="citewire serve processes sharing one Chroma server")
    ap.add_argument("--json-out", type=Path, help="also write the results here as JSON")
    args = ap.parse_args()

    if args.chroma_url and httpx.URL(args.chroma_url).host not in ("127.0.0.1", "localhost", "::1"):
        raise SystemExit("--chroma-url must be a loopback address for this benchmark")
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "ANONYMIZED_TELEMETRY": "False", "GRADIO_ANALYTICS_ENABLED": "False"}
    env = {k: v for k, v in env.items() if not k.startswith("CITEWIRE_")}  # only the flags below count
    chroma = None
    with tempfile.TemporaryDirectory(prefix="citewire-load-") as tmp:
        if args.replicas > 1 and not args.chroma_url:
            chroma, chroma_url = start_chroma(Path(tmp), env)
            store_args = ["--chroma-url", chroma_url]
        elif args.chroma_url:
            store_args = ["--chroma-url", args.chroma_url]
        elif args.store:
            store_args = ["--store", str(args.store)]
        else:
            store_args = prepare_store(Path(tmp), env)
        if args.collection:
            store_args += ["--collection", args.collection]

        server = Server(store_args, env)
        replicas = [server, *(Server(store_args, env) for _ in range(args.replicas - 1))]
        spread = None
        try:
            log(f"starting {len(replicas)} × citewire serve {' '.join(store_args)} at {server.url} …")
            ready_s = max(r.wait_ready() for r in replicas)
            log(f"ready after {ready_s:.1f}s (server log: {server.log_path})")
            url = server.url + "/api/ask"
            warm = run_phase(url, "warm-up", 1, 3600, len(QUESTIONS))
            if warm.errors:
                raise SystemExit(f"warm-up failed: {warm.errors[0]}")
            log(f"warm-up: {len(QUESTIONS)} questions, p50 {warm.summary()['p50_ms']} ms")

            log(f"baseline: 1 client for {args.baseline_seconds:.0f}s")
            baseline = run_phase(url, "baseline", 1, args.baseline_seconds, args.max_requests)
            log(f"load: {args.clients} clients for {args.seconds:.0f}s (at most {args.max_requests} requests)")
            rss_before = rss_mb(server.proc.pid)
            load = run_phase(url, "load", args.clients, args.seconds, args.max_requests)
            rss_after = rss_mb(server.proc.pid)
            if len(replicas) > 1:
                urls = [r.url + "/api/ask" for r in replicas]
                run_phase(urls, "warm-up", len(urls), 3600, len(QUESTIONS) * len(urls))
                log(f"load over {len(replicas)} replicas: {args.clients} clients for {args.seconds:.0f}s")
                spread = run_phase(urls, f"load×{len(replicas)}", args.clients, args.seconds, args.max_requests)
        finally:
            for r in replicas:
                r.stop()
            if chroma is not None:
                chroma.kill()

    b, lo = baseline.summary(), load.summary()
    result = {
        "server": {"store": " ".join(store_args), "ready_s": round(ready_s, 1),
                   "rss_mb_before_load": rss_before and round(rss_before),
                   "rss_mb_after_load": rss_after and round(rss_after),
                   "cpus": os.cpu_count(), "loadavg_1m_at_end": round(os.getloadavg()[0], 2)},
        "baseline": b,
        "load": lo,
        "ratios": {
            "throughput_load_over_baseline": round(lo["throughput_rps"] / b["throughput_rps"], 2)
            if b["throughput_rps"] and lo["throughput_rps"] else None,
            "p50_load_over_baseline": round(lo["p50_ms"] / b["p50_ms"], 2) if b["p50_ms"] else None,
            "p95_load_over_baseline": round(lo["p95_ms"] / b["p95_ms"], 2) if b["p95_ms"] else None,
        },
        "error_examples": load.errors[:5] + baseline.errors[:5] + (spread.errors[:5] if spread else []),
    }
    if spread is not None:
        result["replicas"] = spread.summary()
        result["ratios"]["throughput_replicas_over_one"] = (
            round(spread.summary()["throughput_rps"] / lo["throughput_rps"], 2) if lo["throughput_rps"] else None)
    print()
    print(f"{'phase':<9} {'clients':>7} {'requests':>8} {'errors':>6} {'ans/s':>7} {'p50 ms':>8} {'p95 ms':>8} "
          f"{'max ms':>8}")
    for row in (b, lo, *([spread.summary()] if spread else [])):
        print(f"{row['phase']:<9} {row['clients']:>7} {row['requests']:>8} {row['errors']:>6} "
              f"{row['throughput_rps']:>7.2f} {row['p50_ms']:>8.0f} {row['p95_ms']:>8.0f} {row['max_ms']:>8.0f}")
    r = result["ratios"]
    print(f"load/baseline: throughput ×{r['throughput_load_over_baseline']}, p50 ×{r['p50_load_over_baseline']}, "
          f"p95 ×{r['p95_load_over_baseline']}; server RSS {result['server']['rss_mb_after_load']} MiB; "
          f"{os.cpu_count()} CPUs, load average {result['server']['loadavg_1m_at_end']}")
    for e in result["error_examples"]:
        print(f"error: {e}")
    if args.json_out:
        args.json_out.write_text(json.dumps(result, indent=2))
    if spread is not None:
        print(f"{len(replicas)} replicas / 1 replica, same clients: throughput ×{r['throughput_replicas_over_one']}")
    return 1 if (load.errors or baseline.errors or (spread and spread.errors)) else 0


if __name__ == "__main__":
    sys.exit(main())
