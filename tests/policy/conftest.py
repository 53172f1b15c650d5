"""Fixtures of the policy tests."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from _clock import RunClock


@pytest.fixture
def run_clock(monkeypatch: pytest.MonkeyPatch) -> RunClock:
    """Make ``time.time`` a clock the test advances (and restore it afterwards)."""
    clock = RunClock(time.time)
    monkeypatch.setattr(time, "time", clock.time)
    return clock
