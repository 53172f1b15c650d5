"""Scheduling runs: the runtime, run handles and results."""

from tether.runtime._audit import AuditEntry, AuditReport, audit_run
from tether.runtime._handle import RunHandle
from tether.runtime._limits import ModelLimit
from tether.runtime._results import LiveDelta, RunResult, RunUsage
from tether.runtime._runtime import (
    SERVING_LOOP_SLICE,
    RunObserver,
    Runtime,
    new_run_id,
    run_sync,
)

__all__ = [
    "SERVING_LOOP_SLICE",
    "AuditEntry",
    "AuditReport",
    "LiveDelta",
    "ModelLimit",
    "RunHandle",
    "RunObserver",
    "RunResult",
    "RunUsage",
    "Runtime",
    "audit_run",
    "new_run_id",
    "run_sync",
]
