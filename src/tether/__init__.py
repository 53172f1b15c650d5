"""Tether: durable, policy-governed runtime for LLM agents.

The model proposes; Tether decides, executes and records. Every run is an
append-only event log; state is a fold over it; every step commits once.
"""

from tether.engine import Agent, Done, Fail, Goto, Machine, RunEvent, RunState, StepContext, Wait
from tether.exceptions import TetherError, UserError
from tether.runtime import LiveDelta, RunHandle, RunResult, Runtime, RunUsage, run_sync
from tether.tools import RetryPolicy, ToolCallError, ToolContext, ToolContract, ToolError, tool

__version__ = "0.1.0"

__all__ = [
    "Agent",
    "Done",
    "Fail",
    "Goto",
    "LiveDelta",
    "Machine",
    "RetryPolicy",
    "RunEvent",
    "RunHandle",
    "RunResult",
    "RunState",
    "RunUsage",
    "Runtime",
    "StepContext",
    "TetherError",
    "ToolCallError",
    "ToolContext",
    "ToolContract",
    "ToolError",
    "UserError",
    "Wait",
    "run_sync",
    "tool",
]
