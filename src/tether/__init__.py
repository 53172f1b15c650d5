"""Tether: durable, policy-governed runtime for LLM agents.

The model proposes; Tether decides, executes and records. Every run is an
append-only event log; state is a fold over it; every step commits once.

Importing ``tether`` loads nothing heavy: each public name imports its package on
first use (PEP 562), so ``tether --help`` and ``import tether`` stay fast.
"""

import importlib as _importlib
import typing as _typing

from tether.exceptions import TetherError, UserError

__version__ = "0.1.0"

_HOME = {
    "Agent": "tether.engine",
    "Done": "tether.engine",
    "Fail": "tether.engine",
    "Goto": "tether.engine",
    "Machine": "tether.engine",
    "RunEvent": "tether.engine",
    "RunState": "tether.engine",
    "StepContext": "tether.engine",
    "Wait": "tether.engine",
    "LiveDelta": "tether.runtime",
    "RunHandle": "tether.runtime",
    "RunResult": "tether.runtime",
    "RunUsage": "tether.runtime",
    "Runtime": "tether.runtime",
    "run_sync": "tether.runtime",
    "RetryPolicy": "tether.tools",
    "ToolCallError": "tether.tools",
    "ToolContext": "tether.tools",
    "ToolContract": "tether.tools",
    "ToolError": "tether.tools",
    "tool": "tether.tools",
}
"""Where each lazily imported public name lives."""

_ALL = sorted([*_HOME, "TetherError", "UserError"], key=lambda s: (not s.isupper(), s))

if _typing.TYPE_CHECKING:
    from tether.engine import (
        Agent,
        Done,
        Fail,
        Goto,
        Machine,
        RunEvent,
        RunState,
        StepContext,
        Wait,
    )
    from tether.runtime import LiveDelta, RunHandle, RunResult, Runtime, RunUsage, run_sync
    from tether.tools import (
        RetryPolicy,
        ToolCallError,
        ToolContext,
        ToolContract,
        ToolError,
        tool,
    )

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


def __getattr__(name: str) -> _typing.Any:
    """Import a public name's package on first use, and keep the name for next time.

    ``__all__`` is served here too, after loading every name it lists: whoever asks
    for the whole public surface (``from tether import *``, documentation tools,
    ``tests/test_exported_members.py``) gets it, fully imported.
    """
    if name == "__all__":
        for each in _HOME:
            __getattr__(each)
        globals()["__all__"] = list(_ALL)
        return globals()["__all__"]
    home = _HOME.get(name)
    if home is None:
        raise AttributeError(f"module 'tether' has no attribute {name!r}")
    value = getattr(_importlib.import_module(home), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_ALL})
