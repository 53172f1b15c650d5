"""Rate limits per tool and per tenant (token buckets per process), and a tool-call ceiling.

The limits here say ``shared=False``: a fake clock drives this process's buckets. Shared
limits (buckets in the store) are tested in ``tests/runtime/test_shared_limits.py``.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from tether import Agent, Runtime, tool
from tether.engine import PolicyDecided, ToolCompleted, ToolFailed
from tether.exceptions import AgentDefinitionError, UserError
from tether.models import ModelRequest
from tether.policy import Budget, Policy, ToolGuard
from tether.testing import ScriptedModel, text, tool_call
from tether.tools import Breaker, RateLimit

CALLS: list[str] = []


class FakeClock:
    """Monotonic seconds that move only when the test says so."""

    def __init__(self) -> None:
        self.now = 500.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@tool(rate_limit=RateLimit(calls=2, per=60, shared=False))
def search_docs(query: str) -> str:
    """Search the documentation."""
    CALLS.append(query)
    return f"3 pages about {query}"


@tool
def lookup_order(order_id: str) -> str:
    """Look an order up."""
    CALLS.append(order_id)
    return f"order {order_id}: paid"


@pytest.fixture(autouse=True)
def _reset() -> None:
    CALLS.clear()


def _agent(call: Any, *, tools: list[Any] | None = None, **policy: Any) -> Agent:
    def script(req: ModelRequest) -> Any:
        if req.messages[-1].role == "tool":
            return text(f"tool said: {req.messages[-1].content}")
        return call

    return Agent(
        name="docs",
        model=ScriptedModel(script),
        tools=tools or [search_docs, lookup_order],
        policy=Policy(**policy),
    )


async def _outcome(rt: Runtime, agent: Agent, *, tenant: str | None = None) -> Any:
    run = await rt.start(agent, "help", tenant=tenant)
    assert (await run.result()).status == "completed"
    events = [e.event async for e in rt.get(run.run_id).events(follow=False)]
    (outcome,) = [e for e in events if isinstance(e, ToolCompleted | ToolFailed)]
    return outcome


async def test_per_tool_rate_limit_refuses_with_retry_after_until_tokens_refill(
    store_url: str,
) -> None:
    """2 calls per 60s: the third gets rate_limited (retry in 30s), and goes 30s later."""
    clock = FakeClock()
    agent = _agent(tool_call("search_docs", query="refunds"))
    async with Runtime(store_url, tool_guard=ToolGuard(clock=clock)) as rt:
        assert isinstance(await _outcome(rt, agent), ToolCompleted)
        assert isinstance(await _outcome(rt, agent), ToolCompleted)
        refused = await _outcome(rt, agent)
        assert isinstance(refused, ToolFailed) and refused.attempt == 0
        assert refused.error.error_code == "rate_limited"
        assert refused.error.retryable is True
        assert refused.error.details == {"retry_after": 30.0, "scope": "tool", "limit": "2/60s"}
        assert "wait 30s before calling search_docs again" in (refused.error.hint or "")
        assert len(CALLS) == 2
        clock.advance(29)
        again = await _outcome(rt, agent)
        assert again.error.details["retry_after"] == 1.0
        clock.advance(1)
        assert isinstance(await _outcome(rt, agent), ToolCompleted)
    assert len(CALLS) == 3


async def test_other_tools_are_not_limited_by_one_tools_bucket(store_url: str) -> None:
    """The bucket is the tool's: lookup_order goes on while search_docs is over its limit."""
    clock = FakeClock()
    search = _agent(tool_call("search_docs", query="x"))
    lookup = _agent(tool_call("lookup_order", order_id="7"))
    async with Runtime(store_url, tool_guard=ToolGuard(clock=clock)) as rt:
        for _ in range(2):
            await _outcome(rt, search)
        assert (await _outcome(rt, search)).error.error_code == "rate_limited"
        for _ in range(5):
            assert isinstance(await _outcome(rt, lookup), ToolCompleted)


