"""The routing helpers behind red team 14b's holes 09-12 (no model): a message taken apart
at its requests, ids listed together, refunds asked for in other languages or slang, units
and cents read as one amount, and the answer after several results quoting each."""

from __future__ import annotations

import json

import pytest

from tether.models._routing import (
    find_spans,
    foreign_write_request,
    joined_cents,
    listed_ids,
    names_an_id,
    ordered_write,
    requests_of,
)
from tether.models._types import Message, ToolCall

from ._support_specs import Turns, Words, user


@pytest.mark.parametrize(
    ("text", "parts"),
    [
        (
            "where is order 1234 and what's your return policy?",
            ["where is order 1234", "what's your return policy?"],
        ),
        (
            "what's the status of order 1234? Also refund $10 on 5678.",
            ["what's the status of order 1234?", "refund $10 on 5678."],
        ),
        # One request: "and" before an id, a comma, or no clause after "and".
        ("Where are orders 1234 and 9012?", ["Where are orders 1234 and 9012?"]),
        ("It's been 10 days, where's order 9012?", ["It's been 10 days, where's order 9012?"]),
        ("refund order 1234 and 5678 for $10", ["refund order 1234 and 5678 for $10"]),
        (
            "I want to swap it for a bigger size and colour",
            ["I want to swap it for a bigger size and colour"],
        ),
    ],
)
def test_a_message_is_taken_apart_at_its_requests(text: str, parts: list[str]) -> None:
    assert requests_of(text) == parts


@pytest.mark.parametrize(
    ("text", "ids"),
    [
        ("Where are orders 1234 and 9012?", ["1234", "9012"]),
        ("orders 1234, 5678 & 9012", ["1234", "5678", "9012"]),
        ("refund 1234 5678 both please", ["1234", "5678"]),
        ("order #1234 or #5678", ["1234", "5678"]),
        # No list: the words between are no joiner, or a space without "both"
        ("I paid for order 5678 in 2024", []),
        ("order 1234 5678", []),
        ("where is order 1234", []),
    ],
)
def test_ids_listed_together(text: str, ids: list[str]) -> None:
    values = [s.value for s in find_spans(text) if s.kind == "id"]
    assert listed_ids(text, values) == ids


@pytest.mark.parametrize(
    "text",
    [
        "Hola, quiero un reembolso del pedido 5678",
        "Je veux un remboursement pour la commande 1234",
        "Ich möchte eine Rückerstattung für Bestellung 9012",
        "Vorrei un rimborso per l'ordine 5678",
        "Quero um reembolso do pedido 9012",
        "remboursez-moi la commande 1234",
    ],
)
def test_a_refund_asked_for_in_another_language(text: str) -> None:
    assert foreign_write_request(text)


@pytest.mark.parametrize(
    "text",
    [
        "¿Cuál es su política de reembolso?",
        "quiero saber cuánto tarda el reembolso",
        "Gracias, ya recibí el reembolso del pedido 1234",
        "Wie lange dauert eine Erstattung?",
        "Merci, j'ai bien reçu le remboursement",
        "Il mio rimborso è arrivato, grazie",
        # a condition or a hedge: not proposed as if unconditional and now
        "quiero un reembolso si no llega el viernes",
        "Je veux un remboursement si la commande n'arrive pas",
        "Ich möchte vielleicht später eine Erstattung",
    ],
)
def test_other_messages_about_refunds_ask_for_none(text: str) -> None:
    assert not foreign_write_request(text)


@pytest.mark.parametrize(
    ("text", "ordered"),
    [
        ("ayo bro refund 5678 fr fr", True),
        ("yo refund order 1234 asap", True),
        ("pls refund #9012", True),
        ("the refund 5678 went through", False),
        ("refund policy?", False),
        ("my refund 5678 status", False),
        ("what about a refund for 5678", False),
        ("refund 1234 is taking forever", False),
        ("refund 5678 was denied?", False),
        ("refund 1234 when?", False),
    ],
)
def test_a_refund_ordered_in_so_many_words(text: str, ordered: bool) -> None:
    assert ordered_write(text) is ordered


@pytest.mark.parametrize(
    ("text", "joined"),
    [
        ("refund twenty dollars and fifty cents", "refund 20.50 dollars"),
        ("refund $20 and 50 cents", "refund $20.50"),
        ("refund nine dollars and ninety-nine cents", "refund 9.99 dollars"),
        ("refund 5 euros 20 cents", "refund 5.20 euros"),
        # the tail of a longer number is left as it is (and its cents are no amount)
        (
            "refund one hundred twenty dollars and fifty cents",
            "refund one hundred twenty dollars and fifty cents",
        ),
    ],
)
def test_units_and_cents_are_one_amount(text: str, joined: str) -> None:
    assert joined_cents(text) == joined


def test_the_cents_of_an_unread_amount_are_no_amount() -> None:
    spans = find_spans("refund one hundred twenty dollars and 50 cents on order 5678")
    assert [s.value for s in spans if s.kind == "number"] == [5678]


@pytest.mark.parametrize(
    ("text", "named"), [("where's 77 at", True), ("where is 77", True), ("I waited 10 days", False)]
)
def test_two_digits_after_where_is_name_an_order(text: str, named: bool) -> None:
    assert names_an_id(text) is named


def test_the_answer_after_several_results_quotes_each_once() -> None:
    calls = [
        ToolCall(id="call_1", name="lookup_order", arguments={"order_id": "1234"}),
        ToolCall(id="call_2", name="policies", arguments={"question": "returns?"}),
    ]
    response, route = Turns(Words()).reply(
        user("where is order 1234 and what's your return policy?"),
        Message(role="assistant", tool_calls=calls),
        Message(
            role="tool",
            tool_call_id="call_1",
            name="lookup_order",
            content=json.dumps({"order_id": "1234", "status": "shipped"}),
        ),
        Message(
            role="tool",
            tool_call_id="call_2",
            name="policies",
            content=json.dumps(
                ["Returns are free within 30 days.", "Order id 1234, status shipped."]
            ),
        ),
    )
    assert route == "quote"
    assert response.text == "Order id 1234, status shipped. Returns are free within 30 days."


@pytest.mark.parametrize(
    "text",
    [
        "refund 1234 is taking forever",
        "my refund for order 1234 is stuck",
        "the refund on 9012 is late",
    ],
)
def test_a_refund_under_way_is_not_asked_for(text: str) -> None:
    from tether.models._routing import declined

    rest = declined(text, ("refund",))
    assert rest is not None and "refund" not in rest
