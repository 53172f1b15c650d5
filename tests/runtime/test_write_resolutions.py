"""An operator's ``resolve_write`` decides about one write, never another.

Providers reuse call ids (the OpenAI adapter falls back to ``call_{i}`` when a server
sends none). On the old code a resolution was folded under the provider's id and never
cleared, so a ``retry`` given for one crashed write re-issued a later, non-idempotent
write that crashed after its effect: it ran twice and no person was asked. A resolution
is now bound to the call's idempotency key when it arrives, refused when it names no
waiting write (or several), and forgotten at the step boundary.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tether import Agent, Runtime
from tether.exceptions import ApprovalError, RunNotWaitingError
from tether.testing import ScriptedModel, text, tool_call

sys.path.insert(0, str(Path(__file__).parent))
from _resolution_worker import make_agent

WORKER = Path(__file__).with_name("_resolution_worker.py")
TTL = 0.5


def _worker(store: str, ledger: Path, mode: str, at: int, *extra: str) -> str:
    """Run the worker to its end (or its crash); returns the run id it printed."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    done = subprocess.run(
        [sys.executable, str(WORKER), store, str(ledger), mode, str(at), *extra],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    run_id = done.stdout.strip().splitlines()[0] if done.stdout.strip() else ""
    assert run_id.startswith("run_"), done.stderr
    return run_id


async def _uncertain(store: str, ledger: Path, run_id: str) -> list[dict[str, object]]:
    await asyncio.sleep(TTL * 2)  # the dead worker's lease expires
    async with Runtime(store, agents=[make_agent(ledger)], lease_ttl=TTL) as rt:
        result = await rt.get(run_id).result(timeout=30)
    assert result.status == "waiting" and result.wait_reason == "uncertain_write", result
    assert result.wait_details is not None
    calls: list[dict[str, object]] = result.wait_details["calls"]
    return calls


async def test_a_retry_for_one_crashed_write_never_reissues_a_later_one(tmp_path: Path) -> None:
    store, ledger = f"sqlite:///{tmp_path}/t.db", tmp_path / "ledger.txt"
    run_id = _worker(store, ledger, "crash_before", 1)  # charge 1 never happened
    (first,) = await _uncertain(store, ledger, run_id)
    assert first["call_id"] == "call_0" and first["arguments"] == {"n": 1}
    assert str(first["idempotency_key"]).startswith(f"{run_id}:")
    assert not ledger.exists()
    # The operator retries charge 1 by its provider id (unique among the waiting writes);
    # charge 2, under the same provider id, then crashes after its effect.
    resolution = json.dumps({"call_id": "call_0", "action": "retry"})
    _worker(store, ledger, "crash_after", 2, run_id, resolution)
    (second,) = await _uncertain(store, ledger, run_id)
    assert second["arguments"] == {"n": 2}
    assert second["idempotency_key"] != first["idempotency_key"]
    # Charge 2 happened once and waits for its own decision: not re-issued on the old one.
    assert ledger.read_text().split() == ["1", "2"]

    async with Runtime(store, agents=[make_agent(ledger)], lease_ttl=TTL) as rt:
        await rt.signal(
            run_id,
            "resolve_write",
            {"call_id": second["idempotency_key"], "action": "completed", "result": "charged 2"},
            by="ops",
        )
        result = await rt.get(run_id).result(timeout=30)
    assert result.status == "completed", result.error
    assert ledger.read_text().split() == ["1", "2"]


def _parks_two_writes() -> Agent:
    """An agent whose reply asks for two approved writes under one provider id."""
    from tether import tool

    @tool(effect="write", requires_approval=True)
    def refund(order_id: str) -> str:
        """Refund an order."""
        return f"refunded {order_id}"

    model = ScriptedModel([tool_call("refund", order_id="A1"), text("done")])
    return Agent(name="refunder", model=model, tools=[refund])


