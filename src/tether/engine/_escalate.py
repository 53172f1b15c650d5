"""The built-in ``escalate_to_human`` tool: the model's own way to hand a run to a person.

Its function never runs; the engine intercepts calls to it and escalates the run
(``EscalationPolicy(model_can_escalate=True)`` offers it to the model).
"""

from __future__ import annotations

ESCALATE_TOOL = "escalate_to_human"


def escalate_to_human(reason: str, suggested_next_step: str = "") -> str:
    """Hand this conversation to a human when you are not confident you can resolve it.

    Args:
        reason: Why a person should take over.
        suggested_next_step: What the person should do first.
    """
    # Never runs: the engine intercepts calls to this tool and escalates the run.
    return "escalated"


__all__ = ["ESCALATE_TOOL", "escalate_to_human"]
