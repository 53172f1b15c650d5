"""The chaos suite at its full size: 1,000 runs on a fleet killed at random.

``tests/chaos/test_chaos.py`` runs the same chaos at CI size (``$TETHER_CHAOS_RUNS``,
default 200). This runs it at ``--runs`` (1,000) on a throwaway Postgres cluster started
the way the tests do, and prints the report as one JSON object: runs, completed, kills,
Postgres restarts, duplicates, gaps, broken chains, hung runs, takeovers, replayed
writes, injected failures seen, the longest run and the wall time. Nothing is asserted
here; the figures that must be zero are ``duplicates``, ``gaps``, ``broken_chains``,
``unaccounted_effects`` and ``hung``, and ``completed`` must equal ``runs``.

    python benchmarks/chaos.py                 # 1,000 runs (about a minute)
    python benchmarks/chaos.py --runs 200 --workers 4 --fault-rate 0.1
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

_ROOT = Path(__file__).resolve().parents[1]
try:
    import tether  # noqa: F401
except ImportError:  # running from a checkout without `pip install -e .`
    sys.path.insert(0, str(_ROOT / "src"))
sys.path[:0] = [str(_ROOT / "tests"), str(_ROOT / "tests" / "chaos")]


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="benchmarks/chaos.py", description=__doc__)
    p.add_argument("--runs", type=int, default=1000)
    p.add_argument("--workers", type=int, default=3)
    p.add_argument("--concurrency", type=int, default=40)
    p.add_argument("--lease-ttl", type=float, default=1.0)
    p.add_argument("--fault-rate", type=float, default=0.05)
    args = p.parse_args(argv)

    from chaos_harness import ChaosConfig, run_chaos
    from rich.console import Console
    from rich.progress import Progress

    from _postgres import start_cluster, stop_cluster

    config = ChaosConfig(
        runs=args.runs,
        workers=args.workers,
        concurrency=args.concurrency,
        lease_ttl=args.lease_ttl,
        fault_rate=args.fault_rate,
    )
    cluster = start_cluster()
    try:
        url = cluster.new_database()
        with (
            tempfile.TemporaryDirectory(prefix="tether-chaos-") as logs,
            Progress(console=Console(stderr=True), transient=True) as bar,
        ):
            task = bar.add_task("runs completed", total=args.runs)

            def progress(done: int, total: int, kills: int) -> None:
                bar.update(task, completed=done, description=f"runs completed ({kills} kills)")

            report = run_chaos(cluster, url, config, Path(logs), progress=progress)
    finally:
        stop_cluster(cluster)
    print(json.dumps({**report.as_dict(), "config": vars(args)}, indent=2))


if __name__ == "__main__":
    main()
