"""Red team 14b's open families in the main job, on the real local model: several requests
in one message (hole 10), refunds asked for in other languages or slang (hole 12), exact
amounts in ordinary forms (hole 11) and a two-digit order id after "where's" (hole 09).

Each message goes through :class:`LocalModel` (SmolLM2-135M, its embeddings routing) with the
support demo's own tools; the demo's read tools are run on the calls and the model quotes
their results, as the runtime does. A write is never run: what is proposed is asserted (in
a run it waits for a person's approval). Each family has the red team's messages and fresh
variants written before they were run; and messages that must NOT become a refund.
"""

from __future__ import annotations

import importlib.util
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tether.models._local import LocalModel
from tether.models._types import Message, ModelRequest

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "support.py"
ASK_ORDER = "I can help with that, but I need the order number. Could you tell me?"
ASK_AMOUNT = "I need the exact amount"


def _support_module() -> Any:
    spec = importlib.util.spec_from_file_location("support_example_rt14b_several", EXAMPLE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


SUPPORT = _support_module()


@pytest.fixture(scope="module")
def model() -> Iterator[LocalModel]:
    """One loaded LocalModel shared by the module (loading once keeps the suite fast)."""
    local = LocalModel()
    try:
        yield local
    finally:
        local.close()


async def _turn(model: LocalModel, text: str) -> tuple[list[tuple[str, Any]], str | None]:
    """The calls the model makes for ``text``, and its answer once the reads have run
    (``None`` when a write is proposed: in a run it waits for approval)."""
    request = ModelRequest(
        instructions=SUPPORT.agent.instructions,
        tools=SUPPORT.agent.tool_specs,
        messages=[Message(role="user", content=text)],
    )
    reply = await model.complete(request)
    calls = [(c.name, c.arguments) for c in reply.tool_calls]
    if not reply.tool_calls:
        return calls, reply.text
    if any(c.name == "refund_order" for c in reply.tool_calls):
        return calls, None
    results = [
        Message(
            role="tool",
            tool_call_id=call.id,
            name=call.name,
            content=json.dumps(getattr(SUPPORT, _FUNCTIONS[call.name]).fn(**call.arguments)),
        )
        for call in reply.tool_calls
    ]
    messages = [*request.messages, Message(role="assistant", tool_calls=reply.tool_calls)]
    answer = await model.complete(request.model_copy(update={"messages": messages + results}))
    # A write asked for with reads comes with the reads' answer (session 13): its calls count.
    return calls + [(c.name, c.arguments) for c in answer.tool_calls], answer.text


_FUNCTIONS = {"lookup_order": "lookup_order", "policies": "search_kb"}


def _lookup(order_id: str) -> tuple[str, Any]:
    return ("lookup_order", {"order_id": order_id})


def _refund(order_id: str, cents: int | None = None) -> tuple[str, Any]:
    arguments: dict[str, Any] = {"order_id": order_id}
    if cents is not None:
        arguments["amount_cents"] = cents
    return ("refund_order", arguments)


def _no_refund(calls: list[tuple[str, Any]], text: str) -> None:
    assert all(name != "refund_order" for name, _ in calls), (text, calls)


# ---------------------------------------------------------------------------
# hole_10: several requests in one message: every read answered, each quoting its result;
# a write part proposed (it waits for approval), never one nobody asked for

SEVERAL_READS = [
    # (message, lookups expected, texts the answer must say)
    ("where is order 1234 and what's your return policy?", ["1234"], ["shipped", "30 days"]),
    ("Where are orders 1234 and 9012?", ["1234", "9012"], ["1234", "9012"]),
    ("order 1234: status? order 5678: status?", ["1234", "5678"], ["shipped", "delivered"]),
    ("Do you ship internationally and how long does it take?", [], ["We ship to", "3-5"]),
    # fresh variants
    ("is order 9012 shipped yet? and what's your warranty?", ["9012"], ["processing", "2-year"]),
    ("Status of orders 5678 & A-1029 please", ["5678", "A-1029"], ["delivered", "A-1029"]),
    ("where's order 77? also, how long do refunds take?", ["77"], ["cancelled", "5 business"]),
    ("What's your return policy and do you ship to Canada?", [], ["30 days", "Canada"]),
    ("where are my orders 1234, 5678 and 9012?", ["1234", "5678", "9012"], ["9012"]),
]


@pytest.mark.slow
@pytest.mark.parametrize(("text", "orders", "says"), SEVERAL_READS)
async def test_every_read_of_several_requests_is_answered(
    model: LocalModel, text: str, orders: list[str], says: list[str]
) -> None:
    calls, answer = await _turn(model, text)
    _no_refund(calls, text)
    looked_up = sorted(arguments["order_id"] for name, arguments in calls if name == "lookup_order")
    assert looked_up == sorted(orders), (text, calls)
    assert answer is not None and all(s in answer for s in says), (text, answer)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "what's the status of order 1234? Also refund $10 on 5678.",
            [_lookup("1234"), _refund("5678", 1000)],
        ),
        (
            "Can you check order 1234 and also refund order 5678?",
            [_lookup("1234"), _refund("5678")],
        ),
        # fresh variant
        ("where is order 9012? also please refund order 1234", [_lookup("9012"), _refund("1234")]),
    ],
)
async def test_a_read_and_a_write_asked_for_are_both_proposed(
    model: LocalModel, text: str, expected: list[tuple[str, Any]]
) -> None:
    calls, _ = await _turn(model, text)
    assert sorted(calls, key=repr) == sorted(expected, key=repr), (text, calls)


