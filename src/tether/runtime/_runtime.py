"""``Runtime``: starts, drives, recovers and streams runs over one store.

A runtime owns the runs it drives through leases on the store. Runs left
``running`` by a crashed process are found when their lease expires and
resumed from their log, here or in any other process sharing the store.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import logging
import math
import os
import secrets as _random
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

from tether.engine import (
    PARKED,
    TERMINAL,
    Agent,
    ApprovalDecided,
    Governance,
    LoopShare,
    PayloadProtection,
    RunCreated,
    RunDriver,
    RunEscalated,
    RunEvent,
    RunState,
    SignalReceived,
    apply,
    decode_event,
    encode_event,
)
from tether.exceptions import (
    AgentVersionMismatchError,
    ConcurrentWriteError,
    ConfigError,
    LeaseLostError,
    RunError,
    RunNotFoundError,
    RunParkedError,
    RunQueueFullError,
    StoreError,
    UserError,
)
from tether.models import DEFAULT_PRICING, ModelResponse, PricingTable, StreamDelta
from tether.observe import KEY_ENV, AESGCMCodec, PayloadCodec, Redactor
from tether.policy import (
    Budget,
    InjectionScanner,
    PolicyFile,
    SecretBroker,
    ToolGuard,
    default_broker,
    default_scanner,
)
from tether.runtime._control import CANCEL_PREFIX, RunControl
from tether.runtime._fleet import (
    CLAIMED,
    CRASHED,
    RELEASED,
    Attempts,
    Candidate,
    attempts_at,
    claimable,
    fair_order,
    priority_of,
)
from tether.runtime._handle import _STOPPED, RunHandle, to_run_events
from tether.runtime._limits import ModelLimit, ModelPacer
from tether.runtime._results import LiveDelta, RunResult
from tether.store import (
    Durability,
    EventRow,
    RunCursor,
    RunRecord,
    Store,
    default_store_url,
    open_store,
    queue_admits,
)
from tether.tools import Sandbox, mcp_servers

log = logging.getLogger("tether.runtime")


class _PassLog:
    """What a background pass (recovery, timers, cancels) says when it fails.

    A store that is down fails every pass, several times a second: each would log a full
    traceback of the same connection error. A transient store error is said once, in one
    line, and again only when its message changes; when the pass succeeds again, that is
    said too. Anything else is a defect and keeps its traceback every time.
    """

    __slots__ = ("_down", "name")

    def __init__(self, name: str) -> None:
        self.name = name
        self._down: str | None = None

    def failed(self, exc: Exception) -> None:
        if isinstance(exc, StoreError) and exc.transient:
            message = str(exc)
            if message != self._down:
                log.warning(
                    "%s pass: the store is unavailable (%s); retrying until it answers",
                    self.name,
                    message,
                )
            self._down = message
            return
        self._down = None
        log.exception("%s pass failed", self.name)

    def ok(self) -> None:
        if self._down is not None:
            log.warning("%s pass: the store answers again", self.name)
            self._down = None


RunObserver = Callable[[str, Sequence[RunEvent]], None]
"""Called with ``(run_id, events)`` after each commit of any run this runtime drives.

