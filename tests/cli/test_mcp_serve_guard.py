"""``ToolGateway`` (``tether mcp serve``): the run gate's breakers and rate limits, the
budget per client key, and a run id (so a sandbox scratch) per MCP session."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

import pytest

from tether import Agent, tool
from tether._cli._mcp import ToolGateway
from tether.policy import Budget, Policy, ToolGuard
from tether.testing import ScriptedModel
from tether.tools import (
    Breaker,
    RateLimit,
    Sandbox,
    ToolContext,
    ToolContract,
    TransientToolError,
)

ONCE_A_MINUTE = RateLimit(calls=1, per=60.0, burst=1, max_wait=0, shared=False)


def _agent(*tools: Any, policy: Policy | None = None, name: str = "ops") -> Agent:
    return Agent(name=name, model=ScriptedModel([]), tools=list(tools), policy=policy or Policy())


async def test_a_tool_rate_limit_holds_for_served_calls() -> None:
    """``@tool(rate_limit=...)`` and ``Policy.rate_limits`` refuse a second call in the
    minute with ``rate_limited``; the tool runs once each."""
    ran: list[str] = []

    @tool(rate_limit=ONCE_A_MINUTE)
    def send_sms(to: str) -> str:
        """Send a paid SMS."""
        ran.append(to)
        return "sent"

    @tool
    def lookup(q: str) -> str:
        """Look up."""
        ran.append(q)
        return q

    gateway = ToolGateway(
        [
            _agent(send_sms),
            _agent(lookup, name="ops2", policy=Policy(rate_limits={"lookup": ONCE_A_MINUTE})),
        ]
    )
    sms = [await gateway.call("c", "send_sms", {"to": "+1"}) for _ in range(3)]
    looked = [await gateway.call("c", "lookup", {"q": "x"}) for _ in range(3)]
    assert [o["ok"] for o in sms + looked] == [True, False, False, True, False, False]
    assert sms[1]["error"]["error_code"] == "rate_limited"
    assert looked[2]["error"]["error_code"] == "rate_limited"
    assert ran == ["+1", "x"]


async def test_the_tenant_rate_limit_counts_served_calls_as_runs_without_a_tenant() -> None:
    @tool
    def a() -> str:
        """A."""
        return "a"

    @tool
    def b() -> str:
        """B."""
        return "b"

    gateway = ToolGateway([_agent(a, b, policy=Policy(tenant_rate_limit=ONCE_A_MINUTE))])
    assert (await gateway.call("c", "a", {}))["ok"]
    refused = await gateway.call("c", "b", {})
    assert refused["error"]["error_code"] == "rate_limited"
    assert refused["error"]["details"]["scope"] == "tenant"


async def test_an_open_breaker_stops_served_calls() -> None:
    """Two transient failures open the breaker: the third call is ``circuit_open`` and
    the tool is not called."""
    calls: list[int] = []

    @tool(breaker=Breaker(failures=2, reset_after=60.0))
    def flaky() -> str:
        """Always down."""
        calls.append(1)
        raise TransientToolError("upstream down")

    guard = ToolGuard()
    gateway = ToolGateway([_agent(flaky)], guard=guard)
    outcomes = [await gateway.call("c", "flaky", {}) for _ in range(3)]
    assert [o["error"]["error_code"] for o in outcomes][2] == "circuit_open"
    assert guard.breaker_state("flaky") == "open"
    assert len(calls) == 2 * 3  # two calls, each with the default retries; none after


async def test_a_new_session_does_not_reset_the_budget() -> None:
    """The budget counts per client key, not per MCP session: reconnecting gains nothing."""

    @tool
    def count() -> int:
        """Count."""
        return 1

    policy = Policy(budget=Budget(max_calls_per_tool={"count": 2}))
    gateway = ToolGateway([_agent(count, policy=policy)])
    first = [await gateway.call("http", "count", {}, session="s1") for _ in range(2)]
    again = await gateway.call("http", "count", {}, session="s2")
    assert all(o["ok"] for o in first)
    assert again["error"]["error_code"] == "budget_exceeded"
    assert (await gateway.call("someone-else", "count", {}))["ok"]


async def test_each_session_has_its_own_run_which_ends_with_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Calls of one session share a run id, other sessions get others (never a shared
    ``"mcp"``), and ending a session ends its run: its sandbox scratch is removed."""
    seen: list[tuple[str, str]] = []
    ended: list[str] = []

    @tool
    def whoami(tag: str, ctx: ToolContext) -> str:
        """The run id the call ran under."""
        seen.append((tag, ctx.run_id))
        return ctx.run_id

    monkeypatch.setattr(Sandbox, "in_use", classmethod(lambda cls: True))
    monkeypatch.setattr(Sandbox, "run_ended", classmethod(lambda cls, run_id: ended.append(run_id)))
    gateway = ToolGateway([_agent(whoami)])
    for session in ("A", "A", "B"):
        assert (await gateway.call("stdio", "whoami", {"tag": session}, session=session))["ok"]
    runs = dict(seen)
    assert seen[0][1] == seen[1][1] != runs["B"]
    assert "mcp" not in runs.values()
    await gateway.end_session("A")
    assert ended == [runs["A"]]
    await gateway.aclose()
    assert ended == [runs["A"], runs["B"]]


async def test_a_validator_that_fails_is_an_invalid_arguments_answer() -> None:
    """Any exception while checking the arguments is a structured refusal, not a crash."""

    @tool
    def echo(x: str) -> str:
        """Echo."""
        raise AssertionError("must not run")

    @dataclasses.dataclass(kw_only=True, slots=True, frozen=True, eq=False)
    class Broken(ToolContract):
        def normalize(self, arguments: Mapping[str, Any]) -> dict[str, Any]:
            raise RuntimeError("validator exploded")

    fields = {f.name: getattr(echo, f.name) for f in dataclasses.fields(echo) if f.init}
    gateway = ToolGateway([_agent(Broken(**fields))])
    answer = await gateway.call("c", "echo", {"x": "1"})
    assert not answer["ok"]
    assert answer["error"]["error_code"] == "invalid_arguments"
    assert "RuntimeError" in answer["error"]["message"]
