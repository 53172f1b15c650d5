"""The cyclic GC tuning of a long-lived runtime, in a fresh interpreter of its own (the
tuning is process-wide and would change the test process's collector)."""

from __future__ import annotations

import subprocess
import sys
import textwrap

PROBE = textwrap.dedent(
    """
    import gc
    from tether.runtime import _runtime

    _runtime._tune_gc()
    print(gc.get_threshold()[0])
    kept = [[] for _ in range(1_500_000)]  # survivors: collections find nothing to free
    print(gc.get_threshold()[0])
    for _ in range(3_000_000):  # garbage cycles, as a careless tool would make
        cycle = []
        cycle.append(cycle)
    del cycle
    print(gc.get_threshold()[0])
    """
)


def test_the_young_threshold_grows_on_live_state_and_drops_on_garbage() -> None:
    """Starts at 50,000; young collections that free nothing double it (up to 1,000,000);
    once collections find cycles to free, it goes back to 50,000."""
    done = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=120, check=True
    )
    start, grown, after_garbage = (int(line) for line in done.stdout.split())
    assert start == 50_000
    assert grown > 200_000
    assert grown <= 1_000_000
    assert after_garbage == 50_000
