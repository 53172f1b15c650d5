"""Trace identity derived from the run: the same ids in every process, before any span exists.

A run's trace id and the span id of its ``invoke_agent`` span are hashes of the run id,
and a tool call's ``execute_tool`` span id is a hash of the call's key (the engine's
idempotency key, ``"{run_id}:{step}:{call}"``). So a run resumed by another process
continues the same trace under the same run span, and a tool can be handed the W3C
``traceparent`` of the span that will describe its call before that span is exported
(spans are built from committed events, after the fact).

While tracing is on (:class:`~tether.observe.Tracing` exists and is not closed), the tool
executor makes the call's span context current for the duration of the call
(:func:`attach_tool_trace`), so a tool's own OpenTelemetry-instrumented HTTP client joins
the run's trace. While it is off, that costs one function call and nothing is imported.
"""

from __future__ import annotations

import functools
import hashlib
from typing import Any, cast

_active = 0
"""How many live ``Tracing`` observers want tool calls to carry their trace context."""


def _hashed_id(kind: str, key: str, size: int) -> int:
    """An id of ``size`` bytes hashed from ``key``, never zero (invalid in W3C trace context)."""
    digest = hashlib.sha256(f"tether/{kind}/{key}".encode()).digest()
    return int.from_bytes(digest[:size], "big") or 1


@functools.lru_cache(maxsize=4096)  # asked for on every span and tool call of a run
def run_trace_id(run_id: str) -> int:
    """The 128-bit trace id of a run: the same in every process that touches the run."""
    return _hashed_id("trace", run_id, 16)


@functools.lru_cache(maxsize=4096)
def run_span_id(run_id: str) -> int:
    """The 64-bit span id of a run's ``invoke_agent`` span (the parent of its other spans)."""
    return _hashed_id("run", run_id, 8)


def tool_call_key(run_id: str, step: int, call: int) -> str:
    """A tool call's stable key: the idempotency key the engine gives the call."""
    return f"{run_id}:{step}:{call}"


def tool_span_id(call_key: str) -> int:
    """The span id of the ``execute_tool`` span of the call with this key (all attempts)."""
    return _hashed_id("tool", call_key, 8)


def model_span_id(run_id: str, step: int, call: int, attempt: int) -> int:
    """The span id of one ``chat`` attempt (deterministic, so a re-export is idempotent)."""
    return _hashed_id("chat", f"{run_id}:{step}:{call}:{attempt}", 8)


def format_traceparent(trace_id: int, span_id: int, *, sampled: bool = True) -> str:
    """A W3C ``traceparent`` header value (version 00)."""
    return f"00-{trace_id:032x}-{span_id:016x}-{'01' if sampled else '00'}"


def tool_traceparent(run_id: str, call_key: str) -> str:
    """The ``traceparent`` of a tool call's ``execute_tool`` span."""
    return format_traceparent(run_trace_id(run_id), tool_span_id(call_key))


def attach_tool_trace(run_id: str, call_key: str) -> object | None:
    """Make the tool call's span context current; returns a token for :func:`detach_tool_trace`.

    Returns ``None`` at once (importing nothing) while no tracing observer is active.
    """
    if not _active:
        return None
    return attach_span(run_id, tool_span_id(call_key))


def attach_model_trace(run_id: str, step: int, call: int, attempt: int) -> object | None:
    """Make a ``chat`` attempt's span context current (see :func:`attach_span`).

    Returns ``None`` at once, without hashing the span id, while no tracing observer is
    active (every model call asks).
    """
    if not _active:
        return None
    return attach_span(run_id, model_span_id(run_id, step, call, attempt))


def attach_span(run_id: str, span_id: int) -> object | None:
    """Make span ``span_id`` of the run's trace current (e.g. a ``chat`` span during its call).

    For code that runs on behalf of a span exported later from events: OpenTelemetry-
    instrumented clients called meanwhile become its children. Returns a token for
    :func:`detach_tool_trace`, or ``None`` at once while no tracing observer is active.
    """
    if not _active:
        return None
    from opentelemetry import context

    return context.attach(span_in_context(run_id, span_id))


def span_in_context(run_id: str, span_id: int) -> Any:
    """An OpenTelemetry context whose current span is span ``span_id`` of the run's trace."""
    from opentelemetry import trace

    span_context = trace.SpanContext(
        run_trace_id(run_id),
        span_id,
        is_remote=False,
        trace_flags=trace.TraceFlags(trace.TraceFlags.SAMPLED),
    )
    return trace.set_span_in_context(trace.NonRecordingSpan(span_context))


def detach_tool_trace(token: object | None) -> None:
    """Undo :func:`attach_tool_trace` or :func:`attach_span` (``None`` is a no-op)."""
    if token is None:
        return
    from opentelemetry import context

    context.detach(cast(Any, token))  # the Token that attach_tool_trace returned


def _activate(delta: int) -> None:
    global _active
    _active = max(0, _active + delta)


def propagation_active() -> bool:
    """Whether tool calls currently carry their span context (a tracing observer is live)."""
    return _active > 0
