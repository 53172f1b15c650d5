"""Hierarchical catalogs: one router tool in the prefix, domains opened on demand.

The prefix the model is sent holds the router and the always-on tools only, and stays
byte-identical for the whole run (opened tools arrive in the conversation, as the
router's result). A domain tool called before its domain is open is refused with a
structured error naming the domain; after opening, it runs through the same policy gate
as any tool. The opened domains are read back from the log, so a folded (resumed) run
sees the same tools.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from tether import Agent, Runtime, tool
from tether.engine import PolicyDecided, PrefixChanged, ToolCompleted, ToolFailed, fold
from tether.exceptions import AgentDefinitionError
from tether.models import ModelRequest
from tether.policy import Policy, PolicyFile
from tether.testing import ScriptedModel, text, tool_call
from tether.tools import Catalog, ToolSimulator
from tether.tools._catalog import CATALOG_CLOSED, opened_domains

CALLS: list[str] = []


@tool(effect="write", idempotent=True)
def refund_order(order_id: str, amount_cents: int) -> str:
    """Refund part of an order."""
    CALLS.append(f"refund {order_id} {amount_cents}")
    return f"refunded {amount_cents} on {order_id}"


@tool
def get_invoice(invoice_id: str) -> dict[str, Any]:
    """Fetch an invoice."""
    CALLS.append(f"invoice {invoice_id}")
    return {"invoice_id": invoice_id, "total_cents": 1200}


@tool
def track_parcel(tracking_number: str) -> str:
    """Where a parcel is."""
    CALLS.append(f"track {tracking_number}")
    return "in transit"


@tool
def search_faq(query: str) -> str:
    """Search the help center."""
    return "see the returns page"


@pytest.fixture(autouse=True)
def _clear() -> None:
    CALLS.clear()


def _catalog() -> Catalog:
    return Catalog(
        domains={"billing": [refund_order, get_invoice], "shipping": [track_parcel]},
        always=[search_faq],
        descriptions={"billing": "refunds and invoices"},
    )


def _agent(turns: list[Any], **kwargs: Any) -> tuple[Agent, ScriptedModel]:
    def script(req: ModelRequest) -> Any:
        done = sum(m.role == "assistant" for m in req.messages)
        return turns[done] if done < len(turns) else text("done")

    model = ScriptedModel(script)
    return Agent(name="support", model=model, tools=[_catalog()], **kwargs), model


async def _run(url: str, agent: Agent) -> tuple[str, list[Any]]:
    async with Runtime(url) as rt:
        run = await rt.start(agent, "refund order 7")
        assert (await run.result()).status == "completed"
        log = [e async for e in rt.get(run.run_id).events(follow=False)]
    return run.run_id, log


def test_only_the_router_and_always_tools_are_in_the_prefix() -> None:
    """200 tools or 3: the model is told about open_catalog and the always-on tools."""
    agent, _ = _agent([])
    assert [s.name for s in agent.tool_specs] == ["open_catalog", "search_faq"]
    assert set(agent.registry) == {
        "open_catalog",
        "search_faq",
        "refund_order",
        "get_invoice",
        "track_parcel",
    }
    router = agent.tool_specs[0]
    assert router.parameters["properties"]["domain"]["enum"] == ["billing", "shipping"]
    assert "billing: refunds and invoices. tools: refund_order, get_invoice" in (router.description)


async def test_open_a_domain_then_call_its_tool(store_url: str) -> None:
    """Closed → catalog_closed naming the domain; opened → the tool runs; the prefix never
    changes (every request carries the same tools; no prefix.changed event)."""
    agent, model = _agent(
        [
            tool_call("refund_order", order_id="7", amount_cents=500),
            tool_call("open_catalog", domain="billing"),
            tool_call("refund_order", order_id="7", amount_cents=500),
        ]
    )
    _, log = await _run(store_url, agent)
    events = [r.event for r in log]
    results = [e for e in events if isinstance(e, ToolCompleted | ToolFailed)]
    closed, opened, refunded = results
    assert isinstance(closed, ToolFailed) and closed.error.error_code == CATALOG_CLOSED
    assert closed.error.details == {"domain": "billing", "open_with": "open_catalog"}
    assert closed.error.hint is not None and 'open_catalog(domain="billing")' in closed.error.hint
    assert isinstance(opened, ToolCompleted)
    assert [t["name"] for t in opened.result["tools"]] == ["refund_order", "get_invoice"]
    assert opened.result["tools"][0]["parameters"]["required"] == ["order_id", "amount_cents"]
    assert isinstance(refunded, ToolCompleted) and refunded.result == "refunded 500 on 7"
    assert CALLS == ["refund 7 500"]
    assert not any(isinstance(e, PrefixChanged) for e in events)
    assert all(r.tools == model.requests[0].tools for r in model.requests)
    assert len(model.requests) == 4
    # The opened tools reached the model in the conversation, not in the prefix.
    tool_messages = [m for m in model.requests[-1].messages if m.name == "open_catalog"]
    assert "refund_order" in (tool_messages[0].content or "")


async def test_opened_domains_come_back_from_the_log(store_url: str) -> None:
    """A run folded from its stored events (as on resume) has the same domains open, and
    another domain stays closed."""
    agent, _ = _agent(
        [
            tool_call("open_catalog", domain="shipping"),
            tool_call("track_parcel", tracking_number="Z1"),
            tool_call("get_invoice", invoice_id="I1"),
        ]
    )
    run_id, log = await _run(store_url, agent)
    state = fold(run_id, log)
    assert opened_domains(state.messages, {"open_catalog"}) == {("open_catalog", "shipping")}
    assert CALLS == ["track Z1"]
    failed = [r.event for r in log if isinstance(r.event, ToolFailed)]
    assert [f.error.details for f in failed] == [{"domain": "billing", "open_with": "open_catalog"}]


async def test_policy_gates_still_apply_to_domain_tools(store_url: str) -> None:
    """Opening a domain grants no rights: a deny rule on one of its tools still refuses it."""
    rules = PolicyFile.loads(
        """
