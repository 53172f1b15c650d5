"""Session 13's stranger test of the main job: four open items.

1. One amount for several orders ("refund $10 on orders 1234 and 5678") proposed $10 on 1234
   alone: it is a refund per order when the amount is for each, and asked when it may be a
   sum ("$10 total for 1234 and 5678"); an order nobody named is never refunded.
2. A refund asked for in Spanish, Portuguese, French, Italian or German with the money given
   back ("¿Me pueden devolver el dinero del pedido 1234?", "pouvez-vous me rembourser",
   "Geld zurück") got a lookup; questions about a refund, conditions, hedges and refusals in
   those languages still propose none.
3. The policies had no words in other languages: "¿Cuánto tarda un reembolso?" got "no
   article"; the articles are found, and quoted as written.
4. A read and a write in one message ("where is 1234, and refund 5678 please"): the read's
   answer came only once the refund was decided; it now comes with the proposed refund.

The routing tests run without a model (the word embedder of ``_support_specs``); the
``slow`` ones on the real SmolLM2-135M, as the main job runs. Messages were written before
the fixes were run on them.
"""

from __future__ import annotations

import importlib.util
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tether.models._local import LocalModel
from tether.models._routing import declined, foreign_write_request
from tether.models._types import Message, ModelRequest, ModelResponse

from ._support_specs import Turns, Words, user

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "support.py"


