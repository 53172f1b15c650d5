"""Exceptions raised by Tether.

Hierarchy::

    TetherError
    ├── UserError                  misuse of the library (bad config, bad agent definition)
    │   ├── ConfigError            a store URL, model id or option that cannot work
    │   ├── AgentDefinitionError   a machine or agent that cannot be built
    │   └── MissingExtraError      an optional integration is not installed (also ImportError)
    ├── RunError                   a problem with one run (carries run_id)
    │   ├── RunNotFoundError           no such run in the store
    │   ├── RunLeasedError             another process holds the run's lease (it is driving it)
    │   ├── RunNotWaitingError         a signal or decision for a run that is not parked
    │   ├── RunParkedError             resume of a parked run: send its signal instead
    │   ├── RunFinishedError           the run already completed, failed or was cancelled
    │   ├── AgentVersionMismatchError  resuming under changed code without accepting it
    │   ├── IllegalTransitionError     a lifecycle transition the table forbids (a bug)
    │   ├── ConcurrentWriteError       another process appended to the same run
    │   │   └── LeaseLostError         this process no longer holds the run's lease
    │   └── ApprovalError              an approval for an unknown call, or one already decided
    ├── BudgetExceededError        a call would cross a hard budget limit (carries dimension)
    ├── RunQueueFullError          too many runs wait to be executed (carries retry_after)
    ├── StoreError                 the store failed or holds something it cannot read
    │   └── SchemaVersionError     an event or database newer than this code understands
    ├── ModelError                 a model provider failed (classified; see ``ModelErrorCode``)
    └── PolicyWarning (a Warning)  a policy rule that can never apply (e.g. names no tool)

Control flow inside a step (waiting, escalating, a gate refusal, cancellation) is not an
error: those signals derive from ``BaseException`` (see ``tether.engine``), so a user's
``except Exception`` in a state handler cannot swallow them.

Tool failures are not exceptions that escape a run: they become
:class:`tether.tools.ToolError` values the model sees on its next turn.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any


class ErrorCode(StrEnum):
    """Stable codes carried by every Tether error (and by structured tool errors)."""

    CONFIG = "config"
    AGENT_DEFINITION = "agent_definition"
    MISSING_EXTRA = "missing_extra"
    RUN = "run"
    RUN_NOT_FOUND = "run_not_found"
    RUN_LEASED = "run_leased"
    RUN_NOT_WAITING = "run_not_waiting"
    RUN_FINISHED = "run_finished"
    RUN_PARKED = "run_parked"
    LEASE_LOST = "lease_lost"
    BUDGET_EXCEEDED = "budget_exceeded"
    AGENT_VERSION_MISMATCH = "agent_version_mismatch"
    ILLEGAL_TRANSITION = "illegal_transition"
    CONCURRENT_WRITE = "concurrent_write"
    STORE = "store"
    SCHEMA_VERSION = "schema_version"
    MODEL = "model"
    APPROVAL = "approval"
    QUEUE_FULL = "queue_full"


class TetherError(Exception):
    """Base of every error Tether raises."""

    code: ErrorCode = ErrorCode.CONFIG

    def __init__(self, message: str, **context: Any) -> None:
        super().__init__(message)
        self.message = message
        self.context = context

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild, (type(self), self.message, self.context))

    def __str__(self) -> str:
        return self.message


def _rebuild(cls: type[TetherError], message: str, context: dict[str, Any]) -> TetherError:
    err = cls.__new__(cls)
    TetherError.__init__(err, message, **context)
    for key, value in context.items():
        setattr(err, key, value)
    return err


class UserError(TetherError):
    """The library was used in a way that cannot work; the message says how to fix it."""

    code = ErrorCode.CONFIG


class ConfigError(UserError):
    """A store URL, model id or option that cannot work."""

    code = ErrorCode.CONFIG


class AgentDefinitionError(UserError):
    """An agent or machine definition that cannot be built."""

    code = ErrorCode.AGENT_DEFINITION


class MissingExtraError(UserError, ImportError):
    """An optional integration is not installed; the message has the pip line."""

    code = ErrorCode.MISSING_EXTRA

    def __init__(self, extra: str, module: str) -> None:
        super().__init__(
            f'{module!r} is not installed. Install it with: pip install "tether-runtime[{extra}]"',
            extra=extra,
            module=module,
        )
        self.extra = extra


class RunError(TetherError):
    """A problem with one run; subclasses say which, so callers branch on the type."""

    code = ErrorCode.RUN

    def __init__(self, message: str, *, run_id: str, **context: Any) -> None:
        super().__init__(message, run_id=run_id, **context)
        self.run_id = run_id


class RunNotFoundError(RunError):
    """No run with that id exists in the store."""

    code = ErrorCode.RUN_NOT_FOUND


class RunLeasedError(RunError):
    """Another process holds the run's lease: it is driving the run right now."""

    code = ErrorCode.RUN_LEASED


