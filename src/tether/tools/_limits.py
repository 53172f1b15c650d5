"""Settings of the guards in front of a tool: a circuit breaker and a rate limit.

These are plain, frozen settings (``@tool(breaker=Breaker(failures=5, reset_after=30))``);
the state they govern lives in ``tether.policy.ToolGuard``, which the engine consults
before every call and tells about every outcome. A breaker's state belongs to one
runtime process; a rate limit's bucket is shared by every worker on the store unless
the limit says ``shared=False``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from tether.exceptions import AgentDefinitionError


@dataclass(frozen=True, kw_only=True, slots=True)
class Breaker:
    """A circuit breaker: stop calling a tool that keeps failing, then probe it again.

    ``closed`` (calls go through) becomes ``open`` after ``failures`` consecutive
    failed calls, where a failure is a retryable error or a timeout (a call counts
    once, after its own retries; an error the tool reports on purpose, such as "order
    not found", is an answer, not a failure). While open, calls are refused with a
    ``circuit_open`` error carrying ``retry_after`` and the tool is not called. After
    ``reset_after`` seconds the next call is let through as a trial (``half_open``):
    its success closes the breaker, its failure opens it again for another
    ``reset_after`` seconds.

    Args:
        failures: Consecutive failed calls that open the breaker.
        reset_after: Seconds the breaker stays open before a trial call.
    """

    failures: int = 5
    reset_after: float = 30.0

    def __post_init__(self) -> None:
        if type(self.failures) is not int or self.failures < 1:
            raise AgentDefinitionError(
                f"Breaker.failures must be a positive int, not {self.failures!r}"
            )
        if not (isinstance(self.reset_after, int | float) and math.isfinite(self.reset_after)):
            raise AgentDefinitionError(
                f"Breaker.reset_after must be a number of seconds, not {self.reset_after!r}"
            )
        if self.reset_after <= 0:
            raise AgentDefinitionError(
                f"Breaker.reset_after must be positive, not {self.reset_after!r}"
            )

    def describe(self) -> str:
        """Short text for people: ``"opens after 5 failures, retries after 30s"``."""
        return f"opens after {self.failures} failures, retries after {self.reset_after:g}s"


@dataclass(frozen=True, kw_only=True, slots=True)
class RateLimit:
    """A token bucket: ``calls`` per ``per`` seconds, in bursts of up to ``burst`` calls.

    A call over the limit is refused with a ``rate_limited`` error carrying
    ``retry_after``, unless the wait for the next token is at most ``max_wait``
    seconds: then the call waits and goes.

    The limit holds for the whole fleet by default: its bucket lives in the runtime's
    store, so every worker on the store draws from it (one store round trip per limited
    call). If the store cannot be reached, the call is limited by this process's own
    bucket instead (fail open to the process: the run goes on, with a logged warning).

    Args:
        calls: Calls allowed per period (the refill rate).
        per: The period in seconds.
        burst: Calls that may go at once after a quiet spell (default: ``calls``).
        max_wait: Seconds a call may wait for a token instead of being refused.
        shared: One bucket in the store for every worker (default); ``False``: a bucket
            per process, each allowing the full limit.
    """

    calls: float
    per: float = 1.0
    burst: float | None = None
    max_wait: float = 0.0
    shared: bool = True

    def __post_init__(self) -> None:
        for name in ("calls", "per", "max_wait"):
            value = getattr(self, name)
            if not (isinstance(value, int | float) and math.isfinite(value)):
                raise AgentDefinitionError(f"RateLimit.{name} must be a number, not {value!r}")
        if self.calls <= 0 or self.per <= 0:
            raise AgentDefinitionError(
                "RateLimit needs a positive number of calls per positive period, e.g. "
                "RateLimit(calls=10, per=1.0)"
            )
        if self.max_wait < 0:
            raise AgentDefinitionError(f"RateLimit.max_wait must not be negative: {self.max_wait}")
        if self.burst is not None and not (
            isinstance(self.burst, int | float) and math.isfinite(self.burst) and self.burst >= 1
        ):
            raise AgentDefinitionError(f"RateLimit.burst must be at least 1, not {self.burst!r}")

    @property
    def capacity(self) -> float:
        """The bucket's size: ``burst``, else ``calls`` (at least one call)."""
        return float(self.burst) if self.burst is not None else max(1.0, float(self.calls))

    @property
    def per_second(self) -> float:
        """Tokens added per second."""
        return self.calls / self.per

    def describe(self) -> str:
        """Short text for people: ``"10/1s"``, ``"100/60s burst 20, waits up to 2s"``."""
        text = f"{self.calls:g}/{self.per:g}s"
        if self.burst is not None:
            text += f" burst {self.burst:g}"
        if self.max_wait:
            text += f", waits up to {self.max_wait:g}s"
        return text
