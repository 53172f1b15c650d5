"""``RunHandle``: one run's events, result and state, wherever it is driven."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from typing import TYPE_CHECKING, Any

from tether.engine import PARKED, TERMINAL, PayloadProtection, RunEvent, RunState, decode_event
from tether.runtime._results import LiveDelta, PendingApproval, RunResult
from tether.store import EventRow

if TYPE_CHECKING:
    from tether.runtime._runtime import Runtime

_STOPPED = frozenset({*TERMINAL, *PARKED})
_POLL = 0.2


def to_run_events(
    run_id: str, rows: Sequence[EventRow], protection: PayloadProtection | None = None
) -> list[RunEvent]:
    """Decode stored rows; with ``protection``, sealed values are opened for execution."""
    if protection is None:
        return [RunEvent(run_id, r.seq, r.step, r.ts, decode_event(r.data)) for r in rows]
    return [
        RunEvent(run_id, r.seq, r.step, r.ts, decode_event(protection.restore(r.data)))
        for r in rows
    ]


class RunHandle:
    """A reference to one run: its events, its result, its state."""

    # Two references and no __dict__: a caller may hold thousands while their runs park.
    __slots__ = ("run_id", "runtime")

    def __init__(self, runtime: Runtime, run_id: str) -> None:
        self.runtime = runtime
        self.run_id = run_id

    def __repr__(self) -> str:
        return f"RunHandle({self.run_id!r})"

    async def result(self, *, timeout: float | None = None) -> RunResult:  # noqa: ASYNC109  # mirrors asyncio.wait_for's familiar keyword
        """Wait until the run stops (finished, or waiting for a signal) and summarize it."""
        if timeout is None:
            return await self._result()
        async with asyncio.timeout(timeout):
            return await self._result()

    async def _result(self) -> RunResult:
        """The summary once the run stops (``result`` without its deadline)."""
        while True:
            task = self.runtime._tasks.get(self.run_id)
            if task is not None:
                # The driver holds the folded state: no need to re-read the log.
                state = await asyncio.shield(task)
                if state.status in _STOPPED:
                    break
                continue  # this process stopped driving it; follow it in the store
            record = await self.runtime._record(self.run_id)
            crashed = self.runtime._crashed.get(self.run_id)
            if crashed is not None:
                raise crashed
            if self.run_id in self.runtime._tasks:
                continue
            if record.status in _STOPPED:
                state = await self.runtime.load_state(self.run_id)
                break
            await asyncio.sleep(_POLL)
        return RunResult.from_state(state, self._typed_output(state))

    def _typed_output(self, state: RunState) -> Any:
        agent = self.runtime._agents.get(state.agent)
        if state.status == "completed" and agent is not None and agent.output_type is not None:
            return agent.output_type.model_validate(state.output)
        return None

    def driver_error(self) -> BaseException | None:
        """Why this process's driver of the run died, if it did (the run stays ``running``
        in the store, for a restart or another process to resume)."""
        return self.runtime._crashed.get(self.run_id)

    def driven_here(self) -> bool:
        """Whether this process is driving the run right now."""
        return self.run_id in self.runtime._tasks

    async def state(self) -> RunState:
        """The run's state folded from its stored events."""
        return await self.runtime.load_state(self.run_id)

    async def pending_approvals(self) -> list[PendingApproval]:
        """Calls of this run waiting for a person, with what they need to decide."""
        state = await self.runtime.load_state(self.run_id)
        return [PendingApproval.from_request(a.request) for a in state.pending_approvals]

    async def events(
        self, *, after_seq: int = 0, follow: bool = True, deltas: bool = False
    ) -> AsyncIterator[Any]:
        """Persisted events in order (then live ones until the run stops).

        With ``deltas=True`` live :class:`LiveDelta` token fragments are interleaved;
        they are never stored. Resumable: pass the last seen ``seq`` as ``after_seq``.
        """
        rt = self.runtime
        queue = rt._subscribe(self.run_id, deltas) if follow else None
        last = after_seq
        try:
            rows = await rt.store.load_events(self.run_id, after_seq=after_seq)
            if not rows and after_seq == 0:
                await rt._record(self.run_id)
            # What arrived live while the history loaded is in the queue, in commit order
            # with its deltas: take history only up to where the live record begins.
            backlog: list[Any] = []
            while queue is not None and not queue.empty():
                backlog.append(queue.get_nowait())
            live_from = next((b[0].seq for b in backlog if isinstance(b, list) and b), None)
            for rec in to_run_events(self.run_id, rows):
                if live_from is not None and rec.seq >= live_from:
                    break
                yield rec
                last = rec.seq
            for item in backlog:
                if isinstance(item, list):
                    for rec in item:
                        if rec.seq > last:
                            yield rec
                            last = rec.seq
                elif isinstance(item, LiveDelta):
                    yield item
            if queue is None:
                return
            while True:
                try:
                    item = await asyncio.wait_for(queue.get(), _POLL)
                except TimeoutError:
                    item = ...
                if isinstance(item, list):
                    for rec in item:
                        if rec.seq > last:
                            yield rec
                            last = rec.seq
                    continue
                if isinstance(item, LiveDelta):
                    yield item
                    continue
                # Quiet, or the local driver stopped: catch up from the store, stop if done.
                rows = await rt.store.load_events(self.run_id, after_seq=last)
                for rec in to_run_events(self.run_id, rows):
                    yield rec
                    last = rec.seq
                record = await rt._record(self.run_id)
                crashed = rt._crashed.get(self.run_id)
                if crashed is not None:
                    raise crashed
                if (
                    self.run_id not in rt._tasks
                    and record.status in _STOPPED
                    and record.last_seq <= last
                ):
                    return
        finally:
            if queue is not None:
                rt._unsubscribe(self.run_id, queue)
