"""Every model call attempt is a model call to the budget (red team 8, hole 01).

The budget was checked once per call, before the retries and the Router's fallbacks, and
a failed attempt counted nothing: ``Budget(max_model_calls=1, max_output_tokens=200)``
let six provider calls through, each of which may have billed a whole reply. Now each
attempt is checked (and capped) before it is made, a failed attempt counts as a call,
and one whose outcome is unknown (a timeout: the provider may have generated the reply)
is charged its worst case: the estimated input and its ``max_tokens``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from tether import Agent, Runtime
from tether.engine import ModelFailed
from tether.exceptions import ModelError
from tether.models import ModelRequest, ModelResponse, Router, StreamDelta, Usage
from tether.policy import Budget, Policy
from tether.tools import RetryPolicy

NO_WAIT = RetryPolicy(max_attempts=3, initial_delay=0.0, max_delay=0.0, jitter=False)


class Failing:
    """A provider whose first ``failures`` calls fail with ``code``; then it answers."""

    def __init__(self, model_id: str, calls: list[str], code: str, failures: int) -> None:
        self.model_id = model_id
        self.calls = calls
        self.code = code
        self.failures = failures

    async def complete(self, request: ModelRequest) -> ModelResponse:
        self.calls.append(f"{self.model_id}:{request.settings.max_tokens}")
        if len(self.calls) <= self.failures:
            raise ModelError(f"{self.model_id}: {self.code}", error_code=self.code, retryable=True)
        return ModelResponse(text="done", usage=Usage(input_tokens=10, output_tokens=5))

    async def stream(self, request: ModelRequest) -> AsyncIterator[StreamDelta | ModelResponse]:
        yield await self.complete(request)


async def _run(tmp_path: Path, model: Any, budget: Budget) -> tuple[Any, list[ModelFailed]]:
    agent = Agent(name="flaky", model=model, model_retry=NO_WAIT, policy=Policy(budget=budget))
    async with Runtime(f"sqlite:///{tmp_path}/t.db") as rt:
        run = await rt.start(agent, "hi")
        result = await run.result(timeout=30)
        failed = [
            e.event
            async for e in rt.get(run.run_id).events(follow=False)
            if isinstance(e.event, ModelFailed)
        ]
    return result, failed


async def test_a_retry_or_fallback_the_budget_no_longer_allows_is_not_made(tmp_path: Path) -> None:
    calls: list[str] = []
    router = Router(
        default=Failing("a", calls, "timeout", 5), fallbacks=[Failing("b", calls, "timeout", 5)]
    )
    result, failed = await _run(tmp_path, router, Budget(max_model_calls=1, max_output_tokens=200))
    assert calls == ["a:200"]  # one provider call, capped; no fallback, no retry
    assert result.status == "failed" and result.error is not None
    assert result.error.error_code == "budget_exceeded", result.error
    (only,) = failed
    assert only.charged is not None and only.charged.output_tokens == 200


async def test_a_timed_out_attempt_is_charged_its_worst_case_in_output_tokens(
    tmp_path: Path,
) -> None:
    """300 tokens allowed: the first attempt may have used 300 (its cap), so no retry."""
    calls: list[str] = []
    result, failed = await _run(
        tmp_path,
        Failing("a", calls, "timeout", 1),
        Budget(max_model_calls=10, max_output_tokens=300),
    )
    assert calls == ["a:300"]
    assert result.status == "failed" and result.error is not None
    assert result.error.error_code == "budget_exceeded"
    assert [f.charged.output_tokens for f in failed if f.charged] == [300]


async def test_attempts_refused_before_generation_count_as_calls_but_charge_nothing(
    tmp_path: Path,
) -> None:
    """Two 429s, then an answer: three calls, within a budget of three; nothing charged."""
    calls: list[str] = []
    result, failed = await _run(
        tmp_path,
        Failing("a", calls, "rate_limited", 2),
        Budget(max_model_calls=3, max_output_tokens=300),
    )
    assert result.status == "completed", result.error
    assert len(calls) == 3
    assert [f.charged for f in failed] == [None, None]


async def test_two_429s_exhaust_a_budget_of_two_calls(tmp_path: Path) -> None:
    calls: list[str] = []
    result, _ = await _run(
        tmp_path, Failing("a", calls, "rate_limited", 5), Budget(max_model_calls=2)
    )
    assert len(calls) == 2
    assert result.status == "failed" and result.error is not None
    assert result.error.error_code == "budget_exceeded"
