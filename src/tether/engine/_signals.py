"""Control-flow signals raised inside a step: park, escalate, refuse, cancel.

They are not errors. Each derives from ``BaseException`` (like ``asyncio.CancelledError``),
so a user's ``except Exception`` in a state handler or a tool cannot swallow a budget
stop, an approval park or a cancellation by accident. The driver catches them at the
step boundary and turns each into the transition it carries.
"""

from __future__ import annotations

from tether.engine._transitions import Escalate, Fail, Wait


class StepSignal(BaseException):  # a signal, not an error
    """Base of the control-flow signals a step can raise."""


class WaitRequested(StepSignal):
    """Park the run (an approval, an uncertain write) until a signal arrives."""

    def __init__(self, wait: Wait) -> None:
        super().__init__(wait.reason)
        self.wait = wait


class EscalationRequested(StepSignal):
    """Hand the run to a person."""

    def __init__(self, escalate: Escalate) -> None:
        super().__init__(escalate.reason)
        self.escalate = escalate


class GateFailure(StepSignal):
    """Policy ends the run (a budget would be exceeded, a model call was denied)."""

    def __init__(self, fail: Fail) -> None:
        super().__init__(fail.reason)
        self.fail = fail


class CancelRequested(StepSignal):
    """The run was cancelled while a step was in flight."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


__all__ = [
    "CancelRequested",
    "EscalationRequested",
    "GateFailure",
    "StepSignal",
    "WaitRequested",
]
