"""A real two-node Ray cluster on loopback: ``ray start --head`` and a second ``ray start --address`` node.

One CPU each (the machine has two). The second node runs ``ray start --block`` in a process group
of its own, so :meth:`RayCluster.kill_worker_node` can SIGKILL that node (its raylet and workers)
the way a crashed machine disappears; :meth:`RayCluster.add_worker_node` brings one back.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from chroma_server import free_port

RAY = Path(sys.executable).parent / "ray"
START_TIMEOUT_S = 120.0


class RayCluster:
    def __init__(self, log_dir: Path) -> None:
        self.port = free_port()
        self.address = f"127.0.0.1:{self.port}"
        self.log_dir = log_dir
        self.worker: subprocess.Popen[bytes] | None = None

    def _ray(self, *args: str, timeout: float = START_TIMEOUT_S) -> str:
        out = subprocess.run([str(RAY), *args], capture_output=True, text=True, timeout=timeout,
                             env={**os.environ, "RAY_USAGE_STATS_ENABLED": "0"})
        if out.returncode != 0:
            raise RuntimeError(f"ray {' '.join(args)} failed: {out.stdout[-1500:]} {out.stderr[-1500:]}")
        return out.stdout

    def start(self) -> RayCluster:
        self._ray("start", "--head", "--node-ip-address", "127.0.0.1", "--port", str(self.port), "--num-cpus", "1",
                  "--include-dashboard", "false", "--disable-usage-stats")
        self.add_worker_node()
        return self

    def add_worker_node(self) -> None:
        log = (self.log_dir / "worker-node.log").open("ab")
        self.worker = subprocess.Popen(
            [str(RAY), "start", "--address", self.address, "--node-ip-address", "127.0.0.1", "--num-cpus", "1",
             "--block", "--disable-usage-stats"],
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            env={**os.environ, "RAY_USAGE_STATS_ENABLED": "0"},
        )
        self.wait_for_nodes(2)

    def alive_nodes(self) -> int:
        code = ("import ray, sys; ray.init(address=sys.argv[1], logging_level='ERROR'); "
                "print(sum(n['Alive'] for n in ray.nodes()))")
        out = subprocess.run([sys.executable, "-c", code, self.address], capture_output=True, text=True, timeout=120)
        return int(out.stdout.strip().splitlines()[-1]) if out.returncode == 0 and out.stdout.strip() else 0

    def wait_for_nodes(self, n: int) -> None:
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.alive_nodes() >= n:
                return
            time.sleep(1)
        raise RuntimeError(f"the Ray cluster did not reach {n} nodes")

    def kill_worker_node(self) -> None:
        """SIGKILL the second node's whole process group (ray start, raylet, its workers)."""
        if self.worker is not None and self.worker.poll() is None:
            os.killpg(os.getpgid(self.worker.pid), signal.SIGKILL)
            self.worker.wait(timeout=30)

    def stop(self) -> None:
        self.kill_worker_node()
        subprocess.run([str(RAY), "stop", "--force"], capture_output=True, timeout=120)
