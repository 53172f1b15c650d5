"""Circuit breakers: a failing tool stops being called, the model hears why, a trial reopens it.

Each run below makes one call and answers with what it got back, so the breaker's
state is carried only by the runtime's :class:`ToolGuard` (per process), whose
clock the test moves by hand.
"""

from __future__ import annotations

import dataclasses
import json
from types import SimpleNamespace
from typing import Any

import pytest

from tether import Agent, Runtime, tool
from tether.engine import BreakerChanged, ToolCompleted, ToolFailed
from tether.exceptions import AgentDefinitionError
from tether.models import ModelRequest
from tether.policy import Policy, ToolGuard, breaker_key
from tether.testing import ScriptedModel, text, tool_call
from tether.tools import (
    Breaker,
    RetryPolicy,
    ToolCallError,
    ToolContract,
    ToolError,
    TransientToolError,
)

CALLS: list[str] = []
FAILURES = {"left": 0}


class FakeClock:
    """Monotonic seconds that move only when the test says so."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@tool(breaker=Breaker(failures=2, reset_after=30), retry=RetryPolicy(max_attempts=1))
def track_order(order_id: str) -> str:
    """Where an order is, from the (flaky) shipping service."""
    CALLS.append(order_id)
    if FAILURES["left"] > 0:
        FAILURES["left"] -= 1
        raise TransientToolError("the shipping service answered 503")
    return f"order {order_id} is on its way"


@pytest.fixture(autouse=True)
def _reset() -> None:
    CALLS.clear()
    FAILURES["left"] = 0


def _answer_with_result(first: Any) -> Any:
    def script(req: ModelRequest) -> Any:
        last = req.messages[-1]
        if last.role == "tool":
            return text(f"tool said: {last.content}")
        return first

    return script


def _agent(tools: list[Any] | None = None, **policy: Any) -> Agent:
    return Agent(
        name="shipping",
        model=ScriptedModel(_answer_with_result(tool_call("track_order", order_id="A1"))),
        tools=tools or [track_order],
        policy=Policy(**policy),
    )


async def _one_call(rt: Runtime, agent: Agent) -> tuple[list[Any], Any]:
    run = await rt.start(agent, "where is A1?")
    result = await run.result()
    events = [e.event async for e in rt.get(run.run_id).events(follow=False)]
    assert result.status == "completed"
    (outcome,) = [e for e in events if isinstance(e, ToolCompleted | ToolFailed)]
    return events, outcome


def _changes(events: list[Any]) -> list[tuple[str, str]]:
    return [(e.previous, e.current) for e in events if isinstance(e, BreakerChanged)]


async def test_breaker_opens_refuses_without_calling_then_a_trial_closes_it(
    store_url: str,
) -> None:
    """Two failures open it; open: circuit_open, tool not called; after 30s a success closes it."""
    clock = FakeClock()
    agent = _agent()
    FAILURES["left"] = 2
    async with Runtime(store_url, tool_guard=ToolGuard(clock=clock)) as rt:
        events, first = await _one_call(rt, agent)
        assert first.error.error_code == "transient"
        assert _changes(events) == []
        events, second = await _one_call(rt, agent)
        assert second.error.error_code == "transient"
        (opened,) = [e for e in events if isinstance(e, BreakerChanged)]
        assert (opened.key, opened.tool, opened.previous, opened.current) == (
            "track_order",
            "track_order",
            "closed",
            "open",
        )
        assert opened.failures == 2 and opened.retry_after == 30
        assert "2 consecutive failed calls" in opened.reason and "503" in opened.reason
        assert CALLS == ["A1", "A1"]

        clock.advance(10)
        events, refused = await _one_call(rt, agent)
        assert CALLS == ["A1", "A1"]  # not called while open
        assert isinstance(refused, ToolFailed) and refused.attempt == 0
        assert refused.error.error_code == "circuit_open"
        assert refused.error.retryable is True
        assert refused.error.details == {"retry_after": 20.0, "breaker": "track_order"}
        assert "try track_order again in 20s" in (refused.error.hint or "")
        assert _changes(events) == []

        clock.advance(20)
        events, trial = await _one_call(rt, agent)
        assert isinstance(trial, ToolCompleted)
        assert CALLS == ["A1", "A1", "A1"]
        assert _changes(events) == [("open", "half_open"), ("half_open", "closed")]
        assert rt.governance.guard.breaker_state("track_order") == "closed"


async def test_the_model_sees_circuit_open_with_a_retry_hint(store_url: str) -> None:
    """The refused call's error reaches the model as a tool message it can act on."""
    clock = FakeClock()
    seen: list[str] = []

    def script(req: ModelRequest) -> Any:
        last = req.messages[-1]
        if last.role == "tool":
            seen.append(last.content or "")
            return text("the shipping service is down; try later")
        return tool_call("track_order", order_id="A1")

    agent = Agent(name="shipping", model=ScriptedModel(script), tools=[track_order])
    FAILURES["left"] = 5
    async with Runtime(store_url, tool_guard=ToolGuard(clock=clock)) as rt:
        for _ in range(3):
            run = await rt.start(agent, "where is A1?")
            assert (await run.result()).status == "completed"
    assert len(CALLS) == 2
    error = json.loads(seen[-1])
    assert error["error_code"] == "circuit_open"
    assert error["details"]["retry_after"] == 30.0
    assert "again in 30s" in error["hint"]


