"""A customer-support agent driven by a scripted model: the stand-in until the local model lands.

This example is the **scripted stand-in** for the support agent: its "model" is a
:class:`~tether.testing.ScriptedModel` whose replies come from a small Python function
that reads the conversation, not from an LLM. It exists so the whole path — streaming,
tool calls, the event log, ``tether show`` — can be tried offline in a second and
tested deterministically. It will be replaced by (or joined with) the example that runs
the embedded local model once that lands; the agent, tools and commands stay the same.

Try it::

    tether run examples/support_scripted.py:agent "Where is order 1234?"
    tether run examples/support_scripted.py:agent "Please refund order 5678"
    tether run examples/support_scripted.py:agent "Where is order 9999?"
    tether run examples/support_scripted.py:agent "How do returns work?"
    tether runs
    tether show RUN_ID

The script: an order id in the first user message leads to ``lookup_order``; a refund
request then continues with ``refund_order`` (a ``write`` tool, idempotent, so a crash
mid-refund is retried with the same idempotency key instead of escalating); anything
else goes to ``search_kb``. The final answer is written from the tool results.
"""

from __future__ import annotations

import json
import re
from typing import Any

from tether import Agent, ToolCallError, ToolContext, tool
from tether.models import Message, ModelRequest
from tether.testing import ScriptedModel, text, tool_call

ORDERS: dict[str, dict[str, Any]] = {
    "1234": {"status": "shipped", "eta": "2025-06-03", "carrier": "DHL", "total_cents": 4999},
    "5678": {"status": "delivered", "eta": None, "carrier": "UPS", "total_cents": 12900},
    "9012": {"status": "processing", "eta": "2025-06-10", "carrier": None, "total_cents": 2500},
}
"""The in-file order table ``lookup_order`` reads."""

KB: list[dict[str, str]] = [
    {
        "id": "kb-returns",
        "title": "Returns",
        "body": "Items can be returned within 30 days of delivery. Start a return from the "
        "order page; the refund is issued when the parcel reaches us.",
    },
    {
        "id": "kb-shipping",
        "title": "Shipping times",
        "body": "Orders ship within 2 business days; delivery takes 2-5 days in the EU.",
    },
    {
        "id": "kb-payment",
        "title": "Payment methods",
        "body": "We accept cards, PayPal and bank transfer. Refunds go back to the original "
        "payment method within 5 business days.",
    },
]
"""The in-file knowledge base ``search_kb`` searches."""

REFUNDS: dict[str, dict[str, Any]] = {}
"""Refunds issued, by idempotency key: a retried call returns the first refund."""


@tool
async def lookup_order(order_id: str) -> dict[str, Any]:
    """Look up an order's status and expected delivery date.

    Args:
        order_id: The order number, digits only (e.g. "1234").
    """
    order = ORDERS.get(order_id.strip().lstrip("#"))
    if order is None:
        raise ToolCallError(
            f"no order {order_id!r}",
            error_code="order_not_found",
            hint="ask the customer to check the order number on their confirmation email",
        )
    return {"order_id": order_id, **order}


@tool
async def search_kb(query: str) -> list[dict[str, str]]:
    """Search the help-center articles by keywords.

    Args:
        query: Words to look for, e.g. "return policy".
    """
    words = {w for w in re.findall(r"[a-z]+", query.lower()) if len(w) > 3}
    scored = []
    for article in KB:
        haystack = f"{article['title']} {article['body']}".lower()
        score = sum(word.rstrip("s") in haystack for word in words)
        if score:
            scored.append((score, article))
    scored.sort(key=lambda pair: -pair[0])
    return [article for _, article in scored[:2]]


