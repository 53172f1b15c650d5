"""Request and token limits per model provider (token buckets), shared by the whole fleet.

``Runtime(model_limits={"openai": ModelLimit(requests_per_minute=500,
tokens_per_minute=200_000)})`` paces every model call of every run: a call waits for a
request token, and for the token bucket to be out of debt; its real usage (input plus
output tokens) is paid after the reply, since nobody knows it before. A key is a model
id (``openai:gpt-4o``) or a provider (``openai``); the exact id wins.

A limit is **shared** by default: its buckets live in the runtime's store, so every
worker on that store draws from the same ones and the fleet as a whole stays within
the provider's limit (which is what a provider's per-account limit needs). Every worker
should configure the same limits; the store keeps one bucket per key, refilled at the
rate the caller names. The cost is one store round trip before each limited call (a
reservation: the call is told how long to wait, and waits it with ``asyncio.sleep``; no
polling; a call cancelled while it waits keeps its place, erring on the slow side); the
tokens a reply used are paid in the background, batched with other replies' or carried
by the next call. ``ModelLimit(..., shared=False)`` keeps the buckets in the process:
each worker then allows the full limit on its own.

If the store cannot be reached, a shared limit **fails open to the process**: the
call is paced by this process's own bucket for that limit (a warning is logged once
per outage; the store is tried again after ``STORE_RETRY`` seconds, so an outage does
not cost every call a connection timeout) and the run goes on. Only fleet-wide
precision is lost: a run never fails or stalls because the limiter's counter is down,
and the provider's own 429s, which model calls retry, remain the backstop.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass

from tether.exceptions import StoreError, UserError
from tether.models import Usage
from tether.store import STORE_RETRY as STORE_RETRY  # re-exported: tests and docs name it here
from tether.store import BucketsOutage, TokenBuckets, TokenTake

log = logging.getLogger("tether.runtime")


@dataclass(frozen=True, kw_only=True, slots=True)
class ModelLimit:
    """Requests and tokens a provider (or one model) may take per minute.

    Args:
        requests_per_minute: Calls per minute (``None``: no request limit).
        tokens_per_minute: Input plus output tokens per minute (``None``: no limit).
        requests_burst: Calls that may go at once after a quiet spell (default: a
            minute's worth, ``requests_per_minute``).
        tokens_burst: Tokens that may be used at once after a quiet spell (default:
            ``tokens_per_minute``).
        shared: The buckets live in the store and hold for every worker on it together
            (default). ``False``: each process has its own buckets.
    """

    requests_per_minute: float | None = None
    tokens_per_minute: float | None = None
    requests_burst: float | None = None
    tokens_burst: float | None = None
    shared: bool = True

    def __post_init__(self) -> None:
        for name in ("requests_per_minute", "tokens_per_minute", "requests_burst", "tokens_burst"):
            value = getattr(self, name)
            if value is not None and not (
                isinstance(value, int | float) and math.isfinite(value) and value > 0
            ):
                raise UserError(f"ModelLimit.{name} must be positive (or None), not {value!r}")

    def buckets(self) -> list[tuple[str, float, float]]:
        """``(kind, tokens per second, capacity)`` per limited kind (``requests``, ``tokens``)."""
        found = []
        if self.requests_per_minute is not None:
            burst = self.requests_burst or self.requests_per_minute
            found.append(("requests", self.requests_per_minute / 60.0, burst))
        if self.tokens_per_minute is not None:
            burst = self.tokens_burst or self.tokens_per_minute
            found.append(("tokens", self.tokens_per_minute / 60.0, burst))
        return found


class _Bucket:
    """``rate`` units per second, holding at most ``capacity``; it may go into debt."""

    def __init__(self, rate: float, capacity: float, now: float) -> None:
        self.rate = rate
        self.capacity = capacity
        self.level = capacity
        self.at = now

    def refill(self, now: float) -> None:
        self.level = min(self.capacity, self.level + (now - self.at) * self.rate)
        self.at = now

    def wait_for(self, amount: float) -> float:
        """Seconds until the level reaches ``amount`` (0 if it has)."""
        return 0.0 if self.level >= amount else (amount - self.level) / self.rate


class ModelPacer:
    """Token buckets per limited key; what the engine consults around each model call.

    Args:
        limits: Per provider or model id.
        buckets: Where shared limits keep their buckets (the runtime's store); ``None``:
            every limit is per process.
        clock: Monotonic seconds for per-process buckets (injectable for tests).
        sleep: How a call waits (injectable for tests).
    """

    def __init__(
        self,
        limits: Mapping[str, ModelLimit],
        *,
        buckets: TokenBuckets | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
    ) -> None:
        self._limits = dict(limits)
        self._shared = buckets
        self._clock = clock
        self._sleep = sleep
        self._requests: dict[str, _Bucket] = {}
        self._tokens: dict[str, _Bucket] = {}
        self._unpaid: dict[str, float] = {}
        """Tokens replies used that the store has not been told of yet, per limit key."""
        self._paying: asyncio.Task[None] | None = None
        self._outage = BucketsOutage(
            log,
            "model rate limits",
            "pacing model calls with this process's own buckets until it answers again",
            clock,
        )

    def _key(self, model_id: str) -> str | None:
        if model_id in self._limits:
            return model_id
        provider = model_id.split(":", 1)[0]
        return provider if provider in self._limits else None

    def _is_shared(self, key: str) -> bool:
        if self._shared is None or not self._limits[key].shared:
            return False
        return self._outage.ask_store()

    async def before(self, model_id: str) -> None:
        """Wait until a call to ``model_id`` is within its limits, and take a request."""
        key = self._key(model_id)
        if key is None:
            return
        if self._is_shared(key) and await self._before_shared(key):
            return
        await self._before_local(key)

    def after(self, model_id: str, usage: Usage) -> None:
        """Pay the tokens a call to ``model_id`` used (the bucket may go into debt)."""
        key = self._key(model_id)
        if key is None or self._limits[key].tokens_per_minute is None:
            return
        used = float(usage.input_tokens + usage.output_tokens)
        # This process's bucket always learns of its own usage: it is what paces calls
        # while the store is away.
        _, tokens = self._local_buckets(key, self._clock())
        if tokens is not None:
            tokens.level -= used
        if self._shared is not None and self._limits[key].shared:
            self._owe(key, used)  # kept through an outage: the store learns it when back
            if self._is_shared(key) and (self._paying is None or self._paying.done()):
                self._paying = asyncio.get_running_loop().create_task(self._pay())

    # -- shared: buckets in the store --------------------------------------------------------

    def _takes(self, key: str, debt: float) -> list[TokenTake]:
        """The call's request and its debt to the token bucket; both always taken (a
        reservation): the store answers how long until they are there."""
        return [
            TokenTake(
                f"model:{key}:{kind}",
                1.0 if kind == "requests" else debt,
                rate=rate,
                capacity=capacity,
                max_wait=math.inf,
            )
            for kind, rate, capacity in self._limits[key].buckets()
        ]

    async def _before_shared(self, key: str) -> bool:
        """Reserve the call's request in the store and wait for it; ``False``: the store
        could not be reached (the caller paces the call in this process instead)."""
        assert self._shared is not None
        debt = self._unpaid.pop(key, 0.0)  # carried by this round trip
        try:
            grant = await self._shared.take_tokens(self._takes(key, debt))
        except (StoreError, NotImplementedError) as exc:
            self._owe(key, debt)
            self._outage.failed(exc)
            return False
        self._outage.answered()
        if grant.wait > 0:
            await self._sleep(grant.wait)
        return True

    async def _pay(self) -> None:
        """Pay every key's unpaid tokens, one take for all the replies that finished
        meanwhile; what a call carried before this ran is paid already."""
        await asyncio.sleep(0)  # let replies finishing in this turn of the loop join
        assert self._shared is not None
        while self._unpaid:
            unpaid, self._unpaid = self._unpaid, {}
            takes = [
                TokenTake(
                    f"model:{key}:tokens", debt, rate=rate, capacity=capacity, max_wait=math.inf
                )
                for key, debt in unpaid.items()
                for kind, rate, capacity in self._limits[key].buckets()
                if kind == "tokens"
            ]
            try:
                await self._shared.take_tokens(takes)
            except (StoreError, NotImplementedError) as exc:
                for key, debt in unpaid.items():
                    self._owe(key, debt)  # the next call carries it
                self._outage.failed(exc)
                return

    def _owe(self, key: str, debt: float) -> None:
        """Keep tokens used that the store has not been told of, for the next take. A
        take that failed may have landed all the same: then the fleet pays twice, which
        is the safe side of a limit."""
        if debt > 0:
            self._unpaid[key] = self._unpaid.get(key, 0.0) + debt

    # -- per process -------------------------------------------------------------------------

    def _local_buckets(self, key: str, now: float) -> tuple[_Bucket | None, _Bucket | None]:
        requests = tokens = None
        for kind, rate, capacity in self._limits[key].buckets():
            found = self._requests if kind == "requests" else self._tokens
            bucket = found.setdefault(key, _Bucket(rate, capacity, now))
            if kind == "requests":
                requests = bucket
            else:
                tokens = bucket
        return requests, tokens

    async def _before_local(self, key: str) -> None:
        while True:
            now = self._clock()
            requests, tokens = self._local_buckets(key, now)
            for bucket in (requests, tokens):
                if bucket is not None:
                    bucket.refill(now)
            wait = max(
                requests.wait_for(1.0) if requests is not None else 0.0,
                tokens.wait_for(0.0) if tokens is not None else 0.0,
            )
            if wait <= 0:
                if requests is not None:
                    requests.level -= 1.0
                return
            await self._sleep(wait)