async def test_a_failed_trial_opens_the_breaker_again(store_url: str) -> None:
    """half_open -> open when the trial call fails; the cool-down starts over."""
    clock = FakeClock()
    agent = _agent()
    FAILURES["left"] = 3
    async with Runtime(store_url, tool_guard=ToolGuard(clock=clock)) as rt:
        await _one_call(rt, agent)
        await _one_call(rt, agent)
        clock.advance(30)
        events, trial = await _one_call(rt, agent)
        assert trial.error.error_code == "transient"
        assert _changes(events) == [("open", "half_open"), ("half_open", "open")]
        clock.advance(29)
        _events, refused = await _one_call(rt, agent)
        assert refused.error.error_code == "circuit_open"
        assert refused.error.details["retry_after"] == 1.0
    assert len(CALLS) == 3


async def test_errors_the_tool_means_do_not_open_the_breaker(store_url: str) -> None:
    """A permanent ToolCallError ("not found") is an answer, not a failure of the service."""

    @tool(name="track_order", breaker=Breaker(failures=1, reset_after=30))
    def missing(order_id: str) -> str:
        """Where an order is."""
        CALLS.append(order_id)
        raise ToolCallError(f"no order {order_id}")

    clock = FakeClock()
    async with Runtime(store_url, tool_guard=ToolGuard(clock=clock)) as rt:
        for _ in range(3):
            events, outcome = await _one_call(rt, _agent([missing]))
            assert outcome.error.error_code == "tool_error"
            assert _changes(events) == []
    assert len(CALLS) == 3


