"""The vocabulary of a run: persisted events, each a pydantic model with a ``type`` discriminator.

Every event carries a schema version ``v``. Reading an event whose type or
version this code does not know fails fast with :class:`SchemaVersionError`
instead of guessing. Effect events (model and tool calls, recorded clock and
random values) carry ``call``: their index inside the step, which with the
run id and the step number is the journal key.
"""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, field_validator
from pydantic_core import PydanticSerializationError, SchemaSerializer

from tether.exceptions import SchemaVersionError
from tether.models import ModelResponse, Usage
from tether.tools import ToolError

SCHEMA_VERSION = 1
"""Version 1: run, status, transition, model, tool, effect, signal, policy, approval,
budget, escalation, injection and breaker events."""

RunStatus = Literal[
    "pending",
    "running",
    "waiting",
    "escalated",
    "quarantined",
    "completed",
    "failed",
    "cancelled",
]


UNKNOWN_TOOL_LABEL = "<unknown>"
"""What an event records as its tool when the model called a tool that does not exist
(never a valid tool name, so it cannot be mistaken for one, nor carry what the model wrote)."""


class _Event(BaseModel):
    model_config = ConfigDict(extra="forbid")
    v: int = SCHEMA_VERSION


class RunCreated(_Event):
    """A run exists: its input, owner and pinned agent version."""

    type: Literal["run.created"] = "run.created"
    agent: str
    agent_version: str
    input: Any = None
    tenant: str | None = None
    parent_run_id: str | None = None
    initial_state: str
    prefix_hash: str | None = None
    budget: dict[str, Any] | None = None
    metadata: dict[str, Any] | None = None


class RunStatusChanged(_Event):
    """The run lifecycle moved (see the transition table in ``_state``)."""

    type: Literal["run.status"] = "run.status"
    previous: RunStatus
    status: RunStatus
    reason: str | None = None
    details: dict[str, Any] | None = None


class Transitioned(_Event):
    """A step ended: the machine goes to ``to`` next. Ends the step in the journal."""

    type: Literal["transition"] = "transition"
    to: str
    data: dict[str, Any] | None = None


class ModelCompleted(_Event):
    """A model call returned (journaled effect)."""

    type: Literal["model.completed"] = "model.completed"
    call: int
    response: ModelResponse
    latency_ms: float = 0.0
    attempt: int = 1
    prefix_hash: str | None = None
    cost_usd: float | None = None


class ModelFailed(_Event):
    """One model call attempt failed; ``will_retry`` says whether another attempt follows."""

    type: Literal["model.failed"] = "model.failed"
    call: int
    model: str
    error_code: str
    message: str
    retryable: bool
    attempt: int
    will_retry: bool = False
    retry_after: float | None = None
    charged: Usage | None = None
    """Under a budget, what the attempt may have cost when its outcome is unknown (a
    timeout, a dropped connection, a broken reply: the provider may have generated, and
    billed, the whole reply): the request's estimated input and its ``max_tokens``."""
    charged_cost_usd: float | None = None
    """``charged`` priced, when the model's price is known."""


class PrefixChanged(_Event):
    """Warning: this model call's stable prefix differs from the previous call's (a cache bust)."""

    type: Literal["prefix.changed"] = "prefix.changed"
    previous: str
    current: str
    changed: list[str]


class ModelRejected(_Event):
    """A model reply was neither usable text nor a valid tool call; the model is told why."""

    type: Literal["model.rejected"] = "model.rejected"
    reason: str
    hint: str | None = None


class ToolStarted(_Event):
    """A write tool is about to run. Committed before the call so recovery knows it may have run."""

    type: Literal["tool.started"] = "tool.started"
    call: int
    call_id: str
    tool: str
    arguments: dict[str, Any]
    idempotency_key: str


