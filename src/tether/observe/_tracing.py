"""OpenTelemetry spans from a run's committed events, after the GenAI semantic conventions.

The log is the trace: :class:`Tracing` is a runtime observer (``Runtime(observers=...)``)
that turns each commit's events into spans, with start and end times taken from the
events, so a span says when a thing happened even when it is exported later.

==================  ===========================  ==========================================
span                kind                         from
==================  ===========================  ==========================================
``invoke_agent A``  INTERNAL, the run's root     ``run.created`` … ``run.finished``
``chat M``          CLIENT, one per attempt      ``model.completed`` / ``model.failed``
``execute_tool T``  INTERNAL, one per tool call  ``tool.started`` (writes), ``tool.completed``
                                                 / ``tool.failed`` (retries are span events)
==================  ===========================  ==========================================

Policy decisions, approvals, signals, escalations, budget warnings and injection flags
are span events of the run span.

**Identity.** The trace id and the run span's id are hashes of the run id, and a tool
call's span id is a hash of its idempotency key (see ``_trace_context``). Child spans are
exported as they commit, each a child of the run span; the run span itself is exported
once, by the process that commits ``run.finished``. A run that parks in one process and
is resumed by another (after an approval, a crash) therefore forms one trace under one
run span, whichever processes export its parts. The process that finishes a run of which
it did not see every event (sequence numbers tell) reads the run's log from the store to
build the run span.
A run that never finishes has no run span: its children wait under a missing parent,
as backends show for any trace still in flight. Pinning ids uses the OpenTelemetry SDK's
tracer; other tracer implementations get the deterministic trace id but their own span ids.

**Content** (the run's input and output, model replies, tool arguments and results) is
off unless ``capture_content=True`` or ``OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT``
is ``true``. It is taken from the events as persisted, so sealed values stay hidden
(shown as ``[REDACTED]``) and credential shapes are masked once more on the way out.
A model call's prompt is the conversation so far, which the log does not repeat per
call: it is the run's input plus the replies and tool results of the spans before it.

This module imports OpenTelemetry only when a :class:`Tracing` is built, never when
``tether`` is imported.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import os
import threading
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import urlsplit

from tether.exceptions import MissingExtraError, UserError
from tether.observe._codec import mask_markers
from tether.observe._redact import Redactor
from tether.observe._trace_context import (
    _activate,
    model_span_id,
    run_span_id,
    run_trace_id,
    span_in_context,
    tool_call_key,
    tool_span_id,
)

if TYPE_CHECKING:
    from opentelemetry.trace import Span, Tracer, TracerProvider

log = logging.getLogger("tether.observe")

CAPTURE_CONTENT_ENV = "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT"
"""Set to ``true`` to capture content attributes (the GenAI instrumentations' switch)."""
_CAPTURE_ON = frozenset({"true", "1", "yes", "on", "span_only", "span_and_event"})
_MAX_SPAN_EVENTS = 128  # the SDK's default limit per span
_MAX_RUNS = 10_000
"""Runs whose beginning is kept in memory; older ones are rebuilt from the log at the end."""
_PROVIDERS = {
    "openai": "openai",
    "anthropic": "anthropic",
    "local": "llama_cpp",
    "scripted": "tether.scripted",
}
"""``gen_ai.provider.name`` per model id prefix (``openai:gpt-4o@https://host``)."""


class TracedEvent(Protocol):
    """A committed event with its place in the log (``tether.engine.RunEvent``)."""

    @property
    def run_id(self) -> str: ...
    @property
    def seq(self) -> int: ...
    @property
    def step(self) -> int: ...
    @property
    def ts(self) -> float: ...
    @property
    def event(self) -> Any: ...


HistoryLoader = Callable[[str], AsyncIterator[Any]]
"""Reads a run's stored events in order (``lambda id: runtime.get(id).events(follow=False)``)."""


class TracedRuntime(Protocol):
    """What :func:`enable_tracing` needs of a runtime (``tether.Runtime``)."""

    def add_observer(self, observer: Callable[[str, Sequence[Any]], None]) -> None: ...
    def get(self, run_id: str) -> Any: ...


@dataclass(slots=True)
class _RunTrace:
    """What the run span needs, gathered while the run's events go by."""

    created: Any = None
    created_ts: float | None = None
    last_seq: int = 0
    complete: bool = True
    """Whether every event of the run so far went by here (else the log is read at the end)."""
    provider: str | None = None
    model: str | None = None
    span_events: list[tuple[str, float, dict[str, Any]]] = field(default_factory=list)
    dropped_events: int = 0
    tool_starts: dict[tuple[int, int], tuple[float, Any]] = field(default_factory=dict)
    retries: dict[tuple[int, int], list[tuple[float, dict[str, Any]]]] = field(default_factory=dict)
    arguments: dict[str, Any] = field(default_factory=dict)


class _PinnedIds:
    """An SDK id generator that hands out a chosen id once, then defers to the original."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self._local = threading.local()

    def pin(self, trace_id: int | None, span_id: int) -> None:
        self._local.trace_id = trace_id
        self._local.span_id = span_id

    def clear(self) -> None:
        self._local.trace_id = self._local.span_id = None

    def generate_trace_id(self) -> int:
        pinned: int | None = getattr(self._local, "trace_id", None)
        if pinned is not None:
            self._local.trace_id = None
            return pinned
        return int(self.inner.generate_trace_id())

    def generate_span_id(self) -> int:
        pinned: int | None = getattr(self._local, "span_id", None)
        if pinned is not None:
            self._local.span_id = None
            return pinned
        return int(self.inner.generate_span_id())

    def __getattr__(self, name: str) -> Any:  # is_trace_id_random() and what comes next
        return getattr(self.inner, name)


class Tracing:
    """A runtime observer that exports each run as OpenTelemetry spans (GenAI conventions).

    Args:
        tracer_provider: Where spans go; defaults to the global provider.
        capture_content: Add the run's input and output, model replies and tool
            arguments and results (as persisted: redacted). ``None``: on when
            ``OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT`` is ``true``.
        redactor: Masks credential shapes in captured content once more (default: a
            plain :class:`Redactor`; :func:`enable_tracing` passes the runtime's).
        history: Reads a run's stored events, to build the run span of a run of which
            this process did not see every event. Without it such a run span holds only
            what was seen here (and starts at the first event seen).
        propagate: Make each tool call's span context current while the tool runs, so
            OpenTelemetry-instrumented clients inside tools join the run's trace.
        max_content_chars: Longer content attributes are cut to this many characters.
    """

    def __init__(
        self,
        tracer_provider: TracerProvider | None = None,
        *,
        capture_content: bool | None = None,
        redactor: Redactor | None = None,
        history: HistoryLoader | None = None,
        propagate: bool = True,
        max_content_chars: int = 16_384,
    ) -> None:
        from opentelemetry import trace

        self._global = tracer_provider is None
        self._bind(tracer_provider if tracer_provider is not None else trace.get_tracer_provider())
        if capture_content is None:
            capture_content = os.environ.get(CAPTURE_CONTENT_ENV, "").strip().lower() in _CAPTURE_ON
        self.capture_content = capture_content
        self._redactor = redactor
        self._history = history
        self._max_chars = max_content_chars
        self._runs: OrderedDict[str, _RunTrace] = OrderedDict()
        self._tasks: set[asyncio.Task[None]] = set()
        self._owns_provider = False
        self._propagating = propagate
        self._closed = False
        if propagate:
            _activate(+1)

    def _bind(self, provider: TracerProvider) -> None:
        """Use ``provider``'s tracer, with the span ids that must be derived pinned on it."""
        self._provider = provider
        self.tracer: Tracer = provider.get_tracer("tether", _version())
        self._ids: _PinnedIds | None = None
        inner = getattr(self.tracer, "id_generator", None)
        if isinstance(inner, _PinnedIds):  # a tracer another Tracing already pinned
            self._ids = inner
        elif inner is not None:
            self._ids = _PinnedIds(inner)
            self.tracer.id_generator = self._ids  # type: ignore[attr-defined]  # an SDK tracer

    # -- the observer ------------------------------------------------------------------------

    def __call__(self, run_id: str, events: Sequence[TracedEvent]) -> None:
        """Map one commit's events to spans (called by the runtime after each commit)."""
        if self._closed:
            return
        run = self._runs.get(run_id)
        if run is None:
            run = self._runs[run_id] = _RunTrace()
            if len(self._runs) > _MAX_RUNS:
                self._runs.popitem(last=False)
        for rec in events:
            if rec.seq != run.last_seq + 1:
                run.complete = False  # another process (or an earlier life) committed these
            run.last_seq = rec.seq
            kind = rec.event.type
            if kind == "run.finished":
                self._runs.pop(run_id, None)
                self._finish(run, rec)
                return
            self._absorb(run, rec, emit=True)

    async def flush(self) -> None:
        """Wait for run spans being built from the log, then flush the provider."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)
        flush = getattr(self._provider, "force_flush", None)
        if flush is not None:
            await asyncio.to_thread(flush)

    def close(self) -> None:
        """Stop observing and propagating; shut the provider down if this object made it."""
        if self._closed:
            return
        self._closed = True
        if self._propagating:
            _activate(-1)
        if self._owns_provider:
            shutdown = getattr(self._provider, "shutdown", None)
            if shutdown is not None:
                shutdown()

    # -- events ------------------------------------------------------------------------------

    def _absorb(self, run: _RunTrace, rec: TracedEvent, *, emit: bool) -> None:
        ev = rec.event
        kind: str = ev.type
        if run.created_ts is None:
            run.created_ts = rec.ts
        if kind == "run.created":
            run.created, run.created_ts = ev, rec.ts
        elif kind == "model.completed":
            provider, model, _, _ = _model_parts(ev.response.model or "")
            run.provider, run.model = provider, model
            if self.capture_content:
                for call in ev.response.tool_calls:
                    run.arguments[call.id] = call.arguments
            if emit:
                self._chat(rec, ev)
        elif kind == "model.failed":
            if emit:
                self._chat_failed(rec, ev)
        elif kind == "tool.started":
            run.tool_starts[(rec.step, ev.call)] = (rec.ts, ev.arguments)
        elif kind in ("tool.completed", "tool.failed"):
            key = (rec.step, ev.call)
            if kind == "tool.failed" and ev.will_retry:
                run.retries.setdefault(key, []).append(
                    (rec.ts, {"tether.tool.attempt": ev.attempt, "error.type": ev.error.error_code})
                )
                return
            started = run.tool_starts.pop(key, None)
            retries = run.retries.pop(key, [])
            arguments = started[1] if started else run.arguments.pop(ev.call_id, None)
            if emit:
                self._tool(rec, ev, started[0] if started else None, retries, arguments)
        else:
            attributes = _span_event(kind, ev)
            if attributes is not None:
                self._add_span_event(run, kind, rec.ts, attributes)

    def _add_span_event(self, run: _RunTrace, name: str, ts: float, attrs: dict[str, Any]) -> None:
        if len(run.span_events) >= _MAX_SPAN_EVENTS:
            run.dropped_events += 1
            return
        run.span_events.append((name, ts, attrs))

    # -- spans -------------------------------------------------------------------------------

    def _start(
        self,
        name: str,
        *,
        run_id: str,
        span_id: int,
        root: bool,
        kind: Any,
        start: float,
        attributes: dict[str, Any],
        links: Sequence[Any] = (),
    ) -> Span:
        from opentelemetry import context, trace

        trace_id = run_trace_id(run_id)
        # The root is never a child of whatever the caller has current.
        ctx = context.Context() if root else _run_context(run_id)
        ids = self._ids
        if ids is None and self._global:
            # Built before the application installed its provider (the API's proxy hands
            # out tracers whose ids cannot be pinned): use the real one once it exists.
            provider = trace.get_tracer_provider()
            if provider is not self._provider and _is_configured(provider):
                self._bind(provider)
                ids = self._ids
        if ids is not None:
            ids.pin(trace_id if root else None, span_id)
        try:
            return self.tracer.start_span(
                name,
                context=ctx,
                kind=kind,
                attributes={k: v for k, v in attributes.items() if v is not None},
                links=links,
                start_time=_ns(start),
            )
        finally:
            if ids is not None:
                ids.clear()

    def _chat(self, rec: TracedEvent, ev: Any) -> None:
        from opentelemetry.trace import SpanKind

        response = ev.response
        usage = response.usage
        model_id: str = response.model or ""
        provider, model, address, port = _model_parts(model_id)
        attributes: dict[str, Any] = {
            "gen_ai.operation.name": "chat",
            "gen_ai.provider.name": provider,
            "gen_ai.request.model": model or None,
            "gen_ai.response.model": model or None,
            "gen_ai.response.finish_reasons": [response.finish_reason],
            "gen_ai.usage.input_tokens": usage.input_tokens,
            "gen_ai.usage.output_tokens": usage.output_tokens,
            "gen_ai.usage.cache_read.input_tokens": usage.cached_input_tokens,
            "gen_ai.usage.cache_creation.input_tokens": usage.cache_write_tokens or None,
            "gen_ai.conversation.id": rec.run_id,
            "server.address": address,
            "server.port": port,
            "tether.run.id": rec.run_id,
            "tether.step": rec.step,
            "tether.model.id": model_id or None,
            "tether.model.attempt": ev.attempt,
            "tether.model.latency_ms": ev.latency_ms,
            "tether.model.cost_usd": ev.cost_usd,
            "tether.prefix_hash": ev.prefix_hash,
        }
        if self.capture_content:
            parts: list[dict[str, Any]] = []
            if response.text:
                parts.append({"type": "text", "content": response.text})
            parts.extend(
                {"type": "tool_call", "id": c.id, "name": c.name, "arguments": c.arguments}
                for c in response.tool_calls
            )
            message = {"role": "assistant", "parts": parts, "finish_reason": response.finish_reason}
            attributes["gen_ai.output.messages"] = self._content([message])
        span = self._start(
            f"chat {model}" if model else "chat",
            run_id=rec.run_id,
            span_id=model_span_id(rec.run_id, rec.step, ev.call, ev.attempt),
            root=False,
            kind=SpanKind.CLIENT,
            start=rec.ts - ev.latency_ms / 1000.0,
            attributes=attributes,
        )
        span.end(end_time=_ns(rec.ts))

    def _chat_failed(self, rec: TracedEvent, ev: Any) -> None:
        from opentelemetry.trace import SpanKind, Status, StatusCode

        provider, model, address, port = _model_parts(ev.model or "")
        span = self._start(
            f"chat {model}" if model else "chat",
            run_id=rec.run_id,
            span_id=model_span_id(rec.run_id, rec.step, ev.call, ev.attempt),
            root=False,
            kind=SpanKind.CLIENT,
            start=rec.ts,  # a failed attempt records no latency
            attributes={
                "gen_ai.operation.name": "chat",
                "gen_ai.provider.name": provider,
                "gen_ai.request.model": model or None,
                "gen_ai.conversation.id": rec.run_id,
                "server.address": address,
                "server.port": port,
                "error.type": ev.error_code,
                "tether.run.id": rec.run_id,
                "tether.step": rec.step,
                "tether.model.id": ev.model or None,
                "tether.model.attempt": ev.attempt,
                "tether.model.will_retry": ev.will_retry,
            },
        )
        span.set_status(Status(StatusCode.ERROR, ev.message))
        span.end(end_time=_ns(rec.ts))

    def _tool(
        self,
        rec: TracedEvent,
        ev: Any,
        started: float | None,
        retries: list[tuple[float, dict[str, Any]]],
        arguments: Any,
    ) -> None:
        from opentelemetry.trace import SpanKind, Status, StatusCode

        failed = ev.type == "tool.failed"
        attributes: dict[str, Any] = {
            "gen_ai.operation.name": "execute_tool",
            "gen_ai.tool.name": ev.tool,
            "gen_ai.tool.call.id": ev.call_id or None,
            "gen_ai.tool.type": "function",
            "gen_ai.conversation.id": rec.run_id,
            "tether.run.id": rec.run_id,
            "tether.step": rec.step,
            "tether.tool.attempts": ev.attempt,
            "tether.tool.duration_ms": ev.duration_ms,
        }
        if failed:
            attributes["error.type"] = ev.error.error_code
        if self.capture_content:
            if arguments is not None:
                attributes["gen_ai.tool.call.arguments"] = self._content(arguments)
            if not failed:
                attributes["gen_ai.tool.call.result"] = self._content(ev.result)
        span = self._start(
            f"execute_tool {ev.tool}",
            run_id=rec.run_id,
            span_id=tool_span_id(tool_call_key(rec.run_id, rec.step, ev.call)),
            root=False,
            kind=SpanKind.INTERNAL,
            start=started if started is not None else rec.ts - ev.duration_ms / 1000.0,
            attributes=attributes,
        )
        for ts, retry in retries:
            span.add_event("tool.retry", retry, timestamp=_ns(ts))
        if failed:
            span.set_status(Status(StatusCode.ERROR, ev.error.message))
        span.end(end_time=_ns(rec.ts))

    # -- the run span ------------------------------------------------------------------------

    def _finish(self, run: _RunTrace, rec: TracedEvent) -> None:
        if run.complete or self._history is None:
            self._run_span(run, rec)
            return
        try:
            task = asyncio.get_running_loop().create_task(self._finish_from_log(rec))
        except RuntimeError:  # no loop (a synchronous caller): what this process saw
            self._run_span(run, rec)
            return
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _finish_from_log(self, rec: TracedEvent) -> None:
        assert self._history is not None
        run = _RunTrace()
        try:
            async for stored in self._history(rec.run_id):
                if stored.event.type != "run.finished":
                    self._absorb(run, stored, emit=False)
        except Exception:
            log.exception("cannot read run %s's log for its trace; using what was seen", rec.run_id)
        self._run_span(run, rec)

    def _run_span(self, run: _RunTrace, rec: TracedEvent) -> None:
        from opentelemetry import trace
        from opentelemetry.trace import SpanKind, Status, StatusCode

        run_id = rec.run_id
        ev = rec.event
        created = run.created
        agent: str | None = created.agent if created is not None else None
        usage = ev.usage
        attributes: dict[str, Any] = {
            "gen_ai.operation.name": "invoke_agent",
            "gen_ai.agent.name": agent,
            "gen_ai.conversation.id": run_id,
            "gen_ai.provider.name": run.provider,
            "gen_ai.request.model": run.model,
            "gen_ai.usage.input_tokens": usage.input_tokens,
            "gen_ai.usage.output_tokens": usage.output_tokens,
            "gen_ai.usage.cache_read.input_tokens": usage.cached_input_tokens,
            "tether.run.id": run_id,
            "tether.run.status": ev.status,
            "tether.run.model_calls": ev.model_calls,
            "tether.run.tool_calls": ev.tool_calls,
            "tether.run.cost_usd": ev.cost_usd,
            "tether.span_events.dropped": run.dropped_events or None,
        }
        links = []
        if created is not None:
            attributes["tether.agent.version"] = created.agent_version
            attributes["tether.tenant"] = created.tenant
            attributes["tether.parent_run.id"] = created.parent_run_id
            if created.parent_run_id:
                parent = created.parent_run_id
                links.append(
                    trace.Link(
                        trace.SpanContext(
                            run_trace_id(parent), run_span_id(parent), is_remote=False
                        ),
                        {"tether.link": "parent_run"},
                    )
                )
        error = ev.error
        if error is not None and ev.status == "failed":  # cancelled is not an error here
            attributes["error.type"] = str(error.error_code)
        if self.capture_content:
            if created is not None:
                attributes["gen_ai.input.messages"] = self._content(
                    [{"role": "user", "parts": [{"type": "text", "content": created.input}]}]
                )
            if ev.output is not None:
                attributes["gen_ai.output.messages"] = self._content(
                    [{"role": "assistant", "parts": [{"type": "text", "content": ev.output}]}]
                )
        span = self._start(
            f"invoke_agent {agent}" if agent else "invoke_agent",
            run_id=run_id,
            span_id=run_span_id(run_id),
            root=True,
            kind=SpanKind.INTERNAL,
            start=run.created_ts if run.created_ts is not None else rec.ts,
            attributes=attributes,
            links=links,
        )
        for name, ts, attrs in run.span_events:
            span.add_event(name, {k: v for k, v in attrs.items() if v is not None}, _ns(ts))
        if ev.status == "failed":
            span.set_status(Status(StatusCode.ERROR, error.message if error is not None else None))
        span.end(end_time=_ns(rec.ts))

    # -- content -----------------------------------------------------------------------------

    def _content(self, value: Any) -> str:
        redactor = self._redactor
        if redactor is None:
            redactor = self._redactor = Redactor()
        shown = redactor.for_display(mask_markers(value, redactor.replacement))
        text = shown if isinstance(shown, str) else _json(shown)
        if len(text) > self._max_chars:
            text = text[: self._max_chars] + "…[truncated]"
        return text


def _span_event(kind: str, ev: Any) -> dict[str, Any] | None:
    """Attributes of the run span's event for a decision-like event (``None``: not one)."""
    if kind == "run.status":
        return {"tether.status.from": ev.previous, "tether.status.to": ev.status,
                "tether.reason": ev.reason}  # fmt: skip
    if kind == "policy.decided":
        return {"gen_ai.tool.name": ev.tool, "gen_ai.tool.call.id": ev.call_id or None,
                "tether.policy.action": ev.action, "tether.policy.rule": ev.rule,
                "tether.policy.source": ev.source, "tether.reason": ev.reason}  # fmt: skip
    if kind == "approval.requested":
        return {"gen_ai.tool.name": ev.tool, "tether.approval.id": ev.key,
                "tether.policy.rule": ev.rule, "tether.reason": ev.reason}  # fmt: skip
    if kind == "approval.decided":
        return {"tether.approval.id": ev.key, "tether.approval.approved": ev.approved,
                "tether.approval.by": ev.by, "tether.approval.changed": ev.arguments is not None,
                "tether.reason": ev.reason}  # fmt: skip
    if kind == "signal.received":
        return {"tether.signal.name": ev.name, "tether.signal.by": ev.by}
    if kind == "run.escalated":
        return {"tether.escalation.source": ev.source, "tether.reason": ev.reason}
    if kind == "budget.warned":
        return {"tether.budget.dimension": ev.dimension, "tether.budget.used": ev.used,
                "tether.budget.limit": ev.limit,
                "tether.budget.degraded_to": ev.degraded_to}  # fmt: skip
    if kind == "injection.flagged":
        return {"gen_ai.tool.name": ev.tool, "gen_ai.tool.call.id": ev.call_id or None,
                "tether.injection.patterns": list(ev.patterns)}  # fmt: skip
    if kind == "model.rejected":
        return {"tether.reason": ev.reason}
    if kind == "output.rejected":
        return {"tether.output.attempt": ev.attempt}
    if kind == "prefix.changed":
        return {"tether.prefix.changed": list(ev.changed)}
    if kind == "breaker.changed":
        return {"tether.breaker.key": ev.key, "gen_ai.tool.name": ev.tool,
                "tether.breaker.from": ev.previous, "tether.breaker.to": ev.current,
                "tether.reason": ev.reason}  # fmt: skip
    return None


@functools.lru_cache(maxsize=1024)
def _run_context(run_id: str) -> Any:
    """An OpenTelemetry context whose current span is the run span (the children's parent)."""
    return span_in_context(run_id, run_span_id(run_id))


@functools.lru_cache(maxsize=256)  # a runtime uses a handful of model ids
def _model_parts(model_id: str) -> tuple[str, str, str | None, int | None]:
    """``(provider, model, server address, server port)`` of a Tether model id."""
    head, sep, rest = model_id.partition(":")
    if not sep:
        return _PROVIDERS.get(head, "_OTHER"), model_id, None, None
    model, _, base_url = rest.partition("@")
    address = port = None
    if base_url:
        try:
            parts = urlsplit(base_url)
            address = parts.hostname
            port = parts.port or (443 if parts.scheme == "https" else 80)
        except ValueError:
            address = None
    return _PROVIDERS.get(head, head), model, address, port


def _ns(seconds: float) -> int:
    return int(seconds * 1_000_000_000)


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)


def _version() -> str | None:
    from importlib import metadata

    try:
        return metadata.version("tether-runtime")
    except metadata.PackageNotFoundError:
        return None


def enable_tracing(
    runtime: TracedRuntime,
    tracer_provider: TracerProvider | None = None,
    *,
    capture_content: bool | None = None,
) -> Tracing:
    """Export every run ``runtime`` drives as OpenTelemetry spans; returns the observer.

    Without ``tracer_provider``, the global provider is used when one is configured;
    otherwise an SDK provider is built from the standard ``OTEL_*`` environment
    (``OTEL_SERVICE_NAME``, ``OTEL_RESOURCE_ATTRIBUTES``, ``OTEL_TRACES_EXPORTER``:
    ``otlp`` (default, HTTP/protobuf, ``OTEL_EXPORTER_OTLP_*``), ``console`` or ``none``)
    and installed as the global provider, so instrumented clients inside tools export
    to the same place. Call :meth:`Tracing.close` when done (it shuts that provider down).

    Raises:
        MissingExtraError: no provider is configured and the ``[otel]`` extra (the
            OpenTelemetry SDK and OTLP exporter) is not installed.
    """
    owns = False
    if tracer_provider is None:
        from opentelemetry import trace

        current = trace.get_tracer_provider()
        if _is_configured(current):
            tracer_provider = current
        else:
            tracer_provider = _provider_from_env()
            trace.set_tracer_provider(tracer_provider)
            owns = True
    protection = getattr(getattr(runtime, "governance", None), "protection", None)
    redactor = getattr(protection, "redactor", None)

    def history(run_id: str) -> AsyncIterator[Any]:
        handle = runtime.get(run_id)
        events: AsyncIterator[Any] = handle.events(follow=False)
        return events

    tracing = Tracing(
        tracer_provider,
        capture_content=capture_content,
        redactor=redactor if isinstance(redactor, Redactor) else None,
        history=history,
    )
    tracing._owns_provider = owns
    runtime.add_observer(tracing)
    return tracing


def tracing_requested(environ: Mapping[str, str] | None = None) -> bool:
    """Whether the standard ``OTEL_*`` environment asks for traces to be exported.

    True when ``OTEL_TRACES_EXPORTER`` names an exporter other than ``none``, or an OTLP
    endpoint is set (``OTEL_EXPORTER_OTLP_ENDPOINT``, ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``),
    unless ``OTEL_SDK_DISABLED`` is ``true``. For entry points such as ``tether serve``:
    ``enable_tracing(runtime) if tracing_requested() else None``.
    """
    env = os.environ if environ is None else environ
    if env.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    exporter = env.get("OTEL_TRACES_EXPORTER", "").strip().lower()
    if exporter:
        return exporter != "none"
    return any(
        env.get(name, "").strip()
        for name in ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
    )


def _is_configured(provider: object) -> bool:
    """Whether a global provider was installed (not the API's proxy or no-op default)."""
    name = type(provider).__name__
    return name not in ("ProxyTracerProvider", "NoOpTracerProvider")


def _provider_from_env() -> TracerProvider:
    try:
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider as SDKTracerProvider
        from opentelemetry.sdk.trace.export import (
            BatchSpanProcessor,
            ConsoleSpanExporter,
            SpanExporter,
        )
    except ImportError as exc:
        raise MissingExtraError("otel", "opentelemetry-sdk") from exc
    resource = Resource.create(
        {"service.name": os.environ.get("OTEL_SERVICE_NAME", "").strip() or "tether"}
    )
    provider = SDKTracerProvider(resource=resource)
    choice = os.environ.get("OTEL_TRACES_EXPORTER", "otlp").strip().lower() or "otlp"
    exporter: SpanExporter | None
    if choice == "none":
        exporter = None
    elif choice == "console":
        exporter = ConsoleSpanExporter()
    elif choice == "otlp":
        try:
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        except ImportError as exc:
            raise MissingExtraError("otel", "opentelemetry-exporter-otlp-proto-http") from exc
        exporter = OTLPSpanExporter()
    else:
        raise UserError(
            f"OTEL_TRACES_EXPORTER={choice!r} is not supported here; use otlp, console or none "
            "(or pass a configured tracer_provider)"
        )
    if exporter is not None:
        provider.add_span_processor(BatchSpanProcessor(exporter))
    return provider
