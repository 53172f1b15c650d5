"""Fixtures of the policy tests."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from _clock import RunClock


@pytest.fixture
def run_clock(monkeypatch: pytest.MonkeyPatch) -> RunClock:
    """Make the engine's running-time measurements read a clock the test advances."""
    from tether.engine import _driver, _gate

    clock = RunClock()
    monkeypatch.setattr(_driver, "time", clock)
    monkeypatch.setattr(_gate, "time", clock)
    return clock
