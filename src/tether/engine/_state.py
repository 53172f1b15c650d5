"""Run state as a fold over the event log, and the run lifecycle transition table.

``apply`` is the only code that changes a :class:`RunState`. It runs on events
loaded from the store (resume, replay) and on events a live step records, so
the two can never disagree.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from tether.engine._events import (
    EffectRecorded,
    Event,
    ModelCompleted,
    ModelRejected,
    OutputRejected,
    RunCreated,
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
from tether.models._types import Message, ModelResponse, Usage

TRANSITIONS: dict[RunStatus, frozenset[RunStatus]] = {
    "pending": frozenset({"running", "cancelled", "failed"}),
    "running": frozenset({"waiting", "completed", "failed", "cancelled"}),
    "waiting": frozenset({"running", "cancelled", "failed"}),
    "completed": frozenset(),
    "failed": frozenset(),
    "cancelled": frozenset(),
}
"""Allowed lifecycle moves. Anything else is a bug and raises ``IllegalTransitionError``."""

TERMINAL: frozenset[RunStatus] = frozenset({"completed", "failed", "cancelled"})


def check_transition(run_id: str, previous: RunStatus, status: RunStatus) -> None:
    """Raise if the lifecycle table forbids ``previous → status``."""
    if status not in TRANSITIONS[previous]:
        raise IllegalTransitionError(
            f"run {run_id}: illegal lifecycle transition {previous} → {status}",
            run_id=run_id,
            previous=previous,
            status=status,
        )


@dataclass(frozen=True, slots=True)
class RunEvent:
    """A persisted event with its place in the log: what ``run.events()`` yields."""

    run_id: str
    seq: int
    step: int
    ts: float
    event: Event

    @property
    def type(self) -> str:
        """The event's type discriminator, e.g. ``"tool.completed"``."""
        return self.event.type


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
    messages: list[Message] = field(default_factory=list)
    journal: dict[
        int, ModelCompleted | ToolStarted | ToolCompleted | ToolFailed | EffectRecorded
    ] = field(default_factory=dict)
    last_reply: ModelResponse | None = None
    last_prefix_hash: str | None = None
    usage: Usage = field(default_factory=Usage)
    cost_usd: float = 0.0
    model_calls: int = 0
    tool_calls: int = 0
    output_repairs: int = 0
    output: Any = None
    error: dict[str, Any] | None = None
    wait_reason: str | None = None
    wait_details: dict[str, Any] | None = None
    data: dict[str, Any] = field(default_factory=dict)
    write_resolutions: dict[str, dict[str, Any]] = field(default_factory=dict)
    signals: list[SignalReceived] = field(default_factory=list)

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
    if isinstance(ev, ModelCompleted):
        state.journal[ev.call] = ev
        state.model_calls += 1
        state.usage = state.usage + ev.response.usage
        state.cost_usd += ev.cost_usd or 0.0
        state.last_reply = ev.response
        if ev.prefix_hash is not None:
            state.last_prefix_hash = ev.prefix_hash
        state.messages.append(
            Message(role="assistant", content=ev.response.text, tool_calls=ev.response.tool_calls)
        )
    elif isinstance(ev, ToolCompleted):
        state.journal[ev.call] = ev
        state.tool_calls += 1
        state.messages.append(
            Message(
                role="tool",
                content=tool_message_content(ev.result),
                tool_call_id=ev.call_id,
                name=ev.tool,
            )
        )
    elif isinstance(ev, ToolFailed):
        if ev.will_retry:
            return
        state.journal[ev.call] = ev
        state.tool_calls += 1
        state.messages.append(
            Message(
                role="tool",
                content=ev.error.model_dump_json(exclude_none=True),
                tool_call_id=ev.call_id,
                name=ev.tool,
            )
        )
    elif isinstance(ev, Transitioned):
        state.step += 1
        state.journal.clear()
        state.machine_state = ev.to
        if ev.data:
            state.data.update(ev.data)
    elif isinstance(ev, ToolStarted | EffectRecorded):
        state.journal[ev.call] = ev
    elif isinstance(ev, RunStatusChanged):
        check_transition(state.run_id, state.status, ev.status)
        state.status = ev.status
        if ev.status == "waiting":
            state.wait_reason = ev.reason
            state.wait_details = ev.details
        elif ev.status == "running":
            state.wait_reason = None
            state.wait_details = None
    elif isinstance(ev, RunCreated):
        state.agent = ev.agent
        state.agent_version = ev.agent_version
        state.tenant = ev.tenant
        state.parent_run_id = ev.parent_run_id
        state.input = ev.input
        state.prefix_hash = ev.prefix_hash
        state.machine_state = ev.initial_state
        state.created_at = rec.ts
        content = ev.input if isinstance(ev.input, str) else json.dumps(ev.input)
        state.messages.append(Message(role="user", content=content))
    elif isinstance(ev, SignalReceived):
        state.signals.append(ev)
        if ev.name == "input":
            state.messages.append(Message(role="user", content=tool_message_content(ev.payload)))
        elif ev.name == "resolve_write" and isinstance(ev.payload, dict):
            state.write_resolutions[str(ev.payload.get("call_id"))] = ev.payload
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


def fold(run_id: str, events: Iterable[RunEvent]) -> RunState:
    """Build a run's state from its events, in order."""
    state = RunState(run_id=run_id)
    for rec in events:
        apply(state, rec)
    return state