class ToolCompleted(_Event):
    """A tool call returned a result (journaled effect)."""

    type: Literal["tool.completed"] = "tool.completed"
    call: int
    call_id: str
    tool: str
    result: Any = None
    attempt: int = 1
    duration_ms: float = 0.0
    simulated: bool | None = None
    """``True`` when a ``ToolSimulator`` answered from recorded I/O (the tool never ran)."""


class ToolFailed(_Event):
    """A tool call failed with a structured error; final unless ``will_retry``."""

    type: Literal["tool.failed"] = "tool.failed"
    call: int
    call_id: str
    tool: str
    error: ToolError
    attempt: int = 1
    duration_ms: float = 0.0
    will_retry: bool = False
    simulated: bool | None = None
    """``True`` when a ``ToolSimulator`` answered (a replayed error, or ``not_simulated``)."""
    charged: bool | None = None
    """``True`` on a call a previous driver may have run before it stopped without handing
    the run over (error code ``interrupted``, ``will_retry``): the budget counts it as a
    call made, though no result was recorded; the call runs again, and its result is the
    call's. ``None`` (left out of the log) on every other event."""


class EffectRecorded(_Event):
    """A nondeterministic value (clock, random id, custom effect) fixed in the journal."""

    type: Literal["effect.recorded"] = "effect.recorded"
    call: int
    kind: str
    value: Any = None


class SignalReceived(_Event):
    """Something from outside reached the run: input, cancel, a resolution of a wait."""

    type: Literal["signal.received"] = "signal.received"
    name: str
    payload: Any = None
    by: str | None = None


class OutputRejected(_Event):
    """The final answer failed the agent's output schema; a repair turn may follow."""

    type: Literal["output.rejected"] = "output.rejected"
    errors: str
    attempt: int


class PolicyDecided(_Event):
    """The policy gate's verdict on a proposed tool call (recorded unless it is a plain allow)."""

    type: Literal["policy.decided"] = "policy.decided"
    call_id: str
    key: str | None = None
    """Tether's identity of the call (``"step.index"``); the provider's ``call_id`` is a label."""
    tool: str
    action: str
    reason: str
    rule: str | None = None
    source: str


class ApprovalRequested(_Event):
    """A call waits for a person: what the agent was doing, the exact action, and why."""

    type: Literal["approval.requested"] = "approval.requested"
    call_id: str
    """The provider's id of the call: a label only (providers reuse and omit ids)."""
    approval_id: str | None = None
    """What a person approves: Tether's identity of the call, ``"step.index"``."""
    step: int | None = None
    call: int | None = None
    args_hash: str | None = None
    """Hash of the exact, validated arguments the approval covers."""
    tool: str
    arguments: dict[str, Any]
    reason: str
    rule: str | None = None
    task: str
    reasoning: str | None = None
    expires_at: float | None = None
    on_expiry: Literal["deny", "escalate"] = "deny"
    preview: str | None = None
    """What the call will do, in words (the tool's ``preview``), for the person deciding."""

    @property
    def key(self) -> str:
        """The approval's identity (``approval_id``; the call id for events before it)."""
        return self.approval_id or self.call_id


class ApprovalDecided(_Event):
    """A person (or the expiry timer) approved or denied a call, maybe with changed arguments."""

    type: Literal["approval.decided"] = "approval.decided"
    call_id: str
    approval_id: str | None = None
    args_hash: str | None = None
    """Hash of the arguments the person approved (the edited ones when changed)."""
    approved: bool
    by: str
    reason: str | None = None
    arguments: dict[str, Any] | None = None

    @property
    def key(self) -> str:
        """The approval this decides (``approval_id``; the call id for events before it)."""
        return self.approval_id or self.call_id


class BudgetWarned(_Event):
    """A budget crossed its soft threshold; ``degraded_to`` names the cheaper model now used."""

    type: Literal["budget.warned"] = "budget.warned"
    dimension: str
    used: float
    limit: float
    degraded_to: str | None = None


class RunEscalated(_Event):
    """The run was handed to a person: why, with what context, and what to do next."""

    type: Literal["run.escalated"] = "run.escalated"
    reason: str
    source: str
    context: dict[str, Any] | None = None
    suggested_next_step: str | None = None


