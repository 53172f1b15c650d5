"""Red team 14, hole 03: a rule on an argument path the tool does not have never fires, silently.

``pay(to, payment: Payment)`` where ``Payment.amount`` has the alias ``amt``: the rules see
the arguments as validated (by alias), so ``payment.amount > 100`` read a path that is
always missing, the comparison never held, and a 5000 payment ran past a deny rule. A
misspelled tool name got a load-time warning; a misspelled (or aliased) argument path got
none. Now it does, naming the rule, the path, the tool, and the name it probably meant.
"""

from __future__ import annotations

import warnings
from typing import Any

import pytest
from pydantic import BaseModel, ConfigDict, Field

from tether import Agent, tool
from tether.exceptions import PolicyWarning
from tether.policy import Policy, PolicyFile
from tether.testing import ScriptedModel, text


class Payment(BaseModel):
    model_config = ConfigDict(populate_by_name=True)
    amount: int = Field(alias="amt")
    currency: str = "USD"


class Line(BaseModel):
    sku: str
    qty: int


@tool(effect="write", idempotent=True)
def pay(to: str, payment: Payment) -> str:
    """Pay someone."""
    return "paid"


@tool(effect="write")
def order(lines: list[Line], meta: dict[str, Any], note: str | None = None) -> str:
    """Place an order."""
    return "ordered"


def _rules(*whens: str) -> PolicyFile:
    body = "version = 1\n"
    for i, when in enumerate(whens):
        body += f'[[rules]]\nname = "r{i}"\ntool = "*"\nwhen = {when!r}\naction = "deny"\n'
    return PolicyFile.loads(body, source="paths.toml")


def _warnings(*whens: str) -> list[str]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        Agent(
            name="a",
            model=ScriptedModel([text("ok")]),
            tools=[pay, order],
            policy=Policy(rules=_rules(*whens)),
        )
    return [str(w.message) for w in caught if issubclass(w.category, PolicyWarning)]


def test_a_rule_on_an_aliased_field_by_its_python_name_is_warned_about() -> None:
    [message] = [m for m in _warnings("payment.amount > 100") if "'pay'" in m]
    assert "rule 'r0' reads 'payment.amount'" in message
    assert "has no argument 'payment.amount'" in message
    assert "did you mean 'amt'?" in message
    assert "paths.toml:2" in message


def test_a_misspelled_top_level_argument_is_warned_about_for_each_tool() -> None:
    found = _warnings("amout > 100")
    assert len(found) == 2  # pay and order both lack it (the rule covers "*")
    assert all("has no argument 'amout'" in m for m in found)


@pytest.mark.parametrize(
    "when",
    [
        "payment.amt > 100",  # the alias, as validated
        'payment.currency == "EUR"',
        "lines[0].qty > 10",
        'lines[2].sku == "X"',
        'meta.anything.at.all == "x"',  # an open mapping: any key may be there
        'note == "x"',  # an optional argument
        'to startswith "evil"',
    ],
)
def test_paths_the_schemas_define_or_leave_open_are_not_warned_about(when: str) -> None:
    found = _warnings(when)
    # Every rule here covers both tools; each path exists on at least one of them, and the
    # other tool lacks its first step. Only that tool may be named.
    first = when.split(".")[0].split("[")[0].split(" ")[0]
    for message in found:
        assert f"has no argument {first!r}" in message, message
        tool_name = message.split("tool ")[1].split(" ")[0]
        assert tool_name in ("'pay'", "'order'")
    owner = {"payment": "'pay'", "to": "'pay'"}.get(first, "'order'")
    assert not any(f"tool {owner}" in m for m in found), found


def test_a_step_under_a_defined_object_that_it_lacks_is_warned_about() -> None:
    found = _warnings("lines[0].price > 5")
    assert any("has no argument 'lines[0].price'" in m and "'order'" in m for m in found)
    assert any("(it has: qty, sku)" in m for m in found)
