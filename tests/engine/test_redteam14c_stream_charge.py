"""Red team 14c, hole 02: a streamed reply cut by an error event was charged nothing.

A provider streamed a whole reply of ``max_tokens`` tokens, then sent an in-stream error
event (``server_error``). The error's code says "failed before generation", so the attempt
was charged 0 and retried: under ``Budget(max_output_tokens=100)`` the provider generated
300 tokens over 3 calls while the run recorded 100. A stream that broke off after it began
is now charged the worst case, whatever the error's code.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from tether import Agent, Runtime
from tether.engine import ModelFailed
from tether.exceptions import ModelError
from tether.models import ModelRequest, ModelResponse, StreamDelta, Usage
from tether.policy import Budget, Policy


class _BreaksOff:
    """Streams ``max_tokens`` one-token deltas, then fails mid-reply on the first ``fail``
    calls (or before the first delta, with ``before=True``); answers after that."""

    def __init__(self, fail: int = 2, *, before: bool = False) -> None:
        self.fail = fail
        self.before = before
        self.calls = 0
        self.generated = 0

    @property
    def model_id(self) -> str:
        return "breaks-off"

    async def complete(self, request: ModelRequest) -> ModelResponse:
        return ModelResponse(text="done", finish_reason="stop", usage=Usage(output_tokens=1))

    async def stream(self, request: ModelRequest) -> AsyncIterator[StreamDelta | ModelResponse]:
        self.calls += 1
        cap = request.settings.max_tokens or 100
        failing = self.calls <= self.fail
        if failing and self.before:
            raise ModelError("overloaded", error_code="server_error", retryable=True)
        for _ in range(cap):
            self.generated += 1
            yield StreamDelta(kind="text", text="tok ")
        if failing:
            raise ModelError("internal error mid-reply", error_code="server_error", retryable=True)
        yield ModelResponse(
            text="tok " * cap, finish_reason="stop", usage=Usage(input_tokens=5, output_tokens=cap)
        )


async def _streamed(store_url: str, client: _BreaksOff) -> tuple[str, list[ModelFailed]]:
    agent = Agent(
        name="streams",
        model=client,
        policy=Policy(budget=Budget(max_output_tokens=100)),
    )
    async with Runtime(store_url) as rt:
        run = await rt.start(agent, "hi")
        async for _ in run.events(deltas=True):  # a listener: the call is streamed
            pass
        result = await run.result()
        events = [e.event async for e in run.events(follow=False)]
    return result.status, [e for e in events if isinstance(e, ModelFailed)]


async def test_a_stream_that_broke_off_mid_reply_is_charged_and_the_budget_holds(
    store_url: str,
) -> None:
    client = _BreaksOff(fail=2)
    status, failed = await _streamed(store_url, client)
    assert client.generated <= 100  # the budget's 100 output tokens, not 300
    assert client.calls == 1
    assert status == "failed"  # the next attempt would overshoot the budget
    (first,) = failed
    assert first.error_code == "server_error"
    assert first.charged is not None and first.charged.output_tokens == 100


async def test_a_stream_that_failed_before_its_first_token_is_charged_nothing(
    store_url: str,
) -> None:
    client = _BreaksOff(fail=1, before=True)
    status, failed = await _streamed(store_url, client)
    assert status == "completed"
    assert client.calls == 2 and client.generated == 100
    (first,) = failed
    assert first.charged is None