@tool(effect="write", idempotent=True, requires_approval=lambda args: args["amount_cents"] > 5000)
async def refund_order(order_id: str, amount_cents: int, ctx: ToolContext) -> dict[str, Any]:
    """Refund an amount on an order to the original payment method.

    Refunds over $50 wait for a person's approval (``tether approve``).

    Args:
        order_id: The order number.
        amount_cents: Amount to refund, in cents; at most the order total.
    """
    order = ORDERS.get(order_id)
    if order is None:
        raise ToolCallError(f"no order {order_id!r}", error_code="order_not_found")
    if not 0 < amount_cents <= order["total_cents"]:
        raise ToolCallError(
            f"amount {amount_cents} is outside 1..{order['total_cents']} cents",
            error_code="invalid_amount",
            hint="refund at most the order total",
        )
    # The idempotency key is stable across retries and crash recovery: the same logical
    # call never refunds twice.
    refund = {"refund_id": f"rf_{len(REFUNDS) + 1:04d}", "order_id": order_id}
    return REFUNDS.setdefault(ctx.idempotency_key, {**refund, "amount_cents": amount_cents})


# -- the scripted "model" ----------------------------------------------------------------------

_ORDER_ID = re.compile(r"#?\b(\d{3,})\b")


def _tool_results(messages: list[Message]) -> dict[str, Any]:
    """Latest result (or structured error) of each tool, parsed from the conversation."""
    results: dict[str, Any] = {}
    for message in messages:
        if message.role == "tool" and message.name and message.content is not None:
            try:
                results[message.name] = json.loads(message.content)
            except ValueError:
                results[message.name] = message.content
    return results


def _failed(result: Any) -> bool:
    return isinstance(result, dict) and "error_code" in result


def _money(cents: int) -> str:
    return f"${cents / 100:,.2f}"


def support_script(request: ModelRequest) -> Any:
    """Decide the next reply from the conversation, like a (very literal) support model."""
    question = next((m.content or "" for m in request.messages if m.role == "user"), "")
    wants_refund = "refund" in question.lower()
    match = _ORDER_ID.search(question)
    results = _tool_results(request.messages)

    if match is None:
        if "search_kb" not in results:
            return tool_call("search_kb", query=question)
        articles = results["search_kb"]
        if not articles:
            return text(
                "I couldn't find a help article about that. Could you tell me your order "
                "number so I can look into it?"
            )
        best = articles[0]
        return text(f'{best["body"]} (from our help article "{best["title"]}")')

    order_id = match.group(1)
    if "lookup_order" not in results:
        return tool_call("lookup_order", order_id=order_id)
    order = results["lookup_order"]
    if _failed(order):
        return text(
            f"I couldn't find order {order_id}. Could you check the order number on your "
            "confirmation email?"
        )
    if wants_refund:
        if "refund_order" not in results:
            if order["status"] == "processing":
                return text(
                    f"Order {order_id} hasn't shipped yet, so there is nothing to refund; "
                    "you can cancel it from the order page instead."
                )
            return tool_call("refund_order", order_id=order_id, amount_cents=order["total_cents"])
        refund = results["refund_order"]
        if _failed(refund):
            return text(f"I couldn't refund order {order_id}: {refund['message']}.")
        return text(
            f"Done: I refunded {_money(refund['amount_cents'])} for order {order_id} "
            f"(refund {refund['refund_id']}). It reaches your original payment method "
            "within 5 business days."
        )
    if order["status"] == "delivered":
        return text(f"Order {order_id} was delivered by {order['carrier']}.")
    if order["status"] == "processing":
        return text(
            f"Order {order_id} is being prepared; it should ship soon and arrive around "
            f"{order['eta']}."
        )
    return text(
        f"Order {order_id} has {order['status']} with {order['carrier']} and should arrive "
        f"on {order['eta']}."
    )


agent = Agent(
    name="support",
    instructions=(
        "You are a customer-support agent for an online shop. Look orders up before "
        "answering questions about them, search the help center for policy questions, and "
        "refund only delivered or shipped orders, at most their total. Answer briefly."
    ),
    model=ScriptedModel(support_script),
    tools=[lookup_order, search_kb, refund_order],
)
"""The support agent: ``tether run examples/support_scripted.py:agent "Where is order 1234?"``."""
