"""Token buckets kept in the store, so every worker on it draws from the same ones.

A bucket is one row: its ``level`` (tokens in it, below zero when in debt) at time
``at`` (epoch seconds). It refills at ``rate`` tokens a second up to ``capacity``; a
bucket nobody has used yet starts full. The rate and capacity come with every take
(they are the caller's settings, not the store's), so every worker should configure
the same limit; the last take's settings are kept in the row for people to read.

One :meth:`~tether.store.Store.take_tokens` takes from one or several buckets, all or
none, atomically across processes. A take may *reserve*: when the tokens will be there
within its ``max_wait`` seconds it takes them now (the level goes below zero) and
answers how long to wait before using them. Callers queue in the order they reserved,
and a wait is computed once, so nobody polls. ``max_wait=math.inf`` always takes: that
is how a debt is paid (tokens a model call used, known only after the call), and how a
caller says "queue me whatever the wait".

:func:`settle_takes` is the arithmetic both SQL backends share (Postgres does the same
in one statement when every take is unconditional).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class TokenTake:
    """One bucket's part of a take: ``amount`` tokens from the bucket ``key``.

    Attributes:
        key: The bucket's name, shared by every process that limits the same thing
            (``"model:openai:requests"``).
        amount: Tokens to take (``0``: only learn how long until the bucket is out of debt).
        rate: Tokens added per second.
        capacity: The most tokens the bucket holds (a new bucket starts full).
        max_wait: Take only if the tokens are there within this many seconds (``0``: now;
            ``math.inf``: always, going into debt if need be).
    """

    key: str
    amount: float
    rate: float
    capacity: float
    max_wait: float = 0.0

    def __post_init__(self) -> None:
        if not (self.rate > 0 and self.capacity > 0 and self.max_wait >= 0):
            raise ValueError(
                f"token bucket {self.key!r}: rate and capacity must be positive and max_wait "
                f"not negative (rate={self.rate!r}, capacity={self.capacity!r}, "
                f"max_wait={self.max_wait!r})"
            )
        if not (math.isfinite(self.amount) and self.amount >= 0):
            raise ValueError(
                f"token bucket {self.key!r}: amount must be a finite number >= 0: {self.amount!r}"
            )


@dataclass(frozen=True, slots=True)
class TokenGrant:
    """The answer to a take.

    Attributes:
        taken: Every bucket's tokens were taken (or reserved); ``False``: none were.
        waits: Per take, in order: seconds until its tokens are there (``0``: now).
            When taken, wait ``wait`` seconds and go; when not, a take whose wait passes
            its ``max_wait`` is the one that refused, and its wait says when to try again.
    """

    taken: bool
    waits: tuple[float, ...]

    @property
    def wait(self) -> float:
        """The longest of the waits: how long to wait before going (or trying again)."""
        return max(self.waits, default=0.0)


class TokenBuckets(Protocol):
    """What shared limits need from a store: one atomic take (every ``Store`` has it)."""

    async def take_tokens(
        self, takes: Sequence[TokenTake], *, now: float | None = None
    ) -> TokenGrant: ...


def check_takes(takes: Sequence[TokenTake]) -> None:
    """Refuse a take that names one bucket twice (its share would be ambiguous)."""
    keys = [t.key for t in takes]
    if len(set(keys)) != len(keys):
        raise ValueError(f"a take names a token bucket more than once: {sorted(keys)}")


def settle_takes(
    takes: Sequence[TokenTake], found: Mapping[str, tuple[float, float]], now: float
) -> tuple[TokenGrant, dict[str, tuple[float, float]]]:
    """Apply ``takes`` to the buckets' stored ``(level, at)``; a missing bucket is full.

    Returns the grant and, when taken, each bucket's new ``(level, at)`` to store (when
    not taken nothing need be written: the stored level still refills the same way).
    """
    waits: list[float] = []
    after: dict[str, tuple[float, float]] = {}
    taken = True
    for take in takes:
        level, at = found.get(take.key, (take.capacity, now))
        level = min(take.capacity, level + max(0.0, now - at) * take.rate)
        wait = max(0.0, (take.amount - level) / take.rate)
        waits.append(wait)
        taken = taken and wait <= take.max_wait
        after[take.key] = (level - take.amount, max(at, now))
    return TokenGrant(taken, tuple(waits)), after if taken else {}


STORE_RETRY = 5.0
"""Seconds after a failed take before the store's shared buckets are asked again."""


class BucketsOutage:
    """Whether a store's shared buckets may be asked, for a limiter that falls back to its
    own process's buckets while the store is away.

    After a failed take the limiter counts in its own buckets and the store is asked
    again ``STORE_RETRY`` seconds later (not at every call: an outage must not cost each
    call a connection timeout). A warning is logged once per outage, and a note when
    the store answers again.

    Args:
        log: Where to say so.
        subject: What is limited ("tool rate limits").
        fallback: What happens meanwhile, after "; " in the warning.
        clock: Seconds, monotonic (read at each call, so a limiter's clock can change).
    """

    def __init__(
        self, log: logging.Logger, subject: str, fallback: str, clock: Callable[[], float]
    ) -> None:
        self._log = log
        self._subject = subject
        self._fallback = fallback
        self._clock = clock
        self._down = False
        self._retry_at = 0.0

    def ask_store(self) -> bool:
        """Whether to ask the store now (it answered last time, or it is time to retry)."""
        return not self._down or self._clock() >= self._retry_at

    def failed(self, exc: BaseException) -> None:
        """A take failed: count locally until ``STORE_RETRY`` seconds from now."""
        self._retry_at = self._clock() + STORE_RETRY
        if not self._down:
            self._down = True
            self._log.warning(
                "%s: the store's shared buckets are unavailable (%s); %s",
                self._subject,
                exc,
                self._fallback,
            )

    def answered(self) -> None:
        """A take went through: the limits are shared again."""
        if self._down:
            self._down = False
            self._log.info("%s: the store answers again; limits are shared again", self._subject)
