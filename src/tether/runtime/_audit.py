"""The audit view of a run: its decisions and side effects in order, checked against its hash chain.

:func:`audit_run` reads a run's stored events with their hash links, verifies the
chain (``tether.store.verify_chain``) and keeps what an auditor asks about: the start
and the finish, status changes, policy decisions, approvals requested and decided
(who, and any edited arguments), tool calls started, completed and failed with their
effect, signals, cancellations, escalations, budget warnings and injection flags.
Model calls, transitions and recorded clock values are left out (``tether show`` has
them). Values stored sealed stay sealed: they appear as ``"[sealed]"``.

The report has three verdicts: ``verified`` (every event chained and intact),
``first_bad_seq`` (the first event that was changed, removed or reordered), or
``unchained_before`` alone (the run started before its store chained events; the
events before that sequence number cannot be checked, the rest were).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from tether.engine import (
    ApprovalDecided,
    ApprovalRequested,
    BreakerChanged,
    BudgetWarned,
    InjectionFlagged,
    PolicyDecided,
    RunCreated,
    RunEscalated,
    RunFinished,
    RunStatusChanged,
    SignalReceived,
    ToolCompleted,
    ToolFailed,
    ToolStarted,
    decode_event,
)
from tether.exceptions import RunNotFoundError, TetherError
from tether.store import EventRow, verify_chain

if TYPE_CHECKING:
    from tether.runtime._runtime import Runtime


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One decision or side effect: where it is in the log, what kind, one line, and fields."""

    seq: int
    step: int
    ts: float
    kind: str
    summary: str
    fields: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict: ``seq``, ``step``, ``ts``, ``kind``, ``summary``, ``fields``."""
        return asdict(self)


@dataclass(frozen=True, slots=True)
class AuditReport:
    """A run's audit record and what its hash chain says about it."""

    run_id: str
    agent: str | None
    tenant: str | None
    status: str | None
    last_seq: int
    verified: bool
    """Every stored event is chained and intact."""
    first_bad_seq: int | None
    """The first event that was changed, removed or reordered; ``None`` if none was found."""
    problem: str | None
    """What is wrong at ``first_bad_seq``, in words."""
    unchained_before: int | None
    """Events before this seq were written before the store chained events (not checked)."""
    head: str | None
    """Hex hash of the last chained event: anchor it elsewhere to detect a rewritten log."""
    entries: list[AuditEntry]

    @property
    def tampered(self) -> bool:
        """Whether the chain shows an event changed, removed or reordered."""
        return self.first_bad_seq is not None

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict of the whole report (the HTTP API's body), fields in order."""
        return asdict(self)


async def audit_run(runtime: Runtime, run_id: str) -> AuditReport:
    """The audit record of a run in ``runtime``'s store, with its chain verified.

    Needs no agent code. An event that cannot be decoded (a store tampered with, or
    written by a newer Tether) becomes an ``unreadable`` entry rather than an error.

    Raises:
        RunNotFoundError: there is no such run in the store.
    """
    chain = await runtime.store.load_event_chain(run_id)
    if chain is None:
        raise RunNotFoundError(f"no run {run_id!r} in {runtime.store.url}", run_id=run_id)
    verdict = verify_chain(run_id, chain.rows, chain.last_seq, predates_chain=chain.predates_chain)
    record = await runtime.store.get_run(run_id)
    builder = _Builder()
    for row in chain.rows:
        builder.add(row)
    return AuditReport(
        run_id=run_id,
        agent=record.agent if record is not None else builder.agent,
        tenant=record.tenant if record is not None else builder.tenant,
        status=record.status if record is not None else None,
        last_seq=chain.last_seq,
        verified=verdict.ok and verdict.unchained_before is None,
        first_bad_seq=verdict.first_bad_seq,
        problem=verdict.problem,
        unchained_before=verdict.unchained_before,
        head=verdict.head,
        entries=builder.entries,
    )


class _Builder:
    """Turns stored events into audit entries, remembering which tool calls were writes."""

    def __init__(self) -> None:
        self.entries: list[AuditEntry] = []
        self.agent: str | None = None
        self.tenant: str | None = None
        self._writes: set[tuple[int, int]] = set()

    def add(self, row: EventRow) -> None:
        try:
            event = decode_event(row.data)
        except (TetherError, ValueError, UnicodeDecodeError) as exc:
            message = getattr(exc, "message", None) or str(exc)
            self._entry(row, "unreadable", f"event {row.seq} cannot be read: {message}")
            return
        if isinstance(event, RunCreated):
            self.agent, self.tenant = event.agent, event.tenant
            self._entry(
                row,
                "run.started",
                f"run of {event.agent} started" + (f" for {event.tenant}" if event.tenant else ""),
                agent=event.agent,
                agent_version=event.agent_version,
                tenant=event.tenant,
                parent_run_id=event.parent_run_id,
                input=_masked(event.input),
            )
        elif isinstance(event, RunStatusChanged):
            why = f" ({event.reason})" if event.reason else ""
            self._entry(
                row,
                "status",
                f"{event.previous} → {event.status}{why}",
                previous=event.previous,
                status=event.status,
                reason=event.reason,
            )
        elif isinstance(event, PolicyDecided):
            rule = f" by rule {event.rule}" if event.rule else ""
            self._entry(
                row,
                "policy",
                f"{event.action} {event.tool}{rule}: {event.reason}",
                call=event.key or event.call_id,
                tool=event.tool,
                action=event.action,
                rule=event.rule,
                reason=event.reason,
                source=event.source,
            )
        elif isinstance(event, ApprovalRequested):
            self._entry(
                row,
                "approval.requested",
                f"approval {event.key} of {event.tool} requested: {event.reason}",
                approval_id=event.key,
                tool=event.tool,
                arguments=_masked(event.arguments),
                args_hash=event.args_hash,
                rule=event.rule,
                reason=event.reason,
                expires_at=event.expires_at,
            )
        elif isinstance(event, ApprovalDecided):
            verdict = "approved" if event.approved else "denied"
            edited = " with changed arguments" if event.arguments is not None else ""
            why = f": {event.reason}" if event.reason else ""
            self._entry(
                row,
                f"approval.{verdict}",
                f"approval {event.key} {verdict} by {event.by}{edited}{why}",
                approval_id=event.key,
                approved=event.approved,
                by=event.by,
                reason=event.reason,
                arguments=_masked(event.arguments),
                args_hash=event.args_hash,
            )
        elif isinstance(event, ToolStarted):
            self._writes.add((row.step, event.call))
            self._entry(
                row,
                "tool.started",
                f"{event.tool} started (write)",
                call_id=event.call_id,
                tool=event.tool,
                effect="write",
                arguments=_masked(event.arguments),
                idempotency_key=event.idempotency_key,
            )
        elif isinstance(event, ToolCompleted):
            effect = self._effect(row.step, event.call)
            self._entry(
                row,
                "tool.completed",
                f"{event.tool} completed ({effect})",
                call_id=event.call_id,
                tool=event.tool,
                effect=effect,
                attempt=event.attempt,
                duration_ms=event.duration_ms,
            )
        elif isinstance(event, ToolFailed):
            # A call refused before it ran (a denial, an unknown tool, bad arguments) was
            # no read: a denied write was labelled "(read)".
            effect = self._effect(row.step, event.call) if event.attempt else "not run"
            retry = ", will retry" if event.will_retry else ""
            if event.charged:
                # Not a failure seen: a call a driver that died may have made, counted.
                summary = (
                    f"{event.tool} may have run before its driver stopped ({effect}): "
                    "charged to the budget, will run again"
                )
            else:
                summary = f"{event.tool} failed ({effect}): {event.error.error_code}{retry}"
            self._entry(
                row,
                "tool.failed",
                summary,
                call_id=event.call_id,
                tool=event.tool,
                effect=effect,
                attempt=event.attempt,
                error_code=str(event.error.error_code),
                error=event.error.message,
                will_retry=event.will_retry,
                charged=event.charged,
            )
        elif isinstance(event, SignalReceived):
            by = f" by {event.by}" if event.by else ""
            kind = "cancellation" if event.name == "cancel" else "signal"
            self._entry(
                row,
                kind,
                f"signal {event.name}{by}",
                name=event.name,
                by=event.by,
                payload=_masked(event.payload),
            )
        elif isinstance(event, RunEscalated):
            self._entry(
                row,
                "escalation",
                f"escalated to a person ({event.source}): {event.reason}",
                reason=event.reason,
                source=event.source,
                suggested_next_step=event.suggested_next_step,
            )
        elif isinstance(event, BudgetWarned):
            degraded = f", now using {event.degraded_to}" if event.degraded_to else ""
            self._entry(
                row,
                "budget.warned",
                f"{event.dimension} budget at {event.used:g} of {event.limit:g}{degraded}",
                dimension=event.dimension,
                used=event.used,
                limit=event.limit,
                degraded_to=event.degraded_to,
            )
        elif isinstance(event, InjectionFlagged):
            self._entry(
                row,
                "injection.flagged",
                f"output of {event.tool} flagged as possible injection",
                call_id=event.call_id,
                tool=event.tool,
                patterns=list(event.patterns),
            )
        elif isinstance(event, BreakerChanged):
            self._entry(
                row,
                "breaker.changed",
                f"circuit of {event.key} {event.previous} -> {event.current}: {event.reason}",
                key=event.key,
                tool=event.tool,
                previous=event.previous,
                current=event.current,
                reason=event.reason,
            )
        elif isinstance(event, RunFinished):
            error = event.error
            why = f": {error.error_code} {error.message}".rstrip() if error is not None else ""
            self._entry(
                row,
                "run.finished",
                f"run {event.status}{why}",
                status=event.status,
                error_code=str(error.error_code) if error is not None else None,
                error=error.message if error is not None else None,
                model_calls=event.model_calls,
                tool_calls=event.tool_calls,
                cost_usd=event.cost_usd,
            )

    def _effect(self, step: int, call: int) -> str:
        # Only writes commit ``tool.started`` before they run.
        return "write" if (step, call) in self._writes else "read"

    def _entry(self, row: EventRow, kind: str, summary: str, **fields: Any) -> None:
        kept = {name: value for name, value in fields.items() if value is not None}
        self.entries.append(AuditEntry(row.seq, row.step, row.ts, kind, summary, kept))


def _masked(value: Any) -> Any:
    """``value`` with sealed and redacted markers shown as words, never their ciphertext."""
    if isinstance(value, dict):
        if "$sealed" in value and set(value) <= {"$sealed", "kid"}:
            return "[sealed]"
        if "$redacted" in value and len(value) == 1:
            return "[redacted]"
        return {key: _masked(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_masked(item) for item in value]
    return value
