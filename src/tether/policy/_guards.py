"""Circuit breakers and rate limits in front of tools: decisions, and the state they need.

A :class:`ToolGuard` belongs to one runtime process (every run that process drives
shares it): it holds each breaker's state and the token bucket of each per-process
rate limit (``RateLimit(shared=False)``). A shared rate limit (the default) keeps its
bucket in the runtime's store (``ToolGuard.buckets``), so it holds for every worker on
the store together. The engine asks the guard before a call (:meth:`ToolGuard.acquire`:
breakers and per-process buckets first, then one store round trip for the shared
buckets, all or nothing) and tells it the outcome after (:meth:`ToolGuard.settle`); the
guard answers with verdicts and the breaker transitions to record, and never calls,
sleeps or records anything itself. Time comes from an injectable clock
(``time.monotonic`` by default) for per-process state; shared buckets use the store's.

A store that cannot be reached does not stop a run: a shared limit then falls back to
this process's own bucket (fail open to the process), a warning is logged once per
outage, and the store is tried again after ``STORE_RETRY`` seconds.

Where the settings come from, first match wins:

- a breaker: the tool's contract (``@tool(breaker=...)``), else the agent's
  ``Policy.breakers`` by tool name, by breaker key (``"mcp:SERVER"``), or by glob;
- a rate limit: the contract's ``rate_limit``, else ``Policy.rate_limits`` the same way;
- a tenant's limit: ``Policy.tenant_rate_limit``, one bucket per tenant over all the
  tools of the agents that set it.

A breaker is keyed by tool name, or by ``"mcp:SERVER"`` for a tool an MCP server serves
(its contract has a ``server`` with a ``name``), so one dead server opens one breaker
for all its tools. Nothing here is in the agent version: breakers and rate limits are
operational settings, and their effect on a run is in its log (the ``circuit_open``
and ``rate_limited`` results replay from the journal like any result).
"""

from __future__ import annotations

import dataclasses
import fnmatch
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal, TypeVar

from tether.exceptions import BudgetExceededError, StoreError
from tether.store import STORE_RETRY as STORE_RETRY  # re-exported: tests and docs name it here
from tether.store import BucketsOutage, TokenBuckets, TokenTake
from tether.tools import Breaker, RateLimit, ToolContract, ToolError, ToolErrorCode

if TYPE_CHECKING:
    from tether.policy._policy import Policy

log = logging.getLogger("tether.policy")

BreakerStateName = Literal["closed", "open", "half_open"]
Clock = Callable[[], float]
_V = TypeVar("_V", Breaker, RateLimit)

_FAILURE_CODES = frozenset({ToolErrorCode.TIMEOUT.value, ToolErrorCode.TRANSIENT.value})


@dataclass(frozen=True, slots=True)
class BreakerChange:
    """A breaker moved: the engine records it as a ``breaker.changed`` event."""

    key: str
    tool: str
    previous: BreakerStateName
    current: BreakerStateName
    reason: str
    failures: int
    retry_after: float | None = None


@dataclass(frozen=True, slots=True)
class GuardTicket:
    """What :meth:`ToolGuard.settle` needs to attribute a call's outcome to its breaker."""

    key: str
    tool: str
    breaker: Breaker
    probe: bool


@dataclass(frozen=True, slots=True)
class GuardVerdict:
    """The guard's answer for one call.

    Attributes:
        error: The call is refused with this error (``circuit_open`` or ``rate_limited``).
        wait: Seconds to wait for a rate-limit token before calling (``0``: go now).
        ticket: Pass to :meth:`ToolGuard.settle` after the call (``None``: no breaker).
        changes: Breaker transitions caused by admitting the call (open to half-open).
    """

    error: ToolError | None = None
    wait: float = 0.0
    ticket: GuardTicket | None = None
    changes: tuple[BreakerChange, ...] = ()


_GO = GuardVerdict()
"""The verdict of a call with no breaker that need not wait (shared: it is frozen)."""


