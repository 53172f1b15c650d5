"""Chaos: a fleet of workers on one Postgres, killed at random, with Postgres restarted and
the model and tools failing on purpose; every run still completes, each write once.

Several worker processes (``tether worker``'s own loop, forked by ``_forkserver.py``)
execute ``$TETHER_CHAOS_RUNS`` runs (default 200, the CI size; ``benchmarks/chaos.py``
runs 1,000) of an agent whose two writes honour idempotency keys and record their
effects in their own table in the same Postgres. A controller SIGKILLs a random worker
every 0.2-0.6 s and starts a replacement, and restarts Postgres once mid-run; the model
answers 429, 5xx, timeouts and malformed tool calls, and the tools error and hang past
their timeout, each at 5% per call (``chaos_agents.py``).

Afterwards the database must show: every run completed; no duplicate side effect (one
effect per idempotency key and per logical order, each matching a completed call in its
run's log); no gap in any run's event sequence and an intact hash chain; no run that ran
longer than its pinned wall-time budget. The counts are printed (also without ``-s``).

Nothing asserts a duration except the runs' own budgets, which the engine enforces too:
the controller's deadline only bounds a hung test.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from chaos_harness import ChaosConfig, run_chaos

pytestmark = pytest.mark.postgres


def test_a_fleet_killed_at_random_with_postgres_restarted_completes_every_run_exactly_once(
    postgres_cluster: Any,
    postgres_url: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    config = ChaosConfig(runs=int(os.environ.get("TETHER_CHAOS_RUNS", "200")))
    report = run_chaos(postgres_cluster, postgres_url, config, tmp_path / "logs", seed=None)
    line = report.summary()
    with capsys.disabled():
        print(f"\n{line}")
    why = f"{line}\nworker errors:\n{report.log_excerpts}"
    # The chaos really happened: workers died holding runs, Postgres went away once,
    # faults were injected and writes were re-issued with their keys.
    assert report.kills >= 5, why
    assert report.postgres_restarts == 1, why
    assert report.completed_at_restart < report.runs, why  # while runs were in flight
    assert report.takeovers > 0 and report.replayed_writes > 0, why
    assert report.model_failures > 0 and report.tool_failures > 0, why
    # And nothing was lost, doubled or left hanging.
    assert report.completed == report.runs, why
    assert report.duplicates == 0, why
    assert report.unaccounted_effects == 0, why
    assert report.gaps == 0 and report.broken_chains == 0, why
    assert report.hung == 0, why
    assert report.unexpected_exits == [], why