async def test_a_recorded_circuit_open_replays_from_the_journal(store_url: str) -> None:
    """A step re-executed in a fresh process (breaker closed there) reuses the recorded refusal."""

    @tool(effect="write", requires_approval=True)
    def notify(order_id: str) -> str:
        """Tell the customer."""
        return f"notified about {order_id}"

    def script(req: ModelRequest) -> Any:
        if req.messages[-1].role == "tool":
            return text("done")
        return [tool_call("track_order", order_id="A1"), tool_call("notify", order_id="A1")]

    agent = Agent(name="notifier", model=ScriptedModel(script), tools=[track_order, notify])
    clock = FakeClock()
    FAILURES["left"] = 2
    async with Runtime(store_url, tool_guard=ToolGuard(clock=clock)) as rt:
        for _ in range(2):
            await _one_call(rt, _agent())
        run = await rt.start(agent, "where is A1? tell them")
        assert (await run.result()).status == "waiting"
        run_id = run.run_id
    assert CALLS == ["A1", "A1"]
    # A new runtime: a fresh guard whose breaker is closed, and a tool that would work.
    async with Runtime(store_url, agents=[agent]) as rt:
        (pending,) = await rt.get(run_id).pending_approvals()
        await rt.approve(run_id, pending.approval_id, by="ana")
        result = await rt.get(run_id).result()
        events = [e.event async for e in rt.get(run_id).events(follow=False)]
    assert result.status == "completed"
    assert CALLS == ["A1", "A1"]  # the refused call stayed refused: it came from the log
    failed = [e for e in events if isinstance(e, ToolFailed) and e.tool == "track_order"]
    assert [f.error.error_code for f in failed] == ["circuit_open"]


async def test_policy_breakers_cover_tools_without_one_and_default_breaker(
    store_url: str,
) -> None:
    """``Policy(breakers={"track_*": ...})`` and ``ToolGuard(default_breaker=...)`` apply."""
    plain = dataclasses.replace(track_order, breaker=None)
    clock = FakeClock()
    FAILURES["left"] = 10
    async with Runtime(store_url, tool_guard=ToolGuard(clock=clock)) as rt:
        agent = _agent([plain], breakers={"track_*": Breaker(failures=1, reset_after=5)})
        events, _ = await _one_call(rt, agent)
        assert _changes(events) == [("closed", "open")]
    guard = ToolGuard(clock=clock, default_breaker=Breaker(failures=1, reset_after=5))
    async with Runtime(store_url, tool_guard=guard) as rt:
        events, _ = await _one_call(rt, _agent([plain]))
        assert _changes(events) == [("closed", "open")]
        _events, refused = await _one_call(rt, _agent([plain]))
        assert refused.error.error_code == "circuit_open"


# -- the guard on its own: MCP server keys, trials in flight, calls that never ran -----------


@dataclasses.dataclass(kw_only=True, slots=True, frozen=True, eq=False)
class _ServedContract(ToolContract):
    """A contract with a ``server`` like ``MCPToolContract``'s."""

    server: Any = None


def _served(name: str, server: str) -> ToolContract:
    @tool(name=name, retry=RetryPolicy(max_attempts=1))
    def remote(q: str) -> str:
        """A remote tool."""
        return q

    fields = {f.name: getattr(remote, f.name) for f in dataclasses.fields(ToolContract)}
    return _ServedContract(**fields, server=SimpleNamespace(name=server))


_DOWN = ToolError(error_code="transient", message="connection refused", retryable=True)


def test_an_mcp_servers_tools_share_one_breaker() -> None:
    """Failures of two tools of one server add up; an open server refuses all its tools."""
    clock = FakeClock()
    guard = ToolGuard(clock=clock)
    search, fetch = _served("search", "github"), _served("fetch", "github")
    policy = Policy(breakers={"mcp:github": Breaker(failures=2, reset_after=10)})
    assert breaker_key(search) == breaker_key(fetch) == "mcp:github"
    for contract in (search, fetch):
        verdict = guard.admit(contract, policy=policy, tenant=None)
        assert verdict.error is None and verdict.ticket is not None
        changes = guard.settle(verdict.ticket, _DOWN)
    assert [(c.key, c.tool, c.current) for c in changes] == [("mcp:github", "fetch", "open")]
    refused = guard.admit(search, policy=policy, tenant=None).error
    assert refused is not None and refused.error_code == "circuit_open"
    assert "MCP server github is unavailable" in refused.message


