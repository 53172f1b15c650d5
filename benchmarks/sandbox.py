"""Sandbox benchmark: ``python_exec`` start latency, cold and with the warm pool.

A *start* is one call of a trivial program (``pass``) through ``Sandbox.run_python``,
from the call to its result: bubblewrap's namespaces and mounts, the interpreter's
startup, the program, and moving the run's scratch directory in and out. Measured:

- ``cold``: ``pool_size=0``: each call starts bubblewrap and Python on demand;
- ``warm``: ``pool_size=2``: each call takes an interpreter already waiting on stdin
  (the benchmark lets the pool refill between calls, so every call finds one ready;
  back-to-back calls faster than the refill fall back to a cold start);
- ``python_only``: ``python -I -S -c pass`` with no sandbox (the sandbox's interpreter
  flags), the floor a cold start cannot beat.

    python benchmarks/sandbox.py               # 50 calls per mode
    python benchmarks/sandbox.py --calls 200

Prints one JSON object on stdout (milliseconds, p50 and p99). Numbers are reported,
never asserted: the exit code is 0 whatever they are. Needs a working ``bwrap``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Any

from tether.tools import Sandbox


def _percentiles(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)

    def pick(q: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 2)

    return {
        "p50_ms": round(statistics.median(ordered), 2),
        "p99_ms": pick(0.99),
        "min_ms": round(ordered[0], 2),
        "max_ms": round(ordered[-1], 2),
        "calls": len(ordered),
    }


async def _measure(box: Sandbox, calls: int, *, warm: bool) -> list[float]:
    samples = []
    await box.run_python("pass", run_id="bench")  # probe bubblewrap, create the scratch
    for _ in range(calls):
        if warm:
            await asyncio.to_thread(_wait_for_pool, box)  # every call finds one waiting
        start = time.perf_counter()
        result = await box.run_python("pass", run_id="bench")
        samples.append((time.perf_counter() - start) * 1000)
        if result.exit_code != 0:
            raise SystemExit(f"sandboxed call failed: {result.stderr}")
    box.close_run("bench")
    return samples


def _wait_for_pool(box: Sandbox) -> None:
    while len(box._pool) < box.pool_size:
        time.sleep(0.01)


def _python_only(calls: int) -> list[float]:
    samples = []
    for _ in range(calls):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-I", "-S", "-c", "pass"], check=True)
        samples.append((time.perf_counter() - start) * 1000)
    return samples


async def _main(calls: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="tether-sandbox-bench-") as root:
        os.chmod(root, 0o711)
        with Sandbox(scratch_root=root) as cold_box:
            cold = await _measure(cold_box, calls, warm=False)
        with Sandbox(scratch_root=root, pool_size=2) as warm_box:
            warm_box.start_pool()
            warm = await _measure(warm_box, calls, warm=True)
    floor = _python_only(calls)
    cold_p = _percentiles(cold)
    warm_p = _percentiles(warm)
    return {
        "benchmark": "sandbox_start_latency",
        "program": "pass",
        "cold": cold_p,
        "warm_pool": warm_p,
        "python_only": _percentiles(floor),
        "warm_speedup_p50": round(cold_p["p50_ms"] / warm_p["p50_ms"], 1),
        "environment": {
            "python": platform.python_version(),
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
            "load_avg_1m": round(os.getloadavg()[0], 2),
            "root": os.geteuid() == 0,
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--calls", type=int, default=50, help="calls per mode (default 50)")
    args = parser.parse_args()
    print(json.dumps(asyncio.run(_main(args.calls)), indent=2))


if __name__ == "__main__":
    main()
