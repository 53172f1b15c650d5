"""Fair shares of the event loop for run steps (:class:`LoopShare`).

A runtime drives every run on one event loop. When thousands of runs wake at once (a
burst of model replies, a batch of timers), each goes on with its step at once: ten
thousand steps of 100-400 µs make one iteration of the loop last seconds. Nothing else
runs meanwhile: a lease heartbeat, a signal, an API request or a timer all wait, and
the runs that woke first finish their turns long before the last ones begin theirs.

:class:`LoopShare` cuts that work into slices. A run that has just been woken by its
model or its tools asks for a turn (:meth:`LoopShare.turn`) before it records what
came back. While the current iteration of the loop has spent less than its slice on
run steps and nobody is queued, the turn is granted at once: one clock read. Otherwise
the run joins a queue, and a tick at the start of each later iteration lets the next
few runs go, first come first served, as many as fit in a slice (adapted to how long
the iterations take). The work is the same; it is spread over iterations, so the loop
keeps answering between them, and a run's turn is not starved by a crowd that woke
after it.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
from time import perf_counter

__all__ = ["LoopShare"]


class LoopShare:
    """Queue run steps for the event loop when one iteration has done its share.

    Args:
        slice_seconds: How much time one iteration of the loop may spend on run steps
            before further steps wait for a later iteration. ``0`` turns pacing off.
        clock: Seconds, monotonic (tests pass their own).
    """

    __slots__ = (
        "_admitted",
        "_armed",
        "_clock",
        "_last_tick",
        "_loop",
        "_mark",
        "_release",
        "_waiting",
        "deferred",
        "slice",
    )

    def __init__(
        self, slice_seconds: float = 0.005, *, clock: Callable[[], float] = perf_counter
    ) -> None:
        if slice_seconds < 0:
            raise ValueError("slice_seconds must be 0 (off) or more")
        self.slice = slice_seconds
        self._clock = clock
        self.deferred = 0
        """Steps that waited for a later iteration (for stats and tests)."""
        self._mark = 0.0  # when the current iteration's share began
        self._waiting: deque[asyncio.Future[None]] = deque()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._armed = False  # a tick is scheduled for the next iteration
        self._admitted = False  # a step was granted since the last tick
        self._release = 16  # steps let go per tick, adapted to the iterations' length
        self._last_tick = 0.0

    @property
    def waiting(self) -> int:
        """Steps queued for a later iteration now."""
        return len(self._waiting)

    def holds(self, since: float | None) -> bool:
        """Whether a step granted at ``since`` (what :meth:`turn` returned) still has its
        turn: the loop has not begun a new iteration since, so the step never let go."""
        return since == self._mark and self._armed

    async def turn(self, since: float | None = None) -> float:
        """Return when this step may run: at once, or in a later iteration of the loop.

        ``since`` is what the caller's previous ``turn`` returned. If the loop has not
        begun a new iteration since then, the caller never let go of its turn (whatever
        it awaited finished without suspending): it goes on at once. Returns the mark to
        pass next time.
        """
        if not self.slice:
            return 0.0
        if since is not None and self.holds(since):
            return since  # the same turn, still going
        now = self._clock()
        loop = asyncio.get_running_loop()
        if not self._armed or loop is not self._loop:
            # The loop was quiet, or this is another loop (a runtime used again after its
            # old loop stopped with the tick still due and its waiters gone): a new share
            # begins with this step.
            self._waiting.clear()
            self._arm(loop)
            self._mark = now
            self._admitted = True
            return now
        if not self._waiting and now - self._mark < self.slice:
            self._admitted = True
            return self._mark
        waiter: asyncio.Future[None] = loop.create_future()
        self._waiting.append(waiter)
        self.deferred += 1
        await waiter
        return self._mark

    def _arm(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._armed = True
        self._last_tick = self._clock()
        loop.call_soon(self._tick)

    def _tick(self) -> None:
        """Each iteration while steps run or wait: begin a share, let the next few go."""
        now = self._clock()
        took, self._last_tick = now - self._last_tick, now
        self._mark = now
        waiting = self._waiting
        if not waiting and not self._admitted:
            self._armed = False  # quiet: the next step arms it again
            return
        self._admitted = False
        loop = self._loop
        assert loop is not None
        loop.call_soon(self._tick)  # before the steps let go: it runs first next time
        if not waiting:
            return
        # Let go as many as fit: fewer when the last iteration overran its slice.
        if took > self.slice:
            self._release = max(1, int(self._release * self.slice / took))
        else:
            self._release += 1 + self._release // 8
        released = 0
        while waiting and released < self._release:
            waiter = waiting.popleft()
            if not waiter.done():  # its run was cancelled while it waited
                waiter.set_result(None)
                released += 1
        self._admitted = released > 0
