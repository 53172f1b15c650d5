"""Provider-neutral request and response types shared by every model adapter.

These cross the durable boundary (a model reply is stored in `model.completed`),
so they are pydantic models with stable field names.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any, Literal, Protocol, TypeVar, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field

M = TypeVar("M", bound=BaseModel)

_TEMPLATES: dict[
    type[BaseModel], tuple[dict[str, Any], tuple[tuple[str, Callable[[], Any]], ...]]
] = {}


def _template(
    cls: type[BaseModel],
) -> tuple[dict[str, Any], tuple[tuple[str, Callable[[], Any]], ...]]:
    static: dict[str, Any] = {}
    factories: list[tuple[str, Callable[[], Any]]] = []
    for name, info in cls.model_fields.items():
        static[name] = None if info.is_required() else info.default
        if info.default_factory is not None:
            factories.append((name, info.default_factory))  # type: ignore[arg-type]  # no validated-data factories here
    _TEMPLATES[cls] = (static, tuple(factories))
    return _TEMPLATES[cls]


def construct_trusted(cls: type[M], /, **fields: Any) -> M:
    """An instance of ``cls`` from values that are already valid, without validating them.

    For the hot path only (an event per model or tool call, a message per fold): the
    values come from validated objects or from the engine itself. Unlike
    ``model_construct`` (which resolves every default in Python on each call) the
    defaults are computed once per class. Every required field must be given.
    """
    template = _TEMPLATES.get(cls) or _template(cls)
    values = template[0].copy()
    for name, factory in template[1]:
        if name not in fields:
            values[name] = factory()
    values.update(fields)
    obj = _new(cls)
    _set_dict(obj, values)
    _set_fields_set(obj, set(fields))
    _set_extra(obj, None)
    _set_private(obj, None)
    return obj


# BaseModel's slots, set through their descriptors (what object.__setattr__ ends up
# calling, without looking each one up per call).
_new = object.__new__
_set_dict = BaseModel.__dict__["__dict__"].__set__
_set_fields_set = BaseModel.__dict__["__pydantic_fields_set__"].__set__
_set_extra = BaseModel.__dict__["__pydantic_extra__"].__set__
_set_private = BaseModel.__dict__["__pydantic_private__"].__set__


Role = Literal["system", "user", "assistant", "tool"]
FinishReason = Literal["stop", "tool_calls", "length", "content_filter", "error"]
StepKind = Literal["act", "finalize", "summarize", "plan", "reflect", "other"]


class ToolCall(BaseModel):
    """One tool invocation proposed by the model.

    ``invalid_arguments`` holds the raw text when the provider returned
    arguments that are not a JSON object; the executor turns that into a
    structured error the model sees on its next turn.
    """

    model_config = ConfigDict(frozen=True)

    id: str
    name: str
    arguments: dict[str, Any] = Field(default_factory=dict)
    invalid_arguments: str | None = None


class Usage(BaseModel):
    """Token usage of one model call (or the sum over a run)."""

    input_tokens: int = 0
    output_tokens: int = 0
    cached_input_tokens: int = 0
    cache_write_tokens: int = 0

    def __add__(self, other: Usage) -> Usage:
        # Sums of validated ints: nothing to validate (the fold adds one per model call).
        return construct_trusted(
            Usage,
            input_tokens=self.input_tokens + other.input_tokens,
            output_tokens=self.output_tokens + other.output_tokens,
            cached_input_tokens=self.cached_input_tokens + other.cached_input_tokens,
            cache_write_tokens=self.cache_write_tokens + other.cache_write_tokens,
        )


class Message(BaseModel):
    """One message of the provider-neutral conversation."""

    role: Role
    content: str | None = None
    tool_calls: list[ToolCall] = Field(default_factory=list)
    tool_call_id: str | None = None
    name: str | None = None
    flagged: list[str] | None = None
    """On a tool message: the injection patterns its text matched (the run recorded an
    ``injection.flagged`` for the call). A model may read it as data; an answer must not
    pass it on. Never sent to a provider."""


class ToolSpec(BaseModel):
    """What a model is told about a tool: name, description, JSON Schema."""

    name: str
    description: str = ""
    parameters: dict[str, Any] = Field(default_factory=dict)


class ModelSettings(BaseModel):
    """Sampling settings passed through to the provider."""

    model_config = ConfigDict(extra="allow")

    temperature: float | None = None
    max_tokens: int | None = None
    top_p: float | None = None
    seed: int | None = None


class ModelRequest(BaseModel):
    """Everything a provider needs for one call.

    ``instructions`` and ``tools`` form the stable prefix; ``messages`` is the
    conversation appended after it, never rewritten between turns.
    """

    instructions: str = ""
    messages: list[Message] = Field(default_factory=list)
    tools: list[ToolSpec] = Field(default_factory=list)
    output_schema: dict[str, Any] | None = None
    settings: ModelSettings = Field(default_factory=ModelSettings)
    step_kind: StepKind = "act"


class ModelResponse(BaseModel):
    """A model reply: text, tool calls, or both."""

    text: str | None = None
    tool_calls: list[ToolCall] = Field(default_factory=list)
    usage: Usage = Field(default_factory=Usage)
    finish_reason: FinishReason = "stop"
    model: str = ""


class StreamDelta(BaseModel):
    """An ephemeral piece of a streamed reply (never stored)."""

    kind: Literal["text", "tool_call"]
    text: str = ""
    tool_call_index: int = 0
    tool_name: str | None = None
    arguments_fragment: str = ""


@runtime_checkable
class ModelClient(Protocol):
    """What a model provider implements.

    ``model_id`` names the model for the agent version hash and for pricing.
    ``stream`` yields deltas and finally the complete :class:`ModelResponse`.
    """

    @property
    def model_id(self) -> str: ...

    async def complete(self, request: ModelRequest) -> ModelResponse: ...

    def stream(self, request: ModelRequest) -> AsyncIterator[StreamDelta | ModelResponse]: ...
