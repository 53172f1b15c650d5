"""Prometheus metrics at ``/metrics``: what the runs of one runtime did, and what waits now.

Two sources, chosen for cost and for truth across restarts:

- **Counters and histograms** are fed by a runtime observer from the events each commit
  persists (constant work per event, no store calls on that path). They count what
  happened in this process since it started, as Prometheus counters do.
- **Gauges of what is outstanding** (approvals pending, runs parked, the queue) are read
  from the store when ``/metrics`` is scraped, so they stay right after a restart or when
  another process drives some of the runs.

A run this process did not create (recovered, or resumed by an approval) is first seen
without its ``run.created``: its agent and creation time are read once from the store in
the background, and its events are counted when that answer arrives (a scrape waits for
such look-ups, so it never reports half of a commit).

Each router has its own ``CollectorRegistry``: two apps in one process never collide.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

from tether.engine import (
    ApprovalDecided,
    ApprovalRequested,
    ModelCompleted,
    ModelFailed,
    PolicyDecided,
    RunCreated,
    RunEscalated,
    RunEvent,
    RunFinished,
    ToolCompleted,
    ToolFailed,
    decode_event,
)
from tether.runtime import Runtime
from tether.store import EventRow

log = logging.getLogger("tether.server.metrics")

SCAN_LIMIT = 10_000
"""Unfinished runs read from the store per scrape (the gauges cover at most this many)."""
LOOKUP_WAIT = 2.0
"""Seconds a scrape waits for the agent look-ups of newly seen runs to finish."""
LAG_INTERVAL = 0.25
"""Seconds between two event-loop lag probes."""
_MAX_TRACKED = 100_000
"""Unfinished runs whose agent is remembered; the oldest is forgotten beyond this."""
_APPROVAL_TYPES = ("approval.requested", "approval.decided")
_UNKNOWN = "unknown"

_MODEL_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 20, 30, 60, 120)
_TOOL_BUCKETS = (0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300)
_APPROVAL_BUCKETS = (1, 5, 15, 60, 300, 900, 3600, 4 * 3600, 86400, 7 * 86400)
_RUN_BUCKETS = (0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600, 86400)
_COUNT_BUCKETS = (0, 1, 2, 3, 5, 8, 13, 21, 34, 55, 89)


@dataclass(slots=True)
class _RunInfo:
    agent: str
    created_at: float | None
    requested_at: dict[str, float] = field(default_factory=dict)
    """When each pending approval of the run was requested, by approval key."""


@dataclass(slots=True)
class _ModelSeries:
    calls: Counter
    seconds: Histogram
    input: Counter
    output: Counter
    cache_read: Counter
    cache_write: Counter
    cost: Counter
    cache_ratio: Gauge
    input_total: int = 0
    cache_read_total: int = 0


class RunMetrics:
    """The metrics of one runtime, in a registry of their own.

    ``observe`` is the runtime observer; ``refresh`` reads the outstanding-work gauges
    from the store; ``render`` gives the Prometheus text exposition.
    """

    def __init__(self, runtime: Runtime, registry: CollectorRegistry | None = None) -> None:
        self.runtime = runtime
        self.registry = registry if registry is not None else CollectorRegistry()
        r = self.registry
        self._runs: dict[str, _RunInfo] = {}
        self._unresolved: dict[str, list[RunEvent]] = {}
        self._lookups: set[asyncio.Task[None]] = set()
        self._approval_counts: dict[str, tuple[int, int]] = {}
        """Pending approvals of a waiting run, by run id: ``(last_seq, count)``."""
        self._model_series: dict[tuple[str, str], _ModelSeries] = {}
        """The children of every per-model metric, found once: a model call is the hot path."""
        self._lag_task: asyncio.Task[None] | None = None

        self.runs_started = Counter(
            "tether_runs_started", "Runs created by this process.", ["agent"], registry=r
        )
        self.runs_finished = Counter(
            "tether_runs_finished",
            "Runs that reached a final status (completed, failed, cancelled).",
            ["agent", "status"],
            registry=r,
        )
        self.run_failures = Counter(
            "tether_run_failures",
            "Failed or cancelled runs by error code.",
            ["agent", "code"],
            registry=r,
        )
        self.escalations = Counter(
            "tether_escalations",
            "Runs handed to a person, by what escalated them.",
            ["agent", "source"],
            registry=r,
        )
        self.model_calls = Counter(
            "tether_model_calls", "Model calls that returned.", ["agent", "model"], registry=r
        )
        self.model_errors = Counter(
            "tether_model_errors",
            "Failed model call attempts, by error code.",
            ["agent", "model", "code"],
            registry=r,
        )
        self.tool_calls = Counter(
            "tether_tool_calls",
            "Tool call attempts by outcome: ok, error (final), retry (another attempt follows), "
            "denied (refused by a person or the policy; it did not run) or interrupted (a "
            "call a stopped driver may have made, charged before it runs again).",
            ["agent", "tool", "outcome"],
            registry=r,
        )
        self.tokens = Counter(
            "tether_model_tokens",
            "Model tokens by type: input (all prompt tokens, cache reads and writes "
            "included), output, cache_read, cache_write.",
            ["agent", "model", "type"],
            registry=r,
        )
        self.cost = Counter(
            "tether_model_cost_usd",
            "Model cost in US dollars (models without a price count 0).",
            ["agent", "model"],
            registry=r,
        )
        self.cache_ratio = Gauge(
            "tether_prefix_cache_ratio",
            "Share of input tokens read from the provider's prefix cache since start.",
            ["agent", "model"],
            registry=r,
        )
        self.approvals_requested = Counter(
            "tether_approvals_requested",
            "Tool calls that asked a person for approval.",
            ["agent", "tool"],
            registry=r,
        )
        self.approvals_decided = Counter(
            "tether_approvals_decided",
            "Approval decisions: approved, denied or expired (denied by the timer).",
            ["agent", "decision"],
            registry=r,
        )
        self.policy_decisions = Counter(
            "tether_policy_decisions",
            "Recorded policy verdicts on proposed tool calls.",
            ["agent", "action"],
            registry=r,
        )
        self.model_seconds = Histogram(
            "tether_model_call_seconds",
            "Latency of model calls.",
            ["agent", "model"],
            buckets=_MODEL_BUCKETS,
            registry=r,
        )
        self.tool_seconds = Histogram(
            "tether_tool_call_seconds",
            "Duration of tool call attempts.",
            ["agent", "tool"],
            buckets=_TOOL_BUCKETS,
            registry=r,
        )
        self.approval_seconds = Histogram(
            "tether_approval_wait_seconds",
            "Time from an approval request to its decision (requests seen by this process).",
            ["agent"],
            buckets=_APPROVAL_BUCKETS,
            registry=r,
        )
        self.run_seconds = Histogram(
            "tether_run_duration_seconds",
            "Wall time from a run's creation to its final status, parked time included.",
            ["agent", "status"],
            buckets=_RUN_BUCKETS,
            registry=r,
        )
        self.run_tool_calls = Histogram(
            "tether_run_tool_calls",
            "Tool calls per finished run.",
            ["agent"],
            buckets=_COUNT_BUCKETS,
            registry=r,
        )
        self.run_model_calls = Histogram(
            "tether_run_model_calls",
            "Model calls per finished run.",
            ["agent"],
            buckets=_COUNT_BUCKETS,
            registry=r,
        )
        self.approvals_pending = Gauge(
            "tether_approvals_pending",
            "Approval requests waiting for a person (read from the store at scrape time).",
            ["agent"],
            registry=r,
        )
        self.runs_unfinished = Gauge(
            "tether_runs",
            "Unfinished runs in the store by status: pending, running, waiting, escalated.",
            ["agent", "status"],
            registry=r,
        )
        self.queue_depth = Gauge(
            "tether_queue_depth",
            "Runs ready to step that no process drives: pending or running with no live "
            "lease (a new run not yet picked up, or a crashed owner's run awaiting recovery).",
            registry=r,
        )
        self.runs_active = Gauge(
            "tether_runs_active", "Runs this process is driving right now.", registry=r
        )
        self.loop_lag = Gauge(
            "tether_event_loop_lag_seconds",
            "How late the event loop woke a sleeping task (latest probe).",
            registry=r,
        )
        self.scrape_errors = Counter(
            "tether_metrics_store_errors",
            "Scrapes whose store-read gauges could not be refreshed.",
            registry=r,
        )

    # -- the observer: every commit, constant work per event ----------------------------

    def observe(self, run_id: str, events: Sequence[RunEvent]) -> None:
        """Count a commit's events (the runtime observer; never touches the store)."""
        if not events:
            return
        info = self._runs.get(run_id)
        if info is None:
            first = events[0].event
            if isinstance(first, RunCreated):
                info = self._track(run_id, _RunInfo(first.agent, events[0].ts))
            else:
                self._defer(run_id, events)
                return
        for rec in events:
            self._count(run_id, info, rec)

    def _track(self, run_id: str, info: _RunInfo) -> _RunInfo:
        if len(self._runs) >= _MAX_TRACKED:  # a run parked here forever must not leak
            del self._runs[next(iter(self._runs))]
        self._runs[run_id] = info
        return info

    def _defer(self, run_id: str, events: Sequence[RunEvent]) -> None:
        waiting = self._unresolved.get(run_id)
        if waiting is not None:
            waiting.extend(events)
            return
        self._unresolved[run_id] = list(events)
        task = asyncio.get_running_loop().create_task(self._resolve(run_id))
        self._lookups.add(task)
        task.add_done_callback(self._lookups.discard)

    async def _resolve(self, run_id: str) -> None:
        agent, created_at = _UNKNOWN, None
        try:
            record = await self.runtime.store.get_run(run_id)
        except Exception as exc:  # the counts matter more than the label
            log.warning("metrics: cannot read run %s (%s); counted as agent unknown", run_id, exc)
        else:
            if record is not None:
                agent, created_at = record.agent, record.created_at
        events = self._unresolved.pop(run_id, [])
        info = self._runs.get(run_id) or self._track(run_id, _RunInfo(agent, created_at))
        try:
            for rec in events:
                self._count(run_id, info, rec)
        except Exception:  # like a runtime observer: log, never leave a failed task behind
            log.exception("metrics: counting the events of run %s failed", run_id)

    def _new_model_series(self, agent: str, model: str) -> _ModelSeries:
        series = _ModelSeries(
            calls=self.model_calls.labels(agent, model),
            seconds=self.model_seconds.labels(agent, model),
            input=self.tokens.labels(agent, model, "input"),
            output=self.tokens.labels(agent, model, "output"),
            cache_read=self.tokens.labels(agent, model, "cache_read"),
            cache_write=self.tokens.labels(agent, model, "cache_write"),
            cost=self.cost.labels(agent, model),
            cache_ratio=self.cache_ratio.labels(agent, model),
        )
        self._model_series[agent, model] = series
        return series

    def _count(self, run_id: str, info: _RunInfo, rec: RunEvent) -> None:
        ev = rec.event
        agent = info.agent
        if isinstance(ev, ModelCompleted):
            usage = ev.response.usage
            key = (agent, ev.response.model or _UNKNOWN)
            series = self._model_series.get(key) or self._new_model_series(*key)
            series.calls.inc()
            series.seconds.observe(ev.latency_ms / 1000)
            series.input.inc(usage.input_tokens)
            series.output.inc(usage.output_tokens)
            series.cache_read.inc(usage.cached_input_tokens)
            series.cache_write.inc(usage.cache_write_tokens)
            series.cost.inc(ev.cost_usd or 0.0)
            series.input_total += usage.input_tokens
            series.cache_read_total += usage.cached_input_tokens
            if series.input_total:
                series.cache_ratio.set(series.cache_read_total / series.input_total)
        elif isinstance(ev, ToolCompleted | ToolFailed):
            if isinstance(ev, ToolCompleted):
                outcome = "ok"
            elif ev.charged:
                # Counted by the budget, not timed: the attempt's own duration is unknown.
                self.tool_calls.labels(agent, ev.tool, "interrupted").inc()
                return
            elif ev.will_retry:
                outcome = "retry"
            else:  # a call a person or the policy refused never ran: not a tool error
                outcome = "denied" if ev.error.error_code == "denied" else "error"
            self.tool_calls.labels(agent, ev.tool, outcome).inc()
            self.tool_seconds.labels(agent, ev.tool).observe(ev.duration_ms / 1000)
        elif isinstance(ev, ModelFailed):
            self.model_errors.labels(agent, ev.model or _UNKNOWN, ev.error_code).inc()
        elif isinstance(ev, PolicyDecided):
            self.policy_decisions.labels(agent, ev.action).inc()
        elif isinstance(ev, ApprovalRequested):
            self.approvals_requested.labels(agent, ev.tool).inc()
            info.requested_at[ev.key] = rec.ts
        elif isinstance(ev, ApprovalDecided):
            if ev.by == "system:expired":
                decision = "expired"
            else:
                decision = "approved" if ev.approved else "denied"
            self.approvals_decided.labels(agent, decision).inc()
            requested = info.requested_at.pop(ev.key, None)
            if requested is not None:
                self.approval_seconds.labels(agent).observe(max(rec.ts - requested, 0.0))
        elif isinstance(ev, RunEscalated):
            # "policy:<rule>" counts as "policy": the kind, not the rule, keeps series few.
            self.escalations.labels(agent, ev.source.split(":", 1)[0]).inc()
        elif isinstance(ev, RunCreated):
            self.runs_started.labels(agent).inc()
        elif isinstance(ev, RunFinished):
            self.runs_finished.labels(agent, ev.status).inc()
            if ev.error is not None:
                self.run_failures.labels(agent, str(ev.error.error_code)).inc()
            self.run_tool_calls.labels(agent).observe(ev.tool_calls)
            self.run_model_calls.labels(agent).observe(ev.model_calls)
            if info.created_at is not None:
                duration = max(rec.ts - info.created_at, 0.0)
                self.run_seconds.labels(agent, ev.status).observe(duration)
            self._runs.pop(run_id, None)

    # -- scrape time: what is outstanding, from the store -------------------------------

    async def refresh(self) -> None:
        """Wait for pending agent look-ups, then read the outstanding-work gauges."""
        if self._lookups:  # a slow store delays the labels, never the scrape for long
            await asyncio.wait(list(self._lookups), timeout=LOOKUP_WAIT)
        self.runs_active.set(len(self.runtime.active_runs))
        if self._lag_task is None:  # no lifespan ran: take one probe now
            self.loop_lag.set(await _probe_lag(0.0))
        try:
            await self._refresh_store_gauges()
        except Exception as exc:  # a scrape still reports what the process counted
            self.scrape_errors.inc()
            log.warning("metrics: cannot read outstanding runs from the store: %s", exc)

    async def _refresh_store_gauges(self) -> None:
        store = self.runtime.store
        records = await store.list_runs(
            statuses=["pending", "running", "waiting", "escalated"], limit=SCAN_LIMIT
        )
        now = time.time()
        by_status: dict[tuple[str, str], int] = {}
        pending: dict[str, int] = {}
        queued = 0
        counts: dict[str, tuple[int, int]] = {}
        for record in records:
            key = (record.agent, record.status)
            by_status[key] = by_status.get(key, 0) + 1
            if record.status in ("pending", "running"):
                if record.lease_owner is None or (record.lease_expires_at or 0.0) <= now:
                    queued += 1
            elif record.status == "waiting" and record.reason == "approval_required":
                cached = self._approval_counts.get(record.run_id)
                if cached is None or cached[0] != record.last_seq:
                    rows = await store.load_events(record.run_id)
                    cached = (record.last_seq, len(open_approvals(rows)))
                counts[record.run_id] = cached
                pending[record.agent] = pending.get(record.agent, 0) + cached[1]
        # Set every gauge at once, without awaiting in between: a concurrent scrape
        # never sees a half-updated set.
        self._approval_counts = counts
        self.runs_unfinished.clear()
        for (agent, status), n in by_status.items():
            self.runs_unfinished.labels(agent, status).set(n)
        self.approvals_pending.clear()
        for agent, n in pending.items():
            self.approvals_pending.labels(agent).set(n)
        self.queue_depth.set(queued)

    def render(self) -> bytes:
        """The Prometheus text exposition of every metric."""
        return generate_latest(self.registry)

    # -- event-loop lag -----------------------------------------------------------------

    def start_lag_monitor(self) -> None:
        """Probe the event loop's lag every ``LAG_INTERVAL`` seconds until stopped."""
        if self._lag_task is None:
            self._lag_task = asyncio.get_running_loop().create_task(
                self._lag_loop(), name="tether-metrics-loop-lag"
            )

    async def stop(self) -> None:
        """Stop the lag monitor and any agent look-up still in flight."""
        tasks = [*self._lookups, *([self._lag_task] if self._lag_task else [])]
        self._lag_task = None
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _lag_loop(self) -> None:
        while True:
            self.loop_lag.set(await _probe_lag(LAG_INTERVAL))