async def test_per_tenant_rate_limit_counts_each_tenant_separately(store_url: str) -> None:
    """One call per 10s per tenant: acme's second call is refused, globex still gets one."""
    clock = FakeClock()
    agent = _agent(
        tool_call("lookup_order", order_id="7"),
        tenant_rate_limit=RateLimit(calls=1, per=10, shared=False),
    )
    async with Runtime(store_url, tool_guard=ToolGuard(clock=clock)) as rt:
        assert isinstance(await _outcome(rt, agent, tenant="acme"), ToolCompleted)
        refused = await _outcome(rt, agent, tenant="acme")
        assert refused.error.error_code == "rate_limited"
        assert refused.error.details == {
            "retry_after": 10.0,
            "scope": "tenant",
            "limit": "1/10s",
            "tenant": "acme",
        }
        assert "tenant 'acme' is over its tool-call rate limit" in refused.error.message
        assert isinstance(await _outcome(rt, agent, tenant="globex"), ToolCompleted)
        clock.advance(10)
        assert isinstance(await _outcome(rt, agent, tenant="acme"), ToolCompleted)
    assert CALLS == ["7", "7", "7"]


async def test_policy_rate_limits_by_name_and_the_model_reads_the_error(store_url: str) -> None:
    """``Policy(rate_limits={"lookup_*": ...})`` limits a tool whose contract sets none."""
    clock = FakeClock()
    seen: list[str] = []

    def script(req: ModelRequest) -> Any:
        if req.messages[-1].role == "tool":
            seen.append(req.messages[-1].content or "")
            return text("ok")
        return tool_call("lookup_order", order_id="7")

    agent = Agent(
        name="docs",
        model=ScriptedModel(script),
        tools=[lookup_order],
        policy=Policy(rate_limits={"lookup_*": RateLimit(calls=1, per=5, shared=False)}),
    )
    async with Runtime(store_url, tool_guard=ToolGuard(clock=clock)) as rt:
        for _ in range(2):
            run = await rt.start(agent, "where is 7?")
            assert (await run.result()).status == "completed"
    error = json.loads(seen[-1])
    assert (error["error_code"], error["details"]["retry_after"]) == ("rate_limited", 5.0)


async def test_max_wait_waits_for_the_token_instead_of_refusing(store_url: str) -> None:
    """Over the limit but within ``max_wait``: the call waits for its token and runs."""

    @tool(name="search_docs", rate_limit=RateLimit(calls=1, per=0.02, max_wait=5))
    def patient(query: str) -> str:
        """Search the documentation."""
        CALLS.append(query)
        return "found"

    agent = _agent(tool_call("search_docs", query="x"), tools=[patient])
    async with Runtime(store_url, tool_guard=ToolGuard(clock=FakeClock())) as rt:
        for _ in range(3):
            assert isinstance(await _outcome(rt, agent), ToolCompleted)
    assert CALLS == ["x", "x", "x"]


def test_a_refused_call_takes_no_token_and_no_breaker_trial() -> None:
    """Over the tenant's limit: the tool's own bucket is left as it was."""
    clock = FakeClock()
    guard = ToolGuard(clock=clock)
    policy = Policy(tenant_rate_limit=RateLimit(calls=1, per=100))
    assert guard.admit(search_docs, policy=policy, tenant="acme").error is None
    refused = guard.admit(search_docs, policy=policy, tenant="acme").error
    assert refused is not None and refused.details is not None
    assert refused.details["scope"] == "tenant"
    # The tool's bucket (2 per 60s) still has its second token for another tenant.
    assert guard.admit(search_docs, policy=policy, tenant="globex").error is None
    assert guard.admit(search_docs, policy=policy, tenant="initech").error is not None


# -- the run's tool-call ceiling -------------------------------------------------------------


def _counting_agent(budget: Budget) -> Agent:
    def script(req: ModelRequest) -> Any:
        last = req.messages[-1]
        if last.role == "tool" and "tool_call_limit" in (last.content or ""):
            return text("I looked up what I could: orders 0 and 1 are paid")
        calls = sum(1 for m in req.messages if m.role == "tool")
        return tool_call("lookup_order", order_id=str(calls))

    return Agent(
        name="ceiling",
        model=ScriptedModel(script),
        tools=[lookup_order],
        policy=Policy(budget=budget),
    )


