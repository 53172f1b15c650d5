"""Scheduling runs: the runtime, run handles and results."""

from tether.runtime._handle import RunHandle
from tether.runtime._results import LiveDelta, RunResult, RunUsage
from tether.runtime._runtime import RunObserver, Runtime, run_sync

__all__ = ["LiveDelta", "RunHandle", "RunObserver", "RunResult", "RunUsage", "Runtime", "run_sync"]
