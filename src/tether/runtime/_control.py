"""Signals and approvals: every decision a person or program makes about a run.

``RunControl`` is the part of :class:`~tether.runtime.Runtime` that delivers signals
(input, resume, resolve_write, cancel) and approval decisions. A decision on a parked
run takes one path, :meth:`RunControl._append_to_parked`, which needs no agent code;
a decision never releases a lease it did not take (see :meth:`RunControl._leased`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from tether.engine import (
    PARKED,
    TERMINAL,
    Agent,
    Approval,
    ApprovalDecided,
    Governance,
    RunDriver,
    RunEvent,
    RunFailure,
    RunFailureCode,
    RunState,
    RunStatus,
    RunStatusChanged,
    SignalReceived,
    apply,
    args_hash,
    run_finished,
    run_quotes,
)
from tether.exceptions import (
    ApprovalError,
    RunFinishedError,
    RunLeasedError,
    RunNotWaitingError,
    StoreError,
)
from tether.store import EventRow, RunRecord, RunUpdate, Store

if TYPE_CHECKING:
    from tether.runtime._handle import RunHandle

CANCEL_PREFIX = "cancel:"


class RunControl:
    """Signals, approvals and cancellation (mixed into ``Runtime``)."""

    store: Store
    owner: str
    lease_ttl: float
    governance: Governance
    _agents: dict[str, Agent]
    _drivers: dict[str, RunDriver]
    _tasks: dict[str, asyncio.Task[RunState]]
    _locks: dict[str, asyncio.Lock]

    # Provided by Runtime.
    def _check_open(self) -> None:
        raise NotImplementedError

    async def _record(self, run_id: str) -> RunRecord:
        raise NotImplementedError

    async def load_state(self, run_id: str) -> RunState:
        raise NotImplementedError

    def _driver_for(
        self,
        state: RunState,
        agent: Agent | None,
        accept_new_version: bool | None,
        *,
        strict: bool = True,
    ) -> RunDriver:
        raise NotImplementedError

    def _launch(self, agent: Agent, state: RunState, driver: RunDriver | None = None) -> None:
        raise NotImplementedError

    async def _launch_capped(self, agent: Agent, state: RunState, driver: RunDriver) -> bool:
        raise NotImplementedError

    def _check_version(
        self, state: RunState, agent: Agent, accept_new_version: bool | None
    ) -> None:
        raise NotImplementedError

    def _handle(self, run_id: str) -> RunHandle:
        raise NotImplementedError

    def _publish(self, run_id: str, events: list[RunEvent]) -> None:
        raise NotImplementedError

    async def signal(
        self,
        run_id: str,
        name: str,
        payload: Any = None,
        *,
        by: str | None = None,
        may_decide: bool = True,
    ) -> RunHandle:
        """Deliver a signal: resumes a parked run, or cancels (``name="cancel"``) any live run.

        A refused signal changes nothing: in particular it never releases the lease of a
        run this or another process is driving.

        ``may_decide=False`` says the sender may not make a person's decision about a
        call (the server passes it for an API key without ``approvals:write``): then
        ``resolve_write``, ``resume`` or ``input`` on an escalated run, and lifting a
        quarantine, are refused.
        Whether a signal is such a decision is judged on the run's state as loaded under
        its lease, the state the signal is recorded against, never on an earlier read.
        A caller of the Python API is trusted (the default).

        Raises:
            RunNotFoundError: no such run.
            RunFinishedError: the run already ended.
            RunNotWaitingError: the run is not parked (only ``cancel`` applies now), or it
                waits for another signal.
            RunLeasedError: another process holds the run's lease.
            ApprovalError: the signal is a person's decision and ``may_decide`` is false
                (its ``context["may_decide"]`` is ``False``). Nothing changes.
        """
        self._check_open()
        live = self._drivers.get(run_id)
        if name == "cancel" and live is not None:
            self._cancel_live(run_id, live, _cancel_reason(payload), by)
            return self._handle(run_id)
        if name == "cancel":
            record = await self._record(run_id)
            now = self.store.clock()  # lease times are on the store's clock
            driven_elsewhere = (
                record.status in ("pending", "running")
                and record.lease_owner not in (None, self.owner)
                and (record.lease_expires_at or 0) > now
            )
            if driven_elsewhere:
                # Another process drives it: leave a request in the store; that process
                # sees it within a second, interrupts the tool in flight and records it.
                request = {"reason": _cancel_reason(payload), "by": by}
                await self.store.set_flag(f"{CANCEL_PREFIX}{run_id}", json.dumps(request))
                return self._handle(run_id)
        await self._refuse_unless_parked(
            run_id,
            finished="signals cannot change it",
            not_parked="not waiting; only 'cancel' can be sent now",
            parked_only=name != "cancel",
        )
        async with self._leased(run_id) as lease:
            driver = await self._signalled_driver(run_id, name, payload, by, may_decide)
            # The signal is recorded; the run is driven here only with a free slot and its
            # tenant under its cap, else its lease is given back for a claim pass.
            if driver is not None and await self._launch_capped(driver.agent, driver.state, driver):
                lease.keep()
        return self._handle(run_id)

    async def _signalled_driver(
        self, run_id: str, name: str, payload: Any, by: str | None, may_decide: bool = True
    ) -> RunDriver | None:
        """Record a signal on a leased run; returns the driver to continue it, if any."""
        state = await self.load_state(run_id)
        if not may_decide and _is_decision(state, name):
            # Judged here, on the state this signal is recorded against (the lease is
            # held): a status read before the lease can be stale by now.
            raise ApprovalError(
                f"signal {name!r} on run {run_id} ({state.status}) is a person's decision "
                "about a call or a quarantined run, and this sender may not make it",
                run_id=run_id,
                status=state.status,
                signal=name,
                may_decide=False,
            )
        if name == "cancel":
            if state.terminal:
                raise RunFinishedError(
                    f"run {run_id} already {state.status}; signals cannot change it",
                    run_id=run_id,
                    status=state.status,
                )
            reason = _cancel_reason(payload)
            if state.agent not in self._agents:
                # No agent code here (the CLI): a cancellation needs none. Record it directly.
                await self._append_to_parked(
                    state,
                    [
                        SignalReceived(name="cancel", payload={"reason": reason}, by=by),
                        run_finished(
                            state,
                            "cancelled",
                            error=RunFailure(error_code=RunFailureCode.CANCELLED, message=reason),
                        ),
                    ],
                    "cancelled",
                    "cancelled",
                )
                return None
            driver = self._driver_for(state, None, True, strict=False)
            driver.cancel_reason = reason
            driver.cancel_by = by
            await driver.drive()
            return None
        if state.status not in PARKED:
            raise RunNotWaitingError(
                f"run {run_id} is {state.status}, not waiting; only 'cancel' can be sent now",
                run_id=run_id,
                status=state.status,
            )
        expected = (state.wait_details or {}).get("signal")
        if state.status == "escalated":
            if name not in ("resume", "input"):
                raise RunNotWaitingError(
                    f"run {run_id} is escalated ({state.wait_reason}); continue it with signal "
                    "'resume' (or 'input' with a message for the agent), or cancel it",
                    run_id=run_id,
                    status=state.status,
                )
            calls = state.escalated_calls
            if name == "resume" and calls and not _decides(payload):
                context = (state.escalation.context or {}) if state.escalation else {}
                tools = context.get("tool") or ", ".join(
                    sorted({state.approvals[k].request.tool for k in calls if k in state.approvals})
                )
                raise RunNotWaitingError(
                    f"run {run_id} was escalated on {tools or 'a'} call(s) "
                    f"({', '.join(calls)}); resume it with a "
                    'decision: payload {"approve": true} to run the call, or '
                    '{"approve": false, "reason": "..."} to decline it; or send \'input\'',
                    run_id=run_id,
                    status=state.status,
                )
        elif expected == "approval":
            raise RunNotWaitingError(
                f"run {run_id} waits for approval of {', '.join(_pending_ids(state))}; use "
                "Runtime.approve(...) / Runtime.deny(...) (CLI: tether approve / tether deny)",
                run_id=run_id,
                status=state.status,
            )
        elif expected is not None and name != expected:
            raise RunNotWaitingError(
                f"run {run_id} waits for signal {expected!r}, not {name!r}",
                run_id=run_id,
                status=state.status,
            )
        if name == "resolve_write":
            payload = _write_resolution(state, run_id, payload)
        agent = self._agents.get(state.agent)
        if agent is not None:
            self._check_version(state, agent, None)  # refuse before anything is written
        events: list[Any] = [SignalReceived(name=name, payload=payload, by=by)]
        if state.status == "escalated" and name in ("resume", "input"):
            events.extend(_close_escalated_approvals(state, name, payload, by))
        await self._append_to_parked(state, events, "running", f"signal:{name}")
        if state.agent not in self._agents:
            return None  # any runtime that has the agent continues it (recovery)
        return self._driver_for(state, None, None)

    async def cancel(
        self, run_id: str, *, reason: str = "cancelled", by: str | None = None
    ) -> None:
        """Cancel a run: a running async tool is interrupted, a parked run ends at once.

        A thread tool cannot be interrupted: it is abandoned and its late result discarded.
        The cancellation is recorded (``signal.received`` cancel, then ``run.finished``).
        """
        await self.signal(run_id, "cancel", {"reason": reason}, by=by)

    def _cancel_live(self, run_id: str, driver: RunDriver, reason: str, by: str | None) -> None:
        driver.cancel_reason = reason
        driver.cancel_by = by
        driver.interrupt()

    async def approve(
        self,
        run_id: str,
        approval_id: str,
        *,
        by: str,
        arguments: dict[str, Any] | None = None,
        reason: str | None = None,
    ) -> RunHandle:
        """Approve one pending call (``arguments=`` approves with changes); resumes the run.

        ``reason`` (optional) is recorded with the decision, for the audit trail.

        ``approval_id`` is Tether's identity of the call (``PendingApproval.approval_id``,
        ``"step.index"``). A provider call id is accepted too when exactly one pending
        approval has it. Changed arguments are validated against the tool's schema here
        when this runtime knows the agent, and always again, with every policy rule, by
        the gate before the call runs: an edit can never pass a deny rule.

        Raises:
            RunNotFoundError: no such run.
            RunNotWaitingError: the run is not parked.
            ApprovalError: no such pending approval (or an ambiguous call id), or the
                changed arguments do not fit the tool's schema. Nothing changes.
        """
        return await self._decide(
            run_id, approval_id, approved=True, by=by, arguments=arguments, reason=reason
        )

    async def deny(self, run_id: str, approval_id: str, *, by: str, reason: str) -> RunHandle:
        """Deny a pending call; the model is told why and the run continues.

        Raises:
            RunNotFoundError: no such run.
            RunNotWaitingError: the run is not parked.
            ApprovalError: no such pending approval. Nothing changes.
        """
        return await self._decide(run_id, approval_id, approved=False, by=by, reason=reason)

    async def _decide(
        self,
        run_id: str,
        approval_id: str,
        *,
        approved: bool,
        by: str,
        arguments: dict[str, Any] | None = None,
        reason: str | None = None,
    ) -> RunHandle:
        self._check_open()
        await self._refuse_unless_parked(
            run_id,
            finished="its approvals cannot change",
            not_parked="approvals apply only to a parked run",
        )
        resume = False
        driver: RunDriver | None = None
        async with self._leased(run_id) as lease:
            state = await self.load_state(run_id)
            approval = _find_approval(state, run_id, approval_id, self.store.clock())
            request = approval.request
            agent = self._agents.get(state.agent)
            if agent is not None:
                self._check_version(state, agent, None)  # refuse before anything is written
            contract = agent.registry.get(request.tool) if agent is not None else None
            if arguments is not None:
                if not isinstance(arguments, dict):
                    raise ApprovalError(
                        "changed arguments must be a JSON object",
                        run_id=run_id,
                        call_id=request.key,
                    )
                if contract is not None:
                    try:
                        arguments = contract.normalize(arguments)
                    except (ValidationError, ValueError, TypeError) as exc:
                        detail = (
                            exc.errors(include_url=False)
                            if isinstance(exc, ValidationError)
                            else str(exc)
                        )
                        raise ApprovalError(
                            f"changed arguments for {request.tool} do not fit its schema: {detail}",
                            run_id=run_id,
                            call_id=request.key,
                        ) from None
            decided = ApprovalDecided(
                call_id=request.call_id,
                approval_id=request.approval_id,
                args_hash=args_hash(arguments if arguments is not None else request.arguments),
                approved=approved,
                by=by,
                reason=reason,
                arguments=arguments,
            )
            resume = len(state.pending_approvals) == 1
            # One path, with or without the agent's code: append the decision to the parked
            # run. Without the agent, the run is left running and unleased, and any
            # runtime that has the agent continues it (recovery); the gate there
            # validates edited arguments and checks every rule again.
            await self._append_to_parked(
                state, [decided], "running" if resume else None, f"approval:{request.key}"
            )
            if agent is not None and resume:
                driver = self._driver_for(state, agent, None)
                # Driven here only with a free slot and the tenant under its cap; else
                # the lease is given back and a claim pass takes the run.
                if await self._launch_capped(driver.agent, state, driver):
                    lease.keep()
        return self._handle(run_id)

    async def _refuse_unless_parked(
        self, run_id: str, *, finished: str, not_parked: str, parked_only: bool = True
    ) -> None:
        """Refuse, before any lease is touched, a decision the run's status rules out.

        Raises:
            RunNotFoundError: no such run.
            RunNotWaitingError: this process is driving it, or (``parked_only``) it is
                not parked.
            RunFinishedError: it already ended.
        """
        if run_id in self._drivers:
            raise RunNotWaitingError(
                f"run {run_id} is running in this process; {not_parked}",
                run_id=run_id,
                status="running",
            )
        record = await self._record(run_id)
        if record.status in TERMINAL:
            raise RunFinishedError(
                f"run {run_id} already {record.status}; {finished}",
                run_id=run_id,
                status=record.status,
            )
        if parked_only and record.status not in PARKED:
            raise RunNotWaitingError(
                f"run {run_id} is {record.status}, {not_parked}",
                run_id=run_id,
                status=record.status,
            )

    async def _append_to_parked(
        self, state: RunState, events: list[Any], status: RunStatus | None, reason: str
    ) -> None:
        """Append events to a parked run this runtime leases; needs no agent code.

        The one path every decision on a parked run takes (a signal, an approval, a
        cancellation). Events are sealed like a driver's (``PayloadProtection``) and
        folded into ``state``, which a driver can then continue from.
        """
        records = list(events)
        if status is not None:
            records.append(RunStatusChanged(previous=state.status, status=status, reason=reason))
        rows = []
        # On the store's clock, as approval expiry is: a decision is judged in time or too
        # late on one clock, whichever machine recorded it.
        now = self.store.clock()
        protection = self.governance.protection
        # A decision's text (a deny reason, an input) may repeat a value the run sealed for
        # its key (the password the call proposed): masked there too (red team 17, 01).
        quoted = run_quotes(protection.redactor, state)
        applied: list[RunEvent] = []
        for event in records:
            folded, data = protection.protect(event, quoted)
            rec = RunEvent(state.run_id, state.last_seq + 1, state.step, now, folded, data)  # type: ignore[arg-type]  # every _Event subclass is in the Event union
            apply(state, rec)
            applied.append(rec)
            rows.append(EventRow(state.last_seq, state.step, now, event.type, data))
        update = RunUpdate(status=status, reason=reason) if status is not None else None
        await self.store.append(state.run_id, rows, update, owner=self.owner)
        self._publish(state.run_id, applied)

    @contextlib.asynccontextmanager
    async def _leased(self, run_id: str) -> AsyncIterator[_LeaseHold]:
        """Hold a run's lease for one decision.

        The lease is given back afterwards only if this call took it, and only when the
        decision does not hand the run to a driver (``keep()``). A refused operation
        (an unknown call id, a run that is not waiting) therefore never releases a lease
        that a driver here or elsewhere holds.

        Raises:
            RunLeasedError: another process holds the lease.
        """
        async with self._decision_lock(run_id):
            record = await self._record(run_id)
            now = self.store.clock()
            held_before = record.lease_owner == self.owner and (record.lease_expires_at or 0) > now
            if not await self.store.acquire_lease(run_id, self.owner, self.lease_ttl):
                record = await self._record(run_id)
                raise RunLeasedError(
                    f"run {run_id} is leased by {record.lease_owner} until "
                    f"{time.strftime('%H:%M:%S', time.localtime(record.lease_expires_at or 0))}; "
                    "it is being driven by another process",
                    run_id=run_id,
                    owner=record.lease_owner,
                )
            hold = _LeaseHold()
            try:
                yield hold
            finally:
                if not hold.kept and not held_before and run_id not in self._tasks:
                    with contextlib.suppress(StoreError):
                        await self.store.release_lease(run_id, self.owner)

    def _decision_lock(self, run_id: str) -> asyncio.Lock:
        lock = self._locks.get(run_id)
        if lock is None:
            lock = self._locks[run_id] = asyncio.Lock()
        return lock


def _pending_ids(state: RunState) -> list[str]:
    return [a.request.key for a in state.pending_approvals]


class _LeaseHold:
    """Whether a decision handed its lease on to a driver (then it is not released)."""

    __slots__ = ("kept",)

    def __init__(self) -> None:
        self.kept = False

    def keep(self) -> None:
        self.kept = True


def _cancel_reason(payload: Any) -> str:
    """The reason a ``cancel`` signal's payload gives (``"cancelled"`` if none).

    A payload that is not an object is the reason itself when it is a string, and is
    otherwise ignored: a cancellation never fails on its payload.
    """
    if isinstance(payload, dict):
        reason = payload.get("reason")
    elif isinstance(payload, str):
        reason = payload
    else:
        reason = None
    return str(reason)[:1000] if reason not in (None, "") else "cancelled"


WRITE_RESOLUTIONS = ("completed", "not_performed", "retry")
"""What an operator may decide about a write that may or may not have happened."""


def _write_resolution(state: RunState, run_id: str, payload: Any) -> dict[str, Any]:
    """A ``resolve_write`` payload bound to exactly one of the writes the run waits on.

    The operator names the call by its idempotency key (Tether's own identity of the
    call, unique in the run) or by the provider's call id, which only counts when exactly
    one waiting write has it: providers reuse ids. The recorded payload carries the
    idempotency key, which is all the engine matches on, so a decision can never apply
    to another write, in this step or a later one.

    Raises:
        ApprovalError: not an object, an action other than completed, not_performed or
            retry, or a call that is not one of the writes waiting (or is ambiguous).
    """
    if not isinstance(payload, dict):
        raise ApprovalError(
            "resolve_write needs a JSON object: "
            '{"call_id": "<idempotency key>", "action": "completed|not_performed|retry"}',
            run_id=run_id,
        )
    action = payload.get("action")
    if action not in WRITE_RESOLUTIONS:
        raise ApprovalError(
            f"resolve_write action must be one of {', '.join(WRITE_RESOLUTIONS)}, not {action!r}",
            run_id=run_id,
        )
    named = payload.get("idempotency_key") or payload.get("call_id")
    calls = [c for c in (state.wait_details or {}).get("calls") or [] if isinstance(c, dict)]
    by_key = [c for c in calls if named is not None and c.get("idempotency_key") == named]
    matches = by_key or [c for c in calls if named is not None and c.get("call_id") == named]
    waiting = ", ".join(
        f"{c.get('idempotency_key')} ({c.get('tool')}, call id {c.get('call_id')})" for c in calls
    )
    if len(matches) != 1 or not matches[0].get("idempotency_key"):
        problem = "names more than one" if len(matches) > 1 else "names none"
        raise ApprovalError(
            f"resolve_write {problem} of the writes run {run_id} waits on ({named!r}); "
            f"name one by its idempotency key: {waiting or 'none'}",
            run_id=run_id,
            call_id=str(named),
        )
    return {**payload, "idempotency_key": matches[0]["idempotency_key"]}


def _is_decision(state: RunState, name: str) -> bool:
    """Whether signal ``name`` on ``state`` is a person's decision about a call or a run.

    ``resolve_write`` says whether a write happened; on an escalated run, ``resume``
    runs or declines what was escalated and ``input`` takes the conversation over; on a
    quarantined run (it kept killing the workers that drove it), any signal lifts the
    quarantine: an operator's call once the cause is fixed, not the run's own client's
    (whose input may be the poison: each lift buys more worker crashes).
    """
    return (
        name == "resolve_write"
        or (state.status == "escalated" and name in ("resume", "input"))
        or (state.status == "quarantined" and name != "cancel")
    )


def _close_escalated_approvals(
    state: RunState, name: str, payload: Any, by: str | None
) -> list[ApprovalDecided]:
    """The person's decision on each expired approval request the run was escalated on.

    An approval request that expired undecided with ``on_expiry="escalate"`` is handed to
    a person (``context["calls"]``). Their ``resume`` decision (or their ``input``, which
    declines the calls) is bound to each call by the fold (``SignalReceived``); it is also
    recorded on each request, bound to its call and argument hash, so the request is
    closed: no longer pending, listed or timed.
    """
    if name == "resume":
        if not isinstance(payload, dict) or not _decides(payload):
            return []
        approved = payload.get("approve", payload.get("approved"))
        reason = payload.get("reason")
        reason = str(reason)[:1000] if reason not in (None, "") else None
    else:
        approved, reason = False, "a person took over the conversation instead"
    decided = []
    for key in state.escalated_calls:
        approval = state.approvals.get(key)
        if approval is None or approval.decision is not None:
            continue
        request = approval.request
        decided.append(
            ApprovalDecided(
                call_id=request.call_id,
                approval_id=request.approval_id,
                args_hash=request.args_hash,
                approved=bool(approved),
                by=by or f"signal:{name}",
                reason=reason,
            )
        )
    return decided


def _decides(payload: Any) -> bool:
    """Whether a ``resume`` payload carries a person's decision on an escalated call."""
    if not isinstance(payload, dict):
        return False
    return isinstance(payload.get("approve", payload.get("approved")), bool)


