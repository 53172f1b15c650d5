"""Five rough edges of the main job, as routed turns without a model.

An amount spelled out ("give me five euros back on order 5678") was asked for again, as
if the customer had named no amount; an unknown order's answer dropped the tool's hint
(what to do next); "have a good one" was no goodbye; a refund refused in another
language ("no quiero un reembolso, ...") was no refusal; and "has 4455 been dispatched or
what" read the shipping policy, its embedding 0.0017 nearer than the order lookup's. A
turn here runs :class:`RoutedTurns` on a test embedder, so the rules are tested, not a 135M
model's embeddings. The messages are new: none is an eval row.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import pytest

from tether.models._routing import (
    DEFAULT_ANSWER_EXAMPLES,
    PRESUMING_REPLIES,
    declined,
    find_spans,
    on_topic,
    quote_result,
    replies_said,
    spelled_amounts,
    unstated_amount,
)
from tether.models._types import Message

from ._support_specs import ASK_AMOUNT
from ._support_specs import Turns as _Turns
from ._support_specs import Words as _Words
from ._support_specs import user as _user
from .test_routing_negation import UNDERSTOOD, _NearRefund

BYE = DEFAULT_ANSWER_EXAMPLES["Bye!"]


# ---------------------------------------------------------------------------
# 1. An amount spelled out is stated: grounded in cents, the refund proposed


@pytest.mark.parametrize(
    ("text", "arguments"),
    [
        ("please refund eight dollars on order 1234", {"order_id": "1234", "amount_cents": 800}),
        ("refund thirty-five bucks of order 5678", {"order_id": "5678", "amount_cents": 3500}),
        ("refund nine pounds on order A-1029", {"order_id": "A-1029", "amount_cents": 900}),
        ("refund eleven quid for order 1234", {"order_id": "1234", "amount_cents": 1100}),
        ("refund order 9012, sixty euros", {"order_id": "9012", "amount_cents": 6000}),
        # Excluded in words as in figures: the full total the message asks for.
        ("refund order 1234 in full, not seven dollars", {"order_id": "1234"}),
    ],
)
def test_an_amount_in_words_proposes_the_refund_of_that_amount(
    text: str, arguments: dict[str, Any]
) -> None:
    response, route = _Turns(_Words()).reply(_user(text))
    assert route == "refund_order"
    assert [(c.name, c.arguments) for c in response.tool_calls] == [("refund_order", arguments)]


@pytest.mark.parametrize(
    "text",
    [
        "refund a few euros on order 1234",  # no number
        "refund a couple of bucks from order 5678",
        "refund order 9012, except nine dollars",  # what is left is not stated
        # A currency without cents: 500 yen is not 50,000 cents (a $500.00 refund was
        # proposed on a $129.00 order), so the amount is asked for.
        "give me 500 yen back on order 5678",
        "refund five yen on order 5678",
        # A minus sign: not a refund of that many cents ($5.00 was proposed; red team 13).
        "refund -5 dollars on order 5678",
        "please refund \u2212$5 for order 1234",
        # A range: the full total or its top was proposed.
        "refund 5-10 dollars of order 1234",
        "refund between 5 and 10 dollars on order 1234",
        "could you refund from $5 to $10 on order 5678",
    ],
)
def test_an_amount_in_words_that_states_no_number_is_still_asked_for(text: str) -> None:
    response, route = _Turns(_Words()).reply(_user(text))
    assert response.tool_calls == [] and response.text == ASK_AMOUNT
    assert route == "ask:refund_order"


def test_spelled_amounts() -> None:
    assert spelled_amounts("I'd like seven euros back") == [("seven euros", 700)]
    assert spelled_amounts("refund forty two dollars") == [("forty two dollars", 4200)]
    assert spelled_amounts("refund Ninety-Nine bucks") == [("Ninety-Nine bucks", 9900)]
    assert spelled_amounts("three weeks and two items") == []  # no money
    assert spelled_amounts("zero dollars") == []
    assert unstated_amount("refund six dollars of order 1234", ["1234", 600]) is False
    assert unstated_amount("refund some dollars of order 1234", ["1234"]) is True
    [amount] = [s for s in find_spans("twelve euros back for 5678") if s.value == 1200]
    assert amount.kind == "number" and amount.after == ("cents",)


# ---------------------------------------------------------------------------
# 2. A tool error's hint for the person is passed on


def _error(hint: str | None) -> str:
    return json.dumps({"error_code": "order_not_found", "message": "no order '3141'", "hint": hint})


def test_a_hint_to_ask_the_customer_ends_the_answer() -> None:
    answer = quote_result("lookup_order", _error("ask the customer to check their order number"))
    assert answer == (
        "Sorry, I could not complete that: no order '3141'. Could you check your order number?"
    )
    told = quote_result("lookup_order", _error("Tell the user the store is closed today."))
    assert told.endswith("no order '3141'. The store is closed today.")


@pytest.mark.parametrize(
    "hint",
    [
        None,
        "decide whether to call the tool again",
        "Do not retry this call; tell the user what was declined and why.",
        "call open_catalog first",
    ],
)
def test_a_hint_for_the_model_is_not_said_to_the_customer(hint: str | None) -> None:
    assert quote_result("lookup_order", _error(hint)) == (
        "Sorry, I could not complete that: no order '3141'."
    )


def test_a_routed_turn_after_an_unknown_order_passes_the_hint_on() -> None:
    turns = _Turns(_Words())
    first = _user("where is order 3141?")
    call, route = turns.reply(first)
    assert route == "lookup_order"
    [tool_call] = call.tool_calls
    result = Message(
        role="tool",
        tool_call_id=tool_call.id,
        name="lookup_order",
        content=_error("ask the customer to check the order number"),
    )
    answer, route = turns.reply(first, Message(role="assistant", tool_calls=[tool_call]), result)
    assert route == "quote"
    assert answer.text is not None and answer.text.endswith("Could you check the order number?")


# ---------------------------------------------------------------------------
# 3. A wish for the time after the talk says goodbye


@pytest.mark.parametrize(
    "message",
    [
        "have a lovely one",
        "alright, have a great weekend",
        "enjoy the rest of your day",
        "you too, take care",
        "have a really nice evening!",
    ],
)
def test_a_parting_wish_says_goodbye(message: str) -> None:
    assert BYE in replies_said(message, DEFAULT_ANSWER_EXAMPLES) & PRESUMING_REPLIES


@pytest.mark.parametrize(
    "message", ["good evening", "I have a question", "have a look at order 1234", "one more thing"]
)
def test_a_greeting_or_a_request_is_no_parting_wish(message: str) -> None:
    assert BYE not in replies_said(message, DEFAULT_ANSWER_EXAMPLES)


# ---------------------------------------------------------------------------
# 4. A refund refused in another language is never proposed


@pytest.mark.parametrize(
    "text",
    [
        "no quiero reembolso para el pedido 1234",
        "por favor no me devuelvan el dinero de la orden 9012",
        "ich will keine Rückerstattung für Bestellung 5678",
        "pas de remboursement pour la commande A-1029 merci",
        "non mi serve il rimborso dell'ordine 1234",
        "não quero o reembolso do pedido 9012",
    ],
)
def test_a_refund_refused_in_another_language_is_acknowledged(text: str) -> None:
    response, route = _Turns(_NearRefund()).reply(_user(text))
    assert response.tool_calls == []
    assert (response.text or "").startswith(UNDERSTOOD)
    assert route == "answer"


@pytest.mark.parametrize(
    ("text", "order_id"),
    [
        ("no quiero un reembolso, ¿cuándo llega mi pedido 5678?", "5678"),
        ("kein Geld zurück, nur wo ist Paket 1234", "1234"),
        ("je ne veux pas être remboursé, juste le suivi de A-1029", "A-1029"),
        ("not looking for a refund, just the status of 9012", "9012"),
    ],
)
def test_what_else_a_foreign_refusal_names_is_looked_up(text: str, order_id: str) -> None:
    # Still nearest the refund, as the real embeddings put such messages: the order id goes
    # to the read that takes an id, never to the write.
    response, route = _Turns(_NearRefund()).reply(_user(text))
    assert route == "lookup_order"
    assert [(c.name, c.arguments) for c in response.tool_calls] == [
        ("lookup_order", {"order_id": order_id})
    ]


@pytest.mark.parametrize(
    "text",
    [
        "quiero un reembolso del pedido 1234",  # asks for one
        "no sé cómo devolver un producto",  # "devolver" alone returns an item
        "no, I really do want my money back for order 5678",
    ],
)
def test_a_foreign_request_or_a_return_is_no_refusal(text: str) -> None:
    assert declined(text) is None


# ---------------------------------------------------------------------------
# 5. An id typed decides between two reads the embeddings cannot tell apart


class _NearPolicy:
    """Messages nearest the policy example, the lookup's example just behind (``NEAR``) or
    far behind (``FAR``), as "has 4455 been dispatched or what" was (by 0.0017)."""

    NEAR = ("has 3141 gone out or what", "did 2718 leave the warehouse yet", "Wo ist 1618?")
    FAR = ("can I send 3141 back?",)
    AXES = {
        "What is your return policy?": [1.0, 0.0, 0.0, 0.0],
        "Where is my order?": [0.0, 1.0, 0.0, 0.0],
        "Please refund my order": [0.0, 0.0, 1.0, 0.0],
    }

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        vectors = []
        for text in texts:
            if text in self.AXES:
                vectors.append(self.AXES[text])
            elif text in self.NEAR:
                vectors.append([1.0, 0.996, 0.2, 0.0])
            elif text in self.FAR:
                vectors.append([1.0, 0.9, 0.2, 0.0])
            else:  # the answer examples
                vectors.append([0.0, 0.0, 0.0, 1.0])
        return vectors


@pytest.mark.parametrize("text", _NearPolicy.NEAR)
def test_an_id_goes_to_the_read_that_takes_one_when_the_reads_are_within_noise(text: str) -> None:
    response, route = _Turns(_NearPolicy()).reply(_user(text))
    assert route == "lookup_order"
    [call] = response.tool_calls
    assert call.name == "lookup_order" and call.arguments["order_id"] in text


@pytest.mark.parametrize("text", _NearPolicy.FAR)
def test_an_id_leaves_a_clearly_nearer_policy_alone(text: str) -> None:
    response, route = _Turns(_NearPolicy()).reply(_user(text))
    assert route == "policies"
    assert [c.name for c in response.tool_calls] == ["policies"]


def test_a_parting_wish_is_about_no_tool() -> None:
    trade = ["It doesn't fit, can I trade it for another one?"]
    assert not on_topic("right, that's it, have a good one", trade)
    assert on_topic("have a good one and trade this one for me", trade)  # asks for more


class _NearPolicies:
    """Every message nearest the policy example, the lookup far behind."""

    AXES = {
        "What is your return policy?": [1.0, 0.0, 0.0, 0.0],
        "Where is my order?": [0.0, 1.0, 0.0, 0.0],
        "Please refund my order": [0.0, 0.0, 1.0, 0.0],
    }

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        return [
            self.AXES.get(
                t, [0.0, 0.0, 0.0, 1.0] if t in DEFAULT_ANSWER_EXAMPLES else [1.0, 0.3, 0.1, 0.0]
            )
            for t in texts
        ]


def test_what_a_refusal_leaves_that_names_an_id_is_looked_up_not_read_as_a_policy() -> None:
    # "nur der Status von Bestellung 5678" went to the policies: "no article on ...".
    response, route = _Turns(_NearPolicies()).reply(
        _user("keine Erstattung bitte, nur den Stand von Auftrag 2718")
    )
    assert route == "lookup_order"
    assert [(c.name, c.arguments) for c in response.tool_calls] == [
        ("lookup_order", {"order_id": "2718"})
    ]
    # Without a refusal, a policy question naming an order still reads the policy.
    response, route = _Turns(_NearPolicies()).reply(_user("can I send 2718 back?"))
    assert route == "policies"