@dataclass(slots=True)
class _BreakerState:
    state: BreakerStateName = "closed"
    failures: int = 0
    opened_at: float = 0.0
    probing: bool = False
    probe_started: float = 0.0
    last_error: str | None = None


@dataclass(slots=True)
class _Bucket:
    limit: RateLimit
    tokens: float
    at: float

    def wait(self, now: float) -> float:
        """Refill up to ``now``; seconds until one token is there (``0``: one is)."""
        if now > self.at:
            self.tokens = min(
                self.limit.capacity, self.tokens + (now - self.at) * self.limit.per_second
            )
            self.at = now
        return 0.0 if self.tokens >= 1.0 else (1.0 - self.tokens) / self.limit.per_second


@dataclass(frozen=True, slots=True)
class _Limited:
    """A rate limit a call is under: ``scope`` is ``"tool"`` or ``"tenant"``, ``key`` the
    tool's bucket key or the tenant."""

    scope: str
    key: str
    limit: RateLimit

    def take(self) -> TokenTake:
        """This call's token from the limit's bucket in the store."""
        limit = self.limit
        return TokenTake(
            f"{self.scope}:{self.key}:{limit.calls:g}/{limit.per:g}s:{limit.capacity:g}",
            1.0,
            rate=limit.per_second,
            capacity=limit.capacity,
            max_wait=limit.max_wait,
        )


@dataclass(slots=True)
class _Admitted:
    """What :meth:`ToolGuard._admit` did, so a refusal by the store can undo it."""

    verdict: GuardVerdict
    taken: list[_Bucket]
    shared: list[_Limited]


