"""A run clock the test drives, for budgets of running time without sleeping."""

from __future__ import annotations

import time
from collections.abc import Callable


class RunClock:
    """The wall clock, ahead of the real one by ``skew`` seconds the test adds.

    Tether has no clock to inject, so the ``run_clock`` fixture replaces
    ``time.time`` itself for the test: every reader (event timestamps, the budget
    gate, decisions on parked runs, leases) sees the same clock jump, as if real
    time had passed. ``monotonic`` and ``sleep``, which asyncio uses, stay real.
    """

    def __init__(self, real: Callable[[], float] = time.time) -> None:
        self._real = real
        self.skew = 0.0

    def advance(self, seconds: float) -> None:
        self.skew += seconds

    def time(self) -> float:
        return self._real() + self.skew
