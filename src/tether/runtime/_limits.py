"""Request and token limits per model provider, in one process (token buckets).

``Runtime(model_limits={"openai": ModelLimit(requests_per_minute=500,
tokens_per_minute=200_000)})`` paces every model call of every run the process drives:
a call waits for a request token, and for the token bucket to be out of debt; its real
usage (input plus output tokens) is paid after the reply, since nobody knows it before.
A key is a model id (``openai:gpt-4o``) or a provider (``openai``); the exact id wins.

These limits hold per process. Limits shared by every worker on a store need a shared
counter in the store (not there yet).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass

from tether.exceptions import UserError
from tether.models import Usage


@dataclass(frozen=True, kw_only=True, slots=True)
class ModelLimit:
    """Requests and tokens a provider (or one model) may take per minute, in this process."""

    requests_per_minute: float | None = None
    tokens_per_minute: float | None = None

    def __post_init__(self) -> None:
        for name in ("requests_per_minute", "tokens_per_minute"):
            value = getattr(self, name)
            if value is not None and not value > 0:
                raise UserError(f"ModelLimit.{name} must be positive (or None), not {value!r}")


class _Bucket:
    """``rate`` units per second, holding at most ``capacity``; it may go into debt."""

    def __init__(self, per_minute: float, now: float) -> None:
        self.rate = per_minute / 60.0
        self.capacity = per_minute
        self.level = per_minute
        self.at = now

    def refill(self, now: float) -> None:
        self.level = min(self.capacity, self.level + (now - self.at) * self.rate)
        self.at = now

    def wait_for(self, amount: float) -> float:
        """Seconds until the level reaches ``amount`` (0 if it has)."""
        return 0.0 if self.level >= amount else (amount - self.level) / self.rate


class ModelPacer:
    """Token buckets per limited key; what the engine consults around each model call.

    ``clock`` and ``sleep`` are injectable for tests.
    """

    def __init__(
        self,
        limits: Mapping[str, ModelLimit],
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
    ) -> None:
        self._limits = dict(limits)
        self._clock = clock
        self._sleep = sleep
        self._requests: dict[str, _Bucket] = {}
        self._tokens: dict[str, _Bucket] = {}

    def _key(self, model_id: str) -> str | None:
        if model_id in self._limits:
            return model_id
        provider = model_id.split(":", 1)[0]
        return provider if provider in self._limits else None

    def _buckets(self, key: str, now: float) -> tuple[_Bucket | None, _Bucket | None]:
        limit = self._limits[key]
        requests = tokens = None
        if limit.requests_per_minute is not None:
            requests = self._requests.setdefault(key, _Bucket(limit.requests_per_minute, now))
        if limit.tokens_per_minute is not None:
            tokens = self._tokens.setdefault(key, _Bucket(limit.tokens_per_minute, now))
        return requests, tokens

    async def before(self, model_id: str) -> None:
        """Wait until a call to ``model_id`` is within its limits, and take a request."""
        key = self._key(model_id)
        if key is None:
            return
        while True:
            now = self._clock()
            requests, tokens = self._buckets(key, now)
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

    def after(self, model_id: str, usage: Usage) -> None:
        """Pay the tokens a call to ``model_id`` used (the bucket may go into debt)."""
        key = self._key(model_id)
        if key is None:
            return
        _, tokens = self._buckets(key, self._clock())
        if tokens is not None:
            tokens.level -= usage.input_tokens + usage.output_tokens
