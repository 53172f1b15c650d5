"""Each budget dimension, alone: the run stops for exactly that limit, never past it.

Every other test of budgets sets several limits at once, where one that trips
first can hide another that does not work. Here each test sets one dimension
of :class:`tether.policy.Budget` and nothing else, against a model that would
call tools forever (``max_turns`` is far away, every call has new arguments so
loop detection stays quiet), and checks that the failure names that dimension.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from tether import Agent, Runtime, tool
from tether.models import ModelRequest, Price, PricingTable
from tether.policy import Budget, Policy
from tether.runtime import RunResult
from tether.testing import ScriptedModel, tool_call

sys.path.insert(0, str(Path(__file__).parent))
from _clock import RunClock

FAR = 1_000  # max_turns: never the limit that stops these runs


@tool
def lookup(n: int) -> str:
    """Look something up (a longish result, so prompts grow every turn)."""
    return f"result {n}: " + "lorem ipsum " * 20


@tool
def other(n: int) -> str:
    """Another tool, with no limit of its own."""
    return f"other {n}"


def _forever(req: ModelRequest) -> Any:
    """A model that never answers: a new lookup every turn."""
    return tool_call("lookup", n=len(req.messages))


def _agent(budget: Budget, script: Any = _forever, **settings: Any) -> Agent:
    return Agent(
        name="spender",
        instructions="Find everything.",
        model=ScriptedModel(script),
        tools=[lookup, other],
        max_turns=FAR,
        policy=Policy(budget=budget),
        **settings,
    )


async def _run(store_url: str, agent: Agent, **runtime: Any) -> RunResult:
    async with Runtime(store_url, recover=False, **runtime) as rt:
        return await (await rt.start(agent, "go")).result(timeout=60)


def _stopped_for(result: RunResult, dimension: str, words: str) -> dict[str, float]:
    """Assert the run failed on ``dimension`` alone; return that dimension's use."""
    assert result.status == "failed", result
    assert result.error is not None
    assert result.error.error_code == "budget_exceeded", result.error
    assert result.error.details["dimension"] == dimension, result.error
    assert words in result.error.message, result.error.message
    usage: dict[str, dict[str, float]] = result.error.details["usage"]
    assert list(usage) == [dimension], "only the one limit that was set is reported"
    return usage[dimension]


async def test_max_model_calls_alone(store_url: str) -> None:
    """Model calls stop at the limit: the refused call is never made."""
    result = await _run(store_url, _agent(Budget(max_model_calls=3)))
    use = _stopped_for(result, "model_calls", "model calls")
    assert use == {"used": 3, "limit": 3}
    assert result.usage.model_calls == 3


async def test_max_tool_calls_alone(store_url: str) -> None:
    """Tool calls stop at the limit, whichever tools they were."""
    result = await _run(store_url, _agent(Budget(max_tool_calls=4)))
    use = _stopped_for(result, "tool_calls", "tool calls")
    assert use == {"used": 4, "limit": 4}
    assert result.usage.tool_calls == 4


async def test_max_calls_per_tool_alone(store_url: str) -> None:
    """A per-tool limit stops that tool's calls; the other tool is not counted against it."""

    def alternate(req: ModelRequest) -> Any:
        turn = len(req.messages)
        return tool_call("lookup" if turn % 4 == 1 else "other", n=turn)

    result = await _run(
        store_url, _agent(Budget(max_calls_per_tool={"lookup": 2}), script=alternate)
    )
    use = _stopped_for(result, "tool_calls:lookup", "2 calls of 'lookup'")
    assert use == {"used": 2, "limit": 2}
    assert result.usage.tool_calls == 4  # lookup, other, lookup, other; the third lookup stops it


async def test_max_input_tokens_alone(store_url: str) -> None:
    """Prompt tokens are checked before each call against an over-estimate: never crossed."""
    limit = 1_500
    result = await _run(store_url, _agent(Budget(max_input_tokens=limit)))
    use = _stopped_for(result, "input_tokens", "input tokens")
    assert use["limit"] == limit
    assert 0 < result.usage.input_tokens <= limit
    assert result.usage.model_calls >= 2, "the limit should stop the run mid-way, not at once"