class RunNotWaitingError(RunError):
    """A signal, approval or resume that needs a parked run reached one that is not parked."""

    code = ErrorCode.RUN_NOT_WAITING


class RunParkedError(RunError):
    """The run is parked (waiting or escalated): send the signal it waits for instead."""

    code = ErrorCode.RUN_PARKED


class RunFinishedError(RunError):
    """The run already completed, failed or was cancelled; nothing can change it."""

    code = ErrorCode.RUN_FINISHED


class AgentVersionMismatchError(RunError):
    """A run is pinned to an agent version that differs from the code offered to resume it."""

    code = ErrorCode.AGENT_VERSION_MISMATCH


class IllegalTransitionError(RunError):
    """A run lifecycle transition the transition table forbids. Always a bug."""

    code = ErrorCode.ILLEGAL_TRANSITION


class ConcurrentWriteError(RunError):
    """Another writer appended to the same run: this process lost ownership of it."""

    code = ErrorCode.CONCURRENT_WRITE


class LeaseLostError(ConcurrentWriteError):
    """This process no longer holds the run's lease; another may be driving it."""

    code = ErrorCode.LEASE_LOST


class ApprovalError(RunError):
    """An approval or denial that cannot apply: unknown call, already decided, bad arguments."""

    code = ErrorCode.APPROVAL


class BudgetExceededError(TetherError):
    """A call would cross a hard limit; carries the dimension and the use so far.

    Attributes:
        dimension: The budget dimension that would be crossed (``"tool_calls"``, ...).
        usage: Use so far per dimension (``{"tool_calls": {"used": 3, "limit": 3}}``).
    """

    code = ErrorCode.BUDGET_EXCEEDED

    def __init__(
        self, dimension: str, message: str, usage: dict[str, dict[str, float]] | None = None
    ) -> None:
        super().__init__(message, dimension=dimension, usage=usage or {})
        self.dimension = dimension
        self.usage: dict[str, dict[str, float]] = usage or {}


class RunQueueFullError(TetherError):
    """Too many runs already wait to be executed: try again after ``retry_after`` seconds.

    Attributes:
        retry_after: Seconds after which a retry may be accepted (an estimate).
        pending: Runs waiting when the start was refused.
        limit: The bound they passed (``Runtime(max_pending=...)``).
    """

    code = ErrorCode.QUEUE_FULL

    def __init__(
        self, message: str, *, retry_after: float, pending: int, limit: int, **context: Any
    ) -> None:
        super().__init__(message, retry_after=retry_after, pending=pending, limit=limit, **context)
        self.retry_after = retry_after
        self.pending = pending
        self.limit = limit


class StoreError(TetherError):
    """The store failed, or holds data this code cannot read.

    ``transient`` is true for failures that go away by themselves (another process holds
    the database lock, a connection dropped): the engine retries those and resumes the
    run from its log once the store answers again.
    """

    code = ErrorCode.STORE

    def __init__(self, message: str, *, transient: bool = False, **context: Any) -> None:
        super().__init__(message, transient=transient, **context)
        self.transient = transient


class SchemaVersionError(StoreError):
    """A persisted event or database schema is newer than this code understands."""

    code = ErrorCode.SCHEMA_VERSION


class ModelError(TetherError):
    """A model provider call failed. ``error_code`` classifies it; ``retryable`` says what to do."""

    code = ErrorCode.MODEL

    def __init__(
        self,
        message: str,
        *,
        error_code: str = "model_error",
        retryable: bool = False,
        retry_after: float | None = None,
        status_code: int | None = None,
        **context: Any,
    ) -> None:
        super().__init__(
            message,
            error_code=error_code,
            retryable=retryable,
            retry_after=retry_after,
            status_code=status_code,
            **context,
        )
        self.error_code = error_code
        self.retryable = retryable
        self.retry_after = retry_after
        self.status_code = status_code


class PolicyWarning(UserWarning):
    """A policy setting that looks wrong but does not stop the agent from being built."""
