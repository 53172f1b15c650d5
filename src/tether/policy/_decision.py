"""Policy decisions: what the deterministic gate says about a proposed action, and why."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal

from pydantic import BaseModel

Action = Literal["allow", "deny", "require_approval", "escalate"]
Source = Literal[
    "default", "killswitch", "allowlist", "policy_file", "contract", "hook", "budget", "loop"
]

SEVERITY: dict[str, int] = {"allow": 0, "require_approval": 1, "escalate": 2, "deny": 3}
"""Combination order: the most restrictive decision wins; ties go to the earliest source."""


class Decision(BaseModel):
    """One verdict on one proposed action, with the rule that produced it."""

    action: Action
    reason: str = ""
    rule: str | None = None
    source: Source = "default"

    @classmethod
    def allow(
        cls, reason: str = "", *, rule: str | None = None, source: Source = "default"
    ) -> Decision:
        """Let the action run."""
        return cls(action="allow", reason=reason, rule=rule, source=source)

    @classmethod
    def deny(cls, reason: str, *, rule: str | None = None, source: Source = "default") -> Decision:
        """Refuse the action; the model is told why."""
        return cls(action="deny", reason=reason, rule=rule, source=source)

    @classmethod
    def require_approval(
        cls, reason: str, *, rule: str | None = None, source: Source = "default"
    ) -> Decision:
        """Park the run until a person approves or denies the action."""
        return cls(action="require_approval", reason=reason, rule=rule, source=source)

    @classmethod
    def escalate(
        cls, reason: str, *, rule: str | None = None, source: Source = "default"
    ) -> Decision:
        """Hand the run to a person."""
        return cls(action="escalate", reason=reason, rule=rule, source=source)


ALLOW = Decision(action="allow")


def combine(decisions: Iterable[Decision]) -> Decision:
    """The most restrictive of ``decisions`` (deterministic: first one wins a tie)."""
    best = ALLOW
    for decision in decisions:
        if SEVERITY[decision.action] > SEVERITY[best.action]:
            best = decision
    return best