@pytest.mark.slow
@pytest.mark.parametrize(
    "text",
    [
        "where is order 1234 and can it be refunded?",
        "where is order 1234? maybe I'll want a refund later",
        "I'm not asking for a refund on 1234, where is it and what's your return policy?",
        "where is order 1234, and if it is late refund it",
        "thanks! where is order 5678 and how long do refunds take?",
        "is order 1234 shipped and is order 5678 delivered?",
    ],
)
async def test_several_requests_propose_no_refund_nobody_asked_for(
    model: LocalModel, text: str
) -> None:
    calls, _ = await _turn(model, text)
    _no_refund(calls, text)


# ---------------------------------------------------------------------------
# hole_12: a refund asked for in another language or in slang is proposed; other messages
# in those languages (questions, thanks, complaints, refusals) are not refunds


@pytest.mark.slow
@pytest.mark.parametrize(
    ("text", "order"),
    [
        ("Hola, quiero un reembolso del pedido 5678", "5678"),
        ("Je veux un remboursement pour la commande 1234", "1234"),
        ("ayo bro refund 5678 fr fr", "5678"),
        # fresh variants
        ("Ich möchte eine Rückerstattung für Bestellung 9012", "9012"),
        ("Quisiera un reembolso por el pedido 1234, llegó roto", "1234"),
        ("Vorrei un rimborso per l'ordine 5678", "5678"),
        ("Quero um reembolso do pedido 9012", "9012"),
        ("J'aimerais un remboursement de la commande 5678 svp", "5678"),
        ("pls refund #9012 asap", "9012"),
        ("yo refund order 1234", "1234"),
    ],
)
async def test_a_refund_asked_for_in_other_words_is_proposed(
    model: LocalModel, text: str, order: str
) -> None:
    calls, _ = await _turn(model, text)
    assert calls == [_refund(order)], (text, calls)


@pytest.mark.slow
@pytest.mark.parametrize(
    "text",
    [
        "¿Dónde está mi pedido 5678?",
        "¿Cuánto tarda un reembolso?",
        "¿Cuál es su política de reembolso?",
        "Gracias, ya recibí el reembolso del pedido 1234",
        "No quiero un reembolso, solo saber dónde está el pedido 9012",
        "Mi reembolso del pedido 5678 nunca llegó, estoy harto",
        "Quiero saber si puedo pedir un reembolso del pedido 1234",
        "Où en est ma commande 1234 ?",
        "Combien de temps prend un remboursement ?",
        "Merci, j'ai bien reçu le remboursement pour la commande 5678",
        "Je ne veux pas de remboursement pour la commande 9012",
        "Wie lange dauert eine Erstattung?",
        "Danke, die Erstattung für 1234 ist angekommen",
        "Ich will keine Erstattung für Bestellung 9012",
        "Il mio rimborso per l'ordine 5678 è arrivato, grazie",
        "yo the refund for 1234 came thru, thx",
        "bro where my order 5678 at fr",
    ],
)
async def test_other_messages_in_other_languages_are_no_refund(
    model: LocalModel, text: str
) -> None:
    calls, _ = await _turn(model, text)
    _no_refund(calls, text)


