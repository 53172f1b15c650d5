"""An amount in another currency than the one a write declares is asked for, never converted.

Seen on the main job: "Please refund five euros on order 1234" proposed
``refund_order(order_id="1234", amount_cents=500)``, and the approver read "refund $5.00
of order 1234": the store's orders are in US dollars, and five euros is not $5.00. The
refund's ``amount_cents`` now says which money it counts ("The exact amount to refund in
US dollars"); an amount the customer names in another currency gets the question for the
amount, in the store's currency. A tool that declares no currency keeps treating euros
and pounds as a hundred cents each (``_support_specs.REFUND``: the other routing tests).
"""

from __future__ import annotations

import threading
from typing import Any

import pytest

from tether.models._routing import ExampleToolSpec, declared_currency, foreign_amount
from tether.models._types import Message, ModelRequest, ModelResponse

from ._support_specs import LOOKUP, POLICIES, REFUND, Turns, Words, user

_DOLLARS = (
    "The exact amount to refund in US dollars, the store's currency; in cents. Leave it out "
    "to refund the order's full total."
)
REFUND_USD = ExampleToolSpec(
    name=REFUND.name,
    description=REFUND.description,
    parameters={
        **REFUND.parameters,
        "properties": {
            **REFUND.parameters["properties"],
            "amount_cents": {
                **REFUND.parameters["properties"]["amount_cents"],
                "description": _DOLLARS,
            },
        },
    },
    examples=list(REFUND.examples),
    writes=True,
)
ASK_DOLLARS = (
    "I can help with that, but I need the exact amount to refund in US dollars, the store's "
    "currency. Could you tell me?"
)


class _DollarTurns(Turns):
    def reply(self, *messages: Message) -> tuple[ModelResponse, str]:
        request = ModelRequest(tools=[LOOKUP, POLICIES, REFUND_USD], messages=list(messages))
        return self._routed_reply(request, None, threading.Event())


@pytest.mark.parametrize(
    "text",
    [
        # the main job's message, and the eval rows that expected a one-to-one conversion
        "Please refund five euros on order 1234",
        "please give me 15 euros back for order 1234",
        "refund £8 on order 5678",
        "could I get five pounds back on order 9012?",
        "please refund €15 for order A-1029",
        # fresh variants
        "refund 12.50 EUR of order 5678",
        "I want twenty-five pounds back for order 1234",
        "refund order 9012, ten euro cents",
        "give me back 30 quid on order 5678",
        "refund 40 francs on order 1234",
    ],
)
def test_an_amount_in_another_currency_is_asked_for(text: str) -> None:
    response, route = _DollarTurns(Words()).reply(user(text))
    assert response.tool_calls == [], text
    assert response.text == ASK_DOLLARS
    assert route == "ask:refund_order"


@pytest.mark.parametrize(
    ("text", "arguments"),
    [
        ("refund $5 on order 1234", {"order_id": "1234", "amount_cents": 500}),
        ("refund 12 dollars of order 5678", {"order_id": "5678", "amount_cents": 1200}),
        ("give me five bucks back on order 9012", {"order_id": "9012", "amount_cents": 500}),
        ("refund 2000 cents on order 1234", {"order_id": "1234", "amount_cents": 2000}),
        ("refund order 5678", {"order_id": "5678"}),
    ],
)
def test_an_amount_in_the_declared_currency_is_grounded(
    text: str, arguments: dict[str, Any]
) -> None:
    response, route = _DollarTurns(Words()).reply(user(text))
    assert [(c.name, c.arguments) for c in response.tool_calls] == [("refund_order", arguments)]
    assert route == "refund_order"


def test_a_tool_that_declares_no_currency_counts_every_currency_in_cents() -> None:
    """Unchanged for tools that say nothing of their money: the other routing tests."""
    response, _ = Turns(Words()).reply(user("refund 15 euros on order 5678"))
    assert [c.arguments for c in response.tool_calls] == [
        {"order_id": "5678", "amount_cents": 1500}
    ]


def test_an_answer_in_the_declared_currency_after_the_question_is_grounded() -> None:
    asked = [
        user("Please refund five euros on order 1234"),
        Message(role="assistant", content=ASK_DOLLARS),
    ]
    response, _ = _DollarTurns(Words()).reply(*asked, user("$5.40 then"))
    assert [(c.name, c.arguments) for c in response.tool_calls] == [
        ("refund_order", {"order_id": "1234", "amount_cents": 540})
    ]


@pytest.mark.parametrize(
    ("description", "code"),
    [
        (_DOLLARS, "usd"),
        ("Amount in euro cents.", "eur"),
        ("The amount, in GBP pence.", "gbp"),
        ("The exact amount to refund; in cents.", None),
        ("In dollars or euros.", None),  # two currencies: none declared
    ],
)
def test_declared_currency_reads_the_description(description: str, code: str | None) -> None:
    assert declared_currency({"type": "integer", "description": description}) == code


def test_foreign_amount_needs_a_figure_or_a_number_word() -> None:
    assert foreign_amount("five euros", "usd")
    assert foreign_amount("€ 5", "usd")
    assert not foreign_amount("my euros are gone", "usd")  # no amount
    assert not foreign_amount("$5", "usd")
    assert foreign_amount("$5", "eur")
    assert not foreign_amount("refund 5 euros", "eur")
