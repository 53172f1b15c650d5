"""``RunDriver``: executes one run step by step, committing each step in order.

The driver owns the run's in-memory state while it runs. ``record`` folds an
event into that state and buffers it; ``flush`` queues the buffer for the store.
A step ends with a ``transition`` event (or the run's final events) and a flush.
Steps whose effects stay inside the process do not wait for their commit: it lands
while the next steps run (they queue behind it, at most ``MAX_UNLANDED_STEPS``).
Whatever has an effect outside the process flushes and waits first. So a crash
loses at most a few steps that had no outside effect, which the run redoes, and
the journal replays effects that were already committed.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from tether.engine._events import (
    RunEscalated,
    RunFailure,
    RunFailureCode,
    RunStatus,
    RunStatusChanged,
    SignalReceived,
    ToolCompleted,
    ToolFailed,
    ToolStarted,
    Transitioned,
    _Event,
    encode_event,
)
from tether.engine._gate import Governance
from tether.engine._protect import (
    DeltaGuard,
    ProtectedArtifacts,
    Quoted,
    learn_quoted,
    quoted_values,
)
from tether.engine._share import LoopShare
from tether.engine._signals import (
    CancelRequested,
    EscalationRequested,
    GateFailure,
    WaitRequested,
)
from tether.engine._state import PARKED, TERMINAL, RunEvent, RunState, apply, run_finished
from tether.engine._step import StepContext
from tether.engine._transitions import Done, Escalate, Fail, Goto, Transition, Wait
from tether.exceptions import ConcurrentWriteError, ModelError, StoreError
from tether.models import ModelClient, ModelRequest, ModelResponse, StreamDelta, construct_trusted
from tether.observe import Redactor
from tether.store import EventRow, RunUpdate, Store

if TYPE_CHECKING:
    from tether.engine._agent import Agent

_JITTER = random.Random()
"""Retry jitter for drivers given no generator of their own: one for all (seeding one per
run from the OS cost microseconds for each run started)."""

T = TypeVar("T")
E = TypeVar("E", bound=_Event)
CommitListener = Callable[[str, list[RunEvent]], None]
DeltaListener = Callable[[str, StreamDelta], None]
CostFunction = Callable[[str, ModelResponse], float | None]


@dataclass(frozen=True, slots=True)
class StoreRetry:
    """How long a driver retries a failing append before it gives the step up.

    Args:
        attempts: Appends tried in all (the first included).
        base: First backoff in seconds; doubled per attempt, with jitter.
        cap: Longest single backoff in seconds.
    """

    attempts: int = 6
    base: float = 0.05
    cap: float = 2.0

    def delay(self, attempt: int, rng: random.Random) -> float:
        """Backoff before retry ``attempt`` (1-based), with full jitter on the upper half."""
        ceiling = min(self.cap, self.base * 2 ** (attempt - 1))
        return float(ceiling / 2 + rng.random() * ceiling / 2)


_CANCELLED = Fail("cancelled", error_code="cancelled")


def _retrieve(task: asyncio.Future[None]) -> None:
    """Mark an overlapped commit's failure as seen: the next flush raises it, or the run ended."""
    if not task.cancelled():
        task.exception()


MAX_UNLANDED_STEPS = 16
"""Steps whose commits may queue behind the one in flight before a step boundary waits.

Each of them had no effect outside the process (those flush and wait), so a crash
loses at most this much work to redo; it also bounds the batch a live stream receives
at once."""

_LET_GO: frozenset[str] = frozenset({*TERMINAL, *PARKED})


