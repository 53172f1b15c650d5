"""Structured tool errors: what the model sees when a tool call cannot be served."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from pydantic import BaseModel, Field


class ToolErrorCode(StrEnum):
    """Stable codes of :class:`ToolError`."""

    UNKNOWN_TOOL = "unknown_tool"
    INVALID_ARGUMENTS = "invalid_arguments"
    TIMEOUT = "timeout"
    TOOL_ERROR = "tool_error"
    TRANSIENT = "transient"
    UNSERIALIZABLE_RESULT = "unserializable_result"
    RESULT_TOO_LARGE = "result_too_large"
    DENIED = "denied"
    UNCERTAIN_WRITE = "uncertain_write"
    WRITE_NOT_PERFORMED = "write_not_performed"
    CANCELLED = "cancelled"
    CIRCUIT_OPEN = "circuit_open"
    RATE_LIMITED = "rate_limited"
    TOOL_CALL_LIMIT = "tool_call_limit"
    NOT_SIMULATED = "not_simulated"
    """A ``ToolSimulator`` has no recording for the call (the tool never runs)."""
    CATALOG_CLOSED = "catalog_closed"
    """The tool's catalog domain is not open in the run (``open_catalog`` it first)."""


class ToolError(BaseModel):
    """A tool call that failed, in the shape the model is shown.

    ``{"error_code", "message", "retryable", "hint"}`` is the wire shape; ``details``
    carries structured context (validation errors, available tools) when useful.
    """

    error_code: str
    message: str
    retryable: bool = False
    hint: str | None = None
    details: dict[str, Any] | None = Field(default=None)


class ToolCallError(Exception):
    """Raise inside a tool to return a structured error to the model.

    Args:
        message: What went wrong, phrased for the model.
        retryable: Whether the executor may retry the call (transient failure).
        hint: What the model could do instead.
        error_code: Stable code; defaults to ``tool_error`` or ``transient``.
    """

    def __init__(
        self,
        message: str,
        *,
        retryable: bool = False,
        hint: str | None = None,
        error_code: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.retryable = retryable
        self.hint = hint
        self.error_code = error_code or (
            ToolErrorCode.TRANSIENT if retryable else ToolErrorCode.TOOL_ERROR
        )

    def __reduce__(self) -> tuple[Any, ...]:
        # The class travels too, so a pickled TransientToolError (or a user's subclass)
        # comes back as itself, not as a plain ToolCallError.
        return (
            _rebuild_call_error,
            (type(self), self.message, self.retryable, self.hint, self.error_code),
        )


def _rebuild_call_error(
    cls: type[ToolCallError], message: str, retryable: bool, hint: str | None, error_code: str
) -> ToolCallError:
    err = cls.__new__(cls)
    ToolCallError.__init__(err, message, retryable=retryable, hint=hint, error_code=error_code)
    return err


class TransientToolError(ToolCallError):
    """A failure worth retrying (network blip, 503, lock contention)."""

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message, retryable=True, hint=hint)
