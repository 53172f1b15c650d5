"""Adapter for Anthropic's Messages API, with prompt-cache breakpoints on the stable prefix.

The official ``anthropic`` SDK does the HTTP, with ``max_retries=0`` because
Tether owns retries. Translation to and from the wire format is in plain
functions so it can be tested without a server.

Prompt caching: Anthropic caches the prefix ``tools → system → messages`` up
to each ``cache_control`` breakpoint. Tether's stable prefix is the tool
definitions and the instructions, so breakpoints go on the last tool and on
the last system block: the tools-only prefix survives an instructions change,
and the full prefix is reused on every turn of every run of the same agent.
``cache_messages=True`` adds a third breakpoint on the newest message, so a
long agent loop also reads its own conversation from the cache.

Usage convention (see :mod:`tether.models._pricing`): ``Usage.input_tokens``
includes cached tokens. Anthropic reports ``input_tokens`` *excluding* cache
reads and writes, so the adapter adds them in.

Structured output: ``request.output_schema`` is sent as
``output_config={"format": {"type": "json_schema", "schema": ...}}`` through
``extra_body`` (so any SDK version can send it); models without structured
outputs reject it as an invalid request.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any

from tether.exceptions import ConfigError, MissingExtraError
from tether.models._endpoint import safe_endpoint_url
from tether.models._errors import malformed_response, map_anthropic_errors
from tether.models._types import (
    FinishReason,
    Message,
    ModelRequest,
    ModelResponse,
    StreamDelta,
    ToolCall,
    ToolSpec,
    Usage,
)
from tether.models._wire import (
    EMPTY_OBJECT_SCHEMA,
    arguments_for_history,
    arguments_text,
    as_dict,
    settings_extras,
    system_text,
    tool_call_from_json,
    tool_call_from_object,
    tool_result_text,
    usage_counts,
)

if TYPE_CHECKING:
    from anthropic import AsyncAnthropic

__all__ = [
    "AnthropicModel",
    "MessageStreamAssembler",
    "build_messages_request",
    "parse_message",
    "usage_from_anthropic",
]

EPHEMERAL: dict[str, str] = {"type": "ephemeral"}

_STOP_REASONS: dict[str, FinishReason] = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "pause_turn": "stop",
    "tool_use": "tool_calls",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "refusal": "content_filter",
}


def _require_anthropic() -> None:
    try:
        import anthropic  # noqa: F401
    except ImportError as exc:
        raise MissingExtraError("anthropic", "anthropic") from exc


def _text_block(text: str) -> dict[str, Any]:
    return {"type": "text", "text": text}


def to_anthropic_system(instructions: str, messages: list[Message]) -> list[dict[str, Any]]:
    """System blocks: the instructions, then any system messages that open the conversation."""
    blocks = [_text_block(instructions)] if instructions else []
    for message in messages:
        if message.role != "system":
            break
        if message.content:
            blocks.append(_text_block(message.content))
    return blocks


def to_anthropic_messages(messages: list[Message]) -> list[dict[str, Any]]:
    """Translate the conversation after its leading system messages into Messages turns.

    Tool results become ``tool_result`` blocks in a user turn, and consecutive
    turns of one role are merged (so parallel tool results share one user
    message, tool results first). A system message in the middle of the
    conversation has no place in the Messages API; it is sent as user text
    wrapped in ``<system>`` tags.
    """
    turns: list[dict[str, Any]] = []

    def push(role: str, blocks: list[dict[str, Any]]) -> None:
        if not blocks:
            return
        if turns and turns[-1]["role"] == role:
            turns[-1]["content"].extend(blocks)
        else:
            turns.append({"role": role, "content": blocks})

    leading = True
    for message in messages:
        if leading and message.role == "system":
            continue
        leading = False
        if message.role == "assistant":
            blocks = [_text_block(message.content)] if message.content else []
            blocks += [
                {
                    "type": "tool_use",
                    "id": call.id,
                    "name": call.name,
                    "input": arguments_for_history(call),
                }
                for call in message.tool_calls
            ]
            push("assistant", blocks)
        elif message.role == "tool":
            result = {
                "type": "tool_result",
                "tool_use_id": message.tool_call_id or "",
                "content": tool_result_text(message),
            }
            push("user", [result])
        elif message.role == "system":
            if message.content:
                push("user", [_text_block(f"<system>\n{message.content}\n</system>")])
        elif message.content:
            push("user", [_text_block(message.content)])
    return turns


def to_anthropic_tools(tools: list[ToolSpec]) -> list[dict[str, Any]]:
    """Translate tool specs into Messages ``tools`` definitions."""
    return [
        {
            "name": tool.name,
            "description": tool.description,
            "input_schema": tool.parameters or EMPTY_OBJECT_SCHEMA,
        }
        for tool in tools
    ]


def build_messages_request(
    model: str,
    request: ModelRequest,
    *,
    max_tokens: int = 1024,
    cache_messages: bool = False,
) -> dict[str, Any]:
    """The keyword arguments for ``client.messages.create`` (without ``stream``).

    Args:
        model: Anthropic's model name.
        request: the neutral request.
        max_tokens: the reply budget when ``request.settings.max_tokens`` is unset
            (the Messages API requires one).
        cache_messages: also put a cache breakpoint on the newest message.
    """
    body: dict[str, Any] = {
        "model": model,
        "max_tokens": request.settings.max_tokens or max_tokens,
        "messages": to_anthropic_messages(request.messages),
    }
    system = to_anthropic_system(
        system_text(request.instructions, tools=bool(request.tools)), request.messages
    )
    if system:
        system[-1]["cache_control"] = dict(EPHEMERAL)
        body["system"] = system
    if request.tools:
        tools = to_anthropic_tools(request.tools)
        tools[-1]["cache_control"] = dict(EPHEMERAL)
        body["tools"] = tools
    if cache_messages and body["messages"]:
        body["messages"][-1]["content"][-1]["cache_control"] = dict(EPHEMERAL)
    # Sampling settings and structured output travel in ``extra_body``: the
    # SDK's keyword arguments change between versions (recent ones dropped
    # ``temperature``), while the JSON body is the documented contract.
    settings = request.settings
    extra: dict[str, Any] = {}
    if settings.temperature is not None:
        extra["temperature"] = settings.temperature
    if settings.top_p is not None:
        extra["top_p"] = settings.top_p
    # ``seed`` has no Messages API equivalent and is dropped.
    if request.output_schema is not None:
        extra["output_config"] = {
            "format": {"type": "json_schema", "schema": request.output_schema}
        }
    extra.update(settings_extras(settings.model_extra))
    if extra:
        body["extra_body"] = extra
    return body


def usage_from_anthropic(usage: dict[str, Any] | None) -> Usage:
    """Usage from a Messages ``usage`` object, with cache reads and writes added to input."""
    if not usage:
        return Usage()  # not reported: the engine charges its estimate
    counts = usage_counts(
        usage,
        "input_tokens",
        "output_tokens",
        "cache_read_input_tokens",
        "cache_creation_input_tokens",
    )
    if counts is None:
        return Usage()  # unreadable (negative, a string): as if not reported
    fresh, output, read, write = counts
    return Usage(
        input_tokens=fresh + read + write,
        output_tokens=output,
        cached_input_tokens=read,
        cache_write_tokens=write,
    )


def _finish_reason(raw: str | None, has_tool_calls: bool) -> FinishReason:
    if raw is None and has_tool_calls:
        return "tool_calls"
    return _STOP_REASONS.get(raw or "", "stop")


def _tool_call_from_input(block: dict[str, Any]) -> ToolCall:
    # The API promises an object; anything else (or one nested too deep) is kept as text
    # for the executor to report.
    call_id, name = str(block.get("id") or ""), str(block.get("name") or "")
    return tool_call_from_object(call_id, name, block.get("input"))


def parse_message(data: dict[str, Any], model_id: str) -> ModelResponse:
    """Turn a Messages API reply (JSON-shaped) into a ModelResponse."""
    content = data.get("content")
    if not isinstance(content, list):
        raise malformed_response("reply has no content list", provider="anthropic", model=model_id)
    texts = [b.get("text") or "" for b in content if b.get("type") == "text"]
    calls = [_tool_call_from_input(b) for b in content if b.get("type") == "tool_use"]
    text = "".join(texts)
    return ModelResponse(
        text=text or None,
        tool_calls=calls,
        usage=usage_from_anthropic(data.get("usage")),
        finish_reason=_finish_reason(data.get("stop_reason"), bool(calls)),
        model=model_id,
    )


class MessageStreamAssembler:
    """Folds Messages streaming events into deltas and a final reply.

    Sans-I/O: :meth:`feed` takes one JSON-shaped event (``message_start``,
    ``content_block_start``, ``content_block_delta``, ``content_block_stop``,
    ``message_delta``, ``message_stop``, ``ping``) and returns the deltas to
    show; :meth:`result` assembles the complete :class:`ModelResponse`.
    ``StreamDelta.tool_call_index`` counts tool calls (0, 1, ...), not content
    blocks, matching the OpenAI adapter.
    """

    def __init__(self, model_id: str) -> None:
        self._model_id = model_id
        self._text: list[str] = []
        self._tools: dict[int, dict[str, Any]] = {}  # content block index -> tool state
        self._usage: dict[str, Any] = {}
        self._stop_reason: str | None = None
        self.finished = False

    def feed(self, event: dict[str, Any]) -> list[StreamDelta]:
        """Absorb one event; return the deltas it carries."""
        kind = event.get("type")
        if kind == "message_start":
            self._usage.update(_non_null((event.get("message") or {}).get("usage")))
        elif kind == "content_block_start":
            return self._start_block(int(event["index"]), event.get("content_block") or {})
        elif kind == "content_block_delta":
            return self._delta(int(event["index"]), event.get("delta") or {})
        elif kind == "message_delta":
            # message_delta usage is cumulative: later values replace earlier ones.
            self._usage.update(_non_null(event.get("usage")))
            self._stop_reason = (event.get("delta") or {}).get("stop_reason") or self._stop_reason
        elif kind == "message_stop":
            self.finished = True
        return []

    def _start_block(self, index: int, block: dict[str, Any]) -> list[StreamDelta]:
        if block.get("type") == "text" and block.get("text"):
            self._text.append(block["text"])
            return [StreamDelta(kind="text", text=block["text"])]
        if block.get("type") != "tool_use":
            return []
        ordinal = len(self._tools)
        initial = block.get("input")
        # The start event carries ``input: {}``; arguments arrive as input_json_delta.
        fragments = [] if not initial else [arguments_text(initial)]
        self._tools[index] = {
            "ordinal": ordinal,
            "id": str(block.get("id") or ""),
            "name": str(block.get("name") or ""),
            "fragments": fragments,
        }
        return [
            StreamDelta(
                kind="tool_call",
                tool_call_index=ordinal,
                tool_name=self._tools[index]["name"],
                arguments_fragment="".join(fragments),
            )
        ]

    def _delta(self, index: int, delta: dict[str, Any]) -> list[StreamDelta]:
        if delta.get("type") == "text_delta" and delta.get("text"):
            self._text.append(delta["text"])
            return [StreamDelta(kind="text", text=delta["text"])]
        if delta.get("type") == "input_json_delta" and index in self._tools:
            fragment = delta.get("partial_json") or ""
            state = self._tools[index]
            state["fragments"].append(fragment)
            return [
                StreamDelta(
                    kind="tool_call",
                    tool_call_index=state["ordinal"],
                    arguments_fragment=fragment,
                )
            ]
        return []  # thinking, signature and citation deltas are not surfaced

    def result(self) -> ModelResponse:
        """The complete reply; raises if the stream ended before ``message_stop``."""
        if not self.finished:
            raise malformed_response(
                "stream ended before message_stop", provider="anthropic", model=self._model_id
            )
        calls = [
            tool_call_from_json(state["id"], state["name"], "".join(state["fragments"]))
            for _, state in sorted(self._tools.items())
        ]
        text = "".join(self._text)
        return ModelResponse(
            text=text or None,
            tool_calls=calls,
            usage=usage_from_anthropic(self._usage),
            finish_reason=_finish_reason(self._stop_reason, bool(calls)),
            model=self._model_id,
        )


def _non_null(data: object) -> dict[str, Any]:
    return {k: v for k, v in data.items() if v is not None} if isinstance(data, dict) else {}


class AnthropicModel:
    """A :class:`~tether.models.ModelClient` over Anthropic's Messages API.

    Args:
        model: Anthropic's model name (``claude-sonnet-4-5``...).
        api_key: defaults to what the SDK finds (``ANTHROPIC_API_KEY``).
        base_url: a different endpoint (a proxy or gateway).
        timeout: seconds per request, the whole of it (a streamed reply: between reads).
        max_tokens: reply budget when the request sets none (the API requires one).
        client: a ready ``anthropic.AsyncAnthropic`` to use instead of building one
            (Tether expects ``max_retries=0``). A client passed in is not closed by
            :meth:`aclose`.
        cache_messages: also put a cache breakpoint on the newest message.
    """

    def __init__(
        self,
        model: str,
        *,
        api_key: str | None = None,
        base_url: str | None = None,
        timeout: float = 60.0,
        max_tokens: int = 1024,
        client: AsyncAnthropic | None = None,
        cache_messages: bool = False,
    ) -> None:
        if client is None:
            _require_anthropic()
        if not model:
            raise ConfigError("AnthropicModel needs a model name, e.g. 'claude-sonnet-4-5'")
        self.model = model
        self.base_url = base_url
        self.max_tokens = max_tokens
        self.cache_messages = cache_messages
        self._api_key = api_key
        self._timeout = timeout
        self._client = client
        self._owns_client = client is None

    @property
    def model_id(self) -> str:
        """``anthropic:<model>``, plus ``@<base_url>`` for a custom endpoint: the URL as it
        may be shown (no ``user:password@``, no ``?api_key=`` value), since the id is
        stored, exported and labelled; requests still go to ``base_url`` as given."""
        suffix = f"@{safe_endpoint_url(self.base_url)}" if self.base_url else ""
        return f"anthropic:{self.model}{suffix}"

    def _sdk_client(self) -> AsyncAnthropic:
        if self._client is None:
            from anthropic import AsyncAnthropic

            self._client = AsyncAnthropic(
                api_key=self._api_key,
                base_url=self.base_url,
                timeout=self._timeout,
                max_retries=0,
            )
        return self._client

    def _errors(self) -> AbstractContextManager[None]:
        return map_anthropic_errors(provider="anthropic", model=self.model_id)

    def _body(self, request: ModelRequest) -> dict[str, Any]:
        return build_messages_request(
            self.model, request, max_tokens=self.max_tokens, cache_messages=self.cache_messages
        )

    async def complete(self, request: ModelRequest) -> ModelResponse:
        """Send one request and return the whole reply."""
        body = self._body(request)
        client = self._sdk_client()
        with self._errors():
            # The whole request, not each read (see OpenAIModel.complete).
            async with asyncio.timeout(self._timeout):
                message = await client.messages.create(**body)
            return parse_message(as_dict(message), self.model_id)

    async def stream(self, request: ModelRequest) -> AsyncIterator[StreamDelta | ModelResponse]:
        """Stream text and tool-input fragments, then the assembled reply."""
        body = self._body(request)
        client = self._sdk_client()
        assembler = MessageStreamAssembler(self.model_id)
        with self._errors():
            events = await client.messages.create(**body, stream=True)
            try:
                async for event in events:
                    for delta in assembler.feed(as_dict(event)):
                        yield delta
            finally:
                await events.close()
        yield assembler.result()

    async def aclose(self) -> None:
        """Close the HTTP client this model created (not one that was passed in)."""
        if self._client is not None and self._owns_client:
            await self._client.close()
            self._client = None

    async def __aenter__(self) -> AnthropicModel:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    def __repr__(self) -> str:
        return f"AnthropicModel({self.model_id!r})"
