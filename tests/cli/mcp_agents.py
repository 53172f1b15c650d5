"""Agents whose tools ``tether mcp serve`` serves in tests/cli/test_mcp_serve.py."""

from __future__ import annotations

from tether import Agent, tool
from tether.models import ModelRequest, ModelResponse
from tether.policy import Budget, Policy
from tether.testing import ScriptedModel, text


@tool
def lookup_order(order_id: str) -> str:
    """Look up an order's status."""
    return f"order {order_id}: shipped"


@tool(effect="write", requires_approval=True)
def refund(order_id: str, amount_cents: int) -> str:
    """Refund part of an order (always needs a person's approval)."""
    raise AssertionError("refund must never run without approval")


@tool
def count_items(order_id: str) -> dict[str, int]:
    """How many items an order has."""
    return {"items": len(order_id)}


@tool
def secret_report() -> str:
    """Not in the agent's allowlist."""
    raise AssertionError("a denied tool must never run")


def _answer(request: ModelRequest) -> ModelResponse:
    return text(f"support agent says: {request.messages[-1].content}")


support = Agent(
    name="support",
    model=ScriptedModel(_answer),
    tools=[lookup_order, refund, count_items, secret_report],
    policy=Policy(
        allow_tools=["lookup_order", "refund", "count_items"],
        budget=Budget(max_calls_per_tool={"count_items": 2}),
    ),
)
