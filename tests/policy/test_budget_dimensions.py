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
from tether.models import ModelRequest, ModelSettings, Price, PricingTable, Router
from tether.policy import Budget, Policy, Use, check_model_call
from tether.policy._budget import DEFAULT_REPLY_TOKENS
from tether.runtime import RunResult
from tether.testing import ScriptedModel, text, tool_call

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
    # Before each call the gate caps the reply to what the dollars left can pay for and
    # prices that worst case: a $10 budget admits calls until not even a one-token reply
    # on top of the prompt fits, then refuses the call that could cross it.
    limit = 10.0
    result = await _run(store_url, _agent(Budget(max_cost_usd=limit)), pricing=pricing)
    use = _stopped_for(result, "cost_usd", "$")
    assert use["limit"] == limit
    assert 0 < result.usage.cost_usd <= limit
    assert result.usage.model_calls >= 2


def _rambler(seen: list[int | None], words: int = 200_000) -> Any:
    """A model that answers with a very long text, noting each request's ``max_tokens``."""

    def script(req: ModelRequest) -> Any:
        seen.append(req.settings.max_tokens)
        return text("word " * words)

    return script


async def test_max_cost_usd_caps_the_reply_it_prices(store_url: str) -> None:
    """A model that rambles cannot spend past the limit: ``max_tokens`` is what $ can buy.

    The gate used to price a 1024-token reply without sending any cap, so one long reply
    spent $2 of a $0.01 budget.
    """
    seen: list[int | None] = []
    agent = Agent(
        name="writer",
        model=ScriptedModel(_rambler(seen), model_id="openai:gpt-4.1"),
        policy=Policy(budget=Budget(max_cost_usd=0.01)),
    )
    result = await _run(store_url, agent)
    assert result.status == "completed", result
    assert 0 < result.usage.cost_usd <= 0.01
    (cap,) = seen
    # $8 per million output tokens: 0.01 / 8e-6 = 1250, less the prompt's worst case.
    assert cap is not None and 1_000 < cap < 1_250
    assert result.usage.output_tokens == cap


async def test_max_cost_usd_never_raises_a_cap_the_request_set(store_url: str) -> None:
    """The dollar cap only lowers ``max_tokens``: a smaller cap of the agent's is kept."""
    seen: list[int | None] = []
    agent = Agent(
        name="writer",
        model=ScriptedModel(_rambler(seen), model_id="openai:gpt-4.1"),
        model_settings=ModelSettings(max_tokens=50),
        policy=Policy(budget=Budget(max_cost_usd=0.01)),
    )
    result = await _run(store_url, agent)
    assert seen == [50] and result.usage.output_tokens == 50


async def test_max_cost_usd_with_no_cap_sets_the_default_reply_cap(store_url: str) -> None:
    """With dollars for more, a request without ``max_tokens`` gets the default reply cap."""
    seen: list[int | None] = []
    agent = Agent(
        name="writer",
        model=ScriptedModel(_rambler(seen), model_id="openai:gpt-4.1"),
        policy=Policy(budget=Budget(max_cost_usd=100.0)),
    )
    result = await _run(store_url, agent)
    assert seen == [DEFAULT_REPLY_TOKENS] and result.usage.output_tokens == DEFAULT_REPLY_TOKENS


async def test_max_cost_usd_refuses_when_not_one_output_token_is_affordable(
    store_url: str,
) -> None:
    """A budget that cannot pay for the prompt and one token refuses the call, as before."""
    seen: list[int | None] = []
    agent = Agent(
        name="writer",
        instructions="x" * 30_000,  # ~10,000 prompt tokens: $0.02 on gpt-4.1
        model=ScriptedModel(_rambler(seen), model_id="openai:gpt-4.1"),
        policy=Policy(budget=Budget(max_cost_usd=0.01)),
    )
    result = await _run(store_url, agent)
    _stopped_for(result, "cost_usd", "even with a one-token reply")
    assert seen == [] and result.usage.model_calls == 0


ROUTER_PRICES = PricingTable(
    {
        "cheap": Price(input_per_mtok=1.0, cached_input_per_mtok=0.1, output_per_mtok=2.0),
        "dear": Price(input_per_mtok=2.0, cached_input_per_mtok=0.2, output_per_mtok=20.0),
    }
)


async def test_a_router_is_priced_at_its_most_expensive_candidate(store_url: str) -> None:
    """A router has no price of its own: the call is capped for the dearest model it may use.

    It used to be refused outright ("no known price"), so no routed agent could have a cost
    budget.
    """
    seen: list[int | None] = []
    router = Router(
        default=ScriptedModel(_rambler(seen), model_id="cheap"),
        fallbacks=[ScriptedModel(_rambler([]), model_id="dear")],
    )
    agent = Agent(name="routed", model=router, policy=Policy(budget=Budget(max_cost_usd=0.01)))
    result = await _run(store_url, agent, pricing=ROUTER_PRICES)
    assert result.status == "completed", result
    (cap,) = seen
    # "dear" bills $20 per million output tokens: 0.01 / 2e-5 = 500, less the prompt.
    assert cap is not None and 400 < cap < 500
    assert 0 < result.usage.cost_usd <= 0.01


async def test_a_router_with_an_unpriced_candidate_is_refused_naming_it(store_url: str) -> None:
    """If any model the call may reach has no price, the cost cannot be bounded: refuse."""
    router = Router(
        default=ScriptedModel([text("hi")], model_id="cheap"),
        fallbacks=[ScriptedModel([text("hi")], model_id="mystery:model")],
    )
    agent = Agent(name="routed", model=router, policy=Policy(budget=Budget(max_cost_usd=1.0)))
    result = await _run(store_url, agent, pricing=ROUTER_PRICES)
    _stopped_for(result, "cost_usd", "model 'mystery:model', which this call may be routed to")
    assert "no known price" in (result.error.message if result.error else "")
    assert result.usage.model_calls == 0


def test_check_model_call_caps_to_the_dearest_of_several_prices() -> None:
    """The pure check: a mapping of prices caps the reply for the most expensive one."""
    request = ModelRequest(messages=[])
    use = Use(
        model_calls=0,
        tool_calls=0,
        tool_counts={},
        input_tokens=0,
        output_tokens=0,
        cost_usd=0.0,
        wall_seconds=0.0,
    )
    budget = Budget(max_cost_usd=0.001)

    def per_output_token(dollars: float) -> Any:
        return lambda usage: usage.output_tokens * dollars

    one = check_model_call(budget, use, request, per_output_token(1e-6))
    both = check_model_call(
        budget, use, request, {"a": per_output_token(1e-6), "b": per_output_token(1e-5)}
    )
    assert (one, both) == (1_000, 100)
    assert (
        check_model_call(
            budget,
            use,
            request.model_copy(update={"settings": ModelSettings(max_tokens=7)}),
            per_output_token(1e-6),
        )
        == 7
    )
    assert check_model_call(Budget(), use, request, lambda usage: None) is None


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