def test_one_trial_at_a_time_and_a_call_that_never_ran_frees_it() -> None:
    """Half-open lets one call through; a trial that never ran leaves the next one to try."""
    clock = FakeClock()
    guard = ToolGuard(clock=clock)
    first = guard.admit(track_order, policy=None, tenant=None)
    assert first.ticket is not None
    guard.settle(first.ticket, _DOWN)
    second = guard.admit(track_order, policy=None, tenant=None)
    assert second.ticket is not None
    guard.settle(second.ticket, _DOWN)
    clock.advance(30)
    trial = guard.admit(track_order, policy=None, tenant=None)
    assert [(c.previous, c.current) for c in trial.changes] == [("open", "half_open")]
    assert trial.ticket is not None and trial.ticket.probe
    waiting = guard.admit(track_order, policy=None, tenant=None).error
    assert waiting is not None and "a trial call is checking" in waiting.message
    assert guard.settle(trial.ticket, None, called=False) == []  # e.g. its arguments were bad
    again = guard.admit(track_order, policy=None, tenant=None)
    assert again.ticket is not None and again.ticket.probe and again.changes == ()
    (closed,) = guard.settle(again.ticket, None)
    assert (closed.previous, closed.current) == ("half_open", "closed")


def test_a_trial_whose_outcome_never_comes_back_stops_holding_the_breaker() -> None:
    """A trial admitted but never settled (its step ended first) holds it for reset_after only."""
    clock = FakeClock()
    guard = ToolGuard(clock=clock)
    for _ in range(2):
        verdict = guard.admit(track_order, policy=None, tenant=None)
        assert verdict.ticket is not None
        guard.settle(verdict.ticket, _DOWN)
    clock.advance(30)
    lost = guard.admit(track_order, policy=None, tenant=None)
    assert lost.ticket is not None and lost.ticket.probe  # never settled
    clock.advance(29)
    assert guard.admit(track_order, policy=None, tenant=None).error is not None
    clock.advance(1)
    retry = guard.admit(track_order, policy=None, tenant=None)
    assert retry.error is None and retry.ticket is not None and retry.ticket.probe
    (closed,) = guard.settle(retry.ticket, None)
    assert closed.current == "closed"


def test_a_success_resets_the_count_of_consecutive_failures() -> None:
    """Failures must be consecutive: fail, succeed, fail stays closed with failures=2."""
    guard = ToolGuard(clock=FakeClock())
    for error in (_DOWN, None, _DOWN):
        verdict = guard.admit(track_order, policy=None, tenant=None)
        assert verdict.ticket is not None
        assert guard.settle(verdict.ticket, error) == []
    assert guard.breaker_state("track_order") == "closed"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"failures": 0}, "failures must be a positive int"),
        ({"reset_after": 0}, "reset_after must be positive"),
        ({"reset_after": float("nan")}, "reset_after must be a number"),
    ],
)
def test_bad_breaker_settings_say_what_to_use(kwargs: dict[str, Any], message: str) -> None:
    """A breaker that cannot work is refused when the agent is defined."""
    with pytest.raises(AgentDefinitionError, match=message):
        Breaker(**kwargs)


def test_tool_rejects_a_breaker_that_is_not_one() -> None:
    """``@tool(breaker=5)`` names the type to use."""
    with pytest.raises(AgentDefinitionError, match="breaker must be a Breaker"):
        tool(name="lookup", breaker=5)(lambda q: q)  # type: ignore[arg-type]  # the wrong type is the test


async def test_breaker_moves_are_events_of_the_run_span(store_url: str) -> None:
    """Exported to OpenTelemetry as ``breaker.changed`` events of the run that saw them."""
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    from tether.observe import Tracing

    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracing = Tracing(provider)
    FAILURES["left"] = 1
    guard = ToolGuard(clock=FakeClock(), default_breaker=Breaker(failures=1, reset_after=5))
    try:
        async with Runtime(store_url, observers=[tracing], tool_guard=guard) as rt:
            plain = dataclasses.replace(track_order, breaker=None)
            await _one_call(rt, _agent([plain]))
    finally:
        tracing.close()
        provider.shutdown()
    (run_span,) = [s for s in exporter.get_finished_spans() if s.name == "invoke_agent shipping"]
    (event,) = [e for e in run_span.events if e.name == "breaker.changed"]
    assert dict(event.attributes or {}) == {
        "tether.breaker.key": "track_order",
        "gen_ai.tool.name": "track_order",
        "tether.breaker.from": "closed",
        "tether.breaker.to": "open",
        "tether.reason": "1 consecutive failed calls (last: track_order, transient: "
        "the shipping service answered 503)",
    }


