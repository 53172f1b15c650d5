"""Pinned agent versions: a change of tools, model or policy never takes over a live run.

The README: "A run records the hash of its instructions, tool schemas, model and
settings; changed code never silently takes over a live run." Each test parks
a run, then offers it to a runtime that knows a changed definition of the same
agent: the runtime must refuse, and the run must stay as it was.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from tether import Agent, Runtime, tool
from tether.engine import Done, Machine, StepContext, Wait
from tether.exceptions import AgentVersionMismatchError
from tether.policy import Policy, PolicyFile
from tether.testing import ScriptedModel, tool_call


@tool
def lookup_order(order_id: str) -> str:
    """Look up an order."""
    return "shipped"


@tool(name="lookup_order")
def lookup_order_v2(order_id: str, include_history: bool = False) -> str:
    """Look up an order (now with its history)."""
    return "shipped"


@tool(effect="write")
def refund_order(order_id: str, amount_cents: int) -> str:
    """Refund an order."""
    return "refunded"


@tool(
    name="refund_order",
    effect="write",
    requires_approval=lambda args: args["amount_cents"] > 5000,
)
def refund_order_with_approval(order_id: str, amount_cents: int) -> str:
    """Refund an order."""
    return "refunded"


STRICT = PolicyFile.loads(
    """
version = 1

[[rules]]
name = "no-refunds"
tool = "refund_order"
action = "deny"
reason = "Refunds are closed."
""",
    source="strict.toml",
)


def _agent(
    *, tools: list[object] | None = None, model_id: str = "model-a", policy: Policy | None = None
) -> Agent:
    """A support agent parked on an 'input' signal, so a run of it stays live."""
    machine = Machine("ask", initial="ask")

    @machine.state(next=["answer"], waits=True)
    async def ask(ctx: StepContext) -> Wait:
        return Wait(signal="input", reason="needs_customer_reply", then="answer")

    @machine.state(terminal=True)
    async def answer(ctx: StepContext) -> Done:
        return Done("answered")

    return Agent(
        name="support",
        instructions="Help customers.",
        model=ScriptedModel([], model_id=model_id),
        tools=tools if tools is not None else [lookup_order, refund_order],
        policy=policy or Policy(),
        machine=machine,
    )


CHANGES: dict[str, Callable[[], Agent]] = {
    "tool added": lambda: _agent(tools=[lookup_order]),
    "tool schema changed": lambda: _agent(tools=[lookup_order_v2, refund_order]),
    "tool now needs approval": lambda: _agent(tools=[lookup_order, refund_order_with_approval]),
    "model changed": lambda: _agent(model_id="model-b"),
    "policy rules changed": lambda: _agent(policy=Policy(rules=STRICT)),
    "policy allowlist changed": lambda: _agent(policy=Policy(allow_tools=["lookup_order"])),
}


def test_the_same_definition_built_twice_has_one_version() -> None:
    """Rebuilding an unchanged agent (a restart, another process) keeps its version."""
    assert _agent().version == _agent().version


@pytest.mark.parametrize("change", list(CHANGES))
def test_every_behaviour_change_changes_the_version(change: str) -> None:
    """Tools, model and policy are all part of the version hash."""
    assert CHANGES[change]().version != _agent().version, f"{change}: version unchanged"


@pytest.mark.parametrize("change", list(CHANGES))
async def test_changed_definition_does_not_take_over_a_live_run(
    change: str, store_url: str
) -> None:
    """A run parked under one definition is refused by a runtime that has a changed one."""
    async with Runtime(store_url) as rt:
        run = await rt.start(_agent(), "hello")
        assert (await run.result()).status == "waiting"

    changed = CHANGES[change]()
    async with Runtime(store_url, agents=[changed]) as rt:
        with pytest.raises(AgentVersionMismatchError):
            await rt.signal(run.run_id, "input", "tomorrow")
        state = await rt.load_state(run.run_id)
        kinds = [e.type async for e in rt.get(run.run_id).events(follow=False)]
    assert state.status == "waiting"
    assert "signal.received" not in kinds  # nothing was recorded by the refused runtime


def _versions_in_a_new_process(hash_seed: str) -> dict[str, str]:
    code = (
        "import json, sys; sys.path.insert(0, sys.argv[1]); "
        "from test_version_pinning import CHANGES, _agent; "
        "print(json.dumps({'original': _agent().version, "
        "**{name: make().version for name, make in CHANGES.items()}}))"
    )
    env = {**os.environ, "PYTHONHASHSEED": hash_seed}
    done = subprocess.run(
        [sys.executable, "-c", code, str(Path(__file__).parent)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    versions: dict[str, str] = json.loads(done.stdout.strip().splitlines()[-1])
    return versions


def test_every_process_computes_the_same_version() -> None:
    """The version is a pure function of the definition: the same in every process.

    Another process (a worker, a restart, ``tether approve``) must recognise a run's
    agent; a hash that depends on the process (string hash seeds, object ids, set
    order) would refuse every run it did not start.
    """
    here = {"original": _agent().version, **{n: make().version for n, make in CHANGES.items()}}
    assert _versions_in_a_new_process("1") == here
    assert _versions_in_a_new_process("2") == here


def _approval_agent(model_id: str) -> Agent:
    """A ReAct agent whose only move is a refund that waits for a person."""
    return Agent(
        name="refunder",
        model=ScriptedModel(
            lambda req: tool_call("refund_order", order_id="1234", amount_cents=9000),
            model_id=model_id,
        ),
        tools=[refund_order_with_approval],
    )


async def test_changed_definition_does_not_take_over_an_approval(store_url: str) -> None:
    """Approving a run pinned to another version is refused, and the approval stays pending."""
    async with Runtime(store_url) as rt:
        run = await rt.start(_approval_agent("model-a"), "refund 90 dollars")
        assert (await run.result()).status == "waiting"
        (pending,) = await run.pending_approvals()

    async with Runtime(store_url, agents=[_approval_agent("model-b")]) as rt:
        with pytest.raises(AgentVersionMismatchError):
            await rt.approve(run.run_id, pending.call_id, by="ana@example.com")
        state = await rt.load_state(run.run_id)
        still = await rt.get(run.run_id).pending_approvals()
        kinds = [e.type async for e in rt.get(run.run_id).events(follow=False)]
    assert state.status == "waiting"
    assert [p.call_id for p in still] == [pending.call_id]
    assert "approval.decided" not in kinds
