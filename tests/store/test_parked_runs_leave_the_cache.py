"""A run that parks or ends leaves the SQLite writer's caches, and nothing breaks for it.

The writer caches each run's primary key and the hash of its last event, so an append
costs no read. Kept for every run ever written, those small objects outlived the burst
that made them: with 10,000 runs parked at once they pinned about 7 KB of RSS per run
(``benchmarks/concurrency.py``). An append that releases the lease (the run parks, ends
or is handed back) now drops the run's entries; when the run wakes, one indexed read
finds them again, and its hash chain goes on unbroken.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from tether import Agent, Runtime, tool
from tether.runtime import RunHandle
from tether.store import verify_chain
from tether.testing import ScriptedModel, text, tool_call


def _agent() -> Agent:
    @tool(effect="write", idempotent=True, requires_approval=True)
    def refund(order_id: str) -> str:
        """Refund an order."""
        return f"refunded {order_id}"

    def script(request: object) -> object:
        last = request.messages[-1]  # type: ignore[attr-defined]
        if last.role == "tool":
            return text(f"done: {last.content}")
        return tool_call("refund", order_id=last.content)

    return Agent(name="parker", model=ScriptedModel(script), tools=[refund])


async def _chain_ok(runtime: Runtime, run_id: str) -> bool:
    chain = await runtime.store.load_event_chain(run_id)
    assert chain is not None
    return verify_chain(run_id, chain.rows, chain.last_seq).ok


def _cached(runtime: Runtime, run_ids: list[str]) -> list[str]:
    cache: dict[str, int] = runtime.store._run_ids  # type: ignore[attr-defined]
    return [run_id for run_id in run_ids if run_id in cache]


async def test_parked_and_finished_runs_leave_the_cache_and_their_chains_hold(
    tmp_path: Path,
) -> None:
    agent = _agent()
    async with Runtime(f"sqlite:///{tmp_path}/t.db", recover=False) as runtime:
        # One run alone (an append job of its own) and forty at once (appends that share
        # one executemany): both paths let go.
        alone = await runtime.start(agent, "o-1")
        assert (await alone.result()).status == "waiting"
        crowd = await asyncio.gather(*(runtime.start(agent, f"o-{i}") for i in range(2, 42)))
        results = await asyncio.gather(*(h.result() for h in crowd))
        assert {r.status for r in results} == {"waiting"}
        handles = [alone, *crowd]
        ids = [h.run_id for h in handles]
        assert _cached(runtime, ids) == []

        # Woken, each finds its row and chain head again and completes.
        for handle in handles:
            pending = await handle.pending_approvals()
            await runtime.approve(handle.run_id, pending[0].approval_id, by="test")
        done = await asyncio.gather(*(runtime.get(i).result() for i in ids))
        assert [r.output for r in done] == [f"done: refunded o-{i}" for i in range(1, 42)]
        assert _cached(runtime, ids) == []
        assert all([await _chain_ok(runtime, run_id) for run_id in ids])


async def test_a_run_handle_holds_two_references_and_no_dict(tmp_path: Path) -> None:
    async with Runtime(f"sqlite:///{tmp_path}/t.db", recover=False) as runtime:
        handle = runtime.get("r-1")
    assert isinstance(handle, RunHandle)
    assert not hasattr(handle, "__dict__")
    assert (handle.runtime, handle.run_id) == (runtime, "r-1")