def _before_unfinished_writes(
    batches: list[tuple[list[RunEvent], RunUpdate | None]],
) -> list[tuple[list[RunEvent], RunUpdate | None]]:
    """The batches before the first that starts a write they do not also finish.

    Such a ``tool.started`` was the commit the write waited for, so the write never ran:
    in the log it would read as a write that may have happened (an ``uncertain_write``
    a person must resolve). Left out, the run redoes that step and calls the tool then.
    """
    finished = {
        (rec.step, rec.event.call)
        for batch, _ in batches
        for rec in batch
        if isinstance(rec.event, (ToolCompleted, ToolFailed))
    }
    for position, (batch, _) in enumerate(batches):
        if any(
            isinstance(rec.event, ToolStarted) and (rec.step, rec.event.call) not in finished
            for rec in batch
        ):
            return batches[:position]
    return batches


def run_quotes(redactor: Redactor | None, state: RunState) -> Quoted:
    """The values a run has sealed for their key so far, that later events must not repeat
    in clear (:func:`~tether.engine._protect.quoted_values`): under sensitive keys of its
    input, of its tool calls' arguments, of its tool results (JSON ones) and of the
    payloads of the signals it received. Read from the state (a resumed run, a decision
    on a parked run); a driver then keeps it up as it records."""
    if redactor is None:
        return ()
    found: list[Any] = [state.input]
    for message in state.messages:
        found += [call.arguments for call in message.tool_calls]
        content = message.content
        # A JSON result is parsed again only when the redactor's scan (in C) finds a
        # sensitive key or a secret in it: most results hold none, and some are large.
        if message.role == "tool" and content and content[:1] in "{[" and redactor.scan(content):
            with contextlib.suppress(ValueError):
                found.append(json.loads(content))
    found += [signal.payload for signal in state.signals]
    return quoted_values(redactor, found)


