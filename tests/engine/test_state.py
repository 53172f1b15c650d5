"""The fold and the run lifecycle transition table."""

from __future__ import annotations

import itertools

import pytest

from tether.engine import (
    TRANSITIONS,
    ModelCompleted,
    RunCreated,
    RunEvent,
    RunStatusChanged,
    SignalReceived,
    ToolCompleted,
    ToolFailed,
    Transitioned,
    decode_event,
    encode_event,
    fold,
)
from tether.exceptions import IllegalTransitionError, SchemaVersionError
from tether.models._types import ModelResponse, ToolCall, Usage
from tether.tools import ToolError

ALLOWED = {
    ("pending", "running"),
    ("pending", "cancelled"),
    ("pending", "failed"),
    ("running", "waiting"),
    ("running", "escalated"),
    ("running", "completed"),
    ("running", "failed"),
    ("running", "cancelled"),
    # driven on from the log by another driver (its previous one died): reason "resumed"
    ("running", "running"),
    ("waiting", "running"),
    ("waiting", "escalated"),
    ("waiting", "cancelled"),
    ("waiting", "failed"),
    ("escalated", "running"),
    ("escalated", "cancelled"),
    ("escalated", "failed"),
    # a run that crashed its worker too often at one step (the runtime's quarantine)
    ("pending", "quarantined"),
    ("running", "quarantined"),
    ("quarantined", "running"),
    ("quarantined", "cancelled"),
    ("quarantined", "failed"),
}
STATUSES = ["pending", "running", "waiting", "escalated", "completed", "failed", "cancelled"]


def _events(*events: object) -> list[RunEvent]:
    return [RunEvent("r", i + 1, 0, float(i), e) for i, e in enumerate(events)]  # type: ignore[arg-type]


def _created() -> RunCreated:
    return RunCreated(agent="a", agent_version="v", input="hi", initial_state="think")


def test_transition_table_is_exactly_the_documented_lifecycle() -> None:
    """pending → running → (waiting | escalated) → running → completed | failed | cancelled."""
    table = {(a, b) for a, targets in TRANSITIONS.items() for b in targets}
    assert table == ALLOWED


@pytest.mark.parametrize(("previous", "status"), list(itertools.product(STATUSES, STATUSES)))
def test_every_transition_is_checked_by_the_fold(previous: str, status: str) -> None:
    """The fold applies allowed moves and raises IllegalTransitionError on any other."""
    path = {
        "pending": [],
        "running": ["running"],
        "waiting": ["running", "waiting"],
        "escalated": ["running", "escalated"],
        "completed": ["running", "completed"],
        "failed": ["failed"],
        "cancelled": ["cancelled"],
    }[previous]
    history: list[object] = [_created()]
    current = "pending"
    for step in path:
        history.append(RunStatusChanged(previous=current, status=step))  # type: ignore[arg-type]
        current = step
    history.append(RunStatusChanged(previous=previous, status=status))  # type: ignore[arg-type]
    if (previous, status) in ALLOWED:
        assert fold("r", _events(*history)).status == status
    else:
        with pytest.raises(IllegalTransitionError):
            fold("r", _events(*history))


def test_fold_builds_the_conversation_usage_and_journal() -> None:
    """Model replies, tool results and errors become messages; the journal clears per step."""
    call = ToolCall(id="c1", name="lookup", arguments={"q": "x"})
    state = fold(
        "r",
        _events(
            _created(),
            RunStatusChanged(previous="pending", status="running"),
            ModelCompleted(
                call=0,
                response=ModelResponse(
                    tool_calls=[call], usage=Usage(input_tokens=10, output_tokens=2)
                ),
                cost_usd=0.5,
            ),
            ToolCompleted(call=1, call_id="c1", tool="lookup", result={"ok": True}),
            ToolFailed(
                call=2,
                call_id="c2",
                tool="lookup",
                error=ToolError(error_code="timeout", message="slow", retryable=True),
                will_retry=True,
            ),
            ToolFailed(
                call=2,
                call_id="c2",
                tool="lookup",
                error=ToolError(error_code="timeout", message="slow", retryable=True),
            ),
        ),
    )
    assert [m.role for m in state.messages] == ["user", "assistant", "tool", "tool"]
    assert state.messages[2].content == '{"ok": true}'
    assert '"error_code":"timeout"' in (state.messages[3].content or "")
    assert state.usage.input_tokens == 10 and state.cost_usd == 0.5
    assert state.model_calls == 1 and state.tool_calls == 2  # a retried attempt is not a call
    assert sorted(state.journal) == [0, 1, 2]
    apply_transition = fold("r", _events(_created(), Transitioned(to="think")))
    assert apply_transition.step == 1 and apply_transition.journal == {}


def test_events_round_trip_through_json() -> None:
    """Encoding then decoding gives the same event."""
    event = ToolCompleted(call=3, call_id="c", tool="t", result=[1, "two"])
    assert decode_event(encode_event(event)) == event


def test_unknown_event_type_or_newer_version_fails_fast() -> None:
    """A store written by newer code is refused with a message to upgrade, not misread."""
    with pytest.raises(SchemaVersionError, match="unknown event type"):
        decode_event(b'{"type": "quantum.entangled", "v": 1}')
    with pytest.raises(SchemaVersionError, match="schema version 99"):
        decode_event(b'{"type": "transition", "v": 99, "to": "x"}')
    with pytest.raises(SchemaVersionError):
        decode_event(b"not json")


def test_a_takeover_credits_active_time_until_the_last_driven_event() -> None:
    """``running → running`` (another driver goes on from the log) ends the active span at
    the previous driver's last event: neither the orphaned stretch nor the new owner's
    claim note (a signal: not driving) counts, and the clock starts again at the takeover."""
    recs = [
        RunEvent("r", 1, 0, 100.0, _created()),
        RunEvent("r", 2, 0, 100.0, RunStatusChanged(previous="pending", status="running")),
        RunEvent("r", 3, 0, 107.0, Transitioned(to="think")),  # the dead driver's last event
        RunEvent("r", 4, 1, 900.0, SignalReceived(name="tether.claimed", payload={})),
        RunEvent(
            "r",
            5,
            1,
            900.5,
            RunStatusChanged(previous="running", status="running", reason="resumed"),
        ),
    ]
    state = fold("r", recs)  # type: ignore[arg-type]
    assert state.status == "running"
    assert state.active_seconds == 7.0
    assert state.running_since == 900.5
    more = RunEvent("r", 6, 1, 903.5, RunStatusChanged(previous="running", status="completed"))
    state = fold("r", [*recs, more])  # type: ignore[arg-type]
    assert state.active_seconds == 10.0 and state.running_since is None
