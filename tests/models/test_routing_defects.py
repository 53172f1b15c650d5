"""Four defects a new user found in the main job, as routed turns without a model.

"refund half of order A-1029" proposed the order's full $74.50; "wrong size, can I swap
it?" got "can't help"; "thx!", "gotta go" and "cheers" got "How can I help you?"; and a
question about a policy got the policy, then "To refund an order, I need the order
number." A turn here runs :class:`RoutedTurns` on a test embedder (one dimension per
word), so the rules are tested, not a 135M model's embeddings.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from tether.models._routed import RoutedTurns
from tether.models._routing import (
    DEFAULT_ANSWER_EXAMPLES,
    PRESUMING_REPLIES,
    ExampleRouter,
    asks_about,
    on_topic,
    replies_said,
    unstated_amount,
)
from tether.models._types import Message, ModelRequest

from ._support_specs import ASK_AMOUNT, LOOKUP, POLICIES, REFUND
from ._support_specs import Turns as _Turns
from ._support_specs import Words as _Words
from ._support_specs import user as _user

WELCOME = DEFAULT_ANSWER_EXAMPLES["Thanks, that's all"]
BYE = DEFAULT_ANSWER_EXAMPLES["Bye!"]
HELP = DEFAULT_ANSWER_EXAMPLES["Okay"]


# ---------------------------------------------------------------------------
# 1. An amount in words or a part of an order is asked for, never the full total


@pytest.mark.parametrize(
    "text",
    [
        "refund half of order A-1029",
        "refund part of order 1234",
        "refund some of order 5678",
        "I'd like a partial refund on order 9012",
        "refund 20% of order A-1029",
        "refund a few dollars on order 1234",  # money in words, but no number
        "refund 30 of order 5678",  # a number no argument took, without its unit
        "refund 12.5 on order 1234",
    ],
)
def test_a_refund_of_an_unstated_amount_asks_for_the_amount(text: str) -> None:
    response, route = _Turns(_Words()).reply(_user(text))
    assert response.tool_calls == []
    assert response.text == ASK_AMOUNT
    assert route == "ask:refund_order"


@pytest.mark.parametrize(
    ("text", "arguments"),
    [
        ("refund order A-1029", {"order_id": "A-1029"}),  # the full total, as asked
        ("refund $20 of order 1234", {"order_id": "1234", "amount_cents": 2000}),
        ("refund 15.50 euros on order 5678", {"order_id": "5678", "amount_cents": 1550}),
        ("partial refund of $10 on order 1234", {"order_id": "1234", "amount_cents": 1000}),
        # An amount spelled out is stated too (it was asked for again before).
        ("refund ten dollars on order 1234", {"order_id": "1234", "amount_cents": 1000}),
        ("refund order 1234, I waited 3 weeks", {"order_id": "1234"}),
    ],
)
def test_a_stated_amount_or_none_proposes_the_refund(text: str, arguments: dict[str, Any]) -> None:
    response, route = _Turns(_Words()).reply(_user(text))
    assert route == "refund_order"
    assert [(c.name, c.arguments) for c in response.tool_calls] == [("refund_order", arguments)]


def test_the_amount_asked_for_is_taken_from_the_reply() -> None:
    turns = _Turns(_Words())
    asked = [_user("refund half of order A-1029"), Message(role="assistant", content=ASK_AMOUNT)]
    response, route = turns.reply(*asked, _user("$37.25"))
    assert route == "refund_order"
    call = response.tool_calls[0]
    assert (call.name, call.arguments) == (
        "refund_order",
        {"order_id": "A-1029", "amount_cents": 3725},
    )
    # "half" again states nothing, nor does a number without its currency: asked again,
    # never the full total.
    for again in ("refund half of it, order A-1029", "half", "37.25"):
        response, route = turns.reply(*asked, _user(again))
        assert response.tool_calls == [] and response.text == ASK_AMOUNT, again
        assert route == "ask:refund_order"


def test_a_part_named_before_the_order_number_is_asked_for_after_it() -> None:
    turns = _Turns(_Words())
    first = _user("refund half of my order")
    # Nothing to refund yet: the refund policy, then the question for the order number.
    read, route = turns.reply(first)
    assert route == "policies+ask:refund_order"
    [call] = read.tool_calls
    result = Message(role="tool", tool_call_id=call.id, name=call.name, content='["Refunds."]')
    answer, _ = turns.reply(first, Message(role="assistant", tool_calls=[call]), result)
    assert answer.text == "Refunds. To refund an order, I need the order number."
    response, route = turns.reply(
        first,
        Message(role="assistant", tool_calls=[call]),
        result,
        Message(role="assistant", content=answer.text),
        _user("it's 1234"),
    )
    assert route == "ask:refund_order"
    assert response.tool_calls == [] and response.text == ASK_AMOUNT


@pytest.mark.parametrize(
    ("text", "used", "unstated"),
    [
        ("refund half of order A-1029", ["A-1029"], True),
        ("a partial refund please", [], True),
        ("refund 20% of it", [], True),
        ("refund 50 percent of order 1234", ["1234"], True),
        ("twenty bucks back", [], False),  # stated, in words
        ("a couple of bucks back", [], True),
        ("a few dollars off order 1234", ["1234"], True),
        ("refund some of order 5678", ["5678"], True),
        ("refund 30 of order 5678", ["5678"], True),
        ("refund order 1234", ["1234"], False),
        ("refund $20 of order 1234", ["1234", 2000], False),
        ("refund 15 dollars on order 5678", ["5678", 1500], False),
        ("Please refund 2000 cents on order 1234", ["1234", 2000], False),
        ("refund order 1234, it took 3 weeks", ["1234"], False),
        ("i want my money back for order 5678", ["5678"], False),
    ],
)
def test_unstated_amounts(text: str, used: list[Any], unstated: bool) -> None:
    assert unstated_amount(text, used) is unstated


# ---------------------------------------------------------------------------
# 2. A swap or an exchange is a returns question


def _support() -> Any:
    path = Path(__file__).resolve().parents[2] / "examples" / "support.py"
    spec = importlib.util.spec_from_file_location("support_example_defects", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize(
    "text",
    ["wrong size, can I swap it?", "can I swap these boots for a bigger size?", "too small"],
)
def test_a_swap_is_on_the_policies_topic_and_gets_the_returns_article(text: str) -> None:
    support = _support()
    policies = support.agent.registry["policies"]
    assert on_topic(text, [*policies.examples, policies.description])
    assert support.ARTICLES["returns"] in support.search_kb.fn(text)


@pytest.mark.parametrize(
    ("question", "article"),
    [
        ("how many days do refunds take to process", "refunds"),
        ("how long until I get refunded?", "refunds"),
        ("how long does shipping take?", "shipping times"),
        ("how long does it take?", "shipping times"),
    ],
)
def test_how_long_goes_with_the_topic_the_question_names(question: str, article: str) -> None:
    support = _support()
    assert support.search_kb.fn(question) == [support.ARTICLES[article]]


# ---------------------------------------------------------------------------
# 3. Thanks and goodbyes in short words


@pytest.mark.parametrize(
    ("message", "reply"),
    [
        ("thx!", WELCOME),
        ("ty", WELCOME),
        ("cheers", WELCOME),
        ("tysm", WELCOME),
        ("Adios!", BYE),
        ("gotta go", BYE),
        ("ttyl", BYE),
        ("gtg", BYE),
    ],
)
def test_short_thanks_and_goodbyes_say_so(message: str, reply: str) -> None:
    assert replies_said(message, DEFAULT_ANSWER_EXAMPLES) & PRESUMING_REPLIES == {reply}


class _NearOkay:
    """Puts every message nearest "Okay", as "ok thanks" was, far from the other examples."""

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        vectors = []
        for text in texts:
            if text == "Okay":
                vectors.append([1.0, 0.0, 0.0])
            elif text in DEFAULT_ANSWER_EXAMPLES:
                vectors.append([0.5, 0.0, 0.8])
            else:  # the message
                vectors.append([0.9, 0.1, 0.0])
        return vectors


def test_a_message_that_thanks_gets_no_reply_for_a_message_that_says_little() -> None:
    router = ExampleRouter(_NearOkay(), k=1, disk=False)
    replies = {"Okay": HELP, "Thanks, that's all": WELCOME, "Bye!": BYE}
    assert router.answer("ok thanks", replies) == "Thanks, that's all"
    assert router.answer("ok, bye", replies) == "Bye!"
    assert router.answer("ok", replies) == "Okay"  # says nothing more


def test_a_thanks_routed_turn_says_you_are_welcome() -> None:
    response, route = _Turns(_NearOkay()).reply(_user("thx!"))
    assert route == "answer" and response.text == WELCOME


# ---------------------------------------------------------------------------
# 4. A question about a policy gets the policy alone


@pytest.mark.parametrize(
    "text",
    [
        "what's the return window?",
        "refund policy?",
        "how do refunds work?",
        "are refunds made to my credit card?",
        "do you refund the original shipping?",
        "can I return an item bought on sale?",
        "wrong size, can I swap it?",
        "Tell me about refunds",
        "refund timeline?",
    ],
)
def test_questions_about_how_it_works(text: str) -> None:
    assert asks_about(text)


@pytest.mark.parametrize(
    "text",
    [
        "can I get a refund",
        "i want my money back",
        "I want a refund, how long does it take?",
        "refund order 1234, how long will it take?",
        "can u refund my order",
        "could i have a refund",
        "cash back pls",
        "I'd like to get reimbursed",
        "refund me pls",
    ],
)
def test_requests_are_no_questions_about_how_it_works(text: str) -> None:
    assert not asks_about(text)


def test_a_policy_question_near_a_write_gets_no_question_for_the_write() -> None:
    scores = {"policies": 0.945, "refund_order": 0.940, "lookup_order": 0.9}
    request = ModelRequest(tools=[LOOKUP, POLICIES, REFUND], messages=[_user("x")])
    question = "what's the return window?"
    assert RoutedTurns._near_write(request, POLICIES, question, scores) is None
    # A request near the write still gets it.
    assert RoutedTurns._near_write(request, POLICIES, "cash back pls", scores) == (REFUND, 0)


class _NearRefund:
    """Puts every message nearest the refund example, then the policies, then the lookup:
    the embeddings could not tell a question about refunds from a request for one."""

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


@pytest.mark.parametrize(
    ("text", "route", "call_id"),
    [
        # A policy question that went to the write: the policy alone, no question after it.
        ("refund policy?", "policies", "call_1"),
        # A question about an order's refund proposes no refund of it.
        ("is order 1234 eligible for a refund?", "policies", "call_1"),
        # A request with nothing to act on still gets the question after the policy.
        ("refund me pls", "policies+ask:refund_order", "call_1_ask_2_0"),
    ],
)
def test_a_question_routed_to_a_write_is_answered_by_a_read(
    text: str, route: str, call_id: str
) -> None:
    response, taken = _Turns(_NearRefund()).reply(_user(text))
    assert taken == route
    [call] = response.tool_calls
    assert (call.name, call.id) == ("policies", call_id)