class RunDriver:
    """Runs one run until it completes, fails, is cancelled or waits."""

    def __init__(
        self,
        *,
        store: Store,
        agent: Agent,
        state: RunState,
        on_commit: CommitListener | None = None,
        on_delta: DeltaListener | None = None,
        wants_deltas: Callable[[str], bool] | None = None,
        watched: Callable[[str], bool] | None = None,
        cost: CostFunction | None = None,
        rng: random.Random | None = None,
        governance: Governance | None = None,
        owner: str | None = None,
        store_retry: StoreRetry | None = None,
    ) -> None:
        self.store = store
        self.agent = agent
        self.state = state
        self.rng = rng or _JITTER
        self._pending: list[RunEvent] = []
        self._on_commit = on_commit
        self._on_delta = on_delta
        self._wants_deltas = wants_deltas
        self._watched_by = watched
        self._cost = cost
        self.cancel_reason: str | None = None
        self.cancel_by: str | None = None
        self._status_update: RunUpdate | None = None
        self.governance = governance or Governance()
        self._clock = self.governance.clock
        """Events are stamped on the store's clock (one for every worker of a fleet)."""
        self.owner = owner
        self.store_retry = store_retry or StoreRetry()
        self.lease_released = False
        """Whether a commit of this driver gave the run's lease back (it stopped or parked)."""
        self.stop_requested = False
        """Stop at the next step boundary, the run left as it is (a draining worker)."""
        self.lease_lost = False
        """A lease renewal found the run's lease gone: stop, recording nothing more."""
        self.unrecorded_model_call = False
        """The run was taken over from a driver that stopped without handing it over (its
        process was killed, it lost its lease): that driver may have been in a model call
        whose reply never reached the log, and which the provider may have billed. The
        first model call this driver makes anew charges that call first (see
        :meth:`StepContext.call_model`). Set by the runtime when it adopts such a run;
        never for a run started, woken by a signal or handed back by a draining worker."""
        self.unrecorded_tool_calls = False
        """The same takeover, for tool calls: the driver that stopped may have been running
        the read tool calls of the step this one resumes, whose results never reached the
        log. Under a limit on tool calls, the first batch of calls this driver runs anew
        charges them first (see :meth:`StepContext.call_tools`); a new model call clears
        it (the calls of a new reply were never run). Set where ``unrecorded_model_call``
        is."""
        self.in_model_call = False
        """Whether a model call is under way (left set when it was cancelled midway)."""
        self.in_tool_calls = False
        """Whether tool calls are under way (left set when they were cancelled midway)."""
        self._task: asyncio.Task[Any] | None = None
        self._share_mark = -1.0
        """The loop share's mark when this run last got a turn (see :meth:`_take_turn`)."""
        self._interruptible = False
        self._inflight: asyncio.Future[None] | None = None
        """The task committing ``_queued`` (see :meth:`flush`)."""
        self._queued: list[tuple[list[RunEvent], RunUpdate | None]] = []
        self.max_unlanded_steps = MAX_UNLANDED_STEPS
        self.unlanded: list[tuple[list[RunEvent], RunUpdate | None]] = []
        """Whole steps a failing store never acknowledged, kept for :meth:`land` (not lost)."""
        self._artifacts: ProtectedArtifacts | None = None
        self._quoted: Quoted | None = None
        """Values sealed for their key so far in the run (see :meth:`_quotes_so_far`)."""

    @property
    def artifacts(self) -> ProtectedArtifacts:
        """Where this run's tools keep large outputs: the store, protected like events."""
        sink = self._artifacts
        if sink is None:
            sink = self._artifacts = ProtectedArtifacts(
                self.store, self.governance.protection, lambda: self._quoted or ()
            )
        return sink

    # -- event plumbing ----------------------------------------------------------------------

    def record(self, event: E, *, protected: tuple[E, bytes] | None = None) -> E:
        """Fold an event into the state and buffer it; returns the event as folded.

        The fold sees what happened (a tool's real arguments); the buffer holds the
        sealed bytes that will be persisted (see ``_protect``). ``protected`` passes
        a pair :meth:`protect` already computed (off the loop, for a large payload).
        """
        state = self.state
        quoted = self._quoted if self._quoted is not None else self._quotes_so_far()
        protection = self.governance.protection
        if protected is None:
            protected = protection.protect(event, quoted)  # type: ignore[assignment]  # same event type back
        event, data = protected  # type: ignore[misc]  # set just above
        if data.find(b'"$') != -1:  # a marker's key starts so (rare in any other event)
            self._quoted = learn_quoted(protection.redactor, quoted, event, data)
        rec = RunEvent(
            run_id=state.run_id,
            seq=state.last_seq + 1,
            step=state.step,
            ts=self._clock(),
            event=event,  # type: ignore[arg-type]  # every _Event subclass is in the Event union
            data=data,
        )
        apply(state, rec)
        self._pending.append(rec)
        return event

    async def protect(self, event: E) -> tuple[E, bytes]:
        """Seal an event for the store, in a worker thread when it is large."""
        quoted = self._quoted if self._quoted is not None else self._quotes_so_far()
        return await self.governance.protection.aprotect(event, quoted)  # type: ignore[return-value]  # same type back

    def _quotes_so_far(self) -> Quoted:
        """The values sealed for their key so far in the run (see :func:`run_quotes`), read
        from the state once per driver, then kept up by :meth:`record`."""
        self._quoted = run_quotes(self.governance.protection.redactor, self.state)
        return self._quoted

    async def flush(self, *, wait: bool = True) -> None:
        """Commit buffered events (and any status change among them), in order.

        Commits of one run land in order: they go through one queue per driver, drained
        by one task, which merges whatever queued while the commit before it was in
        flight into one append. ``wait=False`` queues the batch and returns at once (a
        step boundary with nothing to protect: the next steps' model calls and
        read-only tool calls overlap the fsync). Whatever must be durable before it
        happens (a write tool's ``tool.started``, parking, escalating, finishing)
        flushes with ``wait=True``, which returns once everything queued has landed. A
        crash before an overlapped commit lands loses only work that had no effect
        outside the process: the run resumes from the last commit and redoes it.

        A store that fails (locked by another process, an I/O error) is retried with
        backoff for a while; if the append did land but its acknowledgement was lost, the
        retry finds exactly these events in the log and takes that as the
        acknowledgement. A store that stays down raises :class:`StoreError` out of the
        step (for an overlapped commit, out of the next flush): the runtime then drops this
        driver's in-memory state and resumes the run from its log once the store answers.

        Raises:
            StoreError: the store kept failing for the whole retry window.
            ConcurrentWriteError: another writer owns the run (or this one lost the lease).
        """
        task = self._inflight
        if task is not None and task.done():
            # The last overlapped commit is over; if it failed, nothing queued behind it
            # can land either, and this step learns of it now.
            self._inflight = None
            self._queued.clear()
            finished, task = task, None
            finished.result()  # raises its failure
        if self._pending:
            batch, self._pending = self._pending, []
            update, self._status_update = self._status_update, None
            self._queued.append((batch, update))
            if task is None:
                task = self._inflight = asyncio.ensure_future(self._drain())
                task.add_done_callback(_retrieve)
        if task is not None and (wait or len(self._queued) >= self.max_unlanded_steps):
            try:
                await task
            finally:
                if self._inflight is task and task.done():
                    self._inflight = None
                    self._queued.clear()

    async def _drain(self) -> None:
        """Commit the queued batches in order, merging those that queued up meanwhile."""
        queued = self._queued
        while queued:
            batch, update = queued.pop(0)
            while queued:  # consecutive batches of one run: one append
                more, later = queued.pop(0)
                batch = batch + more
                update = later if later is not None else update
            try:
                await self._commit(batch, update)
            except StoreError as exc:  # (a ConcurrentWriteError is not one: nothing is kept)
                if exc.transient:  # a store that will answer again; else the batch may be why
                    self.unlanded = [(batch, update), *queued]
                raise

    async def land(self, last_seq: int) -> None:
        """Append the steps a failed store never acknowledged, if the log ends at ``last_seq``.

        A run whose store failed for longer than the retry window resumes from its log
        (see :meth:`flush`); the steps this driver had finished but could not commit
        (a write tool's result among them) go on top of that log, exactly as they would
        have, instead of being redone. Anything else in the log (a lost acknowledgement
        landed them, another writer moved on) leaves the log as the truth.

        Raises:
            StoreError: the store failed again; what is still unlanded is kept.
            ConcurrentWriteError: the log moved on under the append; nothing is kept.
        """
        self.unlanded = _before_unfinished_writes(self.unlanded)
        try:
            while self.unlanded:
                batch, update = self.unlanded[0]
                if batch[0].seq != last_seq + 1:
                    break
                await self._commit(batch, update)
                del self.unlanded[0]
                last_seq = batch[-1].seq
        except ConcurrentWriteError:
            self.unlanded = []
            raise
        self.unlanded = []

    def _watched(self) -> bool:
        """Whether someone follows this run live (its events, or its model's deltas).

        Their stream then gets each step as it commits, in step-sized pieces, and never a
        reply's deltas before the step it follows: such a run's step boundaries wait
        for their commit instead of overlapping it.
        """
        run_id = self.state.run_id
        watched, wants = self._watched_by, self._wants_deltas
        return (watched is not None and watched(run_id)) or (wants is not None and wants(run_id))

    async def settle(self) -> None:
        """Wait for commits queued or in flight; a failure is not raised (the run is ending)."""
        inflight, self._inflight = self._inflight, None
        if inflight is not None:
            with contextlib.suppress(Exception):
                await inflight
        self._queued.clear()

    async def _commit(self, batch: list[RunEvent], update: RunUpdate | None) -> None:
        rows = [
            EventRow(rec.seq, rec.step, rec.ts, rec.event.type, rec.data or encode_event(rec.event))
            for rec in batch
        ]
        run_id = self.state.run_id
        attempt = 0
        while True:
            try:
                await self.store.append(run_id, rows, update, owner=self.owner)
                break
            except ConcurrentWriteError:
                if attempt and await self._landed(rows):
                    break  # an earlier attempt committed; only its acknowledgement was lost
                raise
            except StoreError as exc:
                attempt += 1
                if not exc.transient or attempt >= self.store_retry.attempts:
                    raise
                await asyncio.sleep(self.store_retry.delay(attempt, self.rng))
        if update is not None and update.release_lease:
            self.lease_released = True
        if self._on_commit is not None:
            self._on_commit(run_id, batch)

    async def _landed(self, rows: list[EventRow]) -> bool:
        """Whether exactly these rows are already in the log (a lost acknowledgement)."""
        try:
            stored = await self.store.load_events(self.state.run_id, after_seq=rows[0].seq - 1)
        except StoreError:
            return False
        stored = stored[: len(rows)]
        return len(stored) == len(rows) and all(
            a.seq == b.seq and a.data == b.data for a, b in zip(stored, rows, strict=True)
        )

    def set_status(self, status: RunStatus, reason: str | None, details: Any = None) -> None:
        """Record a lifecycle change; the next flush also updates the run's summary row."""
        self.record(
            RunStatusChanged(
                previous=self.state.status, status=status, reason=reason, details=details
            )
        )
        # A run that stops or parks gives its lease back in the same commit; a waiting
        # run also tells timers when to look at it again (its earliest approval expiry).
        self._status_update = RunUpdate(
            status=status,
            reason=reason,
            wake_at=self._wake_at() if status == "waiting" else None,
            release_lease=status in _LET_GO,
        )

    # -- effect helpers used by StepContext -----------------------------------------------------

    async def complete(self, client: ModelClient, request: ModelRequest) -> ModelResponse:
        """One model call, paced by the runtime's provider limits (if any)."""
        governance = self.governance
        pacing = governance.model_pacing
        if pacing is None:
            response = await self._complete(client, request)
        else:
            await pacing.before(client.model_id)
            response = await self._complete(client, request)
            pacing.after(client.model_id, response.usage)
        share = governance.loop_share
        if share is not None and not share.holds(self._share_mark):
            # The reply is in: wait for this run's share of the loop before working on it.
            await self._take_turn(share)
        return response

    async def _complete(self, client: ModelClient, request: ModelRequest) -> ModelResponse:
        """One model call; streamed when someone is listening for live deltas."""
        run_id = self.state.run_id
        if self._on_delta is None or self._wants_deltas is None or not self._wants_deltas(run_id):
            return await client.complete(request)
        final: ModelResponse | None = None
        guard = DeltaGuard(self.governance.protection.redactor, frozenset(self.agent.registry))
        generating = False
        try:
            async for piece in client.stream(request):
                if isinstance(piece, ModelResponse):
                    final = piece
                    rest = guard.finish()
                    if rest is not None:
                        self._on_delta(run_id, rest)
                else:
                    generating = True
                    shown = guard.admit(piece)
                    if shown is not None:
                        self._on_delta(run_id, shown)
        except ModelError as exc:
            if generating:
                # The reply broke off after it began (an error event mid-stream): what was
                # generated may be billed whatever the error's code says (see
                # ``worst_case_charge``). Red team 14c: such attempts were charged nothing.
                exc.broke_off = True  # type: ignore[attr-defined]
            raise
        if final is None:
            raise ModelError(
                f"{client.model_id}: stream ended without a final response",
                error_code="malformed_response",
                retryable=True,
            )
        return final

    def cost(self, model_id: str, response: ModelResponse) -> float | None:
        """USD cost of one reply, when a pricing table knows the model."""
        return self._cost(model_id, response) if self._cost is not None else None

    async def killswitch(self) -> bool:
        """Whether the runtime-wide kill switch for write tools is on."""
        read = self.governance.killswitch
        return await read() if read is not None else False

    async def sleep(self, seconds: float) -> None:
        """Back off between retries."""
        await asyncio.sleep(seconds)

    async def gather(self, aws: Sequence[Awaitable[T]]) -> list[T]:
        """Run tool calls concurrently; a single one is awaited directly (no task overhead).

        While they run, :meth:`interrupt` (a cancellation) stops them: an async tool gets
        ``CancelledError`` at its next await, a thread tool is abandoned (its late result
        is discarded), and the step ends with :class:`CancelRequested`.
        """
        self._interruptible = True
        try:
            results = [await aws[0]] if len(aws) == 1 else list(await asyncio.gather(*aws))
        except asyncio.CancelledError:
            task = self._task
            if self.cancel_reason is not None and task is not None and task.cancelling():
                task.uncancel()
                raise CancelRequested(self.cancel_reason) from None
            raise
        finally:
            self._interruptible = False
        share = self.governance.loop_share
        if share is not None and not share.holds(self._share_mark):
            # The tools are done: wait for this run's share of the loop before recording
            # them (no longer interruptible: a cancel must not drop results that are in).
            await self._take_turn(share)
        return results

    async def _take_turn(self, share: LoopShare) -> None:
        """Wait for this run's share of the event loop.

        Callers first ask :meth:`LoopShare.holds`: a run whose model or tools answered
        without suspending (a cached or scripted reply, an instant tool) is still in the
        turn it was given, and goes on. Only a run that waited, and was woken, queues
        behind the others woken meanwhile.
        """
        self._share_mark = await share.turn(self._share_mark)

    def interrupt(self) -> None:
        """Cancel the tool calls in flight (if any); the run then ends as cancelled."""
        task = self._task
        if self._interruptible and task is not None and not task.done():
            task.cancel()

    def park_update(self, status: RunStatus, reason: str | None) -> None:
        """Refresh a parked run's summary row (its next timer) without a lifecycle event."""
        self._status_update = RunUpdate(
            status=status, reason=reason, wake_at=self._wake_at(), release_lease=True
        )

    # -- the loop ----------------------------------------------------------------------------

    async def drive(self) -> RunState:
        """Execute steps until the run stops; returns the final state."""
        try:
            return await self._drive()
        finally:
            # Stopped by an error or cancelled: let a commit in flight land before the
            # runtime reads the log or resumes the run elsewhere.
            await self.settle()

    async def _drive(self) -> RunState:
        state = self.state
        agent = self.agent
        machine = agent.machine
        assert machine is not None
        self._task = asyncio.current_task()
        share = self.governance.loop_share
        if share is not None:
            # A burst of starts (or of runs woken together) would run every first step in
            # the iteration that launched them: take a turn like any other step.
            await self._take_turn(share)
        if state.status == "running":
            # The log leaves the run running: whoever drove it before is gone (a crash, a
            # lost lease, a store that stopped answering). From here it is driven again;
            # the time no one drove it is not the run's (its wall-time budget).
            self.set_status("running", "resumed")
        while True:
            if self.cancel_reason is not None:
                await self._finish_cancelled(self.cancel_reason)
                return state
            if self.stop_requested:
                # A step boundary: the last step is committed (the flush waits for an
                # overlapped commit), so another process can continue from the log.
                await self.flush()
                return state
            if state.status in ("pending", "waiting", "escalated", "quarantined"):
                self.set_status("running", None)
            current = machine.states[state.machine_state]
            ctx = StepContext(self)
            while True:
                transition = await self._run_state(current.name, ctx)
                if transition is _CANCELLED:
                    await self._finish_cancelled(self.cancel_reason or "cancelled")
                    return state
                if isinstance(transition, Goto) and not machine.allows(
                    current.name, transition.state
                ):
                    transition = Fail(
                        f"state {current.name!r} went to {transition.state!r}, which it does "
                        f"not declare in next={list(current.next)}",
                        error_code="illegal_transition",
                    )
                if isinstance(transition, Goto) and not transition.commit:
                    current = machine.states[transition.state]
                    continue
                break
            if isinstance(transition, Goto):
                self.record(
                    construct_trusted(Transitioned, to=transition.state)
                    if transition.data is None
                    else Transitioned(to=transition.state, data=transition.data)
                )
                # Overlap this commit with the next step, unless someone follows the run
                # live (see _watched).
                await self.flush(wait=self._watched())
                continue
            if isinstance(transition, Escalate):
                if transition.then is not None:
                    self.record(Transitioned(to=transition.then))
                self.record(
                    RunEscalated(
                        reason=transition.reason,
                        source=transition.source,
                        context={**self._handoff_context(), **(transition.context or {})},
                        suggested_next_step=transition.suggested_next_step,
                    )
                )
                self.set_status("escalated", transition.source, {"signal": "resume"})
                await self.flush()
                return state
            if isinstance(transition, Wait):
                if transition.then is not None:
                    self.record(Transitioned(to=transition.then))
                self.set_status(
                    "waiting",
                    transition.reason,
                    {"signal": transition.signal, **(transition.details or {})},
                )
                await self.flush()
                return state
            if isinstance(transition, Done):
                await self._finish("completed", output=transition.output)
            else:
                await self._finish(
                    "failed",
                    error=RunFailure(
                        error_code=transition.error_code,
                        message=transition.reason,
                        details=transition.details or None,
                    ),
                    reason=transition.error_code,
                )
            return state

    async def _run_state(self, name: str, ctx: StepContext) -> Transition:
        handler = self.agent.machine.states[name].handler  # type: ignore[union-attr]
        try:
            return await handler(ctx)
        except WaitRequested as request:
            return request.wait
        except EscalationRequested as request:
            return request.escalate
        except GateFailure as refused:
            return refused.fail
        except CancelRequested as cancel:
            self.cancel_reason = self.cancel_reason or cancel.reason
            return _CANCELLED
        except (StoreError, ConcurrentWriteError):
            # Nothing is wrong with the run: the store is. Let it escape the step so the
            # runtime resumes from the log once the store answers (or stops, if another
            # process owns the run now).
            raise
        except ModelError as exc:
            return Fail(
                f"model call failed: {exc.message}",
                error_code=f"model_{exc.error_code}",
                details={"retryable": exc.retryable, "status_code": exc.status_code},
            )
        except Exception as exc:
            return Fail(
                f"state {name!r} raised {type(exc).__name__}: {exc}",
                error_code="state_error",
            )

    async def _finish(
        self,
        status: RunStatus,
        *,
        output: Any = None,
        error: RunFailure | None = None,
        reason: str | None = None,
    ) -> None:
        self.record(run_finished(self.state, status, output=output, error=error))
        self.set_status(status, reason)
        await self.flush()

    def _handoff_context(self) -> dict[str, Any]:
        """What a person needs to pick the run up: the task, last reasoning, recent errors."""
        state = self.state
        reply = state.last_reply
        errors = [
            m.content
            for m in state.messages[-6:]
            if m.role == "tool" and '"error_code"' in (m.content or "")
        ]
        return {
            "task": state.messages[0].content if state.messages else None,
            "last_reasoning": reply.text if reply is not None else None,
            "recent_errors": errors,
            "model_calls": state.model_calls,
            "tool_calls": state.tool_calls,
        }

    def _wake_at(self) -> float | None:
        """When a timer must look at this parked run again (the earliest approval expiry)."""
        times = [a.request.expires_at for a in self.state.pending_approvals if a.request.expires_at]
        return min(times) if times else None

    async def _finish_cancelled(self, reason: str) -> None:
        self.record(SignalReceived(name="cancel", payload={"reason": reason}, by=self.cancel_by))
        await self._finish(
            "cancelled",
            error=RunFailure(error_code=RunFailureCode.CANCELLED, message=reason),
            reason="cancelled",
        )