class InjectionFlagged(_Event):
    """A tool output matched known prompt-injection patterns (it is still only data)."""

    type: Literal["injection.flagged"] = "injection.flagged"
    call_id: str
    tool: str
    patterns: list[str]


class BreakerChanged(_Event):
    """A tool's circuit breaker moved (``closed``, ``open``, ``half_open``), seen by this run.

    ``key`` is the breaker: a tool name, or ``mcp:SERVER`` for all of a server's tools.
    Breakers live in the runtime process, not in the run: the event records what this
    run observed (and why), it does not change the run's state.
    """

    type: Literal["breaker.changed"] = "breaker.changed"
    key: str
    tool: str
    previous: Literal["closed", "open", "half_open"]
    current: Literal["closed", "open", "half_open"]
    reason: str
    failures: int = 0
    retry_after: float | None = None


class RunFailureCode(StrEnum):
    """Why a run failed or was cancelled: the stable codes the engine itself records.

    ``model_*`` codes carry the model error's classification. A user's machine may
    end with its own ``Fail(error_code=...)``; such a code is kept as the string it is.
    """

    FAILED = "failed"
    CANCELLED = "cancelled"
    BUDGET_EXCEEDED = "budget_exceeded"
    MAX_TURNS_EXCEEDED = "max_turns_exceeded"
    ILLEGAL_TRANSITION = "illegal_transition"
    STATE_ERROR = "state_error"
    POLICY_DENIED = "policy_denied"
    OUTPUT_VALIDATION_FAILED = "output_validation_failed"
    MODEL_ERROR = "model_model_error"
    MODEL_RATE_LIMITED = "model_rate_limited"
    MODEL_OVERLOADED = "model_overloaded"
    MODEL_SERVER_ERROR = "model_server_error"
    MODEL_TIMEOUT = "model_timeout"
    MODEL_CONNECTION = "model_connection"
    MODEL_MALFORMED_RESPONSE = "model_malformed_response"
    MODEL_CONTEXT_LENGTH = "model_context_length"
    MODEL_INVALID_REQUEST = "model_invalid_request"
    MODEL_AUTH = "model_auth"
    MODEL_QUOTA_EXCEEDED = "model_quota_exceeded"


class RunFailure(BaseModel):
    """How a run ended badly: a stable code to branch on, words for people, and details."""

    model_config = ConfigDict(extra="forbid")

    error_code: RunFailureCode | str
    message: str = ""
    details: dict[str, Any] | None = None

    @field_validator("error_code", mode="before")
    @classmethod
    def _known_code(cls, value: Any) -> Any:
        if isinstance(value, str) and not isinstance(value, RunFailureCode):
            try:
                return RunFailureCode(value)
            except ValueError:
                return value
        return value


class RunFinished(_Event):
    """The run reached a terminal status, with its output or error and its totals."""

    type: Literal["run.finished"] = "run.finished"
    status: RunStatus
    output: Any = None
    error: RunFailure | None = None
    usage: Usage = Field(default_factory=Usage)
    model_calls: int = 0
    tool_calls: int = 0
    cost_usd: float = 0.0


Event = Annotated[
    RunCreated
    | RunStatusChanged
    | Transitioned
    | ModelCompleted
    | ModelFailed
    | PrefixChanged
    | ModelRejected
    | ToolStarted
    | ToolCompleted
    | ToolFailed
    | EffectRecorded
    | SignalReceived
    | OutputRejected
    | PolicyDecided
    | ApprovalRequested
    | ApprovalDecided
    | BudgetWarned
    | RunEscalated
    | InjectionFlagged
    | BreakerChanged
    | RunFinished,
    Field(discriminator="type"),
]

EffectEvent = ModelCompleted | ToolStarted | ToolCompleted | ToolFailed | EffectRecorded