async def test_tool_call_ceiling_refuses_the_call_and_the_run_still_answers(
    store_url: str,
) -> None:
    """``on_tool_limit="refuse"``: call 3 of 2 is not made; the model answers; run completes."""
    agent = _counting_agent(Budget(max_tool_calls=2, on_tool_limit="refuse"))
    async with Runtime(store_url) as rt:
        run = await rt.start(agent, "look up my orders")
        result = await run.result()
        events = [e.event async for e in rt.get(run.run_id).events(follow=False)]
    assert result.status == "completed"
    assert result.output == "I looked up what I could: orders 0 and 1 are paid"
    assert CALLS == ["0", "1"]
    refused = [e for e in events if isinstance(e, ToolFailed)]
    assert [e.error.error_code for e in refused] == ["tool_call_limit"]
    assert "2 tool calls allowed" in refused[0].error.message
    assert "answer with what you have" in (refused[0].error.hint or "")
    (decided,) = [e for e in events if isinstance(e, PolicyDecided)]
    assert (decided.action, decided.source, decided.rule) == ("deny", "budget", "tool_calls")


async def test_per_tool_ceiling_refuses_only_that_tool(store_url: str) -> None:
    """``max_calls_per_tool`` with ``on_tool_limit="refuse"`` is a ceiling per tool."""
    agent = _counting_agent(Budget(max_calls_per_tool={"lookup_order": 1}, on_tool_limit="refuse"))
    async with Runtime(store_url) as rt:
        run = await rt.start(agent, "look up my orders")
        result = await run.result()
    assert result.status == "completed"
    assert CALLS == ["0"]


async def test_without_refuse_the_limit_still_fails_the_run(store_url: str) -> None:
    """The default stays a hard limit: the run fails with budget_exceeded."""
    agent = _counting_agent(Budget(max_tool_calls=2))
    async with Runtime(store_url) as rt:
        run = await rt.start(agent, "look up my orders")
        result = await run.result()
    assert result.status == "failed"
    assert result.error is not None and result.error.error_code == "budget_exceeded"


def test_the_ceiling_setting_round_trips_and_leaves_old_budgets_as_they_were() -> None:
    """Pinned in run.created when set; a default budget's record has no new key."""
    assert "on_tool_limit" not in Budget(max_tool_calls=3).to_record()
    budget = Budget(max_tool_calls=3, on_tool_limit="refuse")
    assert Budget.from_record(budget.to_record()) == budget
    with pytest.raises(UserError, match="'fail' or 'refuse'"):
        Budget(on_tool_limit="maybe")  # type: ignore[arg-type]  # the wrong value is the test


def test_breakers_and_rate_limits_do_not_change_the_agent_version() -> None:
    """They are operational settings of a process: tuning one pins no run to a new version."""
    base = Agent(name="docs", model=ScriptedModel([text("hi")]), tools=[lookup_order])
    tuned = Agent(
        name="docs",
        model=ScriptedModel([text("hi")]),
        tools=[lookup_order],
        policy=Policy(
            rate_limits={"*": RateLimit(calls=5)},
            breakers={"*": Breaker()},
            tenant_rate_limit=RateLimit(calls=9),
        ),
    )
    assert base.version == tuned.version


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"calls": 0}, "positive number of calls"),
        ({"calls": 1, "per": -1}, "positive number of calls"),
        ({"calls": 1, "burst": 0}, "burst must be at least 1"),
        ({"calls": 1, "max_wait": -1}, "max_wait must not be negative"),
        ({"calls": float("inf")}, "calls must be a number"),
    ],
)
def test_bad_rate_limits_say_what_to_use(kwargs: dict[str, Any], message: str) -> None:
    """A rate limit that cannot work is refused when it is written."""
    with pytest.raises(AgentDefinitionError, match=message):
        RateLimit(**kwargs)
