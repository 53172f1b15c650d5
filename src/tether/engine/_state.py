"""Run state as a fold over the event log, and the run lifecycle transition table.

``apply`` is the only code that changes a :class:`RunState`. It runs on events
loaded from the store (resume, replay) and on events a live step records, so
the two can never disagree.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from tether.engine._events import (
    ApprovalDecided,
    ApprovalRequested,
    BudgetWarned,
    EffectRecorded,
    Event,
    InjectionFlagged,
    ModelCompleted,
    ModelFailed,
    ModelRejected,
    OutputRejected,
    RunCreated,
    RunEscalated,
    RunFailure,
    RunFinished,
    RunStatus,
    RunStatusChanged,
    SignalReceived,
    ToolCompleted,
    ToolFailed,
    ToolStarted,
    Transitioned,
)
from tether.exceptions import IllegalTransitionError
from tether.models import Message, ModelResponse, Usage, construct_trusted

if TYPE_CHECKING:
    from tether.policy import Budget

TRANSITIONS: dict[RunStatus, frozenset[RunStatus]] = {
    "pending": frozenset({"running", "quarantined", "cancelled", "failed"}),
    # running → running: another driver goes on from the log (its previous one died, lost
    # its lease, or lost its store); reason "resumed".
    "running": frozenset(
        {"running", "waiting", "escalated", "quarantined", "completed", "failed", "cancelled"}
    ),
    "waiting": frozenset({"running", "escalated", "cancelled", "failed"}),
    "escalated": frozenset({"running", "cancelled", "failed"}),
    "quarantined": frozenset({"running", "cancelled", "failed"}),
    "completed": frozenset(),
    "failed": frozenset(),
    "cancelled": frozenset(),
}
"""Allowed lifecycle moves. Anything else is a bug and raises ``IllegalTransitionError``."""

TERMINAL: frozenset[RunStatus] = frozenset({"completed", "failed", "cancelled"})
PARKED: frozenset[RunStatus] = frozenset({"waiting", "escalated", "quarantined"})
"""Stopped but not finished: a signal (approval, input, resume) continues the run.

A ``quarantined`` run crashed its worker (or its driver) too often at the same step; it
is never claimed again until a person sends ``resume`` (after fixing the cause) or
cancels it."""


def check_transition(run_id: str, previous: RunStatus, status: RunStatus) -> None:
    """Raise if the lifecycle table forbids ``previous → status``."""
    if status not in TRANSITIONS[previous]:
        raise IllegalTransitionError(
            f"run {run_id}: illegal lifecycle transition {previous} → {status}",
            run_id=run_id,
            previous=previous,
            status=status,
        )


@dataclass(frozen=True, slots=True, init=False)
class RunEvent:
    """A persisted event with its place in the log: what ``run.events()`` yields."""

    run_id: str
    seq: int
    step: int
    ts: float
    event: Event
    data: bytes = field(default=b"", compare=False, repr=False)
    """The persisted JSON, when already encoded (live events encode once, at record time)."""

    def __init__(
        self, run_id: str, seq: int, step: int, ts: float, event: Event, data: bytes = b""
    ) -> None:
        # One per event: each slot set through its own setter, which is what the frozen
        # dataclass __init__ reaches through object.__setattr__, at a third of the cost.
        _set_run_id(self, run_id)
        _set_seq(self, seq)
        _set_step(self, step)
        _set_ts(self, ts)
        _set_event(self, event)
        _set_data(self, data)

    @property
    def type(self) -> str:
        """The event's type discriminator, e.g. ``"tool.completed"``."""
        return self.event.type


_set_run_id = RunEvent.__dict__["run_id"].__set__  # the slots' descriptors
_set_seq = RunEvent.__dict__["seq"].__set__
_set_step = RunEvent.__dict__["step"].__set__
_set_ts = RunEvent.__dict__["ts"].__set__
_set_event = RunEvent.__dict__["event"].__set__
_set_data = RunEvent.__dict__["data"].__set__


