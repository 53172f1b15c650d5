"""Router: per-step-kind routing and fallback on retryable errors only."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence

import pytest

from tether.exceptions import ModelError
from tether.models._errors import ModelErrorCode, model_error
from tether.models._router import Router
from tether.models._types import (
    Message,
    ModelClient,
    ModelRequest,
    ModelResponse,
    StepKind,
    StreamDelta,
)


class FakeModel:
    """Answers with its own name, or raises the configured error (before or mid-stream)."""

    def __init__(
        self,
        name: str,
        *,
        error: BaseException | None = None,
        fail_after_first_delta: bool = False,
        stamp: bool = True,
    ) -> None:
        self.name = name
        self.error = error
        self.fail_after_first_delta = fail_after_first_delta
        self.stamp = stamp
        self.calls = 0
        self.closed = False

    @property
    def model_id(self) -> str:
        return self.name

    def _reply(self) -> ModelResponse:
        return ModelResponse(text=self.name, model=self.name if self.stamp else "")

    async def complete(self, request: ModelRequest) -> ModelResponse:
        self.calls += 1
        if self.error is not None:
            raise self.error
        return self._reply()

    async def stream(self, request: ModelRequest) -> AsyncIterator[StreamDelta | ModelResponse]:
        self.calls += 1
        if self.error is not None and not self.fail_after_first_delta:
            raise self.error
        yield StreamDelta(kind="text", text=self.name)
        if self.error is not None:
            raise self.error
        yield self._reply()

    async def aclose(self) -> None:
        self.closed = True


def request(kind: StepKind = "act") -> ModelRequest:
    return ModelRequest(messages=[Message(role="user", content="hi")], step_kind=kind)


def overloaded() -> ModelError:
    return model_error(ModelErrorCode.OVERLOADED, "overloaded", status_code=529, retry_after=3.0)


def bad_request() -> ModelError:
    return model_error(ModelErrorCode.INVALID_REQUEST, "bad", status_code=400)


def test_router_is_a_model_client() -> None:
    router: ModelClient = Router(default=FakeModel("a"))  # also checked statically by mypy
    assert isinstance(router, ModelClient)


async def test_routes_by_step_kind_and_uses_default_otherwise() -> None:
    cheap, strong = FakeModel("cheap"), FakeModel("strong")
    router = Router({"summarize": cheap, "finalize": cheap}, default=strong)
    assert (await router.complete(request("summarize"))).text == "cheap"
    assert (await router.complete(request("act"))).text == "strong"
    assert (cheap.calls, strong.calls) == (1, 1)


async def test_retryable_error_falls_back_and_records_who_answered() -> None:
    primary = FakeModel("primary", error=overloaded())
    backup = FakeModel("backup", stamp=False)
    router = Router(default=primary, fallbacks=[backup])
    response = await router.complete(request())
    assert response.text == "backup"
    assert response.model == "backup"
    assert (primary.calls, backup.calls) == (1, 1)


async def test_timeout_falls_back() -> None:
    primary = FakeModel("primary", error=TimeoutError())
    router = Router(default=primary, fallbacks=[FakeModel("backup")])
    assert (await router.complete(request())).model == "backup"


async def test_non_retryable_error_is_raised_without_fallback() -> None:
    primary = FakeModel("primary", error=bad_request())
    backup = FakeModel("backup")
    router = Router(default=primary, fallbacks=[backup])
    with pytest.raises(ModelError) as info:
        await router.complete(request())
    assert info.value.error_code == "invalid_request"
    assert backup.calls == 0


async def test_non_retryable_error_from_a_fallback_stops_the_chain() -> None:
    third = FakeModel("third")
    router = Router(
        default=FakeModel("a", error=overloaded()),
        fallbacks=[FakeModel("b", error=bad_request()), third],
    )
    with pytest.raises(ModelError, match="bad"):
        await router.complete(request())
    assert third.calls == 0


async def test_when_every_model_fails_the_last_error_is_raised_with_the_attempts() -> None:
    router = Router(
        default=FakeModel("a", error=overloaded()),
        fallbacks=[FakeModel("b", error=TimeoutError("slow"))],
    )
    with pytest.raises(ModelError) as info:
        await router.complete(request())
    error = info.value
    assert error.error_code == "timeout"
    assert error.retryable
    assert error.context["attempts"] == [
        {"model": "a", "error_code": "overloaded"},
        {"model": "b", "error_code": "timeout"},
    ]
    assert "a (overloaded)" in error.message


async def test_routed_model_is_not_tried_twice_when_also_a_fallback() -> None:
    primary = FakeModel("primary", error=overloaded())
    router = Router(default=primary, fallbacks=[primary, FakeModel("backup")])
    assert [c.model_id for c in router.candidates("act")] == ["primary", "backup"]
    await router.complete(request())
    assert primary.calls == 1


async def test_stream_falls_back_before_the_first_delta() -> None:
    router = Router(default=FakeModel("a", error=overloaded()), fallbacks=[FakeModel("b")])
    items = [item async for item in router.stream(request())]
    assert items == [StreamDelta(kind="text", text="b"), ModelResponse(text="b", model="b")]


async def test_stream_does_not_splice_replies_after_the_first_delta() -> None:
    backup = FakeModel("b")
    router = Router(
        default=FakeModel("a", error=overloaded(), fail_after_first_delta=True),
        fallbacks=[backup],
    )
    seen: list[StreamDelta | ModelResponse] = []
    with pytest.raises(ModelError, match="overloaded"):
        async for item in router.stream(request()):
            seen.append(item)
    assert seen == [StreamDelta(kind="text", text="a")]
    assert backup.calls == 0


async def test_stream_non_retryable_error_raises() -> None:
    router = Router(default=FakeModel("a", error=bad_request()), fallbacks=[FakeModel("b")])
    with pytest.raises(ModelError, match="bad"):
        async for _ in router.stream(request()):
            pass


def test_model_id_describes_the_routing_table_stably() -> None:
    a, b, c = FakeModel("a"), FakeModel("b"), FakeModel("c")
    one = Router({"summarize": b, "finalize": c}, default=a, fallbacks=[c])
    two = Router({"finalize": c, "summarize": b}, default=a, fallbacks=[c])
    assert one.model_id == two.model_id == "router(finalize=c,summarize=b;default=a;fallbacks=c)"


async def test_string_specs_are_resolved_once_and_closed_by_the_router() -> None:
    specs: Sequence[str] = ["openai:gpt-4.1-mini", "anthropic:claude-haiku-4-5"]
    pytest.importorskip("openai")
    pytest.importorskip("anthropic")
    passed_in = FakeModel("mine")
    async with Router({"summarize": specs[0]}, default=passed_in, fallbacks=list(specs)) as router:
        assert router.routes["summarize"] is router.fallbacks[0]
        assert router.model_id == (
            "router(summarize=openai:gpt-4.1-mini;default=mine;"
            "fallbacks=openai:gpt-4.1-mini,anthropic:claude-haiku-4-5)"
        )
    assert not passed_in.closed