Events are shown as persisted (sealed values stay sealed). An observer runs on the
event loop, must be quick and must not raise; exceptions are logged and dropped.
"""
KILLSWITCH = "killswitch"
SERVING_LOOP_SLICE = 0.005
"""The ``loop_slice`` of ``tether serve`` and ``tether worker``: 5 ms of run work per
iteration of the event loop (``benchmarks/concurrency.py``: loop lag p99 26-50 ms with
10,000 runs waking at once, against 770-870 ms unpaced)."""
_MAX_PERMANENT_STORE_FAILURES = 2
"""Resumes from the log after a store failure that is not transient, before giving up."""
_PER_TENANT_SCAN = 100
"""Waiting runs per tenant a claim pass looks at, at least (each tenant's oldest; four
times the pass's free slots when that is more): priorities are honoured among these; a
tenant's newer runs come into view as older ones are taken. Workers passing at once see
the same oldest runs, so a pass looks well past its own slots: one that loses races goes
on down the list (four workers taking over 1,000 runs: all claimed in 1.8 s, against 2.8 s
when a pass saw only as many runs as it had slots)."""
_CLAIM_BATCH = 250
"""Runs one claim pass takes at most (the rest wait for the next pass, or another worker)."""
_CLAIMS_AT_ONCE = 64
"""Runs a claim pass leases and adopts at once."""
_RELEASE_NOTE_TIMEOUT = 5.0
"""Seconds a shutdown waits, per run, to record that it gave the run back unharmed."""


def new_run_id() -> str:
    """A time-ordered run id: sortable in listings, unique across processes."""
    return f"run_{int(time.time() * 1000):012x}{_entropy(5).hex()}"


_ENTROPY = bytearray()
_ENTROPY_LOCK = threading.Lock()


def _entropy(size: int) -> bytes:
    """``size`` bytes from the OS's CSPRNG, read 4 KB at a time.

    One ``getrandom`` per run started released the GIL and waited to take it back: tens of
    microseconds per run under load, behind the store's writer thread. A forked child
    starts with an empty buffer, so parent and child never hand out the same bytes.
    """
    global _ENTROPY
    with _ENTROPY_LOCK:
        if len(_ENTROPY) < size:
            _ENTROPY = bytearray(os.urandom(4096))
        taken = bytes(_ENTROPY[:size])
        del _ENTROPY[:size]
    return taken


def _forget_entropy() -> None:
    global _ENTROPY
    _ENTROPY = bytearray()


os.register_at_fork(after_in_child=_forget_entropy)


def _warm(scanners: list[InjectionScanner]) -> None:
    for scanner in scanners:
        scanner.prepare()


_GC_TUNED = False


def _tune_gc() -> None:
    """Make the cyclic GC cheap for a long-lived runtime (once per process).

    Everything imported and built so far (modules, classes, agents) is moved to the
    permanent generation, so collections stop traversing it. The engine makes almost no
    reference cycles (10,000 runs in ``benchmarks/concurrency.py``: about 1,000 objects
    collected in all, of millions allocated), so a young collection only re-traverses
    live runs' new state (messages, events, the coroutines of a step waiting on its
    model) and finds nothing to free. With a threshold of 50,000 that cost 12% of the
    CPU at 10,000 active runs (124 collections, up to 0.24 s each); at 1,000,000 the
    short-lived objects die first and a collection is rare: 6% less CPU per turn, no
    more memory. The middle generation collects ten times less often than Python's
    default, for the same reason. Cycles are still collected, only later.

    Code running in the runtime (tools, model clients) may make cycles the engine does
    not, so the young threshold adapts (:func:`_adapt_young_gc`): it starts at 50,000,
    doubles (up to 1,000,000) after each young collection that found next to nothing,
    and drops back when one finds real garbage, so their cycles are not left waiting
    for a million allocations.
    """
    global _GC_TUNED, _GC_FLOOR
    if _GC_TUNED:
        return
    _GC_TUNED = True
    gc.collect()
    gc.freeze()
    threshold = gc.get_threshold()
    _GC_FLOOR = max(threshold[0], _GC_YOUNG_MIN)
    gc.set_threshold(_GC_FLOOR, max(threshold[1], 100), threshold[2])
    gc.callbacks.append(_adapt_young_gc)


_GC_YOUNG_MIN = 50_000
_GC_YOUNG_MAX = 1_000_000
_GC_FLOOR = _GC_YOUNG_MIN


def _adapt_young_gc(phase: str, info: dict[str, int]) -> None:
    """After a young collection: double the threshold when it freed next to nothing (under
    one object in a thousand of the threshold), go back to the floor when it freed more."""
    if phase != "stop" or info.get("generation") != 0:
        return
    young, middle, old = gc.get_threshold()
    if info.get("collected", 0) * 1000 > young:
        young = _GC_FLOOR
    else:
        young = min(young * 2, max(_GC_YOUNG_MAX, _GC_FLOOR))
    gc.set_threshold(young, middle, old)


def _as_persisted(rec: RunEvent) -> RunEvent:
    """The event as the store holds it (differs from the folded one only if it was sealed).

    Sealing re-encodes an event, so stored bytes that differ from the event's own encoding
    mean it was sealed or masked, whatever the redactor's replacement text looks like.
    """
    if rec.data and rec.data != encode_event(rec.event):
        return RunEvent(rec.run_id, rec.seq, rec.step, rec.ts, decode_event(rec.data), rec.data)
    return rec


def _note_takeover(driver: RunDriver, attempts: Attempts, *, orphaned: bool) -> None:
    """Tell a driver taking a run up what its last driver may have left unrecorded: a
    model call, or read tool calls, in flight when it stopped without handing the run
    over (``orphaned``: its lease ran out under an owner; else what the log's end says,
    :class:`Attempts`). The driver charges them before making them again."""
    driver.unrecorded_model_call = orphaned or attempts.unrecorded_call
    driver.unrecorded_tool_calls = orphaned or attempts.unrecorded_tools


def _release_starting(starting: dict[str, int], run_id: str) -> None:
    """One start of ``run_id`` is done: it leaves ``starting`` when the last one is."""
    left = starting.get(run_id, 0) - 1
    if left > 0:
        starting[run_id] = left
    else:
        starting.pop(run_id, None)


def _default_codec(store: Store) -> PayloadCodec | None:
    """``$TETHER_PAYLOAD_KEY``, else a key file beside a SQLite database, else none."""
    if os.environ.get(KEY_ENV, "").strip():
        return AESGCMCodec.from_env(KEY_ENV)
    path = getattr(store, "path", None)
    if not isinstance(path, Path):
        return None
    key_file = path.parent / "payload.key"
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        if not key_file.exists():
            # Written whole under a name of its own, then linked into place: a process
            # starting at the same moment sees no key file or a whole one, never a
            # half-written one. If another process linked first, its key wins.
            draft = key_file.with_name(f".{key_file.name}.{os.getpid()}")
            fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as fh:
                fh.write(AESGCMCodec.generate_key())
            try:
                with contextlib.suppress(FileExistsError):
                    os.link(draft, key_file)
            finally:
                draft.unlink()
        return AESGCMCodec.from_base64(key_file.read_text(), key_id=f"file:{key_file.name}")
    except OSError:  # a read-only or odd location: references only, writes park if needed
        return None


class Runtime(RunControl):
    """Runs agents durably on a store.

    Args:
        store: A store URL (``sqlite:///path/tether.db``) or a :class:`Store`;
            defaults to ``$TETHER_STORE``, else ``sqlite:///.tether/tether.db``.
        agents: Agents this runtime may resume (recovery finds them by name).
        durability: ``"FULL"`` (fsync per commit, default) or ``"NORMAL"``.
        lease_ttl: Seconds a lease lasts without a heartbeat; a crashed process's
            runs are resumed this long after it died.
        recover: Resume orphaned runs on entry and keep looking for them.
        accept_new_version: Resume runs whose agent definition changed since they began.
        pricing: Prices per model (``tether.models.PricingTable``); defaults to the
            built-in table. A model it does not know costs ``None`` (reported as 0).
        tenant_policies: Policy files per tenant, applied to every run of that tenant
            on top of the agent's own policy.
        secrets: The ``SecretBroker`` that hands tools their credentials (default:
            environment variables ``TETHER_SECRET_<NAME>``).
        redactor: Finds what must not leave the process: credential-shaped strings,
            sensitive field names and every secret the broker handed out. Such values
            are sealed in the store and masked where people see them; the run itself
            keeps the real values (a tool gets the real password).
        payload_codec: Encrypts sealed values so they can be recovered for execution
            (after approval, after a crash, in another process). ``"auto"`` (default):
            ``$TETHER_PAYLOAD_KEY`` if set, else for a SQLite store a key file
            ``payload.key`` beside the database (created once, mode 0600; keep it out of
            backups of the database). ``None``: store references only; a write whose
            sensitive argument cannot be recovered then parks as an uncertain write.
        timer_interval: How often parked runs with due timers (approval expiry) are checked.
        observers: Callables told of every commit of every run driven here (telemetry,
            metrics); see :data:`RunObserver`. More can be added with ``add_observer``.
        worker: Execute runs here (default). ``False`` makes a pure client: it starts,
            signals, approves, cancels and reads runs, and executes none of them; the runs
            it starts stay ``pending`` with no lease until a worker (``tether worker``, or
            any runtime with ``worker=True`` and the agent) claims them.
        concurrency: The most runs this process drives at once (``None``: no cap). Runs
            beyond it wait ``pending`` for a free slot, here or in another worker.
        tenant_concurrency: The most runs of one tenant executing at once across every
            worker on the store (an int for every tenant, or a mapping per tenant).
        max_pending: Backpressure: when this many runs already wait to be executed,
            ``start`` raises :class:`~tether.exceptions.RunQueueFullError` instead of
            queueing without limit (counted in the store, so across every process). A
            full queue still admits a tenant below its fair share (``max_pending``
            divided among the tenants with a run waiting), up to twice ``max_pending``.
        quarantine_after: A run claimed this many times at the same step (its worker or
            driver kept dying there) is ``quarantined`` instead of being retried again.
        claim_interval: How often a worker looks for runs to claim (default: every
            second, or every ``lease_ttl`` if that is shorter).
        model_limits: Requests and tokens per minute per provider (``"openai"``) or model id
            (``"openai:gpt-4o"``), as :class:`ModelLimit`; every model call of every run
            driven here waits its turn. Shared by default: the buckets live in the store
            and hold for every worker on it together (``ModelLimit(shared=False)``: per
            process).
        tool_guard: The circuit breakers and rate-limit buckets of this process's tool
            calls (default: a fresh :class:`~tether.policy.ToolGuard` per runtime); pass
            one to set a default breaker or to inject a clock. Shared tool rate limits
            use this runtime's store unless the guard names other ``buckets``.
        loop_slice: Seconds of run work one iteration of the event loop may do before
            further run steps wait for a later iteration, first come first served
            (:class:`~tether.engine.LoopShare`). ``None`` (default): no pacing, the most
            work per CPU second. Set it (``tether serve`` and ``tether worker`` use
            5 ms) where the process must stay responsive while thousands of runs wake
            at once: heartbeats, signals and API requests then wait milliseconds, not
            seconds. Measured in ``benchmarks/concurrency.py``.
    """

    def __init__(
        self,
        store: str | Store | None = None,
        *,
        agents: Sequence[Agent] = (),
        durability: Durability | None = None,
        lease_ttl: float = 30.0,
        recover: bool = True,
        accept_new_version: bool = False,
        pricing: PricingTable | None = None,
        tenant_policies: Mapping[str, PolicyFile | str | Path] | None = None,
        secrets: SecretBroker | None = None,
        redactor: Redactor | None = None,
        payload_codec: PayloadCodec | Literal["auto"] | None = "auto",
        timer_interval: float = 1.0,
        observers: Sequence[RunObserver] = (),
        worker: bool = True,
        concurrency: int | None = None,
        tenant_concurrency: int | Mapping[str, int] | None = None,
        max_pending: int | None = None,
        quarantine_after: int = 3,
        claim_interval: float | None = None,
        model_limits: Mapping[str, ModelLimit] | None = None,
        tool_guard: ToolGuard | None = None,
        loop_slice: float | None = None,
    ) -> None:
        if concurrency is not None and concurrency < 1:
            raise UserError(f"concurrency must be at least 1, not {concurrency}")
        if loop_slice is not None and loop_slice < 0:
            raise UserError(f"loop_slice must be 0 (off) or more seconds, not {loop_slice}")
        if quarantine_after < 1:
            raise UserError(f"quarantine_after must be at least 1, not {quarantine_after}")
        # A lease that never expires (inf, or a nan no comparison ever passes) keeps a dead
        # worker's runs from every other worker for good; 0 or less has every run taken
        # over while it is being driven.
        _check_seconds("lease_ttl", lease_ttl)
        if lease_ttl > MAX_LEASE_TTL:  # 1e308 is finite, and as good as forever
            raise ConfigError(
                f"lease_ttl must be at most {MAX_LEASE_TTL:g} s (a day), not {lease_ttl!r}: a "
                "dead worker's runs are taken over only after it"
            )
        _check_seconds("timer_interval", timer_interval)
        if claim_interval is not None:
            _check_seconds("claim_interval", claim_interval)
        self.store = open_store(store or default_store_url(), durability=durability)
        self.worker = worker
        self.concurrency = concurrency
        self.max_pending = max_pending
        self.quarantine_after = quarantine_after
        self._tenant_concurrency = tenant_concurrency
        self._claim_interval = claim_interval if claim_interval is not None else min(1.0, lease_ttl)
        self._draining = False
        self._closing = False
        self._priorities: dict[str, int] = {}
        self._refused: dict[str, float] = {}
        # Claimable runs were left over at the last claim pass (no free slot): when enough
        # slots free up, the recovery loop looks again at once instead of after the
        # claim interval (a worker working through a queue never idles with free slots).
        self._backlog = False
        self._slots_freed = asyncio.Event()
        self._starting: dict[str, int] = {}
        """Runs ``start`` created and is deciding whether to drive (a tenant cap), counted
        per start: two starts of one run id (an idempotency key's take-over) each hold it
        until each is done."""
        self._reserved = 0
        """Slots ``start`` took for runs it is still writing (see :meth:`_free_slots`)."""
        self._claim_lock = asyncio.Lock()
        self._handovers: set[asyncio.Task[None]] = set()
        self._served: dict[str | None, int] = {}
        self._serve_count = 0
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{_random.token_hex(3)}"
        self.lease_ttl = lease_ttl
        self.store_backoff_cap = 5.0
        self._cancel_interval = 1.0
        self._recover = recover
        self._accept_new_version = accept_new_version
        self._agents: dict[str, Agent] = {}
        for agent in agents:
            self.register(agent)
        self._tasks: dict[str, asyncio.Task[RunState]] = {}
        self._drivers: dict[str, RunDriver] = {}
        self._subscribers: dict[str, list[tuple[asyncio.Queue[Any], bool]]] = {}
        self._observers: list[RunObserver] = list(observers)
        self._known_prefixes: set[str] = set()
        self._prefix_writes: dict[str, asyncio.Future[None]] = {}
        self._crashed: dict[str, BaseException] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._background: list[asyncio.Task[None]] = []
        self._pricing = pricing if pricing is not None else DEFAULT_PRICING
        self._open = False
        self._timer_interval = timer_interval
        rules = {
            tenant: policy if isinstance(policy, PolicyFile) else PolicyFile.load(policy)
            for tenant, policy in (tenant_policies or {}).items()
        }
        broker = secrets if secrets is not None else default_broker()
        # A redactor of one's own still scrubs what the broker hands to tools.
        main = (
            redactor.with_values(broker.known_values)
            if redactor is not None
            else Redactor(values_source=broker.known_values)
        )
        self.governance = Governance(
            killswitch=self.killswitch_on,
            tenant_rules=rules,
            secrets=broker,
            protection=PayloadProtection(
                redactor=main,
                codec=_default_codec(self.store) if payload_codec == "auto" else payload_codec,
                known_values=Redactor(
                    field_names=(),
                    patterns=(),
                    values_source=broker.known_values,
                    replacement=main.replacement,
                ),
            ),
            pricing=self._pricing,
            model_pacing=ModelPacer(model_limits, buckets=self.store) if model_limits else None,
            guard=tool_guard if tool_guard is not None else ToolGuard(),
            loop_share=LoopShare(loop_slice) if loop_slice else None,
            clock=self.store.clock,
        )
        if self.governance.guard.buckets is None:  # shared tool rate limits live in the store
            self.governance.guard.buckets = self.store

    # -- lifecycle ---------------------------------------------------------------------------

    async def __aenter__(self) -> Runtime:
        await self.store.open()
        self._open = True
        self._closing = False
        if not self.worker:
            return self  # a pure client: no drivers, so nothing to beat, cancel or recover
        _tune_gc()
        self._background.append(asyncio.create_task(self._heartbeat()))
        self._background.append(asyncio.create_task(self._cancel_loop()))
        # The injection scanners build their tables on first use (about a second of
        # regex compilation): do it now, in a thread, not in the middle of a run's step.
        scanners = {id(a.policy.injection): a.policy.injection for a in self._agents.values()}
        scanners[id(default_scanner())] = default_scanner()
        self._background.append(
            asyncio.create_task(asyncio.to_thread(_warm, [s for s in scanners.values() if s]))
        )
        if self._recover:
            try:
                await self.recover()
            except StoreError as exc:
                if not exc.transient:
                    raise
                # The store went away just after it opened (a restart): the loop below
                # claims the runs once it answers again.
                log.warning("first recovery pass failed (%s); retrying in the background", exc)
            self._background.append(asyncio.create_task(self._recover_loop()))
            self._background.append(asyncio.create_task(self._timer_loop()))
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        # The runs still driven here are stopped mid-step, but by a clean shutdown: each
        # is handed back with a release mark (see _drive), so the next claimer does not
        # count it as a driver that died (three restarts would quarantine a healthy run).
        self._closing = True
        pending: list[asyncio.Task[Any]] = [*self._background, *self._tasks.values()]
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        # A driver whose task was cancelled before it first ran never reached its cleanup:
        # its run is given back here, the same way.
        for run_id, driver in list(self._drivers.items()):
            self._drivers.pop(run_id, None)
            if not driver.lease_released:
                await self._note_release(driver, "shutdown")
                with contextlib.suppress(Exception):
                    await self.store.release_lease(run_id, self.owner)
        await asyncio.gather(*self._handovers, return_exceptions=True)  # let them finish
        self._background.clear()
        self._handovers.clear()
        # MCP sessions opened by this runtime's runs end with it.
        contracts = [c for agent in self._agents.values() for c in agent.registry.values()]
        for server in mcp_servers(contracts):
            with contextlib.suppress(Exception):
                await server.aclose()
        self._open = False
        await self.store.close()

    def register(self, agent: Agent) -> None:
        """Make an agent resumable by this runtime (``start`` registers automatically)."""
        known = self._agents.get(agent.name)
        if known is not None and known is not agent and known.version != agent.version:
            raise UserError(
                f"two different definitions of agent {agent.name!r} "
                f"(versions {known.version} and {agent.version}) in one runtime"
            )
        self._agents[agent.name] = agent

    # -- starting and resuming ---------------------------------------------------------------

    async def start(
        self,
        agent: Agent,
        input: Any,
        *,
        tenant: str | None = None,
        run_id: str | None = None,
        parent_run_id: str | None = None,
        metadata: dict[str, Any] | None = None,
        budget: Budget | None = None,
    ) -> RunHandle:
        """Create a run of ``agent`` on ``input`` and start driving it in the background.

        ``budget`` overrides the agent policy's budget for this run; either is pinned
        in ``run.created``.
        """
        self._check_open()
        self.register(agent)
        assert agent.machine is not None
        if self.max_pending is not None:
            await self._check_queue(tenant)  # refuse early, before the prefix is stored
        run_id = run_id or new_run_id()
        now = self.store.clock()  # every event of a run is stamped on the store's clock
        # Driven here only by a worker with a free slot; otherwise the run waits, unleased,
        # for whichever worker claims it first.
        drive_here = self.worker and not self._draining and self._free_slots() > 0
        # The slot is taken now, before the first await: a burst of starts (or a claim
        # pass) running while this one writes its run would otherwise all see the same
        # free slot and drive more runs than `concurrency` at once.
        reserved = drive_here
        if reserved:
            self._reserved += 1
        # A tenant with a concurrency cap is counted across the fleet: its run is created
        # unleased, then leased here only if the tenant is under its cap (the count and
        # the lease in one transaction, as a claim pass does); otherwise it waits for a
        # claim pass once one of the tenant's runs ends.
        cap = self._tenant_cap(tenant) if drive_here else None
        lease_now = drive_here and cap is None
        pinned = budget or agent.policy.budget
        created = RunCreated(
            agent=agent.name,
            agent_version=agent.version,
            input=input,
            tenant=tenant,
            parent_run_id=parent_run_id,
            initial_state=agent.machine.initial,
            prefix_hash=agent.prefix_hash,
            budget=pinned.to_record() if pinned is not None else None,
            metadata=metadata,
        )
        state = RunState(run_id=run_id)
        # Stored sealed like every other event (a key pasted into the task, a password in
        # an input object, metadata); the run folds, and its model reads, the real input.
        _, stored = self.governance.protection.protect(created)
        first = RunEvent(run_id, 1, 0, now, created, stored)
        apply(state, first)
        record = RunRecord(
            run_id=run_id,
            agent=agent.name,
            agent_version=agent.version,
            status="pending",
            created_at=now,
            updated_at=now,
            tenant=tenant,
            parent_run_id=parent_run_id,
            lease_owner=self.owner if lease_now else None,
            # Lease times are on the store's clock (Postgres: the database's).
            lease_expires_at=self.store.clock() + self.lease_ttl if lease_now else None,
        )
        rows = [EventRow(1, 0, now, created.type, stored)]
        if cap is not None:
            # From before the run exists until start decides: this process's own claim
            # passes leave it alone (two drivers of one run in one process).
            self._starting[run_id] = self._starting.get(run_id, 0) + 1
        try:
            if agent.prefix_hash not in self._known_prefixes:
                await self._store_prefix(agent)
            if self.max_pending is None:
                await self.store.create_run(record, rows)
            else:
                # The count of waiting runs and the insert are one transaction in the
                # store: a burst of concurrent starts cannot all pass a check made before
                # any of them was inserted.
                try:
                    await self.store.create_run_bounded(record, rows, max_waiting=self.max_pending)
                except RunQueueFullError as exc:
                    raise self._queue_full(exc.pending) from None
            self._publish(run_id, [first])
            if cap is not None:
                # Through the gate every launch outside a claim pass takes: a free slot,
                # the tenant under its cap (counted with the lease, in one transaction).
                # The slot reserved above is handed to that gate, which counts it afresh.
                self._reserved -= 1
                reserved = False
                await self._launch_capped(agent, state, self._driver_for(state, agent, None))
                drive_here = False
            if drive_here:
                self._reserved -= 1  # the slot becomes the run's task, with no await between
                reserved = False
                self._launch(agent, state)
        finally:
            if cap is not None:
                _release_starting(self._starting, run_id)
            if reserved:
                self._reserved -= 1
        if self.worker and not drive_here:
            # Left waiting for a slot here or a worker elsewhere: a slot freed here looks
            # for it at once (see _drive), not a claim interval later.
            self._backlog = True
        return RunHandle(self, run_id)

    async def _store_prefix(self, agent: Agent) -> None:
        """Store the agent's prompt prefix once: runs started in a burst wait on one write
        instead of each queueing its own (10,000 identical blob writes at once).

        The prefix leaves the process like an artifact does (a key pasted into the
        instructions, a credential as a schema default), so it is kept the same way:
        :func:`~tether.observe.keep_blob` with the runtime's redactor and payload codec
        keeps it as it is when clean, else sealed whole, or without a codec as JSON with
        its secrets redacted. The prompt sent to the model is the agent's own, unchanged;
        a ``prefix.changed`` that finds the previous prefix sealed says so instead of
        listing what changed.
        """
        key = agent.prefix_hash

        async def put() -> None:
            kept = await self.governance.protection.keep_text(agent.prefix)
            await self.store.put_blob(f"prefix:{key}", kept)

        write = self._prefix_writes.get(key)
        if write is None:
            write = asyncio.ensure_future(put())
            write.add_done_callback(lambda done: done.cancelled() or done.exception())
            self._prefix_writes[key] = write
        try:
            await asyncio.shield(write)  # one caller cancelled does not cancel the others'
        except StoreError:
            # The shared write failed (a transient fault, say): this start tries its own,
            # as it would have alone, and fails only if that fails too.
            await put()
        finally:
            if write.done() and self._prefix_writes.get(key) is write:
                del self._prefix_writes[key]  # written, or failed: the next start retries
        self._known_prefixes.add(key)

    def _free_slots(self) -> int:
        if self.concurrency is None:
            return 1_000_000
        return self.concurrency - len(self._tasks) - self._reserved

    async def _launch_capped(self, agent: Agent, state: RunState, driver: RunDriver) -> bool:
        """Drive a run this process holds the lease of and just made live (a timer fired,
        a signal or decision resumed it), if a claim pass here could take it: a free
        slot, and its tenant under its cap fleet-wide (counted with the lease, in one
        transaction, as a claim pass does). Returns whether it is driven here.

        Otherwise the caller gives the lease back (the store announces the run as
        claimable) and a claim pass picks it up once a slot frees: what was decided is
        recorded already; only the driving waits. Serialised with this process's claim
        passes, so neither over-fills the slots the other counted.
        """
        if not self.worker:
            self._launch(agent, state, driver)  # a pure client hands the run back
            return True
        async with self._claim_lock:
            if not self._draining and self._free_slots() <= 0:
                return False
            cap = self._tenant_cap(state.tenant)
            if cap is not None:
                leased = await self.store.acquire_leases_capped(
                    [state.run_id], self.owner, self.lease_ttl, caps={state.tenant: cap}
                )
                if not leased:
                    return False
            self._launch(agent, state, driver)
            return True

    async def _check_queue(self, tenant: str | None) -> None:
        """Refuse a new run when ``max_pending`` runs already wait to be executed.

        A cheap early look (a read); the binding check is made again with the insert
        (:meth:`Store.create_run_bounded`).
        """
        if self.max_pending is None:
            return
        queued = await self.store.count_waiting(limit=2 * self.max_pending)
        if queued < self.max_pending:
            return
        # A full queue still admits a tenant below its fair share (Store.create_run_bounded).
        mine, tenants = await self.store.tenant_queue(tenant, limit=2 * self.max_pending)
        if not queue_admits(queued, self.max_pending, mine, tenants):
            raise self._queue_full(queued)

    def _queue_full(self, queued: int) -> RunQueueFullError:
        assert self.max_pending is not None
        retry_after = max(1.0, self._claim_interval * 2)
        return RunQueueFullError(
            f"{queued} runs already wait to be executed (max_pending={self.max_pending}); "
            f"retry in {retry_after:.0f} s, or add workers (`tether worker`) to drain "
            "the queue faster",
            retry_after=retry_after,
            pending=queued,
            limit=self.max_pending,
        )

    def _handle(self, run_id: str) -> RunHandle:
        return RunHandle(self, run_id)

    def get(self, run_id: str) -> RunHandle:
        """A handle on an existing run (it need not be driven by this runtime)."""
        return RunHandle(self, run_id)

    @property
    def active_runs(self) -> frozenset[str]:
        """Ids of the runs this runtime drives right now (started, resumed or recovered)."""
        return frozenset(self._tasks)

    async def resume(
        self, run_id: str, *, agent: Agent | None = None, accept_new_version: bool | None = None
    ) -> RunHandle:
        """Continue a run that is ``running`` but not driven (e.g. after a crash).

        Raises:
            RunNotFoundError: no such run.
            RunParkedError: the run is parked; send the signal it waits for instead.
            RunLeasedError: another process holds the run's lease (it is driving it).
        """
        self._check_open()
        if run_id in self._tasks:
            return RunHandle(self, run_id)
        record = await self._record(run_id)
        if record.status in TERMINAL:
            return RunHandle(self, run_id)
        if record.status in PARKED:
            state = await self.load_state(run_id)
            signal = (state.wait_details or {}).get("signal")
            raise RunParkedError(
                f"run {run_id} is {state.status} ({state.wait_reason}) and waits for signal "
                f"{signal!r}; send it with Runtime.signal(...) (or approve/deny) to continue",
                run_id=run_id,
                status=state.status,
                signal=signal,
            )
        async with self._leased(run_id) as lease:
            state, rows = await self._load(run_id)
            driver = self._driver_for(state, agent, accept_new_version)
            # Not driven, yet `running`: unless a drain handed it back, its driver stopped
            # without handing it over.
            _note_takeover(
                driver, attempts_at(rows, state.step), orphaned=record.lease_owner is not None
            )
            # A cancel accepted while its last driver still held the lease: served first.
            request = await self.store.get_flag(f"{CANCEL_PREFIX}{run_id}")
            if request is not None:
                driver.cancel_reason, driver.cancel_by = _cancel_request(request)
            # No free slot, or its tenant at its cap: left to a claim pass (lease given back).
            if await self._launch_capped(driver.agent, state, driver):
                lease.keep()
        return RunHandle(self, run_id)

    async def set_killswitch(self, on: bool, *, by: str | None = None) -> None:
        """Turn the runtime-wide kill switch for write tools on or off (every process)."""
        self._check_open()
        await self.store.set_flag(KILLSWITCH, f"on:{by or ''}" if on else None)

    async def killswitch_on(self) -> bool:
        """Whether write tools are currently denied by the kill switch."""
        value = await self.store.get_flag(KILLSWITCH)
        return value is not None and value.startswith("on")

    async def recover(self) -> list[str]:
        """Claim runs that need a driver and drive them here; returns the ids claimed.

        Those are runs whose owner died (their lease expired) and runs a client started
        (``pending``, no lease). A worker claims no more than its free slots, fairly
        (see :mod:`tether.runtime._fleet`: priority, then the tenant with the fewest runs
        executing), and sets aside (``quarantined``) a run that keeps killing whoever
        drives it.
        """
        self._check_open()
        if not self.worker or self._draining:
            return []
        # One claim pass at a time in a process (the claim loop, a caller's recover()):
        # two passes racing for one run would both lease it under this owner, and the
        # loser would let go of the lease the winner drives under.
        async with self._claim_lock:
            return await self._claim_pass()

    async def _claim_pass(self) -> list[str]:
        slots = min(self._free_slots(), _CLAIM_BATCH)
        if slots <= 0:
            return []
        now = time.time()
        leases_now = self.store.clock()  # leases expire on the store's clock
        # Each tenant's oldest waiting runs of the agents served here (workers may serve
        # different agents on one store), however long the queue: a tenant that floods it
        # cannot hide another's runs. And every tenant's runs executing fleet-wide.
        per_tenant = max(4 * slots, _PER_TENANT_SCAN)
        found, running = await self.store.claim_candidates(
            agents=list(self._agents), per_tenant=per_tenant
        )
        # Not those this process just failed to take up (a version mismatch).
        self._refused = {k: t for k, t in self._refused.items() if t > now}
        waiting = [
            r
            for r in found
            if claimable(r, leases_now)
            and r.agent in self._agents
            and r.run_id not in self._tasks
            and r.run_id not in self._refused
        ]
        # A priority not yet known is in the run's first event: one read for all of them
        # (one by one, a fresh worker facing 1,000 orphans spent most of its first pass
        # reading them).
        await self._learn_priorities([r.run_id for r in waiting])
        candidates = [
            Candidate(r.run_id, r.tenant, self._priorities[r.run_id], r.created_at) for r in waiting
        ]
        live = {r.run_id for r in waiting}
        self._priorities = {k: v for k, v in self._priorities.items() if k in live}
        # Every candidate in fair order, not just the first `slots`: workers scanning at
        # once see the same order, and one that loses a race for a run goes on down the
        # list instead of idling with free slots until its next pass. A tenant at its cap
        # gets nothing, here or anywhere else.
        chosen = [
            c.run_id
            for c in fair_order(
                candidates,
                len(candidates),
                running=running,
                tenant_cap=self._tenant_cap,
                last_served=self._served,
            )
        ]
        tenants = {r.run_id: r.tenant for r in waiting}
        # A claimable run that still names an owner: its lease ran out, so whoever drove
        # it stopped without handing it over (see RunDriver.unrecorded_model_call).
        orphans = {r.run_id for r in waiting if r.lease_owner is not None}
        resumed: list[str] = []
        position = 0
        while position < len(chosen) and len(resumed) < slots:
            # Several claims at once: one round trip leases them, one reads their logs,
            # and their claim marks commit together (a Postgres pool serves them in
            # parallel, SQLite commits them as a group); never more than the slots still
            # free, so a pass cannot over-claim.
            batch = chosen[position : position + min(_CLAIMS_AT_ONCE, slots - len(resumed))]
            position += len(batch)
            taken = await self._claim_many(batch, tenants, orphans)
            for run_id, ok in zip(batch, taken, strict=True):
                if ok:
                    resumed.append(run_id)
                    self._serve_count += 1
                    self._served[tenants.get(run_id)] = self._serve_count
        # More may wait than this pass saw: candidates left over, or a tenant whose page
        # of oldest runs came back full. Freed slots then claim at once, not a claim
        # interval later (a lone worker draining a deep queue ran at a seventh of its pace).
        pages = Counter(r.tenant for r in found)
        self._backlog = len(resumed) < len(waiting) or any(n >= per_tenant for n in pages.values())
        return resumed

    async def _claim_many(
        self,
        batch: list[str],
        tenants: Mapping[str, str | None],
        orphans: frozenset[str] | set[str] = frozenset(),
    ) -> list[bool]:
        """Lease the chosen runs and adopt them; whether this process now drives each.

        ``orphans``: those whose lease had expired under an owner (not handed over)."""
        wanted = [r for r in batch if r not in self._tasks and r not in self._starting]
        caps: dict[str | None, int] = {}
        for tenant in {tenants.get(run_id) for run_id in wanted}:
            cap = self._tenant_cap(tenant)
            if cap is not None:
                caps[tenant] = cap
        # Another worker may be quicker for some; this process may take one meanwhile (a
        # signal, resume): those are not adopted here. A capped tenant's runs are leased
        # only while the tenant is under its cap when the lease is taken (the count and
        # the lease are one transaction): the load fair_order saw may be stale by then,
        # another worker's claim pass overlapping this one.
        if caps:
            leased = await self.store.acquire_leases_capped(
                wanted, self.owner, self.lease_ttl, caps=caps
            )
        else:
            leased = await self.store.acquire_leases(wanted, self.owner, self.lease_ttl)
        mine = [run_id for run_id in leased if run_id not in self._tasks]
        try:
            logs = await self.store.load_logs(mine) if mine else {}
            # Cancels accepted while their runs' last drivers were unresponsive (frozen,
            # just killed, their leases still live): applied before anything is driven.
            cancels = await self.store.list_flags(CANCEL_PREFIX) if mine else {}
        except StoreError as exc:
            # As when one adoption fails: let them go, and leave them for a while.
            await asyncio.gather(*(self._let_go(run_id, exc) for run_id in mine))
            return [False] * len(batch)
        adopted = await asyncio.gather(
            *(
                self._take(
                    r,
                    logs.get(r, []),
                    orphaned=r in orphans,
                    cancel=cancels.get(f"{CANCEL_PREFIX}{r}"),
                )
                for r in mine
            )
        )
        taken = {r for r, ok in zip(mine, adopted, strict=True) if ok}
        return [run_id in taken for run_id in batch]

    async def _take(
        self,
        run_id: str,
        rows: list[EventRow],
        *,
        orphaned: bool = False,
        cancel: str | None = None,
    ) -> bool:
        """Adopt one run this process just leased; a run it cannot take up is let go."""
        try:
            return await self._adopt(run_id, rows, orphaned=orphaned, cancel=cancel)
        except (UserError, RunError, StoreError) as exc:
            await self._let_go(run_id, exc)
            return False

    async def _let_go(self, run_id: str, exc: Exception) -> None:
        """Give back a run this process leased but cannot take up, and leave it for a TTL."""
        log.warning("cannot recover run %s: %s", run_id, exc)
        self._refused[run_id] = time.time() + self.lease_ttl
        with contextlib.suppress(Exception):
            await self.store.release_lease(run_id, self.owner)

    async def _adopt(
        self,
        run_id: str,
        rows: list[EventRow],
        *,
        orphaned: bool = False,
        cancel: str | None = None,
    ) -> bool:
        """Drive a run this process just leased (``rows``: its log), unless it is done or
        poisoned.

        ``orphaned``: its lease had expired under an owner, who never handed it over.
        ``cancel``: the cancel request stored for it (see :meth:`_serve_cancels`), if any:
        the run is cancelled before anything else is done (no call of the step it was
        in is re-issued), and a quarantine gives way to it.
        """
        if not rows:
            raise RunNotFoundError(f"no run {run_id!r} in {self.store.url}", run_id=run_id)
        state = RunState(run_id=run_id)
        for rec in to_run_events(run_id, rows, self.governance.protection):
            apply(state, rec)
        if state.status not in ("pending", "running"):
            await self.store.release_lease(run_id, self.owner)  # it stopped meanwhile
            return False
        driver = self._driver_for(state, None, None)
        attempts = attempts_at(rows, state.step)
        deaths = attempts.deaths + (0 if attempts.fresh else 1)
        if cancel is not None:
            # Accepted while another process drove the run, which stopped answering before
            # it saw the request: the user's cancel comes first, before any call of the
            # step it was in runs again (the request is deleted once the run has ended).
            driver.cancel_reason, driver.cancel_by = _cancel_request(cancel)
        elif deaths >= self.quarantine_after:
            cause = attempts.error or (
                "the process driving it stopped without releasing it (killed or crashed)"
            )
            log.error(
                "run %s quarantined: its driver died %d times at step %d; last error: %s",
                run_id,
                deaths,
                state.step,
                cause,
            )
            driver.set_status(
                "quarantined",
                "poisoned",
                {
                    "signal": "resume",
                    "attempts": deaths,
                    "step": state.step,
                    "error": cause,
                },
            )
            await driver.flush()  # releases the lease in the same commit
            return False
        # Mark the attempt before driving, so a crash during it still counts.
        driver.record(
            SignalReceived(
                name=CLAIMED,
                payload={"fresh": attempts.fresh, "deaths": deaths, "step": state.step},
                by=self.owner,
            )
        )
        await driver.flush()
        # Its last driver may have stopped without handing it over (its lease ran out, or
        # the log ends mid-drive).
        _note_takeover(driver, attempts, orphaned=orphaned)
        self._launch(driver.agent, state, driver)
        return True

    async def _learn_priorities(self, run_ids: list[str]) -> None:
        """Read the claim priority of the runs whose priority is not known yet."""
        unknown = [run_id for run_id in run_ids if run_id not in self._priorities]
        if not unknown:
            return
        firsts = await self.store.load_logs(unknown, upto_seq=1)  # run.created, not the log
        for run_id in unknown:
            rows = firsts.get(run_id)
            try:
                created = decode_event(rows[0].data) if rows else None
            except Exception:
                # A run this code cannot read (written by a newer version, or edited) gets
                # the default priority here; claiming it is what refuses it, for that run
                # alone. Raising would stop every pass, and recovery of every other run.
                created = None
            metadata = created.metadata if isinstance(created, RunCreated) else None
            self._priorities[run_id] = priority_of(metadata)

    def _tenant_cap(self, tenant: str | None) -> int | None:
        caps = self._tenant_concurrency
        if caps is None or isinstance(caps, int):
            return caps
        return caps.get(tenant or "")

    async def drain(self) -> None:
        """Stop claiming runs and let each run driven here stop after its current step.

        Every step already begun is finished and committed; then the run's lease is given
        back with the run left ``pending``/``running``, so any worker continues it from
        its log. Returns once no run is driven here. Runs started meanwhile wait
        ``pending`` for another worker.
        """
        self._draining = True
        for driver in list(self._drivers.values()):
            driver.stop_requested = True
        tasks = list(self._tasks.values())
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)

    @property
    def draining(self) -> bool:
        """Whether :meth:`drain` was called: this runtime claims and starts no more runs."""
        return self._draining

    # -- reading -----------------------------------------------------------------------------

    async def load_state(self, run_id: str) -> RunState:
        """Fold a run's state from its stored events."""
        return (await self._load(run_id))[0]

    async def _load(self, run_id: str) -> tuple[RunState, list[EventRow]]:
        """A run's folded state and the stored events it was folded from."""
        rows = await self.store.load_events(run_id)
        if not rows:
            raise RunNotFoundError(f"no run {run_id!r} in {self.store.url}", run_id=run_id)
        state = RunState(run_id=run_id)
        for rec in to_run_events(run_id, rows, self.governance.protection):
            apply(state, rec)
        return state, rows

    async def get_run(self, run_id: str) -> RunRecord | None:
        """A run's summary row (status, lease, last sequence number), or ``None``."""
        self._check_open()
        return await self.store.get_run(run_id)

    async def list_runs(
        self,
        *,
        statuses: Sequence[str] | None = None,
        agent: str | None = None,
        limit: int = 50,
        tenant: str | None = None,
        since: float | None = None,
        until: float | None = None,
        cursor: RunCursor | None = None,
    ) -> list[RunRecord]:
        """Summary rows of runs, newest first.

        ``since``/``until`` bound the creation time (unix seconds); ``cursor`` continues a
        listing after the ``(created_at, run_id)`` of the previous page's last run.
        """
        self._check_open()
        return await self.store.list_runs(
            statuses=statuses,
            agent=agent,
            limit=limit,
            tenant=tenant,
            since=since,
            until=until,
            cursor=cursor,
        )

    def subscribe(self, run_id: str, *, deltas: bool = False) -> asyncio.Queue[Any]:
        """Follow a run driven here as it commits: the queue receives each commit's events
        (a list of :class:`~tether.engine.RunEvent`, as persisted), with ``deltas``
        :class:`LiveDelta` items too, and ``None`` when the local driver stops.

        The queue is unbounded and filled without waiting, so a subscriber never slows the
        run: drain it promptly, and :meth:`unsubscribe` when done. Runs driven by another
        process publish nothing here; read their log from the store.
        """
        return self._subscribe(run_id, deltas)

    def unsubscribe(self, run_id: str, queue: asyncio.Queue[Any]) -> None:
        """Stop filling a queue :meth:`subscribe` returned."""
        self._unsubscribe(run_id, queue)

    # -- internals ---------------------------------------------------------------------------

    def _check_open(self) -> None:
        if not self._open:
            raise UserError("the runtime is not open: use `async with Runtime(...) as rt:`")

    async def _record(self, run_id: str) -> RunRecord:
        record = await self.store.get_run(run_id)
        if record is None:
            raise RunNotFoundError(f"no run {run_id!r} in {self.store.url}", run_id=run_id)
        return record

    def _driver_for(
        self,
        state: RunState,
        agent: Agent | None,
        accept_new_version: bool | None,
        *,
        strict: bool = True,
    ) -> RunDriver:
        agent = agent or self._agents.get(state.agent)
        if agent is None:
            raise UserError(
                f"run {state.run_id} belongs to agent {state.agent!r}, which this runtime does "
                f"not know; pass it in Runtime(agents=[...]) or to resume(agent=...)"
            )
        if strict:
            self._check_version(state, agent, accept_new_version)
        driver = self._new_driver(state, agent)
        if strict and agent.version != state.agent_version:
            driver.record(
                SignalReceived(
                    name="agent_version_accepted",
                    payload={"pinned": state.agent_version, "accepted": agent.version},
                )
            )
        return driver

    def _check_version(
        self, state: RunState, agent: Agent, accept_new_version: bool | None
    ) -> None:
        """Refuse to continue a run under an agent definition it is not pinned to."""
        accept = self._accept_new_version if accept_new_version is None else accept_new_version
        if agent.version != state.agent_version and not accept:
            raise AgentVersionMismatchError(
                f"run {state.run_id} is pinned to agent {state.agent!r} version "
                f"{state.agent_version}, but the code now defines version {agent.version}. "
                "Restore the old definition, or resume with accept_new_version=True "
                "(CLI: --accept-new-version) to continue under the new one.",
                run_id=state.run_id,
                pinned=state.agent_version,
                offered=agent.version,
            )

    def _new_driver(self, state: RunState, agent: Agent) -> RunDriver:
        return RunDriver(
            store=self.store,
            agent=agent,
            state=state,
            on_commit=self._publish,
            on_delta=self._publish_delta,
            wants_deltas=self._wants_deltas,
            watched=self._watched,
            cost=self._cost,
            governance=self.governance,
            owner=self.owner,
        )

    def _launch(self, agent: Agent, state: RunState, driver: RunDriver | None = None) -> None:
        if not self.worker:
            # A pure client drives nothing, even a run it just resumed with a signal or an
            # approval: it gives the lease back and the run (`running`) goes to a worker.
            handover = asyncio.create_task(self.store.release_lease(state.run_id, self.owner))
            self._handovers.add(handover)
            handover.add_done_callback(self._handovers.discard)
            return
        if driver is None:
            driver = self._driver_for(state, agent, None)
        self._crashed.pop(state.run_id, None)
        if self._draining:
            driver.stop_requested = True  # e.g. a run approved while this worker drains
        self._drivers[state.run_id] = driver
        task = asyncio.create_task(self._drive(driver), name=f"tether-run-{state.run_id}")
        # The failure is kept in _crashed for result(); retrieve it so asyncio does not warn.
        task.add_done_callback(lambda t: t.cancelled() or t.exception())
        self._tasks[state.run_id] = task

    async def _drive(self, driver: RunDriver) -> RunState:
        run_id = driver.state.run_id
        permanent = 0
        try:
            while True:
                try:
                    state = await driver.drive()
                    if state.status in PARKED:
                        state = await self._cancel_after_park(driver) or state
                    if (
                        driver.stop_requested
                        and not driver.lease_lost
                        and state.status in ("pending", "running")
                    ):
                        # Given back unharmed by a draining worker: not an attempt that
                        # failed, so the quarantine count at this step starts over.
                        driver.record(
                            SignalReceived(
                                name=RELEASED, payload={"reason": "drain"}, by=self.owner
                            )
                        )
                        await driver.flush()
                    return state
                except ConcurrentWriteError as exc:
                    # Another process owns the run now (its lease, or its log moved on):
                    # stop here without touching it; result() follows it in the store.
                    log.warning("run %s: %s", run_id, exc)
                    return driver.state
                except StoreError as exc:
                    permanent = 0 if exc.transient else permanent + 1
                    if permanent > _MAX_PERMANENT_STORE_FAILURES:
                        raise  # not a hiccup: leave the run `running` for a later recovery
                    log.warning("run %s: the store failed (%s); resuming from the log", run_id, exc)
                    reattached = await self._reattach(driver)
                    if reattached is None:
                        return driver.state
                    driver = reattached
        except Exception as exc:
            # Keep it for result()/events(): the run stays `running` in the store and
            # another process (or a restart) will resume it from the log.
            self._crashed[run_id] = exc
            log.error("driving run %s failed: %s", run_id, exc, exc_info=exc)
            await self._note_crash(driver, exc)
            raise
        finally:
            self._tasks.pop(run_id, None)
            if self._backlog and self._free_slots() >= self._refill_at():
                self._slots_freed.set()
            self._drivers.pop(run_id, None)
            self._locks.pop(run_id, None)
            for queue, _ in self._subscribers.get(run_id, ()):
                queue.put_nowait(None)
            if not driver.lease_released:  # else the final commit already gave it back
                if self._closing:
                    await self._note_release(driver, "shutdown")
                with contextlib.suppress(Exception):
                    await self.store.release_lease(run_id, self.owner)
            if driver.state.status in TERMINAL and Sandbox.in_use():
                # The run's sandbox scratch goes with it (kept while it is only parked).
                with contextlib.suppress(Exception):
                    await asyncio.to_thread(Sandbox.run_ended, run_id)

    async def _note_crash(self, failed: RunDriver, exc: Exception) -> None:
        """Record why a driver died in the run's log (the quarantine quotes it); best effort.

        The failed driver's buffered events are dropped: the note goes on top of the log as
        committed, by a fresh driver, while this process still holds the lease.
        """
        if isinstance(exc, StoreError):
            return  # the store is the trouble: writing to it is unlikely to work
        try:
            state = await self.load_state(failed.state.run_id)
            note = self._new_driver(state, failed.agent)
            note.record(
                SignalReceived(
                    name=CRASHED,
                    payload={"error": f"{type(exc).__name__}: {exc}"[:2000]},
                    by=self.owner,
                )
            )
            await note.flush()
        except Exception:
            log.warning("could not record the crash of run %s", failed.state.run_id)

    async def _note_release(self, stopped: RunDriver, reason: str) -> None:
        """Record that this process gave a live run back unharmed (a clean shutdown stopped
        its driver mid-step); best effort, bounded.

        Like a drain's release mark, it starts the quarantine count at this step over: the
        next claimer sees a run handed over cleanly, not one whose driver died. The mark
        goes on top of the log as committed, while this process still holds the lease; a
        process killed before it lands is counted as a death, as it should be.
        """
        run_id = stopped.state.run_id
        try:
            async with asyncio.timeout(min(_RELEASE_NOTE_TIMEOUT, self.lease_ttl)):
                state = await self.load_state(run_id)
                if state.status not in ("pending", "running"):
                    return
                note = self._new_driver(state, stopped.agent)
                payload: dict[str, Any] = {"reason": reason}
                if stopped.in_model_call:
                    # Stopped during a model call the provider may bill: the next driver
                    # charges it before calling again (see attempts_at).
                    payload["in_model_call"] = True
                if stopped.in_tool_calls:
                    # Stopped while its tools ran (an async tool cancelled, a thread tool
                    # abandoned): under a tool-call limit the next driver charges the reads.
                    payload["in_tool_calls"] = True
                note.record(SignalReceived(name=RELEASED, payload=payload, by=self.owner))
                await note.flush()
        except Exception:  # a TimeoutError too: the store is slow, shutdown goes on
            log.warning("could not record the release of run %s at shutdown", run_id)

    async def _reattach(self, failed: RunDriver) -> RunDriver | None:
        """Wait for the store to answer, then continue the run from its log.

        The failed driver's in-memory state is dropped: whatever its last append left
        in the log (nothing, or everything, if only the acknowledgement was lost) is
        the truth, and the journal replays the step's recorded effects. Whole steps a
        transient failure left unacknowledged go on top of that log first, when it
        still ends where they begin (:meth:`RunDriver.land`), so a write that finished
        is not re-issued because the store was locked for a while. Returns
        ``None`` when the run is no longer this process's to drive (another holds the
        lease) or has stopped.
        """
        run_id = failed.state.run_id
        delay = failed.store_retry.base
        while True:
            await asyncio.sleep(delay)
            delay = min(delay * 2, self.store_backoff_cap)
            try:
                cap = self._tenant_cap(failed.state.tenant)
                if cap is None:
                    if not await self.store.acquire_lease(run_id, self.owner, self.lease_ttl):
                        return None
                elif not await self.store.acquire_leases_capped(
                    [run_id], self.owner, self.lease_ttl, caps={failed.state.tenant: cap}
                ):
                    # Taken by another, or its tenant filled up while the lease lapsed: a
                    # lease still held here is given back for a claim pass.
                    with contextlib.suppress(StoreError):
                        await self.store.release_lease(run_id, self.owner)
                    return None
                state = await self.load_state(run_id)
                if failed.unlanded and state.status not in _STOPPED:
                    try:
                        await failed.land(state.last_seq)
                    except LeaseLostError:
                        return None  # taken over meanwhile: the new holder drives it
                    except ConcurrentWriteError:
                        pass  # the log moved on (a signal, say): it is the truth
                    state = await self.load_state(run_id)
            except StoreError as exc:
                log.info("run %s: the store still fails (%s); retrying", run_id, exc)
                continue
            if state.status in _STOPPED:
                return None
            driver = self._driver_for(state, failed.agent, True)
            driver.cancel_reason, driver.cancel_by = failed.cancel_reason, failed.cancel_by
            self._drivers[run_id] = driver
            return driver

    def add_observer(self, observer: RunObserver) -> None:
        """Tell ``observer`` of every commit of every run driven here from now on."""
        self._observers.append(observer)

    def _publish(self, run_id: str, events: list[RunEvent]) -> None:
        subscribers = self._subscribers.get(run_id)
        if not subscribers and not self._observers:
            return
        # Subscribers see events as persisted (sealed, masked), never the run's own copy.
        shown = [_as_persisted(rec) for rec in events]
        for queue, _ in subscribers or ():
            queue.put_nowait(shown)
        for observer in self._observers:
            try:
                observer(run_id, shown)
            except Exception:
                log.exception("run observer %r failed on %s; the run goes on", observer, run_id)

    def _publish_delta(self, run_id: str, delta: StreamDelta) -> None:
        for queue, wants in self._subscribers.get(run_id, ()):
            if wants:
                queue.put_nowait(LiveDelta(run_id, delta))

    def _wants_deltas(self, run_id: str) -> bool:
        subscribers = self._subscribers.get(run_id)  # asked twice a turn: mostly nobody
        return subscribers is not None and any(wants for _, wants in subscribers)

    def _watched(self, run_id: str) -> bool:
        return run_id in self._subscribers

    def _cost(self, model_id: str, response: ModelResponse) -> float | None:
        return self._pricing.cost(model_id, response.usage)

    def _subscribe(self, run_id: str, deltas: bool) -> asyncio.Queue[Any]:
        queue: asyncio.Queue[Any] = asyncio.Queue()
        self._subscribers.setdefault(run_id, []).append((queue, deltas))
        return queue

    def _unsubscribe(self, run_id: str, queue: asyncio.Queue[Any]) -> None:
        subs = self._subscribers.get(run_id, [])
        self._subscribers[run_id] = [s for s in subs if s[0] is not queue]
        if not self._subscribers[run_id]:
            del self._subscribers[run_id]

    async def _cancel_loop(self) -> None:
        """Act on cancel requests other processes left in the store (see :meth:`_serve_cancels`)."""
        said = _PassLog("cancel")
        while True:
            await asyncio.sleep(self._cancel_interval)
            try:
                await self._serve_cancels()
            except Exception as exc:  # keep serving cancels through a transient store error
                said.failed(exc)
            else:
                said.ok()

    async def _serve_cancels(self) -> None:
        """One pass over the cancel requests other processes left in the store.

        A request is left by :meth:`signal` when another process drove the run at that
        moment. It is served here when this process drives the run (its driver is
        interrupted), or when the run is parked (it is cancelled on the same path a
        signal to a parked run takes: lease, record, finish ``cancelled``), whichever
        process drove it before. A request is deleted only once the run has ended: a run
        that parked before its driver looked would otherwise keep waiting, and a later
        approval would execute what the user cancelled. A run still driven elsewhere, or
        waiting for a worker, keeps its request for whoever drives it next.
        """
        requests = await self.store.list_flags(CANCEL_PREFIX)
        for name, value in requests.items():
            run_id = name.removeprefix(CANCEL_PREFIX)
            reason, by = _cancel_request(value)
            live = self._drivers.get(run_id)
            if live is not None:
                if live.cancel_reason is None:  # interrupt once; a second cancel() would
                    self._cancel_live(run_id, live, reason, by)  # also cancel what follows
                continue  # deleted once the run has ended, on a later pass
            record = await self.store.get_run(run_id)
            if record is not None and record.status in PARKED:
                with contextlib.suppress(RunError):  # ended meanwhile, or being decided on
                    await self._cancel_parked(run_id, reason, by)
                record = await self.store.get_run(run_id)
            if record is None or record.status in TERMINAL:
                await self.store.set_flag(name, None)  # served, or nothing to cancel

    async def _cancel_parked(self, run_id: str, reason: str, by: str | None) -> None:
        """Cancel a parked run this process does not drive: the path of ``signal("cancel")``.

        Raises:
            RunFinishedError: the run ended meanwhile.
            RunLeasedError: another process holds its lease (a decision on it, a driver).
        """
        async with self._leased(run_id):
            await self._signalled_driver(run_id, "cancel", {"reason": reason}, by)

    async def _cancel_after_park(self, driver: RunDriver) -> RunState | None:
        """Apply a cancel that arrived while the run's last step was parking it; returns the
        run's state once cancelled.

        The driver only looks for a cancel between steps, so a cancel of this process
        (``driver.cancel_reason``) or of another (a request in the store, read once per
        park) that came during the step that parked the run would leave it waiting.
        """
        run_id = driver.state.run_id
        reason, by = driver.cancel_reason, driver.cancel_by
        flag = f"{CANCEL_PREFIX}{run_id}"
        stored = None
        if reason is None:
            with contextlib.suppress(StoreError):
                stored = await self.store.get_flag(flag)
            if stored is None:
                return None
            reason, by = _cancel_request(stored)
        try:
            await self._cancel_parked(run_id, reason, by)
            state = await self.load_state(run_id)
        except (RunError, StoreError) as exc:
            # A decision got there first, or the store failed: the request stays in the
            # store for the cancel loop (a cancel of this process is left there too).
            log.warning("run %s: cancel after parking not applied yet (%s)", run_id, exc)
            with contextlib.suppress(StoreError):
                await self.store.release_lease(run_id, self.owner)
                if stored is None:
                    await self.store.set_flag(flag, json.dumps({"reason": reason, "by": by}))
            return None
        if stored is not None:
            with contextlib.suppress(StoreError):
                await self.store.set_flag(flag, None)
        return state

    async def _heartbeat(self) -> None:
        while True:
            await asyncio.sleep(self.lease_ttl / 3)
            asked = list(self._tasks)
            try:
                held = await self.store.renew_leases(self.owner, asked, self.lease_ttl)
            except Exception:  # the store is down: the appends will say whose the runs are
                continue
            self._stop_lost(set(asked).difference(held))

    def _stop_lost(self, lost: set[str]) -> None:
        """Stop driving runs whose lease a renewal found gone (another process may own them).

        Every append checks the lease, so nothing this process records would land; but
        until the next append fails, a driver would go on calling its model and read tools
        for a run someone else now drives. It stops at its next step boundary instead. A
        run that gave its lease back itself (it parked or ended) is not one of these.
        """
        for run_id in lost:
            driver = self._drivers.get(run_id)
            task = self._tasks.get(run_id)
            if driver is None or task is None or task.done() or driver.lease_released:
                continue
            log.warning("run %s: its lease was lost; stopping at the step boundary", run_id)
            driver.lease_lost = True
            driver.stop_requested = True

    async def _timer_loop(self) -> None:
        said = _PassLog("timer")
        while True:
            await asyncio.sleep(self._timer_interval)
            try:
                await self.fire_timers()
            except Exception as exc:  # keep the timers running through a transient store error
                said.failed(exc)
            else:
                said.ok()

    async def fire_timers(self, now: float | None = None) -> list[str]:
        """Expire due approval requests (deny or escalate, per policy); returns run ids.

        Due at ``now`` on the store's clock (default: :meth:`Store.clock`, on which the
        requests' expiry was set), never this machine's own: a worker whose clock runs
        fast does not expire the requests other workers made early.
        """
        now = self.store.clock() if now is None else now
        fired: list[str] = []
        if self._draining:
            return fired
        for run_id in await self.store.claim_due(self.owner, self.lease_ttl, now):
            if run_id in self._tasks:
                continue
            try:
                state = await self.load_state(run_id)
                driver = self._driver_for(state, None, None)
            except (UserError, RunError) as exc:
                log.warning("cannot fire timers of run %s: %s", run_id, exc)
                await self.store.release_lease(run_id, self.owner)
                continue
            expired = [
                a
                for a in state.pending_approvals
                if a.request.expires_at is not None
                and a.request.expires_at <= now
                # A person the expired request was escalated to has decided it already.
                and a.request.key not in state.escalation_decisions
            ]
            escalate = [a for a in expired if a.request.on_expiry == "escalate"]
            for approval in expired:
                if approval.request.on_expiry == "deny":
                    driver.record(
                        ApprovalDecided(
                            call_id=approval.request.call_id,
                            approval_id=approval.request.approval_id,
                            approved=False,
                            by="system:expired",
                            reason="nobody decided before the approval request expired",
                        )
                    )
            if escalate:
                driver.record(
                    RunEscalated(
                        reason=f"approval of {escalate[0].request.tool} expired undecided",
                        source="approval_expired",
                        context={"calls": [a.request.key for a in escalate]},
                        suggested_next_step="resume with approve=true to run the call or "
                        "approve=false to decline it, send input, or cancel",
                    )
                )
                driver.set_status("escalated", "approval_expired", {"signal": "resume"})
                await driver.flush()  # releases the lease in the same commit
            elif not state.pending_approvals:
                driver.set_status("running", "approval_expired")
                await driver.flush()
                # The expiry is recorded; the run is driven here only with a free slot and
                # its tenant under its cap, else it waits (`running`, unleased) for a
                # claim pass.
                if not await self._launch_capped(driver.agent, state, driver):
                    with contextlib.suppress(StoreError):
                        await self.store.release_lease(run_id, self.owner)
            else:
                # Other approvals are still pending: the run stays parked. Only its timer
                # moves to the next expiry; no lifecycle event (waiting → waiting is not a
                # transition).
                driver.park_update(state.status, state.wait_reason)
                await driver.flush()  # releases the lease in the same commit
            fired.append(run_id)
        return fired

    def _refill_at(self) -> int:
        """Free slots that are worth a claim pass while runs are left over: a tenth of the
        concurrency (at most one claim batch), so a queue of short runs costs a pass per
        few finished runs, not one each."""
        return max(1, min(_CLAIMS_AT_ONCE, (self.concurrency or _CLAIM_BATCH) // 10))

    async def _wait_for_work(self) -> None:
        """Until a run may have become claimable (the store says so: polling on SQLite,
        ``LISTEN/NOTIFY`` on Postgres), slots freed up with runs left over, or the claim
        interval passed."""
        if not self._slots_freed.is_set():
            freed = asyncio.ensure_future(self._slots_freed.wait())
            work = asyncio.ensure_future(self.store.wait_for_work(self._claim_interval))
            try:
                await asyncio.wait((freed, work), return_when=asyncio.FIRST_COMPLETED)
            finally:
                freed.cancel()
                work.cancel()
                await asyncio.gather(freed, work, return_exceptions=True)
            failure = work.exception() if work.done() and not work.cancelled() else None
            if failure is not None:
                raise failure  # as if awaited directly
        self._slots_freed.clear()

    async def _recover_loop(self) -> None:
        said = _PassLog("recovery")
        while True:
            try:
                await self._wait_for_work()
                # A full pass means more may be waiting (a fleet restarting with 1,000 runs
                # to take over): look again at once instead of after the interval.
                while len(await self.recover()) >= _CLAIM_BATCH:
                    pass
            except Exception as exc:  # keep looking; a transient store error must not stop it
                said.failed(exc)
                await asyncio.sleep(self._claim_interval)
            else:
                said.ok()


MAX_LEASE_TTL = 86_400.0
"""The longest lease a runtime takes: a dead worker's runs wait this long for a taker."""


def _check_seconds(name: str, value: float) -> None:
    """Refuse a duration that is not a finite number of seconds above 0."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value < math.inf:
        raise ConfigError(f"{name} must be a finite number of seconds above 0, not {value!r}")


def _cancel_request(value: str) -> tuple[str, str | None]:
    """The reason and author of a cancel request stored as a flag (never raises)."""
    try:
        request = json.loads(value)
    except ValueError:
        request = None
    if not isinstance(request, dict):
        return "cancelled", None
    by = request.get("by")
    return str(request.get("reason") or "cancelled"), by if isinstance(by, str) else None


def run_sync(
    agent: Agent,
    input: Any,
    *,
    store: str | Store | None = None,
    tenant: str | None = None,
    timeout: float | None = None,
) -> RunResult:
    """Run an agent to its stopping point from synchronous code.

    Raises:
        UserError: called from inside a running event loop; use
            ``await (await rt.start(agent, input)).result()`` there instead.
    """
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        pass
    else:
        raise UserError(
            "run_sync() cannot run inside a running event loop; use "
            "`async with Runtime(store) as rt: result = await (await rt.start(agent, input))"
            ".result()` instead"
        )

    async def main() -> RunResult:
        async with Runtime(store, agents=[agent], recover=False) as rt:
            run = await rt.start(agent, input, tenant=tenant)
            return await run.result(timeout=timeout)

    return asyncio.run(main())


__all__ = ["RunHandle", "RunResult", "Runtime", "run_sync"]