@dataclass(kw_only=True, slots=True)
class Approval:
    """A call that needed a person: the request and, once made, the decision."""

    request: ApprovalRequested
    decision: ApprovalDecided | None = None
    decided_at: float | None = None
    """When the decision was recorded (its event's timestamp)."""

    @property
    def pending(self) -> bool:
        """Whether nobody has decided yet."""
        return self.decision is None


@dataclass(kw_only=True, slots=True)
class RunState:
    """Everything a step needs to decide, folded from the run's events."""

    run_id: str
    status: RunStatus = "pending"
    agent: str = ""
    agent_version: str = ""
    tenant: str | None = None
    parent_run_id: str | None = None
    input: Any = None
    prefix_hash: str | None = None
    machine_state: str = ""
    step: int = 0
    last_seq: int = 0
    created_at: float = 0.0
    updated_at: float = 0.0
    driven_at: float = 0.0
    """When the run's last event that a driver recorded was (a signal is not one): where
    its active time ends if its driver died (see ``running → running``)."""
    messages: list[Message] = field(default_factory=list)
    journal: dict[
        int, ModelCompleted | ToolStarted | ToolCompleted | ToolFailed | EffectRecorded
    ] = field(default_factory=dict)
    last_reply: ModelResponse | None = None
    last_prefix_hash: str | None = None
    usage: Usage = field(default_factory=Usage)
    cost_usd: float = 0.0
    model_calls: int = 0
    failed_model_calls: int = 0
    """Model call attempts that failed (retries, fallbacks): the budget counts them too."""
    charged_usage: Usage = field(default_factory=Usage)
    """What failed attempts whose outcome is unknown may have used (``model.failed``)."""
    charged_cost_usd: float = 0.0
    tool_calls: int = 0
    output_repairs: int = 0
    output: Any = None
    error: RunFailure | None = None
    wait_reason: str | None = None
    wait_details: dict[str, Any] | None = None
    data: dict[str, Any] = field(default_factory=dict)
    write_resolutions: dict[str, dict[str, Any]] = field(default_factory=dict)
    signals: list[SignalReceived] = field(default_factory=list)
    budget: dict[str, Any] | None = None
    # ``budget`` parsed, with the record it was parsed from (see ``_gate.pinned_budget``):
    # the gate reads it several times a step, and the record is pinned at creation.
    parsed_budget: tuple[dict[str, Any], Budget] | None = field(
        default=None, repr=False, compare=False
    )
    approvals: dict[str, Approval] = field(default_factory=dict)
    budget_warned: set[str] = field(default_factory=set)
    degraded_to: str | None = None
    escalation: RunEscalated | None = None
    active_seconds: float = 0.0
    running_since: float | None = None
    escalation_decisions: dict[str, dict[str, Any]] = field(default_factory=dict)
    """A person's decision on a call that policy escalated, by the call's key."""
    deferred_messages: list[Message] = field(default_factory=list)
    """User messages that arrived while tool calls were unanswered: they join after them."""
    tool_counts: dict[str, int] = field(default_factory=dict)
    call_signatures: dict[str, str] = field(default_factory=dict)
    signature_counts: dict[str, int] = field(default_factory=dict)
    consecutive_failures: int = 0
    repeated_replies: int = 0
    last_reply_signature: str | None = None

    @property
    def escalated_calls(self) -> list[str]:
        """Keys of the calls the run is escalated on, waiting for a person's decision.

        A policy escalation names one call (``context["call"]``); an approval request that
        expired undecided with ``on_expiry="escalate"`` names each such request
        (``context["calls"]``). Empty unless the run is ``escalated`` on calls.
        """
        return _escalated_calls(self)

    def approval_for_call(self, call_id: str) -> list[Approval]:
        """Approvals whose provider call id is ``call_id`` (several when a provider reused it)."""
        return [a for a in self.approvals.values() if a.request.call_id == call_id]

    @property
    def pending_approvals(self) -> list[Approval]:
        """Approvals requested and not yet decided, in request order."""
        return [a for a in self.approvals.values() if a.pending]

    @property
    def terminal(self) -> bool:
        """Whether the run has ended (completed, failed or cancelled)."""
        return self.status in TERMINAL