@pytest.mark.parametrize(
    "payload",
    [
        "retry",
        ["call_0", "retry"],
        {"call_id": "call_0"},
        {"call_id": "call_0", "action": "maybe"},
    ],
    ids=["a string", "a list", "no action", "an unknown action"],
)
async def test_a_malformed_resolution_is_refused_and_changes_nothing(
    tmp_path: Path, payload: object
) -> None:
    store, ledger = f"sqlite:///{tmp_path}/t.db", tmp_path / "ledger.txt"
    run_id = _worker(store, ledger, "crash_before", 1)
    await _uncertain(store, ledger, run_id)
    async with Runtime(store, agents=[make_agent(ledger)], lease_ttl=TTL) as rt:
        before = await rt.load_state(run_id)
        with pytest.raises(ApprovalError) as refused:
            await rt.signal(run_id, "resolve_write", payload, by="ops")
        after = await rt.load_state(run_id)
    assert "resolve_write" in refused.value.message
    assert after.last_seq == before.last_seq and after.status == "waiting"


@pytest.mark.parametrize("named", ["call_9", "run_other:0:1"])
async def test_a_resolution_naming_no_waiting_write_is_refused(tmp_path: Path, named: str) -> None:
    store, ledger = f"sqlite:///{tmp_path}/t.db", tmp_path / "ledger.txt"
    run_id = _worker(store, ledger, "crash_before", 1)
    (waiting,) = await _uncertain(store, ledger, run_id)
    async with Runtime(store, agents=[make_agent(ledger)], lease_ttl=TTL) as rt:
        with pytest.raises(ApprovalError) as refused:
            await rt.signal(run_id, "resolve_write", {"call_id": named, "action": "retry"})
        state = await rt.load_state(run_id)
    # The refusal names the write that does wait, by the key that decides it.
    assert str(waiting["idempotency_key"]) in refused.value.message
    assert state.status == "waiting" and not state.write_resolutions


async def test_a_resolution_is_refused_by_a_run_waiting_for_approval(tmp_path: Path) -> None:
    agent = _parks_two_writes()
    async with Runtime(f"sqlite:///{tmp_path}/t.db", agents=[agent]) as rt:
        run = await rt.start(agent, "refund A1")
        assert (await run.result()).status == "waiting"
        with pytest.raises(RunNotWaitingError):
            await rt.signal(run.run_id, "resolve_write", {"call_id": "call_0", "action": "retry"})


@pytest.mark.parametrize(
    ("payload", "reason"),
    [("stop now", "stop now"), (["x"], "cancelled"), (7, "cancelled"), (None, "cancelled")],
    ids=["a string", "a list", "a number", "none"],
)
async def test_cancel_takes_any_payload(tmp_path: Path, payload: object, reason: str) -> None:
    """A cancel whose payload is not an object still cancels (a string is its reason)."""
    agent = _parks_two_writes()
    async with Runtime(f"sqlite:///{tmp_path}/t.db", agents=[agent]) as rt:
        run = await rt.start(agent, "refund A1")
        assert (await run.result()).status == "waiting"
        await rt.signal(run.run_id, "cancel", payload, by="ops")
        result = await rt.get(run.run_id).result(timeout=10)
    assert result.status == "cancelled"
    assert result.error is not None and result.error.message == reason


async def test_a_retry_authorises_one_attempt_and_a_second_crash_asks_again(
    tmp_path: Path,
) -> None:
    """Red team 10, hole 01: one "retry" re-issued a non-idempotent write after every crash.

    Charge 1 crashes after its effect; the operator says retry; the retry crashes after its
    effect too. The re-issue is now started again (committed under the lease), which uses
    the decision up: the run waits for a person again instead of charging a third time.
    """
    store, ledger = f"sqlite:///{tmp_path}/t.db", tmp_path / "ledger.txt"
    run_id = _worker(store, ledger, "crash_after", 1)
    (first,) = await _uncertain(store, ledger, run_id)
    assert ledger.read_text().split() == ["1"]
    retry = json.dumps({"call_id": first["idempotency_key"], "action": "retry"})
    _worker(store, ledger, "crash_after", 1, run_id, retry)  # the retried charge crashes too
    (again,) = await _uncertain(store, ledger, run_id)
    assert again["idempotency_key"] == first["idempotency_key"]
    assert ledger.read_text().split() == ["1", "1"]  # the decision bought one attempt
