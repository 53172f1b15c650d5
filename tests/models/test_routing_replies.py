"""Answer replies and off-topic routing of the local model (no model needed).

A new user's trial of the main job: "Ciao!" and "lol" were told goodbye, "wat is ur
phone number" was asked for an order number, "can i have my cash back" got the refund
policy without the question for the order. The embeddings of a 135M model cannot tell
these apart; the rules here do not ask them to.
"""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from tether.models._routed import RoutedTurns
from tether.models._routing import (
    DEFAULT_ANSWER_EXAMPLES,
    PRESUMING_REPLIES,
    ExampleRouter,
    ExampleToolSpec,
    on_topic,
    replies_said,
)
from tether.models._types import Message, ModelRequest

HELLO = DEFAULT_ANSWER_EXAMPLES["Hi"]
BYE = DEFAULT_ANSWER_EXAMPLES["Bye!"]
WELCOME = DEFAULT_ANSWER_EXAMPLES["Thanks, that's all"]
SORRY = DEFAULT_ANSWER_EXAMPLES["This is useless"]


class _Short:
    """A test embedder that puts every short message next to "Bye!", then "Hello there!",
    as a 135M model's embeddings put "Ciao!" and "lol"."""

    AXES = {"Bye!": (1.0, 0.0, 0.0), "Hello there!": (0.0, 1.0, 0.0)}

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        return [list(self.AXES.get(t, (0.9, 0.5, 0.1 * len(t)))) for t in texts]


def test_the_presuming_replies_are_goodbye_thanks_and_apology() -> None:
    assert {BYE, WELCOME, SORRY} == PRESUMING_REPLIES
    assert HELLO not in PRESUMING_REPLIES


@pytest.mark.parametrize(
    ("message", "said"),
    [
        ("bye bye", {BYE}),
        ("Goodbye", {BYE}),  # not "good" of "Good morning"
        ("see you later!", {BYE}),
        ("thanks a lot", {WELCOME}),  # "thanks" is a stopword for the tools, not here
        ("thank u", {WELCOME}),
        ("You've been very helpful, bye", {BYE}),
        ("You are useless", {SORRY}),
        ("Ciao!", set()),
        ("lol", set()),
        ("nice", set()),  # "Nice talking to you" says goodbye, "Nice!" does not
        ("\U0001f602", set()),
        ("I have 2 kids and they love your stuff", set()),
        ("You're great", set()),  # not "re" of "you're"
    ],
)
def test_a_reply_is_said_by_a_word_only_its_examples_have(message: str, said: set[str]) -> None:
    assert replies_said(message, DEFAULT_ANSWER_EXAMPLES) & PRESUMING_REPLIES == said


def test_a_goodbye_thanks_or_apology_needs_the_words_for_it() -> None:
    router = ExampleRouter(_Short(), k=1, disk=False)
    replies = {"Bye!": BYE, "Hello there!": HELLO, "Thanks, that's all": WELCOME}
    # Nearest "Bye!" by letters, but nothing in them says goodbye.
    assert router._route_one("lol", {None: list(replies)}).nearest == "Bye!"
    assert router.answer("lol", replies) == "Hello there!"
    assert router.answer("Ciao!", replies) == "Hello there!"
    # Words that say it.
    assert router.answer("ok bye", replies) == "Bye!"
    assert router.answer("thanks!", replies) == "Thanks, that's all"
    # Nothing but presuming replies: the nearest of them all.
    assert router.answer("lol", {"Bye!": BYE}) == "Bye!"
    assert router.answer("lol", {}) is None


class _NearThanks:
    """A test embedder that puts every message next to "Thanks, that's all", far from the
    other answer examples."""

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        return [
            [1.0, 0.0, 0.0]
            if t == "Thanks, that's all"
            else [0.2, 1.0, 0.0]
            if t in DEFAULT_ANSWER_EXAMPLES
            else [0.95, 0.3, 0.1]
            for t in texts
        ]


