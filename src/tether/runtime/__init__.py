"""Scheduling runs: the runtime, run handles and results."""

from tether.runtime._results import LiveDelta, RunResult, RunUsage
from tether.runtime._runtime import RunHandle, Runtime, run_sync

__all__ = ["LiveDelta", "RunHandle", "RunResult", "RunUsage", "Runtime", "run_sync"]