def _support_module() -> Any:
    spec = importlib.util.spec_from_file_location("support_example_session13", EXAMPLE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


SUPPORT = _support_module()
_FUNCTIONS = {"lookup_order": "lookup_order", "policies": "search_kb"}


def _refund(order_id: str, cents: int | None = None) -> tuple[str, Any]:
    arguments: dict[str, Any] = {"order_id": order_id}
    if cents is not None:
        arguments["amount_cents"] = cents
    return ("refund_order", arguments)


def _lookup(order_id: str) -> tuple[str, Any]:
    return ("lookup_order", {"order_id": order_id})


def _calls(response: ModelResponse) -> list[tuple[str, Any]]:
    return [(c.name, c.arguments) for c in response.tool_calls]


# ---------------------------------------------------------------------------
# 1. one amount for several orders (no model)


@pytest.mark.parametrize(
    "text",
    [
        "refund $10 on orders 1234 and 5678",
        "refund $10 on each of orders 1234 and 5678",
        "please refund $10 each on 1234 and 5678",
        "refund orders 1234 and 5678 $10 each",
        "refund 10 dollars on orders 1234 & 5678",
    ],
)
def test_one_amount_for_each_order_is_a_refund_per_order(text: str) -> None:
    response, _ = Turns(Words()).reply(user(text))
    assert sorted(_calls(response), key=repr) == [_refund("1234", 1000), _refund("5678", 1000)]


@pytest.mark.parametrize(
    "text",
    [
        "refund $10 total for orders 1234 and 5678",
        "refund $10 for both orders 1234 and 5678",
        "refund $10 split between orders 1234 and 5678",
        "refund $10 in all on orders 1234 and 5678",
    ],
)
def test_one_amount_that_may_be_a_sum_is_asked(text: str) -> None:
    response, route = Turns(Words()).reply(user(text))
    assert response.tool_calls == [] and route == "ask:refund_order"
    assert response.text is not None
    assert response.text.startswith(
        "Is $10 for each of 1234 and 5678, or for all of them together?"
    )


def test_the_reply_each_refunds_each_order_named_before() -> None:
    turns = Turns(Words())
    first = "refund $10 total for orders 1234 and 5678"
    question, _ = turns.reply(user(first))
    response, _ = turns.reply(
        user(first), Message(role="assistant", content=question.text), user("$5 each")
    )
    assert sorted(_calls(response), key=repr) == [_refund("1234", 500), _refund("5678", 500)]


@pytest.mark.parametrize("reply", ["$10", "$10 in total", "$10 for both"])
def test_a_reply_that_does_not_say_each_is_asked_again(reply: str) -> None:
    turns = Turns(Words())
    first = "refund $10 total for orders 1234 and 5678"
    question, _ = turns.reply(user(first))
    response, route = turns.reply(
        user(first), Message(role="assistant", content=question.text), user(reply)
    )
    assert response.tool_calls == [] and route == "ask:refund_order", (reply, response)


# ---------------------------------------------------------------------------
# 2. money given back, asked for in other languages (no model)

MONEY_BACK = [
    ("¿Me pueden devolver el dinero del pedido 1234?", "1234"),
    ("devuélvanme el dinero del pedido 5678 por favor", "5678"),
    ("¿me devuelven el dinero del pedido 9012?", "9012"),
    ("Quiero que me devuelvan el dinero del pedido 1234", "1234"),
    ("¿Pueden reembolsarme el pedido 5678?", "5678"),
    ("Podem devolver o dinheiro do pedido 9012?", "9012"),
    ("Quero o meu dinheiro de volta do pedido 1234", "1234"),
    ("Pouvez-vous me rembourser la commande 5678 ?", "5678"),
    ("Je voudrais être remboursé pour la commande 1234", "1234"),
    ("Potete rimborsarmi l'ordine 9012?", "9012"),
    ("Ridatemi i soldi dell'ordine 5678", "5678"),
    ("Ich will mein Geld für Bestellung 1234 zurück", "1234"),
    ("Können Sie mir das Geld für Bestellung 9012 zurückerstatten?", "9012"),
]


@pytest.mark.parametrize(("text", "order"), MONEY_BACK)
def test_money_back_asked_for_in_another_language(text: str, order: str) -> None:
    assert foreign_write_request(text)
    response, _ = Turns(Words()).reply(user(text))
    assert _calls(response) == [_refund(order)], (text, response)


# Questions, status, conditions, hedges, refusals and refunds already given: none is a request.
NOT_A_REQUEST = [
    "¿Cuándo llega mi reembolso?",
    "¿Cuándo me devuelven el dinero del pedido 1234?",
    "¿Cuánto tardan en devolverme el dinero del pedido 5678?",
    "¿Cuál es el estado de mi reembolso del pedido 1234?",
    "¿Se puede reembolsar el pedido 9012?",
    "si no ha salido, devuélvanme el dinero del pedido 1234",
    "si no llega el viernes, me pueden devolver el dinero del pedido 9012",
    "tal vez me pueden devolver el dinero del pedido 1234 más tarde",
    "ya me devolvieron el dinero del pedido 5678, gracias",
    "quiero devolver el pedido 1234",
    "mi hermana quiere que le devuelvan el dinero del pedido 5678",
    "Quand allez-vous me rembourser la commande 1234 ?",
    "Est-ce possible de me rembourser la commande 5678 ?",
    "J'ai déjà été remboursé pour la commande 1234, merci",
    "Wann bekomme ich mein Geld für Bestellung 1234 zurück?",
    "Ich habe mein Geld für Bestellung 5678 schon zurück, danke",
    "Quanto tempo demora para devolver o dinheiro do pedido 9012?",
    "Se o pedido 1234 não chegar, podem devolver o dinheiro?",
    "Quando mi rimborsate l'ordine 5678?",
]


@pytest.mark.parametrize("text", NOT_A_REQUEST)
def test_other_messages_about_money_back_are_no_request(text: str) -> None:
    assert not foreign_write_request(text)


@pytest.mark.parametrize(
    "text",
    [
        "ne me remboursez pas la commande 1234",
        "Ne remboursez pas la commande 5678, je la garde",
        "Bitte erstatten Sie die Bestellung 1234 nicht",
        "no me devuelvan el dinero del pedido 9012",
        "não quero que me devolvam o dinheiro do pedido 5678",
        "non rimborsatemi l'ordine 1234",
    ],
)
def test_money_back_refused_in_another_language_is_refused(text: str) -> None:
    assert declined(text, ("refund",)) is not None
    response, _ = Turns(Words()).reply(user(text))
    assert all(name != "refund_order" for name, _ in _calls(response)), (text, response)


@pytest.mark.parametrize(
    "text",
    [
        "ya me devolvieron el dinero del pedido 5678, gracias",
        "J'ai déjà été remboursé pour la commande 1234, merci",
        "já recebi o reembolso do pedido 9012, obrigado",
        "Ich habe mein Geld für Bestellung 5678 schon zurück, danke",
    ],
)
def test_money_already_given_back_is_asked_of_no_more(text: str) -> None:
    rest = declined(text, ("refund",))
    assert rest is not None and rest != "", (text, rest)
    response, _ = Turns(Words()).reply(user(text))
    assert all(name != "refund_order" for name, _ in _calls(response)), (text, response)


# ---------------------------------------------------------------------------
# 3. the policies in other languages (no model: the tool itself)


@pytest.mark.parametrize(
    ("question", "article"),
    [
        ("¿Cuánto tarda un reembolso?", "refunds"),
        ("¿Cuál es la política de devoluciones?", "returns"),
        ("¿Cuánto tarda el envío?", "shipping times"),
        ("¿Envían a Alemania?", "shipping destinations"),
        ("Quanto tempo demora a entrega?", "shipping times"),
        ("Quelle est votre politique de retour ?", "returns"),
        ("Combien de temps pour un remboursement ?", "refunds"),
        ("Wie lange dauert der Versand?", "shipping times"),
        ("Liefern Sie nach Österreich?", "shipping destinations"),
        ("Qual è la politica di reso?", "returns"),
        ("Quanto ci vuole per il rimborso?", "refunds"),
        ("¿Puedo cancelar mi pedido?", "order changes"),
        ("Il prodotto è arrivato rotto, c'è la garanzia?", "warranty"),
        ("¿Cuánto tardan en devolverme el dinero?", "refunds"),
        # A stranger's wording: "zurückzusenden" got the shipping times.
        ("Wie lange habe ich Zeit, etwas zurückzusenden?", "returns"),
    ],
)
def test_a_policy_question_in_another_language_gets_its_article(
    question: str, article: str
) -> None:
    assert SUPPORT.search_kb.fn(question) == [SUPPORT.ARTICLES[article]]


@pytest.mark.parametrize(
    "question", ["¿Cuánto cuesta el envío?", "Quel transporteur utilisez-vous ?"]
)
def test_a_detail_no_article_states_is_still_no_article(question: str) -> None:
    (answer,) = SUPPORT.search_kb.fn(question)
    assert answer.startswith("We have no article")


# ---------------------------------------------------------------------------
# 4. a read and a write: the read's answer comes with the proposed write (no model)


def _tool_result(call_id: str, name: str, content: Any) -> Message:
    return Message(role="tool", tool_call_id=call_id, name=name, content=json.dumps(content))


def test_the_answer_to_a_read_comes_with_the_write_it_precedes() -> None:
    turns = Turns(Words())
    text = "where is order 1234? Also refund $10 on 5678."
    first, _ = turns.reply(user(text))
    assert _calls(first) == [_lookup("1234")]
    messages = [
        user(text),
        Message(role="assistant", tool_calls=first.tool_calls),
        _tool_result(
            first.tool_calls[0].id, "lookup_order", {"order_id": "1234", "status": "shipped"}
        ),
    ]
    second, _ = turns.reply(*messages)
    assert second.text == "Order id 1234, status shipped."
    assert _calls(second) == [_refund("5678", 1000)]
    # Once the refund is decided, the last answer answers the whole message.
    messages += [
        Message(role="assistant", content=second.text, tool_calls=second.tool_calls),
        _tool_result(
            second.tool_calls[0].id, "refund_order", {"order_id": "5678", "refunded": "$10.00"}
        ),
    ]
    third, route = turns.reply(*messages)
    assert route == "quote" and third.tool_calls == []
    assert third.text == "Order id 1234, status shipped. Order id 5678, refunded $10.00."


# ---------------------------------------------------------------------------
# The same on the real model


@pytest.fixture(scope="module")
def model() -> Iterator[LocalModel]:
    """One loaded LocalModel shared by the module (loading once keeps the suite fast)."""
    local = LocalModel()
    try:
        yield local
    finally:
        local.close()


async def _run(model: LocalModel, text: str) -> tuple[list[tuple[str, Any]], str | None]:
    """Every call the model makes for ``text`` with the demo's reads run on the way (a write
    is proposed, never run), and the last text it says: the answer, or the text that comes
    with a proposed write (what the customer reads while the write waits for approval)."""
    request = ModelRequest(
        instructions=SUPPORT.agent.instructions,
        tools=SUPPORT.agent.tool_specs,
        messages=[Message(role="user", content=text)],
    )
    calls: list[tuple[str, Any]] = []
    for _ in range(3):
        reply = await model.complete(request)
        calls += _calls(reply)
        if not reply.tool_calls or any(c.name == "refund_order" for c in reply.tool_calls):
            return calls, reply.text
        results = [
            Message(
                role="tool",
                tool_call_id=call.id,
                name=call.name,
                content=json.dumps(getattr(SUPPORT, _FUNCTIONS[call.name]).fn(**call.arguments)),
            )
            for call in reply.tool_calls
        ]
        messages = [
            *request.messages,
            Message(role="assistant", content=reply.text, tool_calls=reply.tool_calls),
            *results,
        ]
        request = request.model_copy(update={"messages": messages})
    raise AssertionError(f"no answer for {text!r}: {calls}")


@pytest.mark.slow
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("refund $10 on orders 1234 and 5678", [_refund("1234", 1000), _refund("5678", 1000)]),
        (
            "please refund $10 on each of orders 9012 and A-1029",
            [_refund("9012", 1000), _refund("A-1029", 1000)],
        ),
        ("refund 5 dollars each on 1234 and 9012", [_refund("1234", 500), _refund("9012", 500)]),
    ],
)
async def test_model_one_amount_for_each_order(
    model: LocalModel, text: str, expected: list[tuple[str, Any]]
) -> None:
    calls, _ = await _run(model, text)
    assert sorted(calls, key=repr) == sorted(expected, key=repr), (text, calls)