def _find_approval(state: RunState, run_id: str, approval_id: str, now: float) -> Approval:
    """The pending approval ``approval_id`` names (or a call id, when exactly one has it),
    its expiry judged at ``now`` (the store's clock, on which it was set).

    Raises:
        ApprovalError: none, several, or one already decided.
    """
    approval = state.approvals.get(approval_id)
    if approval is None:
        matches = state.approval_for_call(approval_id)
        pending = [a for a in matches if a.pending]
        if len(pending) > 1:
            ids = ", ".join(a.request.key for a in pending)
            raise ApprovalError(
                f"run {run_id} has {len(pending)} pending approvals for call id "
                f"{approval_id!r} (the provider reused it); name one: {ids}",
                run_id=run_id,
                call_id=approval_id,
            )
        approval = pending[0] if pending else (matches[-1] if matches else None)
    if approval is None:
        known = ", ".join(a.request.key for a in state.pending_approvals) or "none"
        raise ApprovalError(
            f"run {run_id} has no approval request {approval_id!r} (pending: {known})",
            run_id=run_id,
            call_id=approval_id,
        )
    expires_at = approval.request.expires_at
    if approval.decision is None and expires_at is not None and now >= expires_at:
        # Expiry is applied by a worker's timer pass, which may not have run yet (no worker
        # up, or within its interval): the request is over all the same.
        then = time.strftime("%Y-%m-%d %H:%M:%S %Z", time.localtime(expires_at))
        if approval.request.key in state.escalated_calls:
            raise ApprovalError(
                f"approval {approval.request.key} of run {run_id} expired at {then} and was "
                "escalated to a person: decide it with signal 'resume' and payload "
                '{"approve": true} to run the call, or {"approve": false, "reason": "..."} '
                "to decline it",
                run_id=run_id,
                call_id=approval.request.key,
            )
        outcome = "denied" if approval.request.on_expiry == "deny" else "escalated to a person"
        raise ApprovalError(
            f"approval {approval.request.key} of run {run_id} expired at {then}; nobody can "
            f"decide it any more, and the run's next timer pass records it as {outcome}",
            run_id=run_id,
            call_id=approval.request.key,
        )
    if approval.decision is not None:
        verdict = "approved" if approval.decision.approved else "denied"
        raise ApprovalError(
            f"approval {approval.request.key} of run {run_id} was already {verdict} by "
            f"{approval.decision.by}",
            run_id=run_id,
            call_id=approval_id,
        )
    return approval
