"""Provider rate limits in one process: token buckets for requests and tokens per minute.

A fake clock advanced by a fake sleep shows every wait the pacer asks for, so nothing
here depends on real time.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from tether import Agent, Runtime
from tether.exceptions import UserError
from tether.models import ModelRequest, Usage
from tether.runtime import ModelLimit
from tether.runtime._limits import ModelPacer
from tether.testing import ScriptedModel, text, tool_call


class FakeTime:
    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def _pacer(limits: dict[str, ModelLimit], fake: FakeTime) -> ModelPacer:
    return ModelPacer(limits, clock=fake.clock, sleep=fake.sleep)


def test_requests_per_minute_allow_a_burst_then_space_calls() -> None:
    fake = FakeTime()
    pacer = _pacer({"openai": ModelLimit(requests_per_minute=60)}, fake)

    async def calls(n: int) -> None:
        for _ in range(n):
            await pacer.before("openai:gpt-4o")

    asyncio.run(calls(60))
    assert fake.sleeps == []  # a full minute's worth goes at once
    asyncio.run(calls(2))
    assert fake.sleeps == [pytest.approx(1.0), pytest.approx(1.0)]  # then one a second


def test_tokens_are_paid_after_the_reply_and_a_debt_makes_the_next_call_wait() -> None:
    fake = FakeTime()
    pacer = _pacer({"anthropic": ModelLimit(tokens_per_minute=600)}, fake)
    asyncio.run(pacer.before("anthropic:claude"))
    pacer.after("anthropic:claude", Usage(input_tokens=1000, output_tokens=200))
    asyncio.run(pacer.before("anthropic:claude"))
    assert fake.sleeps == [pytest.approx(60.0)]  # 600 tokens of debt at 10 per second


def test_an_exact_model_id_wins_over_its_provider_and_others_are_not_limited() -> None:
    fake = FakeTime()
    limits = {
        "openai": ModelLimit(requests_per_minute=1000),
        "openai:gpt-4o": ModelLimit(requests_per_minute=1),
    }
    pacer = _pacer(limits, fake)

    async def calls() -> None:
        for _ in range(2):
            await pacer.before("openai:gpt-4o")
        for _ in range(5):
            await pacer.before("openai:gpt-4o-mini")  # the provider-wide limit
            await pacer.before("local:qwen")  # no limit at all

    asyncio.run(calls())
    assert fake.sleeps == [pytest.approx(60.0)]


def test_a_limit_must_be_positive() -> None:
    with pytest.raises(UserError, match="must be positive"):
        ModelLimit(requests_per_minute=0)


def _two_turns(req: ModelRequest) -> Any:
    if any(m.role == "tool" for m in req.messages):
        return text("done")
    return tool_call("noop")


def test_a_runtime_paces_every_model_call_of_its_runs(store_url: str) -> None:
    """Runtime(model_limits=...) puts the pacer in front of each model call a run makes."""
    from tether import tool

    @tool
    def noop() -> str:
        """Do nothing."""
        return "ok"

    agent = Agent(name="paced", model=ScriptedModel(_two_turns), tools=[noop])
    fake = FakeTime()

    async def main() -> None:
        limits = {"scripted": ModelLimit(requests_per_minute=1)}
        async with Runtime(store_url, agents=[agent], model_limits=limits) as rt:
            assert isinstance(rt.governance.model_pacing, ModelPacer)
            rt.governance.model_pacing = _pacer(limits, fake)  # the same limits, fake time
            result = await (await rt.start(agent, "go")).result(timeout=60)
            assert result.status == "completed"

    asyncio.run(main())
    assert fake.sleeps == [pytest.approx(60.0)]  # the second call waited its minute
