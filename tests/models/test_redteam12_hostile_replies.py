"""Red team 12, holes 01, 02 and 04: provider replies that broke budgets or failed runs.

- 01: a negative usage count (``prompt_tokens: -100000``) was added to the run's usage as
  it came: one reply handed the run back budget it never had (a 20k-token budget let 20
  calls through; the run "completed" at -2,000,000 tokens and -$20).
- 02: a reply without usage (many OpenAI-compatible servers send none) counted as zero
  tokens, and so did an unreadable one; a 30 MB reply billed as 1 token went through a
  100-token budget.
- 04: replies of the wrong shape (tool-call arguments as an object, ``message`` a string,
  a top-level list, an HTML page with status 200, an Anthropic content block that is a
  string) escaped the adapters as ``AttributeError``/``TypeError`` and failed the run
  after one attempt as a state error, instead of a retried ``malformed_response``.

Now counts that are not whole non-negative numbers make the usage "not reported", a reply
whose usage is not reported is charged the engine's estimates of its request and of
itself, a budgeted run is never charged less than a quarter of them (capped at the
request's ``max_tokens``), and a reply the adapter cannot read is a malformed reply.
Bodies follow the providers' documented wire formats, served by a mock transport.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

openai = pytest.importorskip("openai")
anthropic = pytest.importorskip("anthropic")

from tether import Agent, Runtime  # noqa: E402
from tether.exceptions import ModelError  # noqa: E402
from tether.models import Message, ModelErrorCode, ModelRequest, ModelResponse, Usage  # noqa: E402
from tether.models._anthropic import AnthropicModel, usage_from_anthropic  # noqa: E402
from tether.models._openai import OpenAIModel, usage_from_openai  # noqa: E402
from tether.policy import Budget, Policy, charged_usage  # noqa: E402

from ._http import FakeServer  # noqa: E402


def _completion(message: Any, usage: Any = None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 1_700_000_000,
        "model": "m",
        "choices": [{"index": 0, "message": message, "finish_reason": "stop"}],
    }
    if usage is not None:
        body["usage"] = usage
    return body


def _openai(server: FakeServer) -> tuple[Any, OpenAIModel]:
    sdk = openai.AsyncOpenAI(api_key="sk-test", http_client=server.client(), max_retries=0)
    return sdk, OpenAIModel("m", client=sdk)


def _request() -> ModelRequest:
    return ModelRequest(messages=[Message(role="user", content="hi")])


@pytest.mark.parametrize(
    "usage",
    [
        {"prompt_tokens": -100_000, "completion_tokens": 5},
        {"prompt_tokens": "12", "completion_tokens": 5},
        {"prompt_tokens": 1e999, "completion_tokens": 5},
        {"prompt_tokens": True, "completion_tokens": 5},
        {
            "prompt_tokens": 3,
            "completion_tokens": 5,
            "prompt_tokens_details": {"cached_tokens": -1},
        },
    ],
)
def test_an_unreadable_openai_usage_counts_as_not_reported(usage: dict[str, Any]) -> None:
    assert usage_from_openai(usage) == Usage()


def test_an_unreadable_anthropic_usage_counts_as_not_reported() -> None:
    assert usage_from_anthropic({"input_tokens": -5, "output_tokens": 2}) == Usage()
    assert usage_from_anthropic({"input_tokens": "5", "output_tokens": 2}) == Usage()
    assert usage_from_anthropic({"input_tokens": 5.0, "output_tokens": 2}) == Usage(
        input_tokens=5, output_tokens=2
    )


def test_a_reply_is_charged_the_estimate_when_its_usage_is_missing_or_too_low() -> None:
    request = ModelRequest(messages=[Message(role="user", content="word " * 4000)])
    reply = ModelResponse(text="answer " * 40_000)
    unreported = charged_usage(request, reply, budgeted=False)
    assert unreported.input_tokens > 4000 and unreported.output_tokens > 40_000
    honest = reply.model_copy(update={"usage": Usage(input_tokens=4100, output_tokens=40_100)})
    assert charged_usage(request, honest, budgeted=True) is honest.usage  # left as reported
    lying = reply.model_copy(update={"usage": Usage(input_tokens=1, output_tokens=1)})
    floor = charged_usage(request, lying, budgeted=True)
    assert floor.input_tokens > 1000 and floor.output_tokens > 10_000
    assert charged_usage(request, lying, budgeted=False) is lying.usage  # no budget: as told
    capped = request.model_copy(
        update={"settings": request.settings.model_copy(update={"max_tokens": 100})}
    )
    assert charged_usage(capped, lying, budgeted=True).output_tokens == 100


@pytest.mark.parametrize(
    "body",
    [
        _completion(
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": "c1",
                        "type": "function",
                        "function": {"name": "f", "arguments": {"a": 1}},
                    }
                ],
            }
        ),
        _completion("just a string"),
        [_completion({"role": "assistant", "content": "x"})],
    ],
    ids=["arguments-object", "message-string", "top-level-list"],
)
async def test_an_openai_reply_of_the_wrong_shape_is_a_malformed_reply(body: Any) -> None:
    server = FakeServer(openai)
    server.add_json(body)
    sdk, model = _openai(server)
    try:
        with pytest.raises(ModelError) as caught:
            await model.complete(_request())
    finally:
        await sdk.close()
    assert caught.value.error_code == ModelErrorCode.MALFORMED_RESPONSE
    assert caught.value.retryable


async def test_an_html_page_with_status_200_is_a_malformed_reply() -> None:
    server = FakeServer(openai)
    server.replies.append(
        lambda _req: server.lib.Response(
            200,
            content=b"<html><body>proxy says hi</body></html>",
            headers={"content-type": "text/html"},
        )
    )
    sdk, model = _openai(server)
    try:
        with pytest.raises(ModelError) as caught:
            await model.complete(_request())
    finally:
        await sdk.close()
    assert caught.value.error_code == ModelErrorCode.MALFORMED_RESPONSE


async def test_an_anthropic_content_block_that_is_a_string_is_a_malformed_reply() -> None:
    server = FakeServer(anthropic)
    server.add_json(
        {
            "id": "msg_1",
            "type": "message",
            "role": "assistant",
            "model": "claude",
            "content": ["not a block"],
            "stop_reason": "end_turn",
            "usage": {"input_tokens": 3, "output_tokens": 1},
        }
    )
    sdk = anthropic.AsyncAnthropic(api_key="k", http_client=server.client(), max_retries=0)
    try:
        with pytest.raises(ModelError) as caught:
            await AnthropicModel("claude", client=sdk).complete(_request())
    finally:
        await sdk.close()
    assert caught.value.error_code == ModelErrorCode.MALFORMED_RESPONSE


async def test_a_negative_usage_never_gives_a_run_budget_back(tmp_path: Path) -> None:
    """End to end through the OpenAI adapter: every reply claims -100,000 prompt tokens."""
    server = FakeServer(openai)
    for i in range(30):
        server.add_json(
            _completion(
                {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [
                        {
                            "id": f"c{i}",
                            "type": "function",
                            "function": {"name": "note", "arguments": f'{{"n": {i}}}'},
                        }
                    ],
                },
                usage={"prompt_tokens": -100_000, "completion_tokens": 5},
            )
        )
    sdk, model = _openai(server)

    from tether import tool

    @tool
    def note(n: int) -> str:
        """Take a note."""
        return f"noted {n} " + "x" * 2000

    agent = Agent(
        name="greedy",
        model=model,
        tools=[note],
        max_turns=40,
        policy=Policy(budget=Budget(max_input_tokens=20_000)),
    )
    try:
        async with Runtime(f"sqlite:///{tmp_path}/t.db") as rt:
            result = await (await rt.start(agent, "go")).result(timeout=60)
    finally:
        await sdk.close()
    assert result.status == "failed"
    assert result.error is not None and "input_tokens" in str(result.error.details)
    assert 0 < result.usage.input_tokens <= 20_000
    assert result.usage.model_calls < 20
