"""Red team 14, hole 01: a float argument of NaN slipped past numeric rules.

``refund(order_id: str, amount: float)`` under ``amount > 100`` (deny or require_approval):
the model sent ``amount="nan"``, validation made it ``float("nan")``, ``nan > 100`` is
False, and the write ran with NaN and no approval. Now a float argument that reads as NaN
or an infinity is invalid (JSON has neither), and a condition that meets a NaN anywhere
(a nested ``Any`` value, a path compared with a path) cannot judge it and fails closed.
"""

from __future__ import annotations

import math
from typing import Any

import pytest

from tether import Agent, Runtime, tool
from tether.engine import PolicyDecided, ToolFailed
from tether.models import ModelRequest
from tether.policy import Policy, PolicyFile
from tether.policy._conditions import ConditionEvaluationError, compile_condition
from tether.testing import ScriptedModel, text, tool_call

EXECUTED: list[Any] = []


@tool(effect="write", idempotent=True)
def refund(order_id: str, amount: float) -> str:
    """Refund an amount in dollars."""
    EXECUTED.append(amount)
    return f"refunded {amount}"


@tool(effect="write")
def pay(order_id: str, details: dict[str, Any]) -> str:
    """Pay with free-form details."""
    EXECUTED.append(details)
    return "paid"


def _rules(action: str, when: str = "amount > 100", tool_name: str = "refund") -> PolicyFile:
    return PolicyFile.loads(
        f"""
version = 1
[[rules]]
name = "big"
tool = "{tool_name}"
when = "{when}"
action = "{action}"
reason = "too big"
""",
        source="nan.toml",
    )


@pytest.fixture(autouse=True)
def _clear() -> None:
    EXECUTED.clear()


def _once(call: Any) -> Any:
    def script(req: ModelRequest) -> Any:
        if len(req.messages) == 1:
            return call
        return text("done")

    return script


@pytest.mark.parametrize("action", ["deny", "require_approval"])
@pytest.mark.parametrize("value", ["nan", "NaN", "inf", "-Infinity", float("nan"), 1e400])
async def test_a_float_argument_of_nan_or_infinity_never_runs_a_write(
    store_url: str, action: str, value: Any
) -> None:
    agent = Agent(
        name="nan-" + action,
        model=ScriptedModel(_once(tool_call("refund", order_id="1", amount=value))),
        tools=[refund],
        policy=Policy(rules=_rules(action)),
    )
    async with Runtime(store_url) as rt:
        run = await rt.start(agent, "refund")
        result = await run.result()
        events = [e.event async for e in run.events(follow=False)]
    assert EXECUTED == []
    assert result.status == "completed"  # the model was told, the run went on
    (failed,) = [e for e in events if isinstance(e, ToolFailed)]
    assert failed.error.error_code == "invalid_arguments"


@pytest.mark.parametrize(
    ("source", "arguments"),
    [
        ("amount > 100", {"amount": math.nan}),
        ("amount <= 100", {"amount": math.nan}),
        ("amount == 5", {"amount": math.nan}),
        ("amount != 5", {"amount": math.nan}),
        ("amount in [1, 2]", {"amount": math.nan}),
        ("amount not in [1, 2]", {"amount": math.nan}),
        ("details.amount > 100", {"details": {"amount": math.nan}}),
        ("amount > limit", {"amount": math.nan, "limit": 100}),
        ("limit < amount", {"amount": 5, "limit": math.nan}),
    ],
)
def test_a_condition_that_meets_nan_cannot_judge_it(source: str, arguments: dict[str, Any]) -> None:
    with pytest.raises(ConditionEvaluationError, match="NaN"):
        compile_condition(source)(arguments)


async def test_a_nan_nested_in_free_form_arguments_reaches_rule_and_tool_alike(
    store_url: str,
) -> None:
    """``dict[str, Any]`` arguments may hold a NaN (JSON's ``NaN`` literal, which Python's
    json module reads): validation dumps it as ``null``, so the rule judges what the tool
    then receives, ``None``, never a NaN it cannot compare."""
    assert pay.normalize({"order_id": "1", "details": {"amount": math.nan}})["details"] == {
        "amount": None
    }
    agent = Agent(
        name="nan-pay",
        model=ScriptedModel(_once(tool_call("pay", order_id="1", details={"amount": math.nan}))),
        tools=[pay],
        policy=Policy(rules=_rules("deny", "details.amount == null", "pay")),
    )
    async with Runtime(store_url) as rt:
        run = await rt.start(agent, "pay")
        await run.result()
        events = [e.event async for e in run.events(follow=False)]
    assert EXECUTED == []
    (decided,) = [e for e in events if isinstance(e, PolicyDecided)]
    assert decided.action == "deny"


def test_finite_floats_still_compare() -> None:
    assert compile_condition("amount > 100")({"amount": 100.5})
    assert not compile_condition("amount > 100")({"amount": 99.5})
    assert refund.normalize({"order_id": "1", "amount": "12.5"})["amount"] == 12.5