_ADAPTER: TypeAdapter[Event] = TypeAdapter(Event)
EVENT_TYPES: frozenset[str] = frozenset(
    cls.model_fields["type"].default
    for cls in (
        RunCreated,
        RunStatusChanged,
        Transitioned,
        ModelCompleted,
        ModelFailed,
        PrefixChanged,
        ModelRejected,
        ToolStarted,
        ToolCompleted,
        ToolFailed,
        EffectRecorded,
        SignalReceived,
        OutputRejected,
        PolicyDecided,
        ApprovalRequested,
        ApprovalDecided,
        BudgetWarned,
        RunEscalated,
        InjectionFlagged,
        BreakerChanged,
        RunFinished,
    )
)


def encode_event(event: _Event) -> bytes:
    """Serialize an event to the JSON bytes that are persisted.

    ``None`` fields are left out (every such field defaults to ``None``), and so are
    the defaults of the per-turn events that are almost always default (a first
    attempt, zero cached tokens): the log of a turn stays small, and decoding gives the
    same event back. ``v`` and ``type`` are always written.

    Text that is not valid Unicode never stops an event from being persisted: a lone
    UTF-16 surrogate (``"\\ud800"``, half of a cut emoji in third-party JSON, or a byte
    that ``surrogateescape`` smuggled in from a file name) has no UTF-8 form, and the
    store's JSON reader refuses its ``\\u`` escape, so each one is written as U+FFFD
    (a surrogate pair held as two code points becomes the character it encodes). Keys
    and values alike, in every field; two keys that differ only there become one, the
    last kept. Clean events never pay for this: only a failed serialization looks for
    surrogates (see :func:`_replacing_surrogates`). :func:`encode_event_as_stored` also
    gives back the event as replaced, for the caller to fold.
    """
    kind = type(event)
    # _exclusions(), inlined: this runs for every event, and a call costs 2% of it.
    if kind is ModelCompleted:
        exclude = _turn_defaults(event.attempt, event.response.usage)  # type: ignore[attr-defined]
    elif kind is ToolCompleted or kind is ToolFailed:
        exclude = _FIRST_ATTEMPT if event.attempt == 1 else None  # type: ignore[attr-defined]
    else:
        exclude = None
    # The serializer model_dump_json() wraps, called directly: it returns the bytes that
    # model_dump_json() would decode to a str, for this line to encode again.
    serializer = kind.__pydantic_serializer__
    try:
        return serializer.to_json(event, exclude_none=True, exclude=exclude)
    except PydanticSerializationError:
        # Out of the hot path: a try that does not raise costs nothing (Python 3.11+).
        replaced = _replacing_surrogates(serializer, event)
        if replaced is None:
            raise  # not a surrogate: a real bug in what the event holds
        return serializer.to_json(replaced, exclude_none=True, exclude=exclude)


def _exclusions(kind: type[_Event], event: _Event) -> dict[str, Any] | None:
    """The defaults :func:`encode_event` leaves out of this event (it inlines this)."""
    if kind is ModelCompleted:
        return _turn_defaults(event.attempt, event.response.usage)  # type: ignore[attr-defined]
    if kind is ToolCompleted or kind is ToolFailed:
        return _FIRST_ATTEMPT if event.attempt == 1 else None  # type: ignore[attr-defined]
    return None


def encode_event_as_stored(event: _Event) -> tuple[_Event, bytes]:
    """The event as the log will hold it, and its bytes (see :func:`encode_event`).

    The same event, unless text had to be replaced: then an equal copy of it with the
    replacements, so whoever folds the event into the run's state (or shows it) sees what
    a reader of the log will see, not text that exists only in this process.
    """
    kind = type(event)
    serializer = kind.__pydantic_serializer__
    exclude = _exclusions(kind, event)
    try:
        return event, serializer.to_json(event, exclude_none=True, exclude=exclude)
    except PydanticSerializationError:
        replaced = _replacing_surrogates(serializer, event)
        if replaced is None:
            raise
        return replaced, serializer.to_json(replaced, exclude_none=True, exclude=exclude)


