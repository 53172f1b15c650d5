"""Red team 13's holes in the main job's routed turns, as routed turns without a model.

Each section is one hole: the red team's messages and fresh variants, asserting what is
safe (a question for the amount, no write proposed, no internal detail in an answer). A
turn here runs :class:`RoutedTurns` on a test embedder, so the rules are tested, not a
135M model's embeddings.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from tether.models._routing import quote_result
from tether.models._types import Message, ToolCall

from ._support_specs import ASK_AMOUNT
from ._support_specs import Turns as _Turns
from ._support_specs import Words as _Words
from ._support_specs import user as _user
from .test_routing_negation import _NearRefund


def _asks_amount(text: str) -> None:
    response, route = _Turns(_Words()).reply(_user(text))
    assert response.tool_calls == [] and response.text == ASK_AMOUNT, text
    assert route == "ask:refund_order"


def _proposes(text: str, arguments: dict[str, Any]) -> None:
    response, route = _Turns(_Words()).reply(_user(text))
    assert [(c.name, c.arguments) for c in response.tool_calls] == [("refund_order", arguments)]
    assert route == "refund_order"


# ---------------------------------------------------------------------------
# hole_11: two amounts (the refund asked for and the price paid): asked, never chosen


@pytest.mark.parametrize(
    "text",
    [
        "refund $5 on order 5678 (I paid $129)",
        "I want 5 euros back for order 5678 which cost me 100 euros",
        "refund 10 dollars on order 1234, I paid 49.99 dollars for it",
        # fresh variants
        "I paid $80 for order 9012, please refund $15",
        "refund order 1234: it was 60 pounds and I want 20 pounds back",
        "refund order A-1029 twelve dollars, the total was forty dollars",
        "refund 300 cents on order 5678, I paid $9",
    ],
)
def test_two_amounts_of_money_ask_for_the_amount(text: str) -> None:
    _asks_amount(text)


@pytest.mark.parametrize(
    ("text", "arguments"),
    [
        # One amount, however it is written twice or excluded: proposed as before.
        ("refund $20 (2000 cents) on order 5678", {"order_id": "5678", "amount_cents": 2000}),
        ("refund $30 of order 5678, not $20", {"order_id": "5678", "amount_cents": 3000}),
        ("refund 7 dollars on order 1234", {"order_id": "1234", "amount_cents": 700}),
    ],
)
def test_one_amount_of_money_is_still_proposed(text: str, arguments: dict[str, Any]) -> None:
    _proposes(text, arguments)


def test_the_amount_asked_again_is_then_proposed() -> None:
    first, _ = _Turns(_Words()).reply(_user("refund $5 on order 5678 (I paid $129)"))
    response, route = _Turns(_Words()).reply(
        _user("refund $5 on order 5678 (I paid $129)"),
        Message(role="assistant", content=first.text),
        _user("$5"),
    )
    assert route == "refund_order"
    assert [(c.name, c.arguments) for c in response.tool_calls] == [
        ("refund_order", {"order_id": "5678", "amount_cents": 500})
    ]


# ---------------------------------------------------------------------------
# hole_02: a spelled amount after another number word is the tail of a longer number:
# never grounded as the amount, asked for instead


@pytest.mark.parametrize(
    "text",
    [
        "refund zero point five euros on order 5678",
        "refund nineteen ninety-five dollars on order 5678",
        "refund one hundred twenty dollars on order 5678",
        # fresh variants
        "refund two hundred fifty dollars on order 1234",
        "refund a hundred and five bucks on order 5678",
        "refund one thousand twenty euros on order 9012",
        "refund nineteen ninety nine dollars on order 1234",
        "refund twelve point five euros on order 5678",
        "refund a hundred and five dollars on order 5678",
        "refund one thousand five dollars on order 5678",
        # Units and cents after a longer number are its tail too (red team 14b, hole 11).
        "refund one hundred twenty dollars and fifty cents on order 5678",
    ],
)
def test_the_tail_of_a_longer_spelled_number_is_no_amount(text: str) -> None:
    _asks_amount(text)


@pytest.mark.parametrize(
    ("text", "arguments"),
    [
        ("refund forty two dollars on order 1234", {"order_id": "1234", "amount_cents": 4200}),
        ("refund order 9012 and nine euros", {"order_id": "9012", "amount_cents": 900}),
        # Units and their cents are one amount, however written (red team 14b, hole 11:
        # this pinned "five dollars and fifty cents" as two amounts, and asked; $5.50 is
        # what the customer stated). A currency the tool does not take is still asked
        # (the demo declares US dollars, see test_routing_currency.py).
        (
            "refund five dollars and fifty cents on order 5678",
            {"order_id": "5678", "amount_cents": 550},
        ),
        (
            "refund eight euros and 20 cents on order 1234",
            {"order_id": "1234", "amount_cents": 820},
        ),
    ],
)
def test_a_spelled_amount_on_its_own_is_still_proposed(
    text: str, arguments: dict[str, Any]
) -> None:
    _proposes(text, arguments)


# ---------------------------------------------------------------------------
# hole_03: a thousands group or a decimal comma is not read: the amount is asked for


@pytest.mark.parametrize(
    "text",
    [
        "refund $1,000 on order 5678",
        "refund €12,50 on order 5678",
        "give me 1.000 euros back on order 5678",
        # fresh variants
        "refund £2,500 on order 1234",
        "refund 3,50 euros on order 9012",
        "refund $1.500 on order 5678",
        "refund 1,000 dollars on order 1234",
        "refund 2,000 cents on order 5678",
    ],
)
def test_an_amount_with_separators_is_asked_for(text: str) -> None:
    _asks_amount(text)


def test_an_amount_with_decimals_is_still_proposed() -> None:
    _proposes("refund $12.50 on order 5678", {"order_id": "5678", "amount_cents": 1250})


# ---------------------------------------------------------------------------
# hole_01: "euro cents" are cents of a euro, not euros


@pytest.mark.parametrize(
    ("text", "cents"),
    [
        ("refund ten euro cents on order 5678", 10),
        ("refund 15 euro cents on order 1234", 15),
        # fresh variants
        ("refund 50 dollar cents on order 5678", 50),
        ("refund twenty euro cent on order 1234", 20),
        ("refund 99 pound cents on order 9012", 99),
    ],
)
def test_currency_cents_are_cents(text: str, cents: int) -> None:
    response, _ = _Turns(_Words()).reply(_user(text))
    # Proposed as that many cents, or asked for: never a hundred times more.
    if response.tool_calls:
        [call] = response.tool_calls
        assert call.arguments["amount_cents"] == cents
    else:
        assert response.text == ASK_AMOUNT


# ---------------------------------------------------------------------------
# hole_04 and hole_06: messages that ask for no refund propose none; what else they ask is
# answered


@pytest.mark.parametrize(
    "text",
    [
        "Ich will mein Geld nicht zurück, wo ist Bestellung 5678?",
        "refund nothing on order 5678, where is it",
        "I already got a refund for 5678, thanks",
        "5678 refund status",
        "will you refund 5678 if I return it?",
        "Refund order 5678. Just kidding, where is it?",
        # fresh variants
        "Ich möchte das Geld für Bestellung 1234 wirklich nicht zurück",
        "ich will mein Geld nicht mehr zurück, Bestellung 9012",
        "reimburse nothing for order 1234, just track it",
        "I want nothing back for order 9012, where is it?",
        "I already received my refund for order 9012",
        "my refund for 1234 has already arrived, thank you",
        "I was already refunded for 5678",
        "what's the refund status of order 9012",
        "where is my refund for order 1234?",
        "has my refund for 5678 gone through?",
        "would you refund order 9012 if it arrives damaged?",
        "if I send it back, will you refund 1234?",
        "refund 1234 please. never mind, where is it?",
        "Refund order 9012. Scratch that.",
        "refund order 5678 jk",
        "refund is the last thing I want, where is 5678",
        "the last thing I need is a refund for 1234, just tell me where it is",
    ],
)
@pytest.mark.parametrize("embedder", [_Words, _NearRefund])
def test_a_message_that_asks_for_no_refund_gets_none(text: str, embedder: type) -> None:
    # _NearRefund: every message nearest the refund example, as a 135M model's embeddings
    # put these.
    response, route = _Turns(embedder()).reply(_user(text))
    assert all(c.name != "refund_order" for c in response.tool_calls), text
    assert "refund_order" not in route.split("+")[0]


@pytest.mark.parametrize(
    ("text", "order"),
    [
        ("Ich will mein Geld nicht zurück, wo ist Bestellung 5678?", "5678"),
        ("refund nothing on order 5678, where is it", "5678"),
        ("Refund order 5678. Just kidding, where is it?", "5678"),
        ("5678 refund status", "5678"),
        ("where is my refund for order 1234?", "1234"),
        ("refund 1234 please. never mind, where is it?", "1234"),
    ],
)
def test_what_else_it_asks_is_answered(text: str, order: str) -> None:
    response, _ = _Turns(_Words()).reply(_user(text))
    assert [(c.name, c.arguments) for c in response.tool_calls] == [
        ("lookup_order", {"order_id": order})
    ]


@pytest.mark.parametrize(
    ("text", "arguments"),
    [
        # Still asked for: a condition that is politeness, a taking back before the request,
        # a refund not received.
        ("would you refund order 5678 if possible?", {"order_id": "5678"}),
        ("never mind the wait, refund order 1234", {"order_id": "1234"}),
        ("I never got my refund for order 9012, please refund it", {"order_id": "9012"}),
        ("Refund order 1234. Sorry!", {"order_id": "1234"}),
    ],
)
def test_a_refund_asked_for_is_still_proposed(text: str, arguments: dict[str, Any]) -> None:
    _proposes(text, arguments)


# ---------------------------------------------------------------------------
# hole_05: the digits of a card, an account, a phone or a postcode are no order id


@pytest.mark.parametrize(
    ("text", "digits"),
    [
        ("I paid with the card ending 1234, please refund me", "1234"),
        # fresh variants
        ("my card ending in 5678 was charged twice, refund please", "5678"),
        ("refund me, the last four digits of my card are 9012", "9012"),
        ("refund to account 12345678 please", "12345678"),
        ("my phone is 5551234, refund my order", "5551234"),
        ("zip 90210, I want a refund", "90210"),
        ("refund my order, card number: 4111", "4111"),
        ("please refund, last 4 digits 1234", "1234"),
    ],
)
@pytest.mark.parametrize("embedder", [_Words, _NearRefund])
def test_a_card_account_or_phone_number_is_no_order_id(
    text: str, digits: str, embedder: type
) -> None:
    response, _ = _Turns(embedder()).reply(_user(text))
    for call in response.tool_calls:  # a question searched in the policies is the message
        values = {str(v) for k, v in call.arguments.items() if k != "question"}
        assert digits not in values, (text, call)


def test_the_order_named_beside_a_card_is_still_refunded() -> None:
    _proposes("refund order 1234, paid with the card ending 9999", {"order_id": "1234"})


# ---------------------------------------------------------------------------
# hole_07: an unexpected exception's text is never the customer's answer

GENERIC = "Sorry, something went wrong on our side; please try again later."


@pytest.mark.parametrize(
    ("code", "message"),
    [
        (
            "tool_error",
            "RuntimeError: could not connect to postgresql://svc_orders:[REDACTED]@10.0.3.7:5432/o",
        ),
        ("tool_error", "RuntimeError: upstream http://orders.internal.corp:8080/v2 returned 500"),
        # fresh variants: a dropped connection, a timeout the tool raised, a bare type, and a
        # type name under a code of the tool's own
        ("transient", "ConnectionError: [Errno 111] Connection refused to 10.1.2.3:6379"),
        ("timeout", "TimeoutError: read from db-replica-2.internal timed out"),
        ("tool_error", "KeyError"),
        ("lookup_failed", "psycopg.OperationalError: FATAL: password authentication failed"),
        ("lookup_failed", "OperationalError: FATAL: role svc_orders does not exist"),
    ],
)
def test_an_unexpected_exception_gets_a_generic_answer(code: str, message: str) -> None:
    content = json.dumps({"error_code": code, "message": message, "hint": "ask the user to wait"})
    assert quote_result("lookup_order", content) == GENERIC
    # Through a routed turn: the answer to the tool result.
    call = ToolCall(id="call_1", name="lookup_order", arguments={"order_id": "2222"})
    response, route = _Turns(_Words()).reply(
        _user("where is my order 2222?"),
        Message(role="assistant", tool_calls=[call]),
        Message(role="tool", tool_call_id="call_1", name="lookup_order", content=content),
    )
    assert route == "quote" and response.text == GENERIC


def test_a_tool_authors_own_error_is_still_quoted() -> None:
    content = json.dumps(
        {
            "error_code": "order_not_found",
            "message": "no order '3141'",
            "hint": "ask the customer to check their order number",
        }
    )
    assert quote_result("lookup_order", content) == (
        "Sorry, I could not complete that: no order '3141'. Could you check your order number?"
    )