def tool_message_content(result: Any) -> str:
    """Render a tool result as the text the model sees."""
    return result if isinstance(result, str) else json.dumps(result, ensure_ascii=False)


def apply(state: RunState, rec: RunEvent) -> None:
    """Fold one event into the state (in place)."""
    ev = rec.event
    state.last_seq = rec.seq
    state.updated_at = rec.ts
    driven_before, state.driven_at = state.driven_at, rec.ts
    if isinstance(ev, ModelCompleted):
        state.journal[ev.call] = ev
        state.model_calls += 1
        state.usage = state.usage + ev.response.usage
        state.cost_usd += ev.cost_usd or 0.0
        state.last_reply = ev.response
        if ev.prefix_hash is not None:
            state.last_prefix_hash = ev.prefix_hash
        signatures = [call_signature(c.name, c.arguments) for c in ev.response.tool_calls]
        reply_signature = f"{ev.response.text or ''}|{';'.join(signatures)}"
        if reply_signature == state.last_reply_signature:
            state.repeated_replies += 1
        else:
            state.repeated_replies = 0
            state.last_reply_signature = reply_signature
        for call, signature in zip(ev.response.tool_calls, signatures, strict=True):
            state.call_signatures[call.id] = signature
        state.messages.append(
            _message("assistant", ev.response.text, tool_calls=ev.response.tool_calls)
        )
    elif isinstance(ev, ToolCompleted):
        state.journal[ev.call] = ev
        state.tool_calls += 1
        state.consecutive_failures = 0
        _count_call(state, ev.call_id, ev.tool)
        state.messages.append(
            _message("tool", tool_message_content(ev.result), tool_call_id=ev.call_id, name=ev.tool)
        )
        _release_deferred(state)
    elif isinstance(ev, ToolFailed):
        if ev.will_retry:
            if ev.charged:
                # A call a killed driver may have run (see ``StepContext.call_tools``):
                # counted against the budget, in all and per tool. Not a result (the call
                # runs again), and not a request of the model's (loop detection counts
                # those: the re-run's result counts this call once).
                state.tool_calls += 1
                state.tool_counts[ev.tool] = state.tool_counts.get(ev.tool, 0) + 1
            return
        state.journal[ev.call] = ev
        state.tool_calls += 1
        state.consecutive_failures += 1
        _count_call(state, ev.call_id, ev.tool)
        state.messages.append(
            _message(
                "tool",
                ev.error.model_dump_json(exclude_none=True),
                tool_call_id=ev.call_id,
                name=ev.tool,
            )
        )
        _release_deferred(state)
    elif isinstance(ev, Transitioned):
        state.step += 1
        state.journal.clear()
        if state.write_resolutions:
            state.write_resolutions.clear()  # decided about this step's writes only
        state.machine_state = ev.to
        if ev.data:
            state.data.update(ev.data)
    elif isinstance(ev, ToolStarted):
        state.journal[ev.call] = ev
        if state.write_resolutions:
            # A write started (again): an operator's decision about it is used up.
            state.write_resolutions.pop(ev.idempotency_key, None)
    elif isinstance(ev, EffectRecorded):
        state.journal[ev.call] = ev
    elif isinstance(ev, InjectionFlagged):
        _flag_message(state, ev)
    elif isinstance(ev, ModelFailed):
        state.failed_model_calls += 1
        if ev.charged is not None:
            state.charged_usage = state.charged_usage + ev.charged
        state.charged_cost_usd += ev.charged_cost_usd or 0.0
    elif isinstance(ev, RunStatusChanged):
        check_transition(state.run_id, state.status, ev.status)
        if state.running_since is not None:
            # Taken over (running → running): the run was driven until the previous
            # owner's last event, then by no one until now.
            until = driven_before if ev.status == "running" else rec.ts
            state.active_seconds += max(0.0, until - state.running_since)
            state.running_since = None
        state.status = ev.status
        if ev.status in PARKED:
            state.wait_reason = ev.reason
            state.wait_details = ev.details
        elif ev.status == "running":
            state.running_since = rec.ts
            state.wait_reason = None
            state.wait_details = None
            if state.escalation is not None:
                # A person took the handoff: the counters that escalated start over.
                state.escalation = None
                state.consecutive_failures = 0
                state.repeated_replies = 0
                state.signature_counts.clear()
    elif isinstance(ev, RunCreated):
        state.agent = ev.agent
        state.agent_version = ev.agent_version
        state.tenant = ev.tenant
        state.parent_run_id = ev.parent_run_id
        state.input = ev.input
        state.prefix_hash = ev.prefix_hash
        state.budget = ev.budget
        state.machine_state = ev.initial_state
        state.created_at = rec.ts
        content = ev.input if isinstance(ev.input, str) else json.dumps(ev.input)
        state.messages.append(Message(role="user", content=content))
    elif isinstance(ev, SignalReceived):
        state.driven_at = driven_before  # from outside (a person, a claim): no driving
        state.signals.append(ev)
        if ev.name == "input":
            message = Message(role="user", content=tool_message_content(ev.payload))
            # A person answered instead of deciding: the escalated calls do not run.
            _bind_escalation_decision(
                state, False, ev.by, "a person took over the conversation instead"
            )
            if _unanswered_calls(state):
                state.deferred_messages.append(message)
            else:
                state.messages.append(message)
        elif ev.name == "resume" and isinstance(ev.payload, dict):
            approved = ev.payload.get("approve", ev.payload.get("approved"))
            if isinstance(approved, bool):
                _bind_escalation_decision(state, approved, ev.by, ev.payload.get("reason"))
        elif ev.name == "resolve_write" and isinstance(ev.payload, dict):
            # Bound to one call by its idempotency key (the runtime adds it when the signal
            # arrives); a log from before that names the call by whatever id it was given.
            key = ev.payload.get("idempotency_key") or ev.payload.get("call_id")
            state.write_resolutions[str(key)] = ev.payload
        elif ev.name == "agent_version_accepted" and isinstance(ev.payload, dict):
            state.agent_version = str(ev.payload.get("accepted", state.agent_version))
    elif isinstance(ev, ModelRejected):
        hint = f" {ev.hint}" if ev.hint else ""
        state.messages.append(
            Message(role="user", content=f"Your last reply could not be used: {ev.reason}.{hint}")
        )
    elif isinstance(ev, OutputRejected):
        state.output_repairs = ev.attempt
        state.messages.append(
            Message(
                role="user",
                content=(
                    "Your final answer did not match the required output schema: "
                    f"{ev.errors}. Reply again with a corrected final answer."
                ),
            )
        )
    elif isinstance(ev, RunFinished):
        state.output = ev.output
        state.error = ev.error
    elif isinstance(ev, ApprovalRequested):
        state.approvals[ev.key] = Approval(request=ev)
    elif isinstance(ev, ApprovalDecided):
        approval = state.approvals.get(ev.key)
        if approval is not None:  # a decision for no known request decides nothing
            approval.decision = ev
            approval.decided_at = rec.ts
    elif isinstance(ev, BudgetWarned):
        state.budget_warned.add(ev.dimension)
        if ev.degraded_to is not None:
            state.degraded_to = ev.degraded_to
    elif isinstance(ev, RunEscalated):
        state.escalation = ev


