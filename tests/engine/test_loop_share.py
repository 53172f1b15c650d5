"""Run steps share the event loop: a crowd of runs waking at once is spread over iterations.

``LoopShare`` is driven here by a clock the test controls, and the loop's iterations are
counted by a callback that re-arms itself each iteration: no wall-clock assertion.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest

from tether import Agent, Runtime, tool
from tether.engine import LoopShare
from tether.exceptions import UserError
from tether.testing import ScriptedModel, text, tool_call


class Clock:
    """Each read is ``step`` seconds after the last: every step looks expensive."""

    def __init__(self, step: float) -> None:
        self.now = 0.0
        self.step = step

    def __call__(self) -> float:
        self.now += self.step
        return self.now


class Iterations:
    """Counts the event loop's iterations (a callback that re-arms itself each one)."""

    def __init__(self) -> None:
        self.count = 0
        self._on = True

    def _tick(self) -> None:
        if self._on:
            self.count += 1
            asyncio.get_running_loop().call_soon(self._tick)

    def __enter__(self) -> Iterations:
        asyncio.get_running_loop().call_soon(self._tick)
        return self

    def __exit__(self, *exc: object) -> None:
        self._on = False


async def _iterations(n: int) -> None:
    for _ in range(n):
        await asyncio.sleep(0)


async def test_a_step_within_the_slice_is_granted_at_once() -> None:
    share = LoopShare(0.010, clock=Clock(0.001))
    for _ in range(3):  # three clock reads of 1 ms: within one 10 ms slice
        await share.turn()
    assert share.deferred == 0 and share.waiting == 0


async def test_steps_past_the_slice_wait_and_go_first_come_first_served() -> None:
    share = LoopShare(0.001, clock=Clock(0.005))  # every read overruns the slice
    order: list[int] = []

    async def step(i: int) -> None:
        await share.turn()
        order.append(i)

    with Iterations() as loop_turns:
        await asyncio.gather(*(step(i) for i in range(30)))
    assert order[0] == 0  # the first step of a quiet loop is granted at once
    assert order == sorted(order)  # the rest in the order they asked
    assert share.deferred == 29 and share.waiting == 0
    # The overrunning iterations cut the release down: spread over many iterations.
    assert loop_turns.count >= 10


async def test_a_step_that_never_let_go_keeps_its_turn() -> None:
    share = LoopShare(0.001, clock=Clock(0.005))  # every read overruns the slice
    mark = await share.turn()
    # No new iteration since: whatever it awaited finished without suspending.
    assert share.holds(mark)
    assert await share.turn(mark) == mark
    assert share.deferred == 0
    await asyncio.sleep(0)  # it lets go: the loop begins a new iteration
    assert not share.holds(mark)
    other = asyncio.ensure_future(share.turn())  # another step takes this iteration's share
    await asyncio.sleep(0)
    await share.turn(mark)  # past the slice: this step waits for a later iteration
    await other
    assert share.deferred == 1


async def test_a_cancelled_waiter_is_skipped_and_the_rest_still_go() -> None:
    share = LoopShare(0.001, clock=Clock(0.005))
    done: list[int] = []

    async def step(i: int) -> None:
        await share.turn()
        done.append(i)

    tasks = [asyncio.ensure_future(step(i)) for i in range(6)]
    await asyncio.sleep(0)  # each has asked once: the first went, five wait
    assert done == [0] and share.waiting == 5
    tasks[2].cancel()
    results = await asyncio.gather(*tasks, return_exceptions=True)
    assert isinstance(results[2], asyncio.CancelledError)
    assert done == [0, 1, 3, 4, 5]
    assert share.waiting == 0


async def test_a_quiet_loop_disarms_and_a_new_step_arms_it_again() -> None:
    share = LoopShare(0.001, clock=Clock(0.005))
    await share.turn()
    await _iterations(5)  # nothing asks: the tick stops re-arming itself
    await share.turn()  # a new share begins with this step
    assert share.deferred == 0


async def test_slice_zero_never_defers() -> None:
    share = LoopShare(0, clock=Clock(1.0))
    await asyncio.gather(*(share.turn() for _ in range(50)))
    assert share.deferred == 0


