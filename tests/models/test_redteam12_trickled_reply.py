"""Red team 12, hole 03: a provider that trickles its reply held a run past its limits.

The adapters' ``timeout=`` reached the HTTP client, which applies it to each read, and
nothing put a deadline around a model call: a server sending one byte every 0.3 s (or
keep-alives) held a run with ``Budget(max_wall_seconds=2)`` and ``timeout=1`` for as long
as it liked, with its lease, its tenant slot and a worker. Now an adapter's ``timeout``
bounds the whole request, and a call is cut off where the run's running time ends.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

openai = pytest.importorskip("openai")

from tether import Agent, Runtime  # noqa: E402
from tether.exceptions import ModelError  # noqa: E402
from tether.models import Message, ModelRequest, ModelResponse  # noqa: E402
from tether.models._openai import OpenAIModel  # noqa: E402
from tether.policy import Budget, Policy  # noqa: E402

from ._http import FakeServer  # noqa: E402


async def test_the_adapter_timeout_bounds_the_whole_request() -> None:
    """A valid reply whose body arrives a space at a time for half a minute: ``timeout=0.5``
    ends the call (each read came within 0.5 s, so a per-read timeout never fired)."""
    server = FakeServer(openai)
    reply = json.dumps(
        {
            "id": "chatcmpl-1",
            "object": "chat.completion",
            "created": 1_700_000_000,
            "model": "m",
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": "finally"},
                    "finish_reason": "stop",
                }
            ],
            "usage": {"prompt_tokens": 5, "completion_tokens": 1},
        }
    ).encode()

    async def trickle() -> AsyncIterator[bytes]:
        for _ in range(300):
            yield b" "
            await asyncio.sleep(0.1)
        yield reply

    server.replies.append(
        lambda _req: server.lib.Response(
            200, content=trickle(), headers={"content-type": "application/json"}
        )
    )
    sdk = openai.AsyncOpenAI(api_key="sk-test", http_client=server.client(), max_retries=0)
    model = OpenAIModel("m", client=sdk, timeout=0.5)
    try:
        with pytest.raises((ModelError, TimeoutError)):
            await model.complete(ModelRequest(messages=[Message(role="user", content="hi")]))
    finally:
        await sdk.close()


class _Hanging:
    """A model client whose reply never comes (it records whether it was cut off)."""

    model_id = "hanging"

    def __init__(self) -> None:
        self.cut_off = 0

    async def complete(self, request: ModelRequest) -> ModelResponse:
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            self.cut_off += 1
            raise
        raise AssertionError("never answers")

    async def stream(self, request: ModelRequest) -> Any:
        raise AssertionError("not streamed")


async def test_a_model_call_ends_where_the_runs_running_time_ends(tmp_path: Path) -> None:
    model = _Hanging()
    agent = Agent(name="patient", model=model, policy=Policy(budget=Budget(max_wall_seconds=1.0)))
    async with Runtime(f"sqlite:///{tmp_path}/t.db") as rt:
        result = await (await rt.start(agent, "hello")).result(timeout=60)
    assert result.status == "failed"
    assert result.error is not None and result.error.details is not None
    assert result.error.details.get("dimension") == "wall_seconds"
    assert model.cut_off >= 1
