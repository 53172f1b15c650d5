"""The support example's tools as the routing tests declare them (no model, no embedder)."""

from __future__ import annotations

from tether.models._routing import ExampleToolSpec

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
