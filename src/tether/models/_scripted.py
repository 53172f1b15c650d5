"""``ScriptedModel``: a deterministic model for tests, examples and replays."""

from __future__ import annotations

import inspect
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from functools import partial
from typing import Any

from tether.exceptions import ModelError
from tether.models._types import (
    Message,
    ModelRequest,
    ModelResponse,
    StreamDelta,
    ToolCall,
    Usage,
    construct_trusted,
)

Reply = ModelResponse | ToolCall | Sequence[ToolCall] | str | None
Script = Callable[[ModelRequest], Reply | Awaitable[Reply]] | Sequence[Reply]


def text(content: str) -> ModelResponse:
    """A scripted reply that answers with ``content``."""
    return ModelResponse(text=content, finish_reason="stop")


def tool_call(name: str, /, **arguments: Any) -> ToolCall:
    """A scripted reply that calls tool ``name`` with ``arguments``."""
    if not isinstance(name, str):
        raise TypeError(f"tool_call() needs the tool's name as a string, not {name!r}")
    # Keyword arguments are always a dict with string keys: nothing left to validate.
    return construct_trusted(ToolCall, id="", name=name, arguments=arguments)


class ScriptedModel:
    """Replies from a function of the request, or from a list played in order.

    ``ScriptedModel(fn)`` calls ``fn(request)`` per model turn; ``fn`` returns
    ``text(...)``, ``tool_call(...)``, a list of tool calls, a ``ModelResponse``
    or a plain string. ``ScriptedModel([...])`` plays a list, indexed by the
    number of assistant turns already in the conversation, so a run resumed in
    a new process continues where it left off. Usage is estimated as one token
    per four characters so budgets and reports have real numbers to work with.
    """

    def __init__(
        self, script: Script, *, model_id: str = "scripted", keep_requests: bool = True
    ) -> None:
        self._script = script
        self._model_id = model_id
        self._keep = keep_requests
        self.requests: list[ModelRequest] = []
        # Per conversation (keyed by its first message, held weakly: a conversation that
        # is over, or parked and dropped from memory, takes its entry with it): messages
        # seen, assistant turns, characters. Conversations only grow, so each request
        # costs O(new messages).
        self._tally: dict[int, tuple[weakref.ref[Message], int, int, int]] = {}

    @property
    def model_id(self) -> str:
        """Scripted models share one id, so changing a test script keeps the agent version."""
        return self._model_id

    async def complete(self, request: ModelRequest) -> ModelResponse:
        """Produce the scripted reply for ``request``."""
        if self._keep:
            self.requests.append(request)
        turn, chars = self._count(request)
        if callable(self._script):
            reply = self._script(request)
            if inspect.isawaitable(reply):
                reply = await reply
        else:
            if turn >= len(self._script):
                raise ModelError(
                    f"scripted model has {len(self._script)} replies; turn {turn + 1} asked for "
                    "another",
                    error_code="script_exhausted",
                )
            reply = self._script[turn]
        return self._normalize(reply, turn, chars, request.settings.max_tokens)

    async def stream(self, request: ModelRequest) -> AsyncIterator[StreamDelta | ModelResponse]:
        """Yield the reply's text as one delta, then the reply."""
        response = await self.complete(request)
        if response.text:
            yield StreamDelta(kind="text", text=response.text)
        for i, call in enumerate(response.tool_calls):
            yield StreamDelta(kind="tool_call", tool_call_index=i, tool_name=call.name)
        yield response

    def _count(self, request: ModelRequest) -> tuple[int, int]:
        """Assistant turns and prompt characters so far, counted incrementally."""
        messages = request.messages
        if not messages:
            return 0, len(request.instructions)
        first = messages[0]
        seen, turns, chars = 0, 0, 0
        key = id(first)
        known = self._tally.get(key)
        ref = None
        if known is not None and known[0]() is first:
            ref = known[0]
            if known[1] <= len(messages):
                _, seen, turns, chars = known
        for m in messages[seen:]:
            turns += m.role == "assistant"
            chars += len(m.content or "")
        if ref is None:
            if len(self._tally) > 10_000:
                self._tally.clear()
            ref = weakref.ref(first, partial(_forget, self._tally, key))
        self._tally[key] = (ref, len(messages), turns, chars)
        return turns, chars + len(request.instructions)

    def _normalize(
        self, reply: Any, turn: int, chars: int, max_tokens: int | None
    ) -> ModelResponse:
        if isinstance(reply, ToolCall):
            # The commonest reply (a test's or benchmark's tool turn), built in one go.
            call = reply if reply.id else _with_id(reply, turn, 0)
            return construct_trusted(
                ModelResponse,
                text=None,
                tool_calls=[call],
                usage=_estimate(chars, len(call.name) + 16, max_tokens),
                finish_reason="tool_calls",
                model=self._model_id,
            )
        if isinstance(reply, str):
            response = ModelResponse(text=reply)
        elif isinstance(reply, ModelResponse):
            response = reply
        elif reply is None:
            response = ModelResponse(finish_reason="stop")
        elif isinstance(reply, Sequence) and all(isinstance(c, ToolCall) for c in reply):
            response = ModelResponse(tool_calls=list(reply), finish_reason="tool_calls")
        else:
            raise ModelError(
                f"scripted reply of type {type(reply).__name__} is not text, a tool call or a "
                "list of tool calls",
                error_code="malformed_response",
            )
        # Everything below is built from already-validated objects: construct, do not
        # validate again (a scripted turn is the engine benchmark's model).
        calls = [c if c.id else _with_id(c, turn, i) for i, c in enumerate(response.tool_calls)]
        usage = response.usage
        if usage.input_tokens == 0 and usage.output_tokens == 0:
            out = len(response.text or "") + sum([len(c.name) + 16 for c in calls])
            usage = _estimate(chars, out, max_tokens)
        return construct_trusted(
            ModelResponse,
            text=response.text,
            tool_calls=calls,
            usage=usage,
            finish_reason=response.finish_reason,
            model=self._model_id,
        )


def _forget(
    tally: dict[int, tuple[weakref.ref[Message], int, int, int]],
    key: int,
    ref: weakref.ref[Message],
) -> None:
    """Drop a conversation's tally when its first message is gone (if the id is not reused)."""
    known = tally.get(key)
    if known is not None and known[0] is ref:
        del tally[key]


def _with_id(call: ToolCall, turn: int, index: int) -> ToolCall:
    """``call`` with the id a scripted reply gets when it has none."""
    return construct_trusted(
        ToolCall,
        id=f"call_{turn}_{index}",
        name=call.name,
        arguments=call.arguments,
        invalid_arguments=call.invalid_arguments,
    )


def _estimate(prompt_chars: int, output_chars: int, max_tokens: int | None) -> Usage:
    """Usage at one token per four characters."""
    output_tokens = output_chars // 4 + 1
    if max_tokens is not None:
        # Like a real provider, never bill (or produce) more than max_tokens.
        output_tokens = min(output_tokens, max_tokens)
    return construct_trusted(
        Usage,
        input_tokens=prompt_chars // 4 + 1,
        output_tokens=output_tokens,
        cached_input_tokens=0,
        cache_write_tokens=0,
    )