@pytest.mark.slow
@pytest.mark.parametrize(
    "text",
    ["refund $10 total for orders 1234 and 5678", "refund $20 for both 1234 and 9012"],
)
async def test_model_one_amount_that_may_be_a_sum_is_asked(model: LocalModel, text: str) -> None:
    calls, answer = await _run(model, text)
    assert calls == [] and answer is not None and "for each of" in answer, (text, answer)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("text", "order"),
    [
        ("¿Me pueden devolver el dinero del pedido 1234?", "1234"),
        ("Devuélvanme el dinero del pedido 9012, llegó roto", "9012"),
        ("Podem devolver o dinheiro do pedido 5678?", "5678"),
        ("Pouvez-vous me rembourser la commande 1234 ?", "1234"),
        ("Ich will mein Geld für Bestellung 5678 zurück", "5678"),
        ("Potete rimborsarmi l'ordine 9012?", "9012"),
    ],
)
async def test_model_money_back_in_another_language_is_proposed(
    model: LocalModel, text: str, order: str
) -> None:
    calls, _ = await _run(model, text)
    assert calls == [_refund(order)], (text, calls)


@pytest.mark.slow
@pytest.mark.parametrize(
    "text",
    [
        "¿Cuándo llega mi reembolso?",
        "¿Cuándo me devuelven el dinero del pedido 1234?",
        "si no ha salido, devuélvanme el dinero del pedido 9012",
        "ya me devolvieron el dinero del pedido 5678, gracias",
        "no me devuelvan el dinero del pedido 1234",
        "ne me remboursez pas la commande 5678",
        "Wann bekomme ich mein Geld für Bestellung 1234 zurück?",
        "Bitte erstatten Sie die Bestellung 9012 nicht",
        "¿Se puede reembolsar el pedido 1234?",
        "refund $10 total for orders 1234 and 5678",
        "J'ai déjà été remboursé pour la commande 1234, merci",
        "já recebi o reembolso do pedido 9012, obrigado",
    ],
)
async def test_model_proposes_no_refund_nobody_asked_for(model: LocalModel, text: str) -> None:
    calls, _ = await _run(model, text)
    assert all(name != "refund_order" for name, _ in calls), (text, calls)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("text", "article"),
    [
        ("¿Cuánto tarda un reembolso?", "refunds"),
        ("¿Cuál es la política de devoluciones?", "returns"),
        ("¿Cuánto tarda el envío?", "shipping times"),
        ("¿Hacen envíos a México?", "shipping destinations"),
        ("Combien de temps prend la livraison ?", "shipping times"),
        ("Wie lange dauert eine Rückerstattung?", "refunds"),
        ("Qual è la vostra politica di reso?", "returns"),
        ("Qual é a política de devolução?", "returns"),
    ],
)
async def test_model_policy_question_in_another_language_quotes_its_article(
    model: LocalModel, text: str, article: str
) -> None:
    calls, answer = await _run(model, text)
    assert [name for name, _ in calls] == ["policies"], (text, calls)
    assert answer is not None and SUPPORT.ARTICLES[article] in answer, (text, answer)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("text", "read", "says", "write"),
    [
        ("where is 1234, and refund 5678 please", _lookup("1234"), "shipped", _refund("5678")),
        (
            "what's the status of order 9012? Also refund $10 on 5678.",
            _lookup("9012"),
            "processing",
            _refund("5678", 1000),
        ),
    ],
)
async def test_model_read_answer_comes_with_the_proposed_write(
    model: LocalModel, text: str, read: tuple[str, Any], says: str, write: tuple[str, Any]
) -> None:
    calls, shown = await _run(model, text)
    assert calls == [read, write], (text, calls)
    assert shown is not None and says in shown, (text, shown)


# A stranger's message: the refused clause named the order the question is about.
@pytest.mark.parametrize(
    ("text", "rest"),
    [
        (
            "I don't want a refund for 9012, just tell me when it ships",
            "just tell me when it ships (order 9012)",
        ),
        ("don't refund 9012, where is it?", "where is it? (order 9012)"),
        # Nothing refers back, another id is named, or the rest asks for the write again:
        # as before.
        ("no refund for 1234 please, how long does shipping take?", "how long does shipping take?"),
        ("I'm not asking for a refund, where is order 5678?", "where is order 5678?"),
        ("Don't refund 9012 yet, refund it next week", "refund it next week"),
        ("dont refund order 1234, i'm keeping it", "i'm keeping it"),
    ],
)
def test_a_question_about_the_order_a_refusal_named_keeps_its_id(text: str, rest: str) -> None:
    assert declined(text) == rest


@pytest.mark.slow
async def test_model_looks_up_the_order_a_refusal_named(model: LocalModel) -> None:
    calls, answer = await _run(model, "I don't want a refund for 9012, just tell me when it ships")
    assert calls == [("lookup_order", {"order_id": "9012"})]
    assert answer is not None and "processing" in answer and "2026-11-28" in answer