@dataclass(kw_only=True, slots=True)
class ToolGuard:
    """The circuit breakers and rate limits of one runtime process.

    Args:
        clock: Seconds on a monotonic clock; inject a fake one in tests.
        default_breaker: A breaker for every tool that has no other (``None``: none).
        buckets: Where shared rate limits keep their buckets: the runtime's store (a
            ``Runtime`` sets its own when this is ``None``). Without one, every limit is
            per process.
    """

    clock: Clock = field(default=time.monotonic)
    default_breaker: Breaker | None = None
    buckets: TokenBuckets | None = None
    _breakers: dict[str, _BreakerState] = field(default_factory=dict, init=False, repr=False)
    _buckets: dict[tuple[str, str, RateLimit], _Bucket] = field(
        default_factory=dict, init=False, repr=False
    )
    _outage: BucketsOutage = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._outage = BucketsOutage(
            log,
            "tool rate limits",
            "counting shared limits in this process's buckets until it answers again",
            lambda: self.clock(),
        )

    def breaker_state(self, key: str) -> BreakerStateName:
        """The state of the breaker ``key`` (a tool name or ``"mcp:SERVER"``)."""
        state = self._breakers.get(key)
        return state.state if state is not None else "closed"

    def admit(
        self, contract: ToolContract, *, policy: Policy | None, tenant: str | None
    ) -> GuardVerdict:
        """Decide whether a call of ``contract`` may go now, wait, or is refused, in this
        process alone: every rate limit counts in this process's buckets.

        Nothing changes when the call is refused: a refused call takes no token and
        is no trial call. An open breaker whose cool-down is over lets this call
        through as its trial (``half_open``); further calls are refused until the
        trial's outcome is settled. :meth:`acquire` is the same decision with shared
        limits counted in the store.
        """
        return self._admit(contract, policy, tenant, defer_shared=False).verdict

    async def acquire(
        self, contract: ToolContract, *, policy: Policy | None, tenant: str | None
    ) -> GuardVerdict:
        """Decide like :meth:`admit`, with shared rate limits taken from the store.

        Breakers and per-process buckets decide first (a call they refuse costs no
        round trip); then the call's shared buckets are taken in one store round trip,
        all or none. If the store refuses, what was taken here is given back and the
        call is refused with the bucket's ``retry_after``; if the store cannot be
        reached, the shared limits count in this process's buckets instead.
        """
        ask_store = self.buckets is not None and self._outage.ask_store()
        admitted = self._admit(contract, policy, tenant, defer_shared=ask_store)
        verdict = admitted.verdict
        if verdict.error is not None or not admitted.shared:
            return verdict
        assert self.buckets is not None
        try:
            grant = await self.buckets.take_tokens([s.take() for s in admitted.shared])
        except (StoreError, NotImplementedError) as exc:
            self._outage.failed(exc)
            return self._take_locally(admitted, contract.name, tenant)
        self._outage.answered()
        if grant.taken:
            return dataclasses.replace(verdict, wait=max(verdict.wait, grant.wait))
        for shared, wait in zip(admitted.shared, grant.waits, strict=True):
            if wait > shared.limit.max_wait:
                error = _rate_limited(contract.name, shared.scope, tenant, shared.limit, wait)
                return self._undo(admitted, error)
        raise AssertionError("a take refused by no bucket")  # pragma: no cover

    def _admit(
        self,
        contract: ToolContract,
        policy: Policy | None,
        tenant: str | None,
        *,
        defer_shared: bool,
    ) -> _Admitted:
        """Breakers and this process's buckets; with ``defer_shared`` the shared limits
        are left for the caller to take from the store."""
        now = self.clock()
        tool = contract.name
        breaker = breaker_for(contract, policy) or self.default_breaker
        # The key and its state matter only to a breaker: most tools have none.
        key = breaker_key(contract) if breaker is not None else ""
        state = self._breakers.get(key) if breaker is not None else None
        if breaker is not None and state is not None:
            if state.state == "open":
                remaining = state.opened_at + breaker.reset_after - now
                if remaining > 0:
                    return _refused(_circuit_open(tool, key, state, remaining))
            elif state.state == "half_open" and state.probing:
                # A trial holds the breaker for at most reset_after: one whose outcome never
                # came back (its step ended before the call ran) cannot block it for good.
                held = state.probe_started + breaker.reset_after - now
                if held > 0:
                    retry = min(held, contract.timeout)
                    return _refused(_circuit_open(tool, key, state, retry, trial=True))
        local: list[tuple[str, _Bucket]] = []
        shared: list[_Limited] = []
        for limited in _limits_of(contract, policy, tenant):
            if defer_shared and limited.limit.shared:
                shared.append(limited)
            else:
                local.append((limited.scope, self._bucket(limited, now)))
        wait = 0.0
        for scope, bucket in local:
            needed = bucket.wait(now)
            if needed > bucket.limit.max_wait:
                return _refused(_rate_limited(tool, scope, tenant, bucket.limit, needed))
            wait = max(wait, needed)
        for _scope, bucket in local:
            bucket.tokens -= 1.0  # may go below zero: a waiting call reserves its token
        taken = [bucket for _scope, bucket in local]
        if breaker is None:
            return _Admitted(GuardVerdict(wait=wait) if wait else _GO, taken, shared)
        if state is None:
            state = self._breakers[key] = _BreakerState()
        changes: tuple[BreakerChange, ...] = ()
        probe = False
        if state.state == "open":  # the cool-down is over: this call is the trial
            state.state = "half_open"
            changes = (
                BreakerChange(
                    key=key,
                    tool=tool,
                    previous="open",
                    current="half_open",
                    reason=f"{breaker.reset_after:g}s passed since it opened; "
                    f"trying one call of {tool}",
                    failures=state.failures,
                ),
            )
        if state.state == "half_open":
            state.probing = probe = True
            state.probe_started = now
        verdict = GuardVerdict(
            wait=wait, ticket=GuardTicket(key, tool, breaker, probe), changes=changes
        )
        return _Admitted(verdict, taken, shared)

    def _take_locally(self, admitted: _Admitted, tool: str, tenant: str | None) -> GuardVerdict:
        """Count the shared limits in this process's buckets (the store is away)."""
        now = self.clock()
        buckets = [(s, self._bucket(s, now)) for s in admitted.shared]
        wait = admitted.verdict.wait
        for shared, bucket in buckets:
            needed = bucket.wait(now)
            if needed > bucket.limit.max_wait:
                return self._undo(
                    admitted, _rate_limited(tool, shared.scope, tenant, shared.limit, needed)
                )
            wait = max(wait, needed)
        for _shared, bucket in buckets:
            bucket.tokens -= 1.0
        return dataclasses.replace(admitted.verdict, wait=wait)

    def _undo(self, admitted: _Admitted, error: ToolError) -> GuardVerdict:
        """Refuse a call :meth:`_admit` let through: give its tokens back and free its
        trial; a breaker it moved to half-open stays so (the next call is the trial)."""
        for bucket in admitted.taken:
            bucket.tokens = min(bucket.limit.capacity, bucket.tokens + 1.0)
        ticket = admitted.verdict.ticket
        if ticket is not None and ticket.probe:
            self._breakers[ticket.key].probing = False
        return GuardVerdict(error=error, changes=admitted.verdict.changes)

    def settle(
        self, ticket: GuardTicket, error: ToolError | None, *, called: bool = True
    ) -> list[BreakerChange]:
        """Count a call's outcome against its breaker; returns the transitions it caused.

        Args:
            ticket: From the call's :class:`GuardVerdict`.
            error: The call's final error (``None``: it succeeded).
            called: ``False`` when the tool never ran (arguments refused, a credential
                missing): the outcome says nothing about the tool, only a trial is freed.
        """
        state = self._breakers.setdefault(ticket.key, _BreakerState())
        if ticket.probe:
            state.probing = False
        if not called:
            return []
        breaker = ticket.breaker
        if not counts_as_failure(error):
            if state.state == "half_open" and ticket.probe:
                state.state, state.failures, state.last_error = "closed", 0, None
                return [
                    BreakerChange(
                        key=ticket.key,
                        tool=ticket.tool,
                        previous="half_open",
                        current="closed",
                        reason=f"the trial call of {ticket.tool} succeeded",
                        failures=0,
                    )
                ]
            if state.state == "closed":
                state.failures = 0
            return []
        assert error is not None
        state.failures += 1
        # The code alone: a breaker is shared by every run and tenant of the process, and
        # an error's message is the failing run's own text (it may quote the call's
        # password): told to another run's model, stored in its log, it would cross runs
        # and tenants (red team 17, hole 05). The failing run's events keep the message.
        state.last_error = str(error.error_code)[:100]
        # The change is recorded in the log of the run whose call failed: its own text.
        detail = f"{error.error_code}: {error.message}"[:300]
        if state.state == "half_open" and ticket.probe:
            previous: BreakerStateName = "half_open"
            reason = f"the trial call of {ticket.tool} failed ({detail})"
        elif state.state == "closed" and state.failures >= breaker.failures:
            previous = "closed"
            reason = f"{state.failures} consecutive failed calls (last: {ticket.tool}, {detail})"
        else:
            return []
        state.state, state.opened_at = "open", self.clock()
        return [
            BreakerChange(
                key=ticket.key,
                tool=ticket.tool,
                previous=previous,
                current="open",
                reason=reason,
                failures=state.failures,
                retry_after=breaker.reset_after,
            )
        ]

    def _bucket(self, limited: _Limited, now: float) -> _Bucket:
        found = (limited.scope, limited.key, limited.limit)
        bucket = self._buckets.get(found)
        if bucket is None:
            limit = limited.limit
            bucket = self._buckets[found] = _Bucket(limit, limit.capacity, now)
        return bucket