def _flag_message(state: RunState, ev: InjectionFlagged) -> None:
    """Mark the tool message of a flagged call (the latest with its id) with the patterns."""
    messages = state.messages
    for i in range(len(messages) - 1, -1, -1):
        message = messages[i]
        if message.role == "tool" and message.tool_call_id == ev.call_id:
            messages[i] = message.model_copy(update={"flagged": list(ev.patterns)})
            return


def _message(
    role: Literal["user", "assistant", "tool"],
    content: str | None,
    *,
    tool_calls: list[Any] | None = None,
    tool_call_id: str | None = None,
    name: str | None = None,
) -> Message:
    """A conversation message from event data (already validated: constructed, not checked)."""
    return construct_trusted(
        Message,
        role=role,
        content=content,
        tool_calls=tool_calls if tool_calls is not None else [],
        tool_call_id=tool_call_id,
        name=name,
    )


def run_finished(
    state: RunState,
    status: RunStatus,
    *,
    output: Any = None,
    error: RunFailure | None = None,
) -> RunFinished:
    """The ``run.finished`` event that ends ``state``'s run, with its totals."""
    return RunFinished(
        status=status,
        output=output,
        error=error,
        usage=state.usage,
        model_calls=state.model_calls,
        tool_calls=state.tool_calls,
        cost_usd=round(state.cost_usd, 8),
    )


