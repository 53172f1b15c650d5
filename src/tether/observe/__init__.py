"""Observability: redaction and sealing of secrets before anything leaves the process.

:class:`Redactor` scrubs events, traces and text by sensitive field name, by credential
shape and by the exact values the secrets broker handed out (also hex-, base64- and
percent-encoded). :meth:`Redactor.seal` stores what must stay executable as
``$sealed`` markers encrypted by a :class:`PayloadCodec` (:class:`AESGCMCodec`), which
:func:`unseal` turns back into the exact original values.

:class:`Tracing` (turned on by :func:`enable_tracing`) exports runs as OpenTelemetry spans
after the GenAI semantic conventions; trace ids derive from run ids
(:func:`run_trace_id`), so a run resumed elsewhere continues its trace. OpenTelemetry is
imported only when tracing is turned on.
"""

from tether.observe._blob import keep_blob
from tether.observe._codec import (
    KEY_ENV,
    AESGCMCodec,
    PayloadCodec,
    UnrecoverableValueError,
    has_unrecoverable,
    is_marker,
    sealed_marker,
    unseal,
)
from tether.observe._redact import (
    DEFAULT_FIELDS,
    DEFAULT_PATTERNS,
    DEFAULT_STRUCTURAL_KEYS,
    OFFLOAD_BYTES,
    Redactor,
    SecretPattern,
    declare_sensitive_fields,
    is_weak_value,
)
from tether.observe._trace_context import (
    attach_model_trace,
    attach_span,
    attach_tool_trace,
    detach_tool_trace,
    format_traceparent,
    model_span_id,
    propagation_active,
    run_span_id,
    run_trace_id,
    tool_call_key,
    tool_span_id,
    tool_traceparent,
)
from tether.observe._tracing import (
    CAPTURE_CONTENT_ENV,
    HistoryLoader,
    TracedEvent,
    Tracing,
    enable_tracing,
    tracing_requested,
)

__all__ = [
    "CAPTURE_CONTENT_ENV",
    "DEFAULT_FIELDS",
    "DEFAULT_PATTERNS",
    "DEFAULT_STRUCTURAL_KEYS",
    "KEY_ENV",
    "OFFLOAD_BYTES",
    "AESGCMCodec",
    "HistoryLoader",
    "PayloadCodec",
    "Redactor",
    "SecretPattern",
    "TracedEvent",
    "Tracing",
    "UnrecoverableValueError",
    "attach_model_trace",
    "attach_span",
    "attach_tool_trace",
    "declare_sensitive_fields",
    "detach_tool_trace",
    "enable_tracing",
    "format_traceparent",
    "has_unrecoverable",
    "is_marker",
    "is_weak_value",
    "keep_blob",
    "model_span_id",
    "propagation_active",
    "run_span_id",
    "run_trace_id",
    "sealed_marker",
    "tool_call_key",
    "tool_span_id",
    "tool_traceparent",
    "tracing_requested",
    "unseal",
]