def _refused(error: ToolError) -> _Admitted:
    return _Admitted(GuardVerdict(error=error), [], [])


def _limits_of(
    contract: ToolContract, policy: Policy | None, tenant: str | None
) -> Sequence[_Limited]:
    """The rate limits a call is under: its tool's, then its tenant's."""
    found: list[_Limited] = []
    limit, scope_key = rate_limit_for(contract, policy)
    if limit is not None:
        found.append(_Limited("tool", scope_key, limit))
    tenant_limit = policy.tenant_rate_limit if policy is not None else None
    if tenant_limit is not None:
        found.append(_Limited("tenant", tenant or "", tenant_limit))
    return found


def counts_as_failure(error: ToolError | None) -> bool:
    """Whether a call's error counts against its breaker: a timeout or a retryable error.

    An error the tool reports on purpose (``"order not found"``), a refusal by policy
    or bad arguments are answers from a working tool, not failures of it.
    """
    return error is not None and (error.retryable or error.error_code in _FAILURE_CODES)


def breaker_key(contract: ToolContract) -> str:
    """The breaker a tool shares: ``"mcp:SERVER"`` for an MCP server's tools, else its name."""
    server = getattr(contract, "server", None)
    name = getattr(server, "name", None)
    return f"mcp:{name}" if isinstance(name, str) and name else contract.name


