"""A run clock the test drives, for budgets of running time without sleeping."""

from __future__ import annotations

import time
from typing import Any


class RunClock:
    """The wall clock the engine reads, ahead of the real one by ``skew`` seconds.

    Tether has no public clock to inject, so this stands in for the ``time``
    module of the two places that measure a run's running time: the driver (event
    timestamps, hence time parked) and the budget gate (time running now).
    Everything else (``monotonic``, ``sleep``) is the real ``time`` module.
    """

    def __init__(self) -> None:
        self.skew = 0.0

    def advance(self, seconds: float) -> None:
        self.skew += seconds

    def time(self) -> float:
        return time.time() + self.skew

    def __getattr__(self, name: str) -> Any:
        return getattr(time, name)
