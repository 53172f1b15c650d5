"""Under a tool-call budget, a run's recorded tool results are in the log before its next
tools run (red team 14c, the tool side of hole 01).

Steps whose effects stay in the process commit overlapped with the next ones, so a fast
run can be several steps ahead of its log. A SIGKILL then loses results that were
counted only in memory, the next driver runs those calls again, and a read tool limited
by ``max_tool_calls`` is invoked more often than the limit says. A run whose budget
limits tool calls (in all or per tool) now waits for what it recorded to land before its
tools run, as a model budget already does before a model call: a crash re-runs at most
the calls in flight. Seen from the store, with a slow disk; nothing asserts a duration.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

from tether import Agent, Runtime, tool
from tether.models import ModelRequest
from tether.policy import Budget, Policy
from tether.testing import ScriptedModel, text, tool_call

sys.path.insert(0, str(Path(__file__).parent))
from _slow_store import slow_appends

CALLS = 6


@pytest.mark.parametrize(
    "budget",
    [Budget(max_tool_calls=20), Budget(max_calls_per_tool={"lookup": 20})],
    ids=["max_tool_calls", "max_calls_per_tool"],
)
async def test_under_a_tool_budget_every_result_is_in_the_log_before_the_next_tool_runs(
    store_url: str, budget: Budget
) -> None:
    recorded_before: list[int] = []
    run_ids: list[str] = []
    store: Any = None

    async def model(request: ModelRequest) -> object:
        done = sum(m.role == "tool" for m in request.messages)
        return text("done") if done >= CALLS else tool_call("lookup", q=str(done))

    @tool
    async def lookup(q: str) -> str:
        """Look ``q`` up."""
        rows = await store.load_events(run_ids[0])
        recorded_before.append(sum(row.type == "tool.completed" for row in rows))
        return "nothing yet"

    agent = Agent(
        name="tool_budgeted",
        instructions="Look up.",
        model=ScriptedModel(model),
        tools=[lookup],
        policy=Policy(budget=budget),
    )
    async with Runtime(store_url, agents=[agent]) as rt:
        store = rt.store
        slow_appends(store)  # a slow disk: the next steps would outrun it
        run_ids.append((await rt.start(agent, "go")).run_id)
        result = await rt.get(run_ids[0]).result(timeout=30)
    assert result.status == "completed", result.error
    assert recorded_before == list(range(CALLS))