def test_a_share_carries_over_to_a_new_event_loop() -> None:
    """A runtime used again on a new event loop, after the old one stopped with the share
    still armed (its tick due): nothing of the old loop may be awaited from the new one."""
    share = LoopShare(0.001, clock=Clock(0.005))

    async def once() -> None:
        await share.turn()  # arms the share: its tick is due next iteration

    async def crowd() -> int:
        steps = [asyncio.ensure_future(share.turn()) for _ in range(5)]
        await asyncio.wait_for(asyncio.gather(*steps), timeout=5)
        return len(steps)

    first = asyncio.new_event_loop()
    first.run_until_complete(once())  # stops before the tick runs
    first.close()
    assert asyncio.run(crowd()) == 5
    assert share.waiting == 0


def test_a_negative_slice_is_refused() -> None:
    with pytest.raises(ValueError, match="slice_seconds"):
        LoopShare(-1)
    with pytest.raises(UserError, match="loop_slice"):
        Runtime("sqlite:///:memory:", loop_slice=-0.1)


# -- through the runtime ---------------------------------------------------------------------

RUNS = 60


def _agent(calls: Counter[int], iterations: Iterations, gate: asyncio.Event) -> Agent:
    @tool
    async def lookup(key: str) -> str:
        """Look a key up."""
        calls[iterations.count] += 1  # which iteration of the loop the tool ran in
        return f"value of {key}"

    async def script(request: Any) -> Any:
        await gate.wait()  # every run's first reply lands in the same iteration
        if request.messages[-1].role == "tool":
            return text(f"done: {request.messages[-1].content}")
        return tool_call("lookup", key=request.messages[-1].content)

    return Agent(name="crowd", model=ScriptedModel(script), tools=[lookup])


def _crowd_peak(store_url: str, share: LoopShare | None) -> tuple[int, list[str], Runtime]:
    calls: Counter[int] = Counter()
    iterations = Iterations()
    runtime = Runtime(store_url, recover=False)
    runtime.governance.loop_share = share

    async def main() -> list[str]:
        gate = asyncio.Event()
        agent = _agent(calls, iterations, gate)
        async with runtime:
            handles = [await runtime.start(agent, f"k{i}") for i in range(RUNS)]
            with iterations:
                gate.set()
                results = await asyncio.gather(*(h.result() for h in handles))
        return [str(r.output) for r in results]

    outputs = asyncio.run(main())
    return max(calls.values()), outputs, runtime


@pytest.fixture
def expected() -> Iterator[list[str]]:
    yield [f"done: value of k{i}" for i in range(RUNS)]


def test_a_crowd_of_replies_runs_in_one_iteration_without_a_share(
    store_url: str, expected: list[str]
) -> None:
    peak, outputs, _ = _crowd_peak(store_url, None)
    assert outputs == expected
    # The model replies all land in the same iteration, and every run goes on at once.
    assert peak > RUNS // 2


def test_with_a_share_the_crowd_is_spread_and_nothing_is_lost(
    store_url: str, expected: list[str]
) -> None:
    share = LoopShare(0.001, clock=Clock(0.002))
    peak, outputs, _ = _crowd_peak(store_url, share)
    assert outputs == expected  # every run completed with its own tool result
    assert share.deferred > 0 and share.waiting == 0
    assert peak <= 8


def test_the_runtime_builds_a_share_only_when_asked(store_url: str) -> None:
    assert Runtime(store_url).governance.loop_share is None
    share = Runtime(store_url, loop_slice=0.005).governance.loop_share
    assert share is not None and share.slice == 0.005


def _first_calls_peak(store_url: str, share: LoopShare | None) -> int:
    """Start a burst of runs at once; the most first model calls made in one iteration."""
    firsts: Counter[int] = Counter()
    iterations = Iterations()

    def script(request: Any) -> Any:
        if len(request.messages) == 1:
            firsts[iterations.count] += 1
        return text("hello")

    agent = Agent(name="burst", model=ScriptedModel(script))
    runtime = Runtime(store_url, recover=False)
    runtime.governance.loop_share = share

    async def main() -> None:
        async with runtime:
            with iterations:
                handles = await asyncio.gather(*(runtime.start(agent, "hi") for _ in range(RUNS)))
                results = await asyncio.gather(*(h.result() for h in handles))
        assert {r.status for r in results} == {"completed"}

    asyncio.run(main())
    assert sum(firsts.values()) == RUNS
    return max(firsts.values())


def test_a_burst_of_starts_takes_turns_too(store_url: str, tmp_path: Any) -> None:
    assert _first_calls_peak(store_url, None) > RUNS // 2
    other = f"sqlite:///{tmp_path}/other.db"
    assert _first_calls_peak(other, LoopShare(0.001, clock=Clock(0.002))) <= 8