def args_hash(arguments: dict[str, Any]) -> str:
    """Hash of a call's exact arguments (canonical JSON): what an approval is bound to."""
    canonical = json.dumps(arguments, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()[:32]


EXPIRED_APPROVAL = "approval_expired"
"""The escalation source of approval requests that expired undecided (``on_expiry="escalate"``)."""


def _escalated_calls(state: RunState) -> list[str]:
    """The keys of the calls an escalation is about, while the run is escalated on them."""
    escalation = state.escalation
    if state.status != "escalated" or escalation is None or not escalation.context:
        return []
    key = escalation.context.get("call")
    if isinstance(key, str):
        return [key]
    keys = escalation.context.get("calls")
    if escalation.source == EXPIRED_APPROVAL and isinstance(keys, list):
        return [k for k in keys if isinstance(k, str)]
    return []


def _bind_escalation_decision(state: RunState, approved: bool, by: str | None, reason: Any) -> None:
    """Bind a person's decision to each call the run is escalated on.

    Bound to Tether's identity of each call (its key) and, for an approval request, to
    the hash of the arguments the request was made for: the gate refuses the decision
    for any other arguments. Provider call ids play no part.
    """
    for key in _escalated_calls(state):
        decision: dict[str, Any] = {"approved": approved, "by": by, "reason": reason}
        approval = state.approvals.get(key)
        if approval is not None:
            decision["args_hash"] = approval.request.args_hash
        state.escalation_decisions[key] = decision


def _unanswered_calls(state: RunState) -> bool:
    """Whether the last assistant message has tool calls without results yet."""
    messages = state.messages
    results = 0
    for position in range(len(messages) - 1, -1, -1):
        message = messages[position]
        if message.role == "assistant":
            return results < len(message.tool_calls)
        if message.role == "tool":
            results += 1
    return False


def _release_deferred(state: RunState) -> None:
    if state.deferred_messages and not _unanswered_calls(state):
        state.messages.extend(state.deferred_messages)
        state.deferred_messages.clear()


_SIGNATURE_JSON = json.JSONEncoder(sort_keys=True, separators=(",", ":"), default=str)
# The C encoder that JSONEncoder.encode() builds anew on every call, built once. Without
# the circular-reference check: arguments are bounded in depth before they are recorded
# (a cycle would be refused there), and anything odd falls back to the full encoder.
_SIGNATURE_C = (
    json.encoder.c_make_encoder(  # type: ignore[attr-defined]
        None, str, json.encoder.encode_basestring_ascii, None, ":", ",", True, False, True
    )
    if json.encoder.c_make_encoder is not None  # type: ignore[attr-defined]
    else None
)


def call_signature(tool: str, arguments: dict[str, Any]) -> str:
    """Identity of a call for loop detection: the tool and its canonical arguments."""
    if _SIGNATURE_C is not None and type(arguments) is dict:
        try:
            return tool + "".join(_SIGNATURE_C(arguments, 0))
        except (ValueError, TypeError, RecursionError):
            pass
    return tool + _SIGNATURE_JSON.encode(arguments)


def _count_call(state: RunState, call_id: str, tool: str) -> None:
    state.tool_counts[tool] = state.tool_counts.get(tool, 0) + 1
    signature = state.call_signatures.get(call_id)
    if signature is not None:
        state.signature_counts[signature] = state.signature_counts.get(signature, 0) + 1


def fold(run_id: str, events: Iterable[RunEvent]) -> RunState:
    """Build a run's state from its events, in order."""
    state = RunState(run_id=run_id)
    for rec in events:
        apply(state, rec)
    return state