def _replacing_surrogates(serializer: SchemaSerializer, event: _Event) -> _Event | None:
    """A copy of ``event`` with each surrogate replaced; ``None`` if it holds none.

    The event is dumped to Python data (no text is encoded there, so nothing fails), its
    strings and keys are cleaned, and the cleaned data is validated back into an event of
    the same type, which the fast path's serializer then writes: the same fields,
    exclusions and formatting as any other event.
    """
    plain = serializer.to_python(event, round_trip=True)
    cleaned = _replace_surrogates(plain)
    if cleaned is plain:
        return None
    return type(event).model_validate(cleaned)


_SURROGATE = re.compile("[\ud800-\udfff]")


def _replace_surrogates(value: Any) -> Any:
    """``value`` with the surrogates in its strings replaced; the same object if none."""
    kind = type(value)
    if kind is str:
        if value.isascii() or _SURROGATE.search(value) is None:
            return value
        # UTF-16 is the one codec that pairs surrogates up; "replace" turns the rest
        # into U+FFFD, one for each.
        return value.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")
    if kind is dict:
        items = [(_replace_surrogates(k), _replace_surrogates(v)) for k, v in value.items()]
        if all(k is k0 and v is v0 for (k, v), (k0, v0) in zip(items, value.items(), strict=True)):
            return value
        return dict(items)
    if kind is list or kind is tuple:
        cleaned = [_replace_surrogates(item) for item in value]
        if all(a is b for a, b in zip(cleaned, value, strict=True)):
            return value
        return cleaned if kind is list else tuple(cleaned)
    if kind is set or kind is frozenset:  # written as a list (in iteration order)
        items = [_replace_surrogates(item) for item in value]
        return value if all(a is b for a, b in zip(items, value, strict=True)) else items
    if isinstance(value, str):  # a StrEnum member or another str subclass
        return _replace_surrogates(str(value)) if _SURROGATE.search(value) else value
    return value


_FIRST_ATTEMPT: dict[str, Any] = {"attempt": True}


def _turn_defaults(attempt: int, usage: Usage) -> dict[str, Any] | None:
    key = (attempt == 1, usage.cached_input_tokens == 0, usage.cache_write_tokens == 0)
    return _EXCLUDES[key]


def _exclude(first: bool, no_cached: bool, no_writes: bool) -> dict[str, Any] | None:
    zeros = {
        name
        for name, zero in (("cached_input_tokens", no_cached), ("cache_write_tokens", no_writes))
        if zero
    }
    exclude: dict[str, Any] = {}
    if first:
        exclude["attempt"] = True
    if zeros:
        exclude["response"] = {"usage": zeros}
    return exclude or None


# The eight exclusions, built once (the serializer only reads them).
_EXCLUDES = {
    (a, b, c): _exclude(a, b, c)
    for a in (False, True)
    for b in (False, True)
    for c in (False, True)
}


def decode_event(data: bytes | str) -> Event:
    """Parse persisted JSON into an event, failing fast on unknown types or versions."""
    try:
        event = _ADAPTER.validate_json(data)
    except ValidationError as exc:
        kind = _peek_type(data)
        if kind is not None and kind not in EVENT_TYPES:
            raise SchemaVersionError(
                f"unknown event type {kind!r}: this store was written by a newer Tether; upgrade",
                event_type=kind,
            ) from exc
        raise SchemaVersionError(f"unreadable event: {exc}", event_type=kind) from exc
    if event.v > SCHEMA_VERSION:
        raise SchemaVersionError(
            f"event {event.type!r} has schema version {event.v}, this code reads up to "
            f"{SCHEMA_VERSION}: upgrade tether-runtime",
            event_type=event.type,
            version=event.v,
        )
    return event


def _peek_type(data: bytes | str) -> str | None:
    import json

    try:
        raw = json.loads(data)
    except ValueError:
        return None
    value = raw.get("type") if isinstance(raw, dict) else None
    return value if isinstance(value, str) else None