version = 1
[[rules]]
name = "no-refunds"
tool = "refund_order"
action = "deny"
reason = "refunds go through a person"
""",
        source="catalog.toml",
    )
    agent, _ = _agent(
        [
            tool_call("open_catalog", domain="billing"),
            tool_call("refund_order", order_id="7", amount_cents=500),
        ],
        policy=Policy(rules=rules),
    )
    _, log = await _run(store_url, agent)
    events = [r.event for r in log]
    (decided,) = [e for e in events if isinstance(e, PolicyDecided)]
    assert (decided.action, decided.rule) == ("deny", "no-refunds")
    assert CALLS == []


async def test_unknown_domain_is_a_structured_error(store_url: str) -> None:
    """A domain that does not exist: an error listing the domains, never an exception."""
    agent, _ = _agent([tool_call("open_catalog", domain="payroll")])
    _, log = await _run(store_url, agent)
    (failed,) = [r.event for r in log if isinstance(r.event, ToolFailed)]
    assert "payroll" in failed.error.message
    assert failed.error.hint == "domains: billing, shipping"


def test_bad_catalogs_are_refused_when_defined() -> None:
    """A tool in two domains, an empty domain or a description of no domain."""
    with pytest.raises(AgentDefinitionError, match="belongs to one domain"):
        Catalog(domains={"a": [get_invoice], "b": [get_invoice]})
    with pytest.raises(AgentDefinitionError, match="has no tools"):
        Catalog(domains={"a": []})
    with pytest.raises(AgentDefinitionError, match="unknown domains: c"):
        Catalog(domains={"a": [get_invoice]}, descriptions={"c": "?"})


async def test_simulated_catalog_agent_keeps_its_shape(store_url: str) -> None:
    """ToolSimulator.wrap keeps the catalog (same prefix); the router stays real, domain
    tools answer from recordings."""
    turns = [
        tool_call("open_catalog", domain="billing"),
        tool_call("get_invoice", invoice_id="I1"),
    ]
    agent, _ = _agent(turns)
    fixtures = {
        "format": "tether.fixtures",
        "version": 1,
        "run_id": "r",
        "calls": [
            {"order": 1, "call_id": "c", "tool": "get_invoice", "ok": True,
             "arguments": {"invoice_id": "I1"}, "result": {"recorded": True}},
        ],
    }  # fmt: skip
    simulated = ToolSimulator.from_fixtures(fixtures).wrap(agent)
    assert simulated.prefix == agent.prefix
    assert simulated.tool_domains == agent.tool_domains
    _, log = await _run(store_url, simulated)
    completed = [r.event for r in log if isinstance(r.event, ToolCompleted)]
    assert [(e.tool, e.simulated) for e in completed] == [
        ("open_catalog", None),
        ("get_invoice", True),
    ]
    assert completed[1].result == {"recorded": True}
    assert CALLS == []
    assert json.loads(json.dumps(completed[0].result))["catalog_opened"] == "billing"


@tool(effect="write", requires_approval=True)
def cancel_shipment(tracking_number: str) -> str:
    """Cancel a shipment."""
    CALLS.append(f"cancel {tracking_number}")
    return f"cancelled {tracking_number}"


async def test_a_run_resumed_in_a_new_runtime_keeps_its_opened_domain(store_url: str) -> None:
    """Open a domain, park on an approval of one of its tools, approve from a fresh runtime:
    the run continues with the domain open (read back from the log) and the tool runs."""
    turns = [
        tool_call("open_catalog", domain="shipping"),
        tool_call("cancel_shipment", tracking_number="Z1"),
    ]

    def make() -> Agent:
        def script(req: ModelRequest) -> Any:
            done = sum(m.role == "assistant" for m in req.messages)
            return turns[done] if done < len(turns) else text("done")

        catalog = Catalog(domains={"shipping": [track_parcel, cancel_shipment]})
        return Agent(name="shipper", model=ScriptedModel(script), tools=[catalog])

    async with Runtime(store_url) as rt:
        run = await rt.start(make(), "cancel Z1")
        assert (await run.result()).status == "waiting"
        (pending,) = await run.pending_approvals()
    assert CALLS == []
    async with Runtime(store_url, agents=[make()]) as rt:
        await rt.approve(run.run_id, pending.approval_id, by="ana")
        assert (await rt.get(run.run_id).result()).status == "completed"
        log = [e async for e in rt.get(run.run_id).events(follow=False)]
    assert CALLS == ["cancel Z1"]
    assert not any(
        isinstance(r.event, ToolFailed) and r.event.error.error_code == CATALOG_CLOSED for r in log
    )
