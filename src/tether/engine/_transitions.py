"""Typed transitions: what a state returns to say what happens next.

A state never calls back into the engine to move on; it returns one of these values
and the driver applies it (a ``Goto`` ends a step unless ``commit=False``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Goto:
    """Move to ``state``. ``commit=False`` continues in the same step (no commit in between)."""

    state: str
    commit: bool = True
    data: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class Done:
    """Finish the run successfully with ``output``."""

    output: Any = None


@dataclass(frozen=True, slots=True)
class Fail:
    """Finish the run as failed, with a stable ``error_code`` and a reason a person can read."""

    reason: str
    error_code: str = "failed"
    details: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class Wait:
    """Park the run until ``signal`` arrives.

    With ``then`` the step ends and the run continues at that state after the
    signal; without it the current step is re-entered (its journal intact).
    """

    signal: str
    reason: str
    then: str | None = None
    details: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class Escalate:
    """Hand the run to a person: it parks as ``escalated`` with a handoff record.

    A ``resume`` or ``input`` signal continues it, re-entering the current step
    (or ``then``, when given).
    """

    reason: str
    source: str = "agent"
    suggested_next_step: str | None = None
    context: dict[str, Any] | None = None
    then: str | None = None


Transition = Goto | Done | Fail | Wait | Escalate

__all__ = ["Done", "Escalate", "Fail", "Goto", "Transition", "Wait"]
