"""Rules judge the arguments that will execute: no value shape lets a call past a rule.

Arguments reach the gate validated and dumped to JSON (``ToolContract.normalize``): a
``Decimal`` is a string, an omitted optional argument is its default. These tests pin that
a rule still fires on those shapes, and that a rule which cannot judge a value denies the
call (fail closed) with a reason naming the rule, the argument and its type.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from tether import Agent, Runtime, tool
from tether.engine import PolicyDecided, ToolFailed
from tether.exceptions import PolicyWarning
from tether.models import ModelRequest
from tether.policy import Policy, PolicyFile, decide_call
from tether.policy._conditions import MAX_MATCH_CHARS, ConditionEvaluationError
from tether.testing import ScriptedModel, text, tool_call

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "policies" / "support.toml"
EXECUTED: list[tuple[str, Any]] = []

HUGE_REFUNDS = PolicyFile.loads(
    """
version = 1

[[rules]]
name = "huge-refunds"
tool = "refund"
when = "amount > 1000"
action = "deny"
reason = "Refunds over $1000 are never made by an agent."

[[rules]]
name = "no-drop"
tool = "run_sql"
when = 'query matches "(?i)\\bdrop\\s+table\\b"'
action = "deny"
reason = "Agents never drop tables."
""",
    source="fail-closed.toml",
)


@tool(effect="write")
def refund(order_id: str, amount: Decimal) -> str:
    """Refund an amount in dollars."""
    EXECUTED.append(("refund", amount))
    return f"refunded {amount}"


@tool(effect="write")
def run_sql(query: str) -> str:
    """Run a SQL statement."""
    EXECUTED.append(("run_sql", query))
    return "ok"


@tool(effect="write")
def refund_order(order_id: str, amount_cents: int | None = None) -> str:
    """Refund an order; leave amount_cents out to refund its full total."""
    EXECUTED.append(("refund_order", amount_cents))
    return "refunded the full total" if amount_cents is None else f"refunded {amount_cents}"


@pytest.fixture(autouse=True)
def _clear_executed() -> None:
    EXECUTED.clear()


def _once(call: Any) -> Any:
    """A model that proposes ``call`` once, then answers with the tool's reply."""

    def script(req: ModelRequest) -> Any:
        if len(req.messages) == 1:
            return call
        return text(f"done: {req.messages[-1].content}")

    return script


async def _run(store_url: str, agent: Agent, task: str) -> list[Any]:
    async with Runtime(store_url) as rt:
        run = await rt.start(agent, task)
        await run.result()
        return [e.event async for e in run.events(follow=False)]


def _decide(contract: Any, arguments: dict[str, Any], rules: PolicyFile = HUGE_REFUNDS) -> Any:
    """The gate's verdict on a call, from the arguments as the gate sees them."""
    return decide_call(
        Policy(rules=rules, injection=None),
        contract,
        contract.name,
        contract.normalize(arguments),
        killswitch_on=False,
    )


# -- a number rule on a Decimal (hole 1) ---------------------------------------------------------


def test_a_decimal_argument_reaches_the_rules_as_a_string_and_still_compares() -> None:
    """``amount: Decimal`` is dumped to "900000"; ``amount > 1000`` still denies it."""
    assert refund.normalize({"order_id": "1", "amount": 900000})["amount"] == "900000"
    denied = _decide(refund, {"order_id": "1", "amount": 900000})
    assert (denied.action, denied.rule) == ("deny", "huge-refunds")
    assert _decide(refund, {"order_id": "1", "amount": "999.99"}).action == "allow"


async def test_a_deny_rule_on_a_decimal_amount_stops_the_refund(store_url: str) -> None:
    """End to end: the model asks for a 900000 refund of a ``Decimal`` tool; it never runs."""
    agent = Agent(
        name="a",
        model=ScriptedModel(_once(tool_call("refund", order_id="1", amount=900000))),
        tools=[refund, run_sql],
        policy=Policy(rules=HUGE_REFUNDS),
    )
    events = await _run(store_url, agent, "refund")
    assert EXECUTED == []
    (decided,) = [e for e in events if isinstance(e, PolicyDecided)]
    assert (decided.action, decided.rule) == ("deny", "huge-refunds")


