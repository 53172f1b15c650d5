"""The support example's tools, a word-per-dimension embedder and a routed turn without a
model: what the routing tests share."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

from tether.models._embed import Embedder
from tether.models._routed import RoutedTurns
from tether.models._routing import DEFAULT_ANSWER_EXAMPLES, ExampleRouter, ExampleToolSpec
from tether.models._types import Message, ModelRequest, ModelResponse

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
    examples=["What is your return policy?"],
)
# As ``examples/support.py`` declares it: an optional amount, the full total by default.
REFUND = ExampleToolSpec(
    name="refund_order",
    description="Refund an order, in full or in part.",
    parameters={
        "type": "object",
        "properties": {
            "order_id": {"type": "string", "description": "The order number."},
            "amount_cents": {
                "anyOf": [{"type": "integer"}, {"type": "null"}],
                "default": None,
                "description": "The exact amount to refund; in cents. Leave it out to refund "
                "the order's full total.",
            },
        },
        "required": ["order_id"],
    },
    examples=["Please refund my order"],
    writes=True,
)
ASK_AMOUNT = "I can help with that, but I need the exact amount to refund. Could you tell me?"


class Words:
    """A test embedder: one dimension per word of a small vocabulary."""

    VOCAB = ("where", "order", "refund", "policy", "return", "hello")

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        return [[float(w in t.lower()) + 1e-3 for w in self.VOCAB] for t in texts]


class Turns(RoutedTurns):
    """The routed turn on a test embedder, without llama.cpp (no model call may happen)."""

    def __init__(self, embedder: Embedder) -> None:
        self.routing = "examples"
        self.answer_replies = dict(DEFAULT_ANSWER_EXAMPLES)
        self.answer_examples = tuple(DEFAULT_ANSWER_EXAMPLES)
        self.route_k = 1
        self._embedder = embedder
        self._router = ExampleRouter(embedder, k=1, disk=False)

    @property
    def model_id(self) -> str:
        return "test"

    def _tokenize_text(self, text: str, *, special: bool) -> list[int]:
        return [0] * len(text.split())

    def _sample(self, *args: Any, **kwargs: Any) -> tuple[str, bool]:
        raise AssertionError("a routed turn of these tests needs no model call")

    def reply(self, *messages: Message) -> tuple[ModelResponse, str]:
        request = ModelRequest(tools=[LOOKUP, POLICIES, REFUND], messages=list(messages))
        return self._routed_reply(request, None, threading.Event())


def user(text: str) -> Message:
    return Message(role="user", content=text)
