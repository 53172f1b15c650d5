"""Red team 12, hole 05: a refused refund, or an excluded amount, proposed as a refund.

"Please don't refund order 5678", "I do not want my money back for order 5678" and "I
never asked for a refund on order 5678" proposed ``refund_order(order_id="5678")``, shown
to the approver as "refund $129.00, the full total"; "Refund order 5678, not 20 dollars,
the full amount" and "... except 2000 cents" proposed $20.00. A turn here runs
:class:`RoutedTurns` on a test embedder, so the rules are tested, not a 135M model's
embeddings: ``_NearRefund`` puts every message nearest the refund example, as the real
embeddings did for these.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest

from tether.models._routed import RoutedTurns
from tether.models._routing import (
    DEFAULT_ANSWER_EXAMPLES,
    asks_about,
    declined,
    excluded,
    find_spans,
    unstated_amount,
    without_exclusions,
)
from tether.models._types import Message, ModelRequest

from ._support_specs import ASK_AMOUNT, LOOKUP, POLICIES, REFUND
from ._support_specs import Turns as _Turns
from ._support_specs import Words as _Words
from ._support_specs import user as _user

UNDERSTOOD = "Understood, I won't refund an order."


class _NearRefund:
    """Every message nearest the refund example, then the policies, then the lookup."""

    AXES = {
        "Please refund my order": [1.0, 0.0, 0.0, 0.0],
        "What is your return policy?": [0.9, 0.3, 0.0, 0.0],
        "Where is my order?": [0.8, 0.0, 0.6, 0.0],
    }

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        return [
            self.AXES.get(
                t, [0.0, 0.0, 0.0, 1.0] if t in DEFAULT_ANSWER_EXAMPLES else [0.95, 0.1, 0.05, 0.0]
            )
            for t in texts
        ]


REFUSALS = [
    "Please don't refund order 5678",
    "I do not want my money back for order 5678",
    "I never asked for a refund on order 5678",
    "dont refund order 1234, i'm keeping it",
    "I don't need a refund for order 9012",
    "no refund for order A-1029 please, it's fine",
    "please cancel my refund request for order 5678",
    "I changed my mind, don't refund order 1234",
    "I changed my mind about the refund on order 9012",
    "no need to give me my money back for order 1234",
    "I didn't ask to be reimbursed for order 5678",
    "never mind the refund for order A-1029",
    "forget the refund on order 5678, I'll keep the item",
    "please do NOT reimburse order 9012",
    "I\u2019m not requesting any refund on order 1234",
]
REQUESTS = [
    ("don't wait, refund order 5678 now", "5678"),
    ("I can't believe I have to ask: refund order 1234", "1234"),
    ("don't forget to refund order 9012", "9012"),
    ("it never arrived, please refund order A-1029", "A-1029"),
    ("I don't want to wait any longer, refund order 5678", "5678"),
    ("not happy with order 1234, I want a refund", "1234"),
    ("no, I really do want a refund for order 5678", "5678"),
    ("I don't have the box anymore but refund order 1234 please", "1234"),
    ("Can I get a refund for order 5678? It never worked", "5678"),
]


# ---------------------------------------------------------------------------
# A refused write is acknowledged, never proposed


@pytest.mark.parametrize("text", REFUSALS)
def test_a_refused_refund_is_acknowledged_not_proposed(text: str) -> None:
    response, route = _Turns(_NearRefund()).reply(_user(text))
    assert response.tool_calls == []
    assert (response.text or "").startswith(UNDERSTOOD)
    assert route == "answer"


@pytest.mark.parametrize(("text", "order_id"), REQUESTS)
def test_a_negation_about_something_else_still_gets_the_refund(text: str, order_id: str) -> None:
    response, route = _Turns(_NearRefund()).reply(_user(text))
    assert route == "refund_order"
    assert [(c.name, c.arguments) for c in response.tool_calls] == [
        ("refund_order", {"order_id": order_id})
    ]


@pytest.mark.parametrize("text", REFUSALS)
def test_declined_finds_the_refusal(text: str) -> None:
    assert declined(text) is not None


@pytest.mark.parametrize("text", [t for t, _ in REQUESTS])
def test_declined_leaves_requests_alone(text: str) -> None:
    assert declined(text) is None


def test_declined_keeps_what_else_is_asked() -> None:
    assert declined("I'm not asking for a refund, where is order A-1029?") == (
        "where is order A-1029?"
    )
    assert declined("I changed my mind, don't refund order 1234") == ""
    assert declined("please don't cancel order 1234", ["cancel"]) == ""
    assert declined("please don't cancel order 1234") is None  # no write of that verb


def test_what_else_a_refusal_asks_is_answered_by_a_read() -> None:
    response, route = _Turns(_Words()).reply(
        _user("I'm not asking for a refund, where is order 1234?")
    )
    assert route == "lookup_order"
    [call] = response.tool_calls
    assert (call.name, call.arguments, call.id) == ("lookup_order", {"order_id": "1234"}, "call_1")


def test_what_is_left_of_a_refusal_may_ask_for_another_refund() -> None:
    response, route = _Turns(_NearRefund()).reply(
        _user("don't refund order 5678, refund order 1234")
    )
    assert route == "refund_order"
    [call] = response.tool_calls
    assert call.arguments == {"order_id": "1234"}


def test_a_refusal_answering_the_question_for_the_order_number_proposes_nothing() -> None:
    asked = Message(
        role="assistant", content="Refunds. To refund an order, I need the order number."
    )
    response, _ = _Turns(_NearRefund()).reply(
        _user("refund me pls"), asked, _user("no, don't refund 1234 after all")
    )
    assert response.tool_calls == []
    assert (response.text or "").startswith(UNDERSTOOD)
    # A plain answer to it still gets the refund.
    response, _ = _Turns(_NearRefund()).reply(_user("refund me pls"), asked, _user("1234"))
    assert [c.arguments for c in response.tool_calls] == [{"order_id": "1234"}]


def test_a_refusal_near_a_write_gets_no_question_for_the_write() -> None:
    scores = {"policies": 0.945, "refund_order": 0.940, "lookup_order": 0.9}
    request = ModelRequest(tools=[LOOKUP, POLICIES, REFUND], messages=[_user("x")])
    assert RoutedTurns._near_write(request, POLICIES, "I don't want my money back", scores) is None
    assert RoutedTurns._near_write(request, POLICIES, "I want my money back", scores) == (REFUND, 0)


def test_a_request_clause_after_a_question_is_a_request() -> None:
    assert not asks_about("why haven't you refunded order 9012 yet? please refund it")
    assert asks_about("why haven't you refunded order 9012 yet?")


# ---------------------------------------------------------------------------
# An amount the message excludes is never the amount


@pytest.mark.parametrize(
    ("text", "arguments"),
    [
        ("Refund order 5678, not 20 dollars, the full amount", {"order_id": "5678"}),
        ("refund the full amount of order 9012, not $5", {"order_id": "9012"}),
        ("refund order 1234 but not 10 dollars, the whole thing", {"order_id": "1234"}),
        ("refund $30 of order 5678, not $20", {"order_id": "5678", "amount_cents": 3000}),
        ("refund order 1234 for $15 instead of $25", {"order_id": "1234", "amount_cents": 1500}),
        (
            "refund order 1234 with 2000 cents rather than 3000 cents",
            {"order_id": "1234", "amount_cents": 2000},
        ),
    ],
)
def test_an_excluded_amount_is_not_proposed(text: str, arguments: dict[str, Any]) -> None:
    response, route = _Turns(_Words()).reply(_user(text))
    assert route == "refund_order"
    assert [(c.name, c.arguments) for c in response.tool_calls] == [("refund_order", arguments)]


@pytest.mark.parametrize(
    "text",
    [
        "Refund order 5678 except 2000 cents",
        "refund everything on order A-1029 except $15",
        "refund order 5678 excluding 20 dollars",
        "refund order 1234 minus $5",
        "refund order 9012, not $20",  # then how much?
        "refund order 9012 other than 10 euros",
    ],
)
def test_an_excluded_amount_without_another_is_asked_for(text: str) -> None:
    response, route = _Turns(_Words()).reply(_user(text))
    assert response.tool_calls == []
    assert response.text == ASK_AMOUNT
    assert route == "ask:refund_order"


def test_excluded_spans() -> None:
    found = {
        (s.text, s.value): excluded(s)
        for s in find_spans("order no. 9012, not $20 except 3 dollars instead of the 4 euros")
        if s.kind == "number"
    }
    assert found[("9012", 9012)] is None  # "no." names the order
    assert found[("$20", 2000)] == "replaced"
    assert found[("3", 300)] == "subtracted"
    assert found[("4", 400)] == "replaced"


@pytest.mark.parametrize(
    ("text", "unstated"),
    [
        ("Refund order 5678, not 20 dollars, the full amount", False),
        ("Refund order 5678 except 2000 cents", True),
        ("refund everything on order 5678 except $20", True),
        ("refund order 5678, not $20", True),
        ("refund $30 of order 5678, not $20", False),
    ],
)
def test_unstated_excluded_amounts(text: str, unstated: bool) -> None:
    assert unstated_amount(text, ["5678"]) is unstated


def test_routed_without_the_amounts_it_excludes() -> None:
    assert without_exclusions("refund $30 of order 5678, not $20") == "refund $30 of order 5678"
    assert without_exclusions("Refund order 5678 except 2000 cents") == "Refund order 5678"
    assert without_exclusions("is order 1234 not shipped") == "is order 1234 not shipped"
    assert without_exclusions("I have not 3 items") == "I have not 3 items"