@pytest.mark.parametrize(
    ("value", "value_type"),
    [("PT1H", "string"), (" 9000 ", "string"), (True, "boolean"), ([9000], "list")],
)
def test_a_rule_that_cannot_judge_an_argument_denies_and_says_why(
    value: Any, value_type: str
) -> None:
    """A number rule against a value that is not one denies, naming rule, argument, type."""
    rules = PolicyFile.loads(
        """
version = 1
[[rules]]
name = "long-holds"
tool = "hold"
when = "not duration <= 3600"
action = "require_approval"
""",
        source="holds.toml",
    )
    with pytest.raises(ConditionEvaluationError) as info:
        rules.evaluate("hold", {"duration": value})
    assert (info.value.rule, info.value.argument, info.value.value_type) == (
        "long-holds",
        "duration",
        value_type,
    )

    @tool
    def hold(duration: Any) -> str:
        """Hold for a while."""
        return "held"

    decision = decide_call(
        Policy(rules=rules, injection=None),
        hold,
        "hold",
        {"duration": value},
        killswitch_on=False,
    )
    assert (decision.action, decision.rule, decision.source) == (
        "deny",
        "policy_error",
        "policy_file",
    )
    assert "policy rule 'long-holds'" in decision.reason
    assert f"argument 'duration' is a {value_type}" in decision.reason


# -- matches over the whole string (hole 2) ------------------------------------------------------


def test_matches_finds_forbidden_text_after_ten_thousand_characters() -> None:
    """Padding a statement with a long comment does not hide it from a deny rule."""
    padded = "/* " + "x" * 10_000 + " */ DROP TABLE users;"
    denied = _decide(run_sql, {"query": padded})
    assert (denied.action, denied.rule) == ("deny", "no-drop")


def test_matches_on_a_string_too_long_to_search_denies() -> None:
    """Past ``MAX_MATCH_CHARS`` the string is not judged by a prefix: the call is denied."""
    decision = _decide(run_sql, {"query": "SELECT 1; --" + "x" * MAX_MATCH_CHARS})
    assert (decision.action, decision.rule) == ("deny", "policy_error")
    assert "'no-drop'" in decision.reason and "argument 'query'" in decision.reason


async def test_a_padded_drop_table_never_runs(store_url: str) -> None:
    """End to end: the padded statement is denied and the model is told so."""
    query = "/* " + "x" * 10_000 + " */ DROP TABLE users;"
    agent = Agent(
        name="a",
        model=ScriptedModel(_once(tool_call("run_sql", query=query))),
        tools=[refund, run_sql],
        policy=Policy(rules=HUGE_REFUNDS),
    )
    events = await _run(store_url, agent, "clean up")
    assert EXECUTED == []
    (failed,) = [e for e in events if isinstance(e, ToolFailed)]
    assert failed.error.error_code == "denied"


# -- exists() after defaults are filled (hole 5) -------------------------------------------------


def test_an_omitted_optional_argument_does_not_exist() -> None:
    """Validation fills ``amount_cents=None``; the example's refund-needs-amount rule fires."""
    example = PolicyFile.load(EXAMPLE)
    arguments = refund_order.normalize({"order_id": "5678"})
    assert arguments == {"order_id": "5678", "amount_cents": None}
    denied = _decide(refund_order, {"order_id": "5678"}, example)
    assert (denied.action, denied.rule) == ("deny", "refund-needs-amount")
    assert _decide(refund_order, {"order_id": "5678", "amount_cents": 100}, example).action == (
        "allow"
    )
    assert _decide(refund_order, {"order_id": "5678", "amount_cents": 0}, example).action == (
        "allow"
    )
    approval = _decide(refund_order, {"order_id": "5678", "amount_cents": 9000}, example)
    assert (approval.action, approval.rule) == ("require_approval", "big-refunds")


async def test_the_example_policy_refuses_a_refund_without_an_amount(store_url: str) -> None:
    """End to end with ``examples/policies/support.toml``: no full-total refund slips by."""
    with pytest.warns(PolicyWarning, match="matches no tool"):  # the file covers more tools
        agent = Agent(
            name="a",
            model=ScriptedModel(_once(tool_call("refund_order", order_id="5678"))),
            tools=[refund_order],
            policy=Policy(rules=EXAMPLE),
        )
    events = await _run(store_url, agent, "refund order 5678")
    assert EXECUTED == []
    (decided,) = [e for e in events if isinstance(e, PolicyDecided)]
    assert (decided.action, decided.rule) == ("deny", "refund-needs-amount")