def breaker_for(contract: ToolContract, policy: Policy | None) -> Breaker | None:
    """The breaker settings of a tool: its contract's, else its agent policy's."""
    if contract.breaker is not None:
        return contract.breaker
    if policy is None:
        return None
    found, _key = _lookup(policy.breakers, contract)
    return found


def rate_limit_for(contract: ToolContract, policy: Policy | None) -> tuple[RateLimit | None, str]:
    """A tool's rate limit and the key of the bucket it draws from.

    The bucket is the tool's own, except when the limit was set for an MCP server
    (``Policy.rate_limits={"mcp:SERVER": ...}``): then the server's tools share it.
    """
    if contract.rate_limit is not None:
        return contract.rate_limit, contract.name
    if policy is None:
        return None, contract.name
    return _lookup(policy.rate_limits, contract)


def _lookup(settings: Mapping[str, _V], contract: ToolContract) -> tuple[_V | None, str]:
    if not settings:
        return None, contract.name
    if contract.name in settings:
        return settings[contract.name], contract.name
    key = breaker_key(contract)
    if key in settings:
        return settings[key], key
    for pattern, value in settings.items():
        if fnmatch.fnmatchcase(contract.name, pattern):
            return value, contract.name
    return None, contract.name


def _circuit_open(
    tool: str, key: str, state: _BreakerState, retry_after: float, *, trial: bool = False
) -> ToolError:
    retry_after = round(max(retry_after, 0.0), 3)
    what = "MCP server " + key[4:] if key.startswith("mcp:") and key != tool else tool
    why = (
        "a trial call is checking whether it works again"
        if trial
        else f"it failed {state.failures} times in a row"
        + (f" (last: {state.last_error})" if state.last_error else "")
    )
    return ToolError(
        error_code=ToolErrorCode.CIRCUIT_OPEN.value,
        message=f"{tool} was not called: {what} is unavailable for now, {why}",
        retryable=True,
        hint=f"try {tool} again in {retry_after:g}s, use another tool, or answer without it",
        details={"retry_after": retry_after, "breaker": key},
    )


def _rate_limited(
    tool: str, scope: str, tenant: str | None, limit: RateLimit, retry_after: float
) -> ToolError:
    retry_after = round(retry_after, 3)
    who = f"{tool} is over its rate limit" if scope == "tool" else (
        f"tenant {tenant!r} is over its tool-call rate limit" if tenant else
        "runs without a tenant are over their tool-call rate limit"
    )  # fmt: skip
    details: dict[str, object] = {
        "retry_after": retry_after,
        "scope": scope,
        "limit": limit.describe(),
    }
    if scope == "tenant":
        details["tenant"] = tenant
    return ToolError(
        error_code=ToolErrorCode.RATE_LIMITED.value,
        message=f"{tool} was not called: {who} ({limit.describe()})",
        retryable=True,
        hint=f"wait {retry_after:g}s before calling {tool} again, or answer without it",
        details=details,
    )


def tool_limit_error(exc: BudgetExceededError) -> ToolError:
    """The error a call over the run's tool-call ceiling gets (``on_tool_limit="refuse"``)."""
    return ToolError(
        error_code=ToolErrorCode.TOOL_CALL_LIMIT.value,
        message=f"this call was not made: {exc.message.removeprefix('budget exceeded: ')} "
        "in this run, and they are used up",
        hint="Do not call tools again in this run; answer with what you have.",
        details={"dimension": exc.dimension},
    )