async def _probe_lag(interval: float) -> float:
    """How much later than asked ``asyncio.sleep(interval)`` returned."""
    loop = asyncio.get_running_loop()
    began = loop.time()
    await asyncio.sleep(interval)
    return max(loop.time() - began - interval, 0.0)


def open_approvals(rows: Sequence[EventRow]) -> dict[str, tuple[ApprovalRequested, float]]:
    """A run's undecided approval requests by key, each with when it was requested.

    Only approval rows are decoded.
    """
    requested: dict[str, tuple[ApprovalRequested, float]] = {}
    for row in rows:
        if row.type not in _APPROVAL_TYPES:
            continue
        event = decode_event(row.data)
        if isinstance(event, ApprovalRequested):
            requested[event.key] = (event, row.ts)
        elif isinstance(event, ApprovalDecided):
            requested.pop(event.key, None)
    return requested


def _unauthorized() -> JSONResponse:
    return JSONResponse(
        {
            "error": {
                "code": "unauthorized",
                "message": "/metrics needs the metrics token: send "
                "'Authorization: Bearer <token>' with the value given to --metrics-token",
            }
        },
        status_code=401,
        headers={"WWW-Authenticate": "Bearer"},
    )


def metrics_router(runtime: Runtime, token: str | None) -> APIRouter:
    """A router serving ``GET /metrics`` for ``runtime``, open unless ``token`` is given.

    It registers its observer on ``runtime`` itself, and its lifespan runs the
    event-loop lag monitor (FastAPI merges a router's lifespan into the app's).
    """
    metrics = RunMetrics(runtime)
    runtime.add_observer(metrics.observe)
    expected = f"Bearer {token}".encode() if token is not None else None

    @contextlib.asynccontextmanager
    async def lifespan(app: Any) -> AsyncIterator[None]:
        metrics.start_lag_monitor()
        try:
            yield
        finally:
            await metrics.stop()

    router = APIRouter(lifespan=lifespan)

    @router.get("/metrics", include_in_schema=False)
    async def scrape(request: Request) -> Response:
        if expected is not None:
            given = request.headers.get("authorization", "").encode()
            if not hmac.compare_digest(given, expected):
                return _unauthorized()
        await metrics.refresh()
        return Response(metrics.render(), media_type=CONTENT_TYPE_LATEST)

    return router