@pytest.mark.parametrize(
    "message",
    ["thanks, bye!", "Thank you so much, goodbye", "ok thanks, have a nice day", "thx, cya"],
)
def test_a_message_that_says_goodbye_gets_the_goodbye_even_when_it_thanks(message: str) -> None:
    """The customer said "thanks, bye!" and was told "You're welcome! Is there anything else
    I can help with?" as they left: nearest the thanks, it says goodbye too, and gets the
    goodbye."""
    router = ExampleRouter(_NearThanks(), k=1, disk=False)
    replies = dict(DEFAULT_ANSWER_EXAMPLES)
    assert router._route_one(message, {None: list(replies)}).nearest == "Thanks, that's all"
    assert replies[router.answer(message, replies) or ""] == BYE
    # Thanks alone still gets the thanks.
    assert replies[router.answer("thanks a lot", replies) or ""] == WELCOME


def test_a_word_that_only_marks_an_id_is_no_topic() -> None:
    texts = ["Where is my order?", "I'm still waiting for my parcel, order number below"]
    assert not on_topic("wat is ur phone number", texts)
    assert not on_topic("is there a code I can use", texts)
    assert on_topic("what's my order number", texts)
    assert on_topic("my number is 1234", texts)  # an id


class _Words:
    """A test embedder: one dimension per vocabulary word."""

    VOCAB = ("order", "where", "status", "email", "address", "policy", "hello", "item")

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        return [[float(w in t.lower()) + 1e-3 for w in self.VOCAB] for t in texts]


def test_a_message_goes_to_the_nearest_route_that_shares_a_word_with_it() -> None:
    router = ExampleRouter(_Words(), k=1, disk=False)
    routes: dict[str | None, Sequence[str]] = {
        "lookup_order": ["Where is my order?", "Order status, email me"],
        "policies": ["Can I change the delivery address?", "Is an item covered?"],
        None: ["Hello", "What is your email address?"],
    }
    # Nearest the lookup ("email"), which shares no word with it but with the answers.
    contact = router.route("email address where", routes)
    assert contact.route is None and contact.nearest == "What is your email address?"
    # Nearest the lookup, sharing a word only with the policies: the policies.
    item = router.route("where is the item hello", routes)
    assert item.route == "policies" and item.nearest == "Is an item covered?"
    # A word of the route it went to keeps it there.
    assert router.route("where is my order", routes).route == "lookup_order"


LOOKUP = ExampleToolSpec(
    name="lookup_order",
    description="Look up one order.",
    parameters={
        "type": "object",
        "properties": {"order_id": {"type": "string", "description": "The order number."}},
        "required": ["order_id"],
    },
    examples=["Where is my order?"],
)
POLICIES = ExampleToolSpec(
    name="policies",
    description="Read the store policy on a topic.",
    parameters={
        "type": "object",
        "properties": {"question": {"type": "string"}},
        "required": ["question"],
    },
    examples=["How do refunds work?"],
)
REFUND = ExampleToolSpec(
    name="refund_order",
    description="Refund an order.",
    parameters={
        "type": "object",
        "properties": {
            "order_id": {"type": "string", "description": "The order number."},
            "amount_cents": {"type": "integer"},
        },
        "required": ["order_id"],
    },
    examples=["Please refund my order"],
    writes=True,
)


def _request(text: str) -> ModelRequest:
    return ModelRequest(
        tools=[LOOKUP, POLICIES, REFUND], messages=[Message(role="user", content=text)]
    )


@pytest.mark.parametrize(
    ("scores", "text", "near"),
    [
        # Within the noise, nothing to refund yet: ask for the order after the policy.
        ({"policies": 0.945, "refund_order": 0.940, "lookup_order": 0.9}, "cash back?", 0),
        # Farther than the noise: a question about refunds, answered alone.
        ({"policies": 0.945, "refund_order": 0.92, "lookup_order": 0.9}, "cash back?", None),
        # The message names an order: proposing its refund would be a write nobody asked for.
        ({"policies": 0.945, "refund_order": 0.940, "lookup_order": 0.9}, "is 1234 back?", None),
    ],
)
def test_a_write_nearly_as_near_as_the_read_is_asked_about_only_with_nothing_to_act_on(
    scores: dict[str, float], text: str, near: int | None
) -> None:
    found = RoutedTurns._near_write(_request(text), POLICIES, text, scores)
    assert (found[1] if found else None) == near
    if found is not None:
        assert found[0] is REFUND
    # A write is never asked about on its own behalf, nor without scores.
    assert RoutedTurns._near_write(_request(text), REFUND, text, scores) is None
    assert RoutedTurns._near_write(_request(text), POLICIES, text, {}) is None