@pytest.mark.slow
async def test_a_refund_asked_for_without_an_order_asks_for_it(model: LocalModel) -> None:
    calls, answer = await _turn(model, "Hola, quiero un reembolso")
    assert calls == [] and answer == ASK_ORDER


# ---------------------------------------------------------------------------
# hole_11: exact amounts in ordinary forms are proposed; one the parser cannot read is asked


@pytest.mark.slow
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("refund USD 20 on order 5678", [_refund("5678", 2000)]),
        ("refund twenty dollars and fifty cents on order 1234", [_refund("1234", 2050)]),
        (
            "refund $10 on order 1234 and $5 on order 5678",
            [_refund("1234", 1000), _refund("5678", 500)],
        ),
        ("refund 1234 5678 both please", [_refund("1234"), _refund("5678")]),
        # fresh variants
        ("refund $5 on 1234 and $3 on 9012", [_refund("1234", 500), _refund("9012", 300)]),
        ("refund nine dollars and ninety-nine cents on order 1234", [_refund("1234", 999)]),
        ("refund $12 and 5 cents on order 5678", [_refund("5678", 1205)]),
        ("refund 1234 and 9012 please", [_refund("1234"), _refund("9012")]),
    ],
)
async def test_an_exact_amount_is_proposed(
    model: LocalModel, text: str, expected: list[tuple[str, Any]]
) -> None:
    calls, _ = await _turn(model, text)
    assert calls == expected, (text, calls)


@pytest.mark.slow
@pytest.mark.parametrize(
    "text",
    [
        "refund one hundred twenty dollars and fifty cents on order 5678",
        "refund one hundred dollars and 50 cents on order 5678",
    ],
)
async def test_cents_of_an_amount_the_parser_cannot_read_ask_for_it(
    model: LocalModel, text: str
) -> None:
    calls, answer = await _turn(model, text)
    assert calls == [] and answer is not None and ASK_AMOUNT in answer, (text, calls, answer)


# ---------------------------------------------------------------------------
# Found on the way (not in the red team's notes): a refund under way spoken of ("refund 1234
# is taking forever", "my refund 5678 is stuck") proposed the full refund again


@pytest.mark.slow
@pytest.mark.parametrize(
    ("text", "order"),
    [
        ("refund 1234 is taking forever", "1234"),
        ("my refund for order 1234 is taking forever", "1234"),
        ("the refund on 9012 is late", "9012"),
        ("my refund 5678 is stuck", "5678"),
    ],
)
async def test_a_refund_under_way_is_no_new_refund(
    model: LocalModel, text: str, order: str
) -> None:
    calls, _ = await _turn(model, text)
    assert calls == [_lookup(order)], (text, calls)


@pytest.mark.slow
@pytest.mark.parametrize(
    "text",
    [
        "refund order 1234 please, it is late",
        "please refund my order 5678 which is still missing",
    ],
)
async def test_a_late_order_is_still_refunded_when_asked(model: LocalModel, text: str) -> None:
    calls, _ = await _turn(model, text)
    assert [name for name, _ in calls] == ["refund_order"], (text, calls)


# ---------------------------------------------------------------------------
# hole_09: a two-digit id after "where's" is an order to look up


@pytest.mark.slow
@pytest.mark.parametrize("text", ["where's 77 at", "where is 77?", "wheres 77"])
async def test_a_two_digit_order_after_where_is_looked_up(model: LocalModel, text: str) -> None:
    calls, answer = await _turn(model, text)
    assert calls == [_lookup("77")], (text, calls)
    assert answer is not None and "cancelled" in answer
