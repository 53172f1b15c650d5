"""Agents for ``tether tools``: native, built-in and MCP-served tools with every setting shown."""

from __future__ import annotations

import dataclasses
from types import SimpleNamespace
from typing import Any

from tether import Agent, tool
from tether.policy import Budget, Policy, PolicyFile
from tether.testing import ScriptedModel, text
from tether.tools import Breaker, RateLimit, ToolContract, http_fetch, python_exec

RULES = PolicyFile.loads(
    """
version = 1

[[rules]]
name = "big-refunds"
tool = "refund_order"
when = "amount_cents > 5000"
action = "require_approval"
reason = "Refunds over $50 need a human."
""",
    source="tools_agents.toml",
)


def _big(arguments: dict[str, Any]) -> bool:
    return int(arguments.get("amount_cents", 0)) > 100_000


@tool(owner="orders-team", version="3", rate_limit=RateLimit(calls=10, per=1))
def lookup_order(order_id: str) -> str:
    """Look an order up."""
    return order_id


@tool(
    effect="write",
    owner="payments",
    requires_approval=_big,
    idempotent=True,
    breaker=Breaker(failures=3, reset_after=60),
    credentials=["stripe_key"],
)
def refund_order(order_id: str, amount_cents: int) -> str:
    """Refund part of an order."""
    return f"{order_id}: {amount_cents}"


@dataclasses.dataclass(kw_only=True, slots=True, frozen=True, eq=False)
class ServedContract(ToolContract):
    """Shaped like ``tether.tools.MCPToolContract``: a tool with the ``server`` serving it."""

    server: Any = None


@tool(name="search_tickets", effect="read", owner="mcp:helpdesk", version="mcp:helpdesk")
def _search(query: str) -> str:
    """Search the help desk."""
    return query


search_tickets = ServedContract(
    **{f.name: getattr(_search, f.name) for f in dataclasses.fields(ToolContract)},
    server=SimpleNamespace(name="helpdesk"),
)

support = Agent(
    name="support",
    model=ScriptedModel([text("hi")]),
    tools=[lookup_order, refund_order, search_tickets, http_fetch],
    policy=Policy(
        rules=RULES,
        breakers={"mcp:helpdesk": Breaker(failures=2, reset_after=15)},
        tenant_rate_limit=RateLimit(calls=100, per=60),
        budget=Budget(max_tool_calls=20, on_tool_limit="refuse"),
    ),
)

analyst = Agent(
    name="analyst",
    model=ScriptedModel([text("hi")]),
    tools=[python_exec, lookup_order],
    policy=Policy(allow_tools=["python_exec"]),
)
