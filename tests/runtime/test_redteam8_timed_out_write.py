"""A write that timed out may have happened: the run waits for a person, never for the model.

Red team 8, hole 04: a non-idempotent write that timed out (its effect landing anyway: a
thread tool runs on after its deadline) went back to the model as an ordinary error, and
the model's identical re-call ran at once under a new idempotency key: the card charged
twice, no person asked. The journal now keeps such a call started, with no result, and
the run parks as ``uncertain_write`` exactly as after a crash mid-write.
"""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from typing import Any

from tether import Agent, Runtime, tool
from tether.engine import ToolCompleted, ToolFailed
from tether.testing import ScriptedModel, text, tool_call


def _biller(ledger: Path, release: threading.Event) -> Agent:
    @tool(effect="write", timeout=0.2)
    def charge(order_id: str, amount_cents: int) -> str:
        """Charge the customer's card (a slow payment API)."""
        release.wait(30)  # the request is on the wire past the deadline; it goes through
        with ledger.open("a") as fh:
            fh.write(f"{order_id} {amount_cents}\n")
        return "charged"

    def script(request: Any) -> Any:
        told = [m for m in request.messages if m.role == "tool"]
        if any("charged" in (m.content or "") for m in told) or len(told) >= 2:
            return text("done")
        return tool_call("charge", order_id="1", amount_cents=5000)  # "it timed out: again"

    return Agent(name="biller", model=ScriptedModel(script), tools=[charge])


async def test_a_timed_out_write_parks_for_a_person_and_is_never_reissued_by_the_model(
    tmp_path: Path,
) -> None:
    ledger, release = tmp_path / "ledger.txt", threading.Event()
    agent = _biller(ledger, release)
    async with Runtime(f"sqlite:///{tmp_path}/t.db") as rt:
        run = await rt.start(agent, "charge order 1 for $50")
        parked = await run.result(timeout=30)
        assert (parked.status, parked.wait_reason) == ("waiting", "uncertain_write"), parked
        assert parked.wait_details is not None
        (item,) = parked.wait_details["calls"]
        assert item["tool"] == "charge" and item["arguments"] == {
            "order_id": "1",
            "amount_cents": 5000,
        }
        assert "timed out" in item["problem"] or "within" in item["problem"], item
        assert parked.usage.model_calls == 1  # the model was not asked again
        release.set()  # the abandoned attempt lands its charge
        while not ledger.exists():  # noqa: ASYNC110  # the thread finishing, not a timer
            await asyncio.sleep(0.01)
        await rt.signal(
            run.run_id,
            "resolve_write",
            {"call_id": item["idempotency_key"], "action": "completed", "result": "charged"},
            by="ops",
        )
        result = await run.result(timeout=30)
        events = [
            e.event
            async for e in rt.get(run.run_id).events(follow=False)
            if isinstance(e.event, ToolCompleted | ToolFailed)
        ]
    assert result.status == "completed", result.error
    assert ledger.read_text().splitlines() == ["1 5000"]  # charged once
    assert [(type(e).__name__, e.attempt) for e in events] == [("ToolCompleted", 0)]