async def test_max_output_tokens_alone(store_url: str) -> None:
    """Reply tokens: the last call's ``max_tokens`` is capped to what is left, then it stops."""
    limit = 20
    result = await _run(store_url, _agent(Budget(max_output_tokens=limit)))
    use = _stopped_for(result, "output_tokens", "output tokens")
    assert use == {"used": limit, "limit": limit}
    assert result.usage.output_tokens == limit
    assert result.usage.model_calls >= 2


async def test_max_cost_usd_alone(store_url: str) -> None:
    """Cost is priced from the pricing table before each call and never crossed."""
    pricing = PricingTable(
        {
            "scripted": Price(
                input_per_mtok=1_000.0, cached_input_per_mtok=100.0, output_per_mtok=4_000.0
            )
        }
    )
    # Before each call the gate prices its worst case (the full default reply), about $4
    # here: a $10 budget admits a few calls, then refuses the one that could cross it.
    limit = 10.0
    result = await _run(store_url, _agent(Budget(max_cost_usd=limit)), pricing=pricing)
    use = _stopped_for(result, "cost_usd", "$")
    assert use["limit"] == limit
    assert 0 < result.usage.cost_usd <= limit
    assert result.usage.model_calls >= 2


async def test_max_wall_seconds_alone(store_url: str, run_clock: RunClock) -> None:
    """Running time stops the run, measured on a clock the test drives (no sleeping).

    Each tool call advances the run's clock by ten seconds. With a 25-second budget,
    the model call after the third tool call is refused: exactly three tool calls,
    whatever the machine's speed.
    """

    @tool
    def slow(n: int) -> str:
        """Takes ten (clock) seconds."""
        run_clock.advance(10.0)
        return f"slow {n}"

    agent = Agent(
        name="slowpoke",
        model=ScriptedModel(lambda req: tool_call("slow", n=len(req.messages))),
        tools=[slow],
        max_turns=FAR,
        policy=Policy(budget=Budget(max_wall_seconds=25)),
    )
    result = await _run(store_url, agent)
    use = _stopped_for(result, "wall_seconds", "running time")
    assert use["limit"] == 25
    assert 30 <= use["used"] < 40
    assert result.usage.tool_calls == 3


async def test_time_parked_for_approval_does_not_count(store_url: str, run_clock: RunClock) -> None:
    """An hour waiting for a person costs nothing of the running-time budget.

    Ten clock seconds of work, then the run parks for an approval while the clock
    jumps an hour; after the approval it works on and stops only when its own
    running time (30-40 s) crosses the 25-second budget.
    """
    refunds: list[str] = []

    @tool
    def slow(n: int) -> str:
        """Takes ten (clock) seconds."""
        run_clock.advance(10.0)
        return f"slow {n}"

    @tool(effect="write", idempotent=True, requires_approval=True)
    def refund(order_id: str) -> str:
        """Refund an order (a person approves every refund)."""
        refunds.append(order_id)
        return "refunded"

    def script(req: ModelRequest) -> Any:
        turn = len(req.messages)
        return tool_call("refund", order_id="1234") if turn == 3 else tool_call("slow", n=turn)

    agent = Agent(
        name="patient",
        model=ScriptedModel(script),
        tools=[slow, refund],
        max_turns=FAR,
        policy=Policy(budget=Budget(max_wall_seconds=25)),
    )
    async with Runtime(store_url, recover=False) as rt:
        run = await rt.start(agent, "go")
        parked = await run.result(timeout=60)
        assert parked.status == "waiting", parked
        (pending,) = await run.pending_approvals()
        run_clock.advance(3600.0)
        await rt.approve(run.run_id, pending.call_id, by="ana@example.com")
        result = await run.result(timeout=60)
    use = _stopped_for(result, "wall_seconds", "running time")
    assert 30 <= use["used"] < 40, "time parked was counted as running time"
    assert refunds == ["1234"]
    assert result.usage.tool_calls == 4  # slow, refund, slow, slow
