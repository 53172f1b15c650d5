"""Adapter for OpenAI and any OpenAI-compatible Chat Completions endpoint.

One adapter serves OpenAI itself and the servers that speak its wire format
(vLLM, llama.cpp ``llama-server``, Ollama, LM Studio): pass ``base_url``.
The official ``openai`` SDK does the HTTP, with ``max_retries=0`` because
Tether owns retries (each attempt is journalled and the backoff is visible in
the run's log). Translation to and from the wire format is in plain functions
so it can be tested without a server.

Structured output: when ``request.output_schema`` is set it is always sent as
``response_format={"type": "json_schema", ...}`` (non-strict), also alongside
tools; OpenAI then constrains the *text* reply and still lets the model call
tools. Callers that want "JSON only, no tools" send no tools.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import AsyncIterator
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any

from tether.exceptions import ConfigError, MissingExtraError
from tether.models._endpoint import safe_endpoint_url
from tether.models._errors import malformed_response, map_openai_errors
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
    as_dict,
    settings_extras,
    system_text,
    tool_call_from_json,
    tool_result_text,
    usage_counts,
)

if TYPE_CHECKING:
    from openai import AsyncOpenAI

__all__ = [
    "OpenAIModel",
    "build_chat_request",
    "parse_chat_completion",
    "usage_from_openai",
]

# Sent as the key to OpenAI-compatible local servers, which ignore it but whose
# SDK client refuses to start without one.
_NO_KEY = "sk-no-key-required"

_FINISH_REASONS: dict[str, FinishReason] = {
    "stop": "stop",
    "tool_calls": "tool_calls",
    "function_call": "tool_calls",
    "length": "length",
    "content_filter": "content_filter",
}


def _require_openai() -> None:
    try:
        import openai  # noqa: F401
    except ImportError as exc:
        raise MissingExtraError("openai", "openai") from exc


def to_openai_messages(
    instructions: str, messages: list[Message], *, tool_call_content: str | None = None
) -> list[dict[str, Any]]:
    """Translate the neutral conversation to Chat Completions ``messages``.

    Args:
        instructions: the system prompt (left out when empty).
        messages: the neutral conversation.
        tool_call_content: ``content`` of an assistant message that has tool calls
            and no text. OpenAI takes ``None``; llama.cpp's Python server rejects
            ``null`` (and a missing key) there with a 500, so compatible servers
            get ``""``.
    """
    out: list[dict[str, Any]] = []
    if instructions:
        out.append({"role": "system", "content": instructions})
    for message in messages:
        item: dict[str, Any]
        if message.role == "tool":
            item = {
                "role": "tool",
                "tool_call_id": message.tool_call_id or "",
                "content": tool_result_text(message),
            }
        elif message.role == "assistant":
            item = {"role": "assistant", "content": message.content}
            if message.tool_calls:
                if message.content is None:
                    item["content"] = tool_call_content
                item["tool_calls"] = [
                    {
                        "id": call.id,
                        "type": "function",
                        "function": {
                            "name": call.name,
                            "arguments": json.dumps(arguments_for_history(call)),
                        },
                    }
                    for call in message.tool_calls
                ]
            elif message.content is None:
                item["content"] = ""
        else:
            item = {"role": message.role, "content": message.content or ""}
        if message.name and message.role != "tool":
            item["name"] = message.name
        out.append(item)
    return out


def to_openai_tools(tools: list[ToolSpec]) -> list[dict[str, Any]]:
    """Translate tool specs to Chat Completions ``tools`` (``strict`` left to the default)."""
    return [
        {
            "type": "function",
            "function": {
                "name": tool.name,
                "description": tool.description,
                "parameters": tool.parameters or EMPTY_OBJECT_SCHEMA,
            },
        }
        for tool in tools
    ]


def build_chat_request(
    model: str,
    request: ModelRequest,
    *,
    parallel_tool_calls: bool | None = True,
    max_tokens_field: str = "max_completion_tokens",
    tool_call_content: str | None = None,
) -> dict[str, Any]:
    """The keyword arguments for ``client.chat.completions.create`` (without ``stream``).

    Args:
        model: the provider's model name.
        request: the neutral request.
        parallel_tool_calls: sent when tools are present; ``None`` leaves it out
            for servers that do not know the field.
        max_tokens_field: ``max_completion_tokens`` for OpenAI, ``max_tokens``
            for compatible servers that only know the older name.
        tool_call_content: ``content`` of a text-less assistant tool-call message
            (see :func:`to_openai_messages`).
    """
    body: dict[str, Any] = {
        "model": model,
        "messages": to_openai_messages(
            system_text(request.instructions, tools=bool(request.tools)),
            request.messages,
            tool_call_content=tool_call_content,
        ),
    }
    if request.tools:
        body["tools"] = to_openai_tools(request.tools)
        if parallel_tool_calls is not None:
            body["parallel_tool_calls"] = parallel_tool_calls
    if request.output_schema is not None:
        body["response_format"] = {
            "type": "json_schema",
            "json_schema": {"name": "output", "schema": request.output_schema},
        }
    settings = request.settings
    if settings.temperature is not None:
        body["temperature"] = settings.temperature
    if settings.top_p is not None:
        body["top_p"] = settings.top_p
    if settings.seed is not None:
        body["seed"] = settings.seed
    if settings.max_tokens is not None:
        body[max_tokens_field] = settings.max_tokens
    extra = settings_extras(settings.model_extra)
    if extra:
        body["extra_body"] = extra
    return body


def usage_from_openai(usage: dict[str, Any] | None) -> Usage:
    """Usage from an OpenAI ``usage`` object; ``prompt_tokens`` already includes cached ones."""
    if not usage:
        return Usage()  # not reported: the engine charges its estimate
    counts = usage_counts(usage, "prompt_tokens", "completion_tokens")
    cached = usage_counts(usage.get("prompt_tokens_details") or {}, "cached_tokens")
    if counts is None or cached is None:
        return Usage()  # unreadable (negative, a string): as if not reported
    return Usage(input_tokens=counts[0], output_tokens=counts[1], cached_input_tokens=cached[0])


def _finish_reason(raw: str | None, has_tool_calls: bool) -> FinishReason:
    reason = _FINISH_REASONS.get(raw or "", "stop")
    # Some compatible servers report "stop" even when the reply is tool calls.
    if has_tool_calls and reason == "stop":
        return "tool_calls"
    return reason


def parse_chat_completion(data: dict[str, Any], model_id: str) -> ModelResponse:
    """Turn a Chat Completions reply (JSON-shaped) into a ModelResponse."""
    choices = data.get("choices") or []
    if not choices or not isinstance(choices[0], dict):
        raise malformed_response("reply has no choices", provider="openai", model=model_id)
    choice = choices[0]
    message = choice.get("message") or {}
    calls = [
        tool_call_from_json(
            str(call.get("id") or f"call_{i}"),
            str((call.get("function") or {}).get("name") or ""),
            (call.get("function") or {}).get("arguments"),
        )
        for i, call in enumerate(message.get("tool_calls") or [])
    ]
    text = message.get("content")
    finish = _finish_reason(choice.get("finish_reason"), bool(calls))
    if text is None and message.get("refusal"):
        text, finish = message["refusal"], "content_filter"
    return ModelResponse(
        text=text,
        tool_calls=calls,
        usage=usage_from_openai(data.get("usage")),
        finish_reason=finish,
        model=model_id,
    )


class ChatStreamAssembler:
    """Folds streamed ``chat.completion.chunk`` objects into deltas and a final reply.

    Sans-I/O: :meth:`feed` takes one JSON-shaped chunk and returns the deltas
    to show; :meth:`result` assembles the complete :class:`ModelResponse`.
    """

    def __init__(self, model_id: str) -> None:
        self._model_id = model_id
        self._text: list[str] = []
        self._calls: dict[int, dict[str, Any]] = {}
        self._finish: str | None = None
        self._usage = Usage()

    def feed(self, chunk: dict[str, Any]) -> list[StreamDelta]:
        """Absorb one chunk; return the deltas it carries."""
        out: list[StreamDelta] = []
        if chunk.get("usage"):
            self._usage = usage_from_openai(chunk["usage"])
        for choice in chunk.get("choices") or []:
            if choice.get("index", 0) != 0:
                continue
            delta = choice.get("delta") or {}
            content = delta.get("content")
            if content:
                self._text.append(content)
                out.append(StreamDelta(kind="text", text=content))
            for position, fragment in enumerate(delta.get("tool_calls") or []):
                out.append(self._feed_tool_call(position, fragment))
            if choice.get("finish_reason"):
                self._finish = choice["finish_reason"]
        return out

    def _feed_tool_call(self, position: int, fragment: dict[str, Any]) -> StreamDelta:
        index = int(fragment.get("index", position))
        function = fragment.get("function") or {}
        state = self._calls.setdefault(index, {"id": None, "name": "", "arguments": []})
        if fragment.get("id"):
            state["id"] = fragment["id"]
        new_name = function.get("name")
        if new_name:
            state["name"] += new_name
        arguments = function.get("arguments") or ""
        state["arguments"].append(arguments)
        return StreamDelta(
            kind="tool_call",
            tool_call_index=index,
            tool_name=new_name or None,
            arguments_fragment=arguments,
        )

    def result(self) -> ModelResponse:
        """The complete reply; raises if the stream ended before a ``finish_reason``."""
        if self._finish is None:
            raise malformed_response(
                "stream ended without a finish_reason", provider="openai", model=self._model_id
            )
        calls: list[ToolCall] = [
            tool_call_from_json(
                state["id"] or f"call_{index}", state["name"], "".join(state["arguments"])
            )
            for index, state in sorted(self._calls.items())
        ]
        text = "".join(self._text)
        return ModelResponse(
            text=text or None,
            tool_calls=calls,
            usage=self._usage,
            finish_reason=_finish_reason(self._finish, bool(calls)),
            model=self._model_id,
        )


class OpenAIModel:
    """A :class:`~tether.models.ModelClient` over an OpenAI-compatible Chat Completions API.

    Args:
        model: the provider's model name (``gpt-4.1-mini``, ``qwen2.5``...).
        base_url: an OpenAI-compatible endpoint (``http://127.0.0.1:8000/v1``);
            ``None`` means OpenAI itself.
        api_key: defaults to ``OPENAI_API_KEY``; custom endpoints get a
            placeholder when neither is set.
        timeout: seconds per request, the whole of it (a streamed reply: between reads).
        client: a ready ``openai.AsyncOpenAI`` to use instead of building one
            (its retry settings are then yours; Tether expects ``max_retries=0``).
            A client passed in is not closed by :meth:`aclose`.
        parallel_tool_calls: sent with tools; ``None`` omits the field.
    """

    def __init__(
        self,
        model: str,
        *,
        base_url: str | None = None,
        api_key: str | None = None,
        timeout: float = 60.0,
        client: AsyncOpenAI | None = None,
        parallel_tool_calls: bool | None = True,
    ) -> None:
        if client is None:
            _require_openai()
        if not model:
            raise ConfigError("OpenAIModel needs a model name, e.g. 'gpt-4.1-mini'")
        self.model = model
        self.base_url = base_url
        self._api_key = api_key
        self._timeout = timeout
        self._client = client
        self._owns_client = client is None
        self._parallel_tool_calls = parallel_tool_calls

    @property
    def model_id(self) -> str:
        """``openai:<model>``, plus ``@<base_url>`` for a custom endpoint: the URL as it
        may be shown (no ``user:password@``, no ``?api_key=`` value), since the id is
        stored, exported and labelled; requests still go to ``base_url`` as given."""
        suffix = f"@{safe_endpoint_url(self.base_url)}" if self.base_url else ""
        return f"openai:{self.model}{suffix}"

    def _sdk_client(self) -> AsyncOpenAI:
        if self._client is None:
            from openai import AsyncOpenAI

            api_key = self._api_key or os.environ.get("OPENAI_API_KEY")
            if api_key is None:
                if self.base_url is None:
                    raise ConfigError(
                        "OpenAIModel needs an API key: set OPENAI_API_KEY or pass api_key=",
                        model=self.model_id,
                    )
                api_key = _NO_KEY
            self._client = AsyncOpenAI(
                api_key=api_key,
                base_url=self.base_url,
                timeout=self._timeout,
                max_retries=0,
            )
        return self._client

    def _errors(self) -> AbstractContextManager[None]:
        return map_openai_errors(provider="openai", model=self.model_id)

    def _body(self, request: ModelRequest) -> dict[str, Any]:
        openai_itself = self.base_url is None
        return build_chat_request(
            self.model,
            request,
            parallel_tool_calls=self._parallel_tool_calls,
            max_tokens_field="max_completion_tokens" if openai_itself else "max_tokens",
            tool_call_content=None if openai_itself else "",
        )

    async def complete(self, request: ModelRequest) -> ModelResponse:
        """Send one request and return the whole reply."""
        body = self._body(request)
        client = self._sdk_client()
        with self._errors():
            # The whole request, not each read: a server that trickles its reply a byte
            # at a time would otherwise hold the call as long as it liked.
            async with asyncio.timeout(self._timeout):
                completion = await client.chat.completions.create(**body)
            return parse_chat_completion(as_dict(completion), self.model_id)

    async def stream(self, request: ModelRequest) -> AsyncIterator[StreamDelta | ModelResponse]:
        """Stream text and tool-call argument fragments, then the assembled reply."""
        body = self._body(request)
        body["stream"] = True
        body["stream_options"] = {"include_usage": True}
        client = self._sdk_client()
        assembler = ChatStreamAssembler(self.model_id)
        with self._errors():
            chunks = await client.chat.completions.create(**body)
            try:
                async for chunk in chunks:
                    for delta in assembler.feed(as_dict(chunk)):
                        yield delta
            finally:
                await chunks.close()
        yield assembler.result()

    async def aclose(self) -> None:
        """Close the HTTP client this model created (not one that was passed in)."""
        if self._client is not None and self._owns_client:
            await self._client.close()
            self._client = None

    async def __aenter__(self) -> OpenAIModel:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    def __repr__(self) -> str:
        return f"OpenAIModel({self.model_id!r})"