def test_tether_show_prints_the_breaker_move(store_url: str) -> None:
    """The timeline has one line per move: which circuit, from, to, and why."""
    import asyncio

    from typer.testing import CliRunner

    from tether.cli import app

    FAILURES["left"] = 1
    guard = ToolGuard(clock=FakeClock(), default_breaker=Breaker(failures=1, reset_after=5))
    plain = dataclasses.replace(track_order, breaker=None)

    async def one_run() -> str:
        async with Runtime(store_url, tool_guard=guard) as rt:
            run = await rt.start(_agent([plain]), "where is A1?")
            await run.result()
            return run.run_id

    run_id = asyncio.run(one_run())
    result = CliRunner().invoke(app, ["show", run_id, "--store", store_url])
    assert result.exit_code == 0, result.output
    (line,) = [line for line in result.stdout.splitlines() if "breaker" in line]
    assert "circuit of track_order closed → open: 1 consecutive failed calls" in line


async def test_the_audit_record_names_the_breaker_move(store_url: str) -> None:
    """``tether audit`` lists the move among the run's decisions."""
    from tether.runtime import audit_run

    FAILURES["left"] = 1
    guard = ToolGuard(clock=FakeClock(), default_breaker=Breaker(failures=1, reset_after=5))
    plain = dataclasses.replace(track_order, breaker=None)
    async with Runtime(store_url, tool_guard=guard) as rt:
        run = await rt.start(_agent([plain]), "where is A1?")
        await run.result()
        report = await audit_run(rt, run.run_id)
    (entry,) = [e for e in report.entries if e.kind == "breaker.changed"]
    assert entry.summary.startswith("circuit of track_order closed -> open: 1 consecutive")
    assert (entry.fields["previous"], entry.fields["current"]) == ("closed", "open")


async def test_a_real_mcp_server_that_hangs_opens_one_breaker_for_all_its_tools(
    store_url: str,
) -> None:
    """A stdio MCP server's timed-out call opens ``mcp:shop``; its other tools are then refused."""
    import sys
    from pathlib import Path

    from tether.tools import MCPServer

    shop = Path(__file__).with_name("mcp_servers") / "shop.py"
    server = MCPServer.stdio(
        [sys.executable, str(shop)],
        name="shop",
        effects={"hang": "read", "search": "read"},
        timeout=0.5,
        retry=RetryPolicy(max_attempts=1),
    )
    await server.refresh()
    policy = Policy(breakers={"mcp:shop": Breaker(failures=1, reset_after=60)})

    def calling(call: Any) -> Agent:
        name = f"mcp-{call.name}"
        return Agent(
            name=name,
            model=ScriptedModel(_answer_with_result(call)),
            tools=[server],
            policy=policy,
        )

    try:
        async with Runtime(store_url, tool_guard=ToolGuard(clock=FakeClock())) as rt:
            events, hung = await _one_call(rt, calling(tool_call("hang")))
            assert hung.error.error_code == "timeout"
            (opened,) = [e for e in events if isinstance(e, BreakerChanged)]
            assert (opened.key, opened.tool, opened.current) == ("mcp:shop", "hang", "open")
            _events, refused = await _one_call(rt, calling(tool_call("search", query="mugs")))
            assert refused.error.error_code == "circuit_open"
            assert refused.attempt == 0
            assert "MCP server shop is unavailable" in refused.error.message
    finally:
        await server.aclose()
