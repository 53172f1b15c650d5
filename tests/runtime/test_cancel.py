"""Cancelling interrupts the work in flight and is recorded (issue 8, item 2).

An async tool gets ``CancelledError`` at its next await; a thread tool cannot be
interrupted, so it is abandoned and its late result discarded. ``tether cancel`` in
one process cancels a run another process is driving.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from tether import Agent, Runtime, tool
from tether.engine import RunFinished, SignalReceived, ToolCompleted
from tether.testing import ScriptedModel, text, tool_call

HERE = Path(__file__).parent


async def _events(rt: Runtime, run_id: str) -> list[Any]:
    return [e.event async for e in rt.get(run_id).events(follow=False)]


async def _until(predicate: Any) -> None:
    for _ in range(2000):
        if predicate():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("condition never held")


async def test_cancel_interrupts_a_running_async_tool(store_url: str) -> None:
    marks: list[str] = []

    @tool(timeout=300)
    async def crawl(site: str) -> str:
        """Crawl slowly."""
        marks.append("started")
        try:
            await asyncio.sleep(60)
        except asyncio.CancelledError:
            marks.append("interrupted")
            raise
        return "crawled"

    agent = Agent(
        name="crawler",
        model=ScriptedModel([tool_call("crawl", site="x"), text("done")]),
        tools=[crawl],
    )
    async with Runtime(store_url) as rt:
        run = await rt.start(agent, "crawl")
        await _until(lambda: marks == ["started"])
        await rt.cancel(run.run_id, reason="user gave up", by="ana")
        result = await run.result(timeout=30)
        events = await _events(rt, run.run_id)
    assert result.status == "cancelled"
    assert marks == ["started", "interrupted"]
    assert not [e for e in events if isinstance(e, ToolCompleted)]
    (signal,) = [e for e in events if isinstance(e, SignalReceived)]
    assert (signal.name, signal.by, signal.payload) == ("cancel", "ana", {"reason": "user gave up"})
    assert [e.status for e in events if isinstance(e, RunFinished)] == ["cancelled"]


async def test_cancel_abandons_a_thread_tool_and_discards_its_late_result(store_url: str) -> None:
    release = threading.Event()
    finished = threading.Event()

    @tool(timeout=300)
    def export(table: str) -> str:
        """Export a table (a blocking call in a worker thread)."""
        release.wait(30)
        finished.set()
        return "exported"

    agent = Agent(
        name="exporter",
        model=ScriptedModel([tool_call("export", table="t"), text("done")]),
        tools=[export],
    )
    async with Runtime(store_url) as rt:
        run = await rt.start(agent, "export")
        await asyncio.sleep(0.2)
        await rt.cancel(run.run_id, reason="stop", by="ana")
        result = await run.result(timeout=30)
        assert result.status == "cancelled"
        assert not finished.is_set()  # cancelled while the thread still ran
        release.set()
        await asyncio.to_thread(finished.wait, 30)
        await asyncio.sleep(0.1)
        events = await _events(rt, run.run_id)
    assert not [e for e in events if isinstance(e, ToolCompleted)]
    assert [e.status for e in events if isinstance(e, RunFinished)] == ["cancelled"]


def test_tether_cancel_interrupts_a_run_driven_by_another_process(tmp_path: Path) -> None:
    store = f"sqlite:///{tmp_path}/t.db"
    marks = tmp_path / "marks.txt"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    worker = subprocess.Popen(
        [sys.executable, str(HERE / "_cancel_worker.py"), store, str(marks)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert worker.stdout is not None
        run_id = json.loads(worker.stdout.readline())["run_id"]
        deadline = time.monotonic() + 60
        while not (marks.exists() and "started" in marks.read_text()):
            assert time.monotonic() < deadline and worker.poll() is None
            time.sleep(0.05)
        cancel = subprocess.run(
            [sys.executable, "-m", "tether.cli", "cancel", run_id, "--store", store, "--by", "ops"],
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
        )
        assert cancel.returncode == 0, cancel.stdout + cancel.stderr
        assert "cancelled" in cancel.stdout
        finished = json.loads(worker.stdout.readline())
        assert worker.wait(timeout=30) == 0
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait(timeout=30)
        for stream in (worker.stdout, worker.stderr):
            if stream is not None:
                stream.close()
    assert finished["status"] == "cancelled"
    assert marks.read_text().splitlines() == ["started", "interrupted"]


async def test_a_cancel_during_the_model_call_stops_the_write_it_then_asks_for(
    store_url: str,
) -> None:
    """Red team 10, hole 04: the model was thinking when the user cancelled; the charge it
    then asked for still ran (ReAct goes from think to act within one step, past the
    step-boundary check). No tool starts after a cancel is accepted."""
    charged: list[str] = []
    thinking, answer = asyncio.Event(), asyncio.Event()

    @tool(effect="write")
    def charge(order_id: str) -> str:
        """Charge an order."""
        charged.append(order_id)
        return "charged"

    async def script(request: Any) -> Any:
        if any(m.role == "tool" for m in request.messages):
            return text("done")
        thinking.set()
        await answer.wait()  # a slow provider
        return tool_call("charge", order_id="7")

    agent = Agent(name="biller", model=ScriptedModel(script), tools=[charge])
    async with Runtime(store_url) as rt:
        run = await rt.start(agent, "charge order 7")
        await asyncio.wait_for(thinking.wait(), 30)
        await rt.cancel(run.run_id, reason="stop", by="ana")
        answer.set()
        result = await run.result(timeout=30)
        kinds = [type(e).__name__ for e in await _events(rt, run.run_id)]
    assert result.status == "cancelled"
    assert charged == []
    assert "ToolStarted" not in kinds and "ToolCompleted" not in kinds, kinds
