"""Model failures are classified, journaled per attempt, retried or fallen back from."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from tether import Agent, RetryPolicy, Runtime
from tether.engine import ModelCompleted, ModelFailed
from tether.exceptions import ModelError
from tether.models import ModelRequest, ModelResponse, Router, StreamDelta
from tether.testing import ScriptedModel, text

FAST = RetryPolicy(max_attempts=3, initial_delay=0.001, max_delay=0.002)


class Flaky:
    """Fails with the given errors first, then answers."""

    def __init__(self, name: str, errors: list[BaseException]) -> None:
        self._errors = list(errors)
        self.name = name
        self.calls = 0

    @property
    def model_id(self) -> str:
        return f"test:{self.name}"

    async def complete(self, request: ModelRequest) -> ModelResponse:
        self.calls += 1
        if self._errors:
            raise self._errors.pop(0)
        return ModelResponse(text=f"answer from {self.name}")

    async def stream(self, request: ModelRequest) -> AsyncIterator[StreamDelta | ModelResponse]:
        yield await self.complete(request)


def _rate_limited() -> ModelError:
    return ModelError("slow down", error_code="rate_limited", retryable=True, retry_after=0.01)


async def _events(agent: Agent, store_url: str) -> tuple[Any, list[Any]]:
    async with Runtime(store_url) as rt:
        run = await rt.start(agent, "hi")
        result = await run.result(timeout=30)
        return result, [e.event async for e in run.events(follow=False)]


async def test_retryable_errors_are_retried_and_every_attempt_is_an_event(store_url: str) -> None:
    """Two rate limits then success: two model.failed events, then model.completed."""
    model = Flaky("a", [_rate_limited(), TimeoutError()])
    result, events = await _events(Agent(name="r", model=model, model_retry=FAST), store_url)
    assert result.status == "completed" and result.output == "answer from a"
    failed = [e for e in events if isinstance(e, ModelFailed)]
    assert [(f.error_code, f.attempt, f.will_retry) for f in failed] == [
        ("rate_limited", 1, True),
        ("timeout", 2, True),
    ]
    assert failed[0].retry_after == 0.01
    (done,) = [e for e in events if isinstance(e, ModelCompleted)]
    assert done.attempt == 3


async def test_non_retryable_error_fails_the_run_with_its_classification(store_url: str) -> None:
    """An auth error is not retried: the run fails with model_auth and the reason."""
    model = Flaky("a", [ModelError("bad key", error_code="auth", status_code=401)])
    result, events = await _events(Agent(name="r", model=model, model_retry=FAST), store_url)
    assert result.status == "failed"
    assert result.error.error_code == "model_auth"
    assert "bad key" in result.error.message
    assert model.calls == 1
    assert [e.will_retry for e in events if isinstance(e, ModelFailed)] == [False]


async def test_exhausted_retries_fail_the_run_never_hang(store_url: str) -> None:
    """A provider that keeps failing ends the run after max_attempts, with a reason."""
    model = Flaky("a", [_rate_limited() for _ in range(10)])
    result, events = await _events(Agent(name="r", model=model, model_retry=FAST), store_url)
    assert result.status == "failed" and result.error.error_code == "model_rate_limited"
    assert model.calls == 3
    assert [e.will_retry for e in events if isinstance(e, ModelFailed)] == [True, True, False]


async def test_router_falls_back_along_the_chain_and_journals_each_model(store_url: str) -> None:
    """The routed model is overloaded; the fallback answers; both attempts are recorded."""
    primary = Flaky("primary", [ModelError("busy", error_code="overloaded", retryable=True)])
    backup = Flaky("backup", [])
    router = Router(default=primary, fallbacks=[backup])
    result, events = await _events(Agent(name="r", model=router, model_retry=FAST), store_url)
    assert result.output == "answer from backup"
    (failed,) = [e for e in events if isinstance(e, ModelFailed)]
    assert failed.model == "test:primary" and failed.will_retry
    (done,) = [e for e in events if isinstance(e, ModelCompleted)]
    assert done.response.model == "test:backup"


async def test_router_routes_by_step_kind(store_url: str) -> None:
    """Each step kind can use its own model."""
    finalizer = ScriptedModel([text("from finalize model")], model_id="finalizer")
    actor = ScriptedModel([text("from act model")], model_id="actor")
    router = Router({"finalize": finalizer}, default=actor)
    result, _ = await _events(Agent(name="r", model=router), store_url)
    assert result.output == "from act model"
    assert router.candidates("finalize")[0] is finalizer
