"""Red team 14b's minor holes in the main job: the words of a message tell the reads apart
where the embeddings do not, ids as customers type them, and what the demo's tools answer.

The routed turns run :class:`RoutedTurns` on the support demo's own tool specs (their
examples and descriptions) with a test embedder that puts every message nearest one route,
the worst a model's embeddings can do; no model is called. The rest calls the demo's tool
functions directly.
"""

from __future__ import annotations

import importlib.util
import re
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from tether import ToolCallError
from tether.models._routing import DEFAULT_ANSWER_EXAMPLES, find_spans, names_an_id
from tether.models._types import ModelRequest, ModelResponse

from ._support_specs import Turns as _Turns
from ._support_specs import user as _user

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "support.py"


def _support_module() -> Any:
    spec = importlib.util.spec_from_file_location("support_example_rt14b_minor", EXAMPLE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


SUPPORT = _support_module()
SPECS = SUPPORT.agent.tool_specs


class _Nearest:
    """Every message nearest the examples of one route (a tool name, or ``None`` for the
    answer examples), the others within 0.01 behind."""

    def __init__(self, route: str | None) -> None:
        self.axes: dict[str, int] = dict.fromkeys(DEFAULT_ANSWER_EXAMPLES, 3)
        for axis, spec in enumerate(SPECS):
            for example in getattr(spec, "examples", None) or ():
                self.axes[example] = axis
        names = [s.name for s in SPECS]
        self.mine = 3 if route is None else names.index(route)

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        vectors = []
        for text in texts:
            axis = self.axes.get(text)
            # An example on its route's axis; a message nearest one route, the others 0.01
            # behind (as a 135M model's embeddings put them).
            vector = [0.0] * 4 if axis is not None else [0.98] * 4
            vector[self.mine if axis is None else axis] = 1.0
            vectors.append(vector)
        return vectors


class _DemoTurns(_Turns):
    def reply(self, *messages: Any) -> tuple[ModelResponse, str]:
        request = ModelRequest(tools=list(SPECS), messages=list(messages))
        return self._routed_reply(request, None, threading.Event())


def _calls(text: str, nearest: str | None) -> list[tuple[str, dict[str, Any]]]:
    response, _ = _DemoTurns(_Nearest(nearest)).reply(_user(text))  # type: ignore[arg-type]
    return [(c.name, c.arguments) for c in response.tool_calls]


# ---------------------------------------------------------------------------
# hole_09: a status request that shares no word with the policy examples looks the order up

STATUS = [
    ("tell me about order 9012", "9012"),
    ("were is my oder 5678", "5678"),
    ("my order 9012 is taking forever", "9012"),
    ("5678 where", "5678"),
    ("what is the eta of order 77", "77"),
    # fresh variants
    ("whats up with oder 1234", "1234"),
    ("order 9012 is taking ages", "9012"),
    ("#9012 status?", "9012"),
]


@pytest.mark.parametrize("nearest", ["policies", None])
@pytest.mark.parametrize(("text", "order"), STATUS)
def test_a_status_request_looks_the_order_up(text: str, order: str, nearest: str | None) -> None:
    assert _calls(text, nearest) == [("lookup_order", {"order_id": order})]


@pytest.mark.parametrize(
    "text",
    ["can I return order 1234?", "can I send order 2718 back?", "How much does shipping cost?"],
)
def test_a_policy_question_naming_an_order_keeps_the_policy(text: str) -> None:
    assert [name for name, _ in _calls(text, "policies")] == ["policies"]


def test_two_digits_after_order_are_an_id_but_not_a_count() -> None:
    assert names_an_id("what is the eta of order 77")
    assert not names_an_id("I want to order 2 shirts")
    assert not names_an_id("it took 10 days")


def test_a_refused_refund_then_a_status_check_looks_the_order_up() -> None:
    text = "refund $10 on order 1234. Actually no, cancel that, just check status"
    assert _calls(text, "policies") == [("lookup_order", {"order_id": "1234"})]


# ---------------------------------------------------------------------------
# hole_17: a return asked for gets the returns policy, not the order's status

RETURNS = [
    "return order 5678 please",
    "send me a return label for order 5678",
    # fresh variants
    "return order 1234 pls",
    "can you email me a return label for order 9012",
]


@pytest.mark.parametrize("nearest", ["lookup_order", "refund_order"])
@pytest.mark.parametrize("text", RETURNS)
def test_a_return_asked_for_gets_the_returns_policy(text: str, nearest: str) -> None:
    assert [name for name, _ in _calls(text, nearest)] == ["policies"]


@pytest.mark.parametrize(
    "text", ["Where is order 5678?", "It's been 10 days, where's order 9012?", "has 1234 shipped"]
)
def test_a_status_question_nearest_the_lookup_stays_there(text: str) -> None:
    assert [name for name, _ in _calls(text, "lookup_order")] == ["lookup_order"]


# ---------------------------------------------------------------------------
# hole_08: ids as customers type them


def test_a_letter_between_order_and_digits_is_part_of_the_id() -> None:
    spans = [(s.value, s.kind) for s in find_spans("where is order A 1029")]
    assert ("A 1029", "id") in spans and ("1029", "id") not in spans
    assert 1029 not in [v for v, kind in spans if kind == "number"]
    assert _calls("where is order A 1029", "lookup_order") == [
        ("lookup_order", {"order_id": "A 1029"})
    ]
    # a lower-case "a" is a word, not an id's letter
    assert ("a 1234", "id") not in [(s.value, s.kind) for s in find_spans("order a 1234")]


@pytest.mark.parametrize(
    ("typed", "order"),
    [
        ("A 1029", "A-1029"),
        ("a-1029", "A-1029"),
        ("#A1029", "A-1029"),
        ("A1029", "A-1029"),
        ("#5678", "5678"),
        ("order1234", "1234"),
        ("order5678", "5678"),
        (" 77 ", "77"),
    ],
)
def test_the_demo_finds_an_order_however_its_id_is_typed(typed: str, order: str) -> None:
    assert SUPPORT.lookup_order.fn(typed)["order_id"] == order


@pytest.mark.parametrize("typed", ["99999", "A-10299", "1234x", "order"])
def test_an_id_of_no_order_is_still_not_found(typed: str) -> None:
    with pytest.raises(ToolCallError):
        SUPPORT.lookup_order.fn(typed)


# ---------------------------------------------------------------------------
# hole_18: an article answers only what it covers (a price, a carrier)

NO_ARTICLE = [
    "How much does shipping cost?",
    "is express shipping free?",
    "I heard you give free shipping over $50, is that right?",
    "What carrier do you use for shipping?",
    # fresh variants
    "How much is express shipping?",
    "do you charge for delivery?",
    "which courier delivers your parcels?",
]


@pytest.mark.parametrize("text", NO_ARTICLE)
def test_a_price_or_carrier_question_gets_no_article(text: str) -> None:
    answer = SUPPORT.search_kb.fn(text)
    assert len(answer) == 1 and answer[0].startswith("We have no article"), answer


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("Do returns cost anything?", "Returns are free"),
        ("how long does express shipping take", "3-5 business days"),
        ("how much time does shipping take", "3-5 business days"),
        ("How do chargebacks work?", "original payment method"),
    ],
)
def test_an_article_that_covers_the_question_still_answers(text: str, says: str) -> None:
    assert any(says in article for article in SUPPORT.search_kb.fn(text))


# ---------------------------------------------------------------------------
# hole_07: a refund that cannot be made is refused when its arguments are validated (before
# the approval gate, which sees only validated arguments): the customer is told at once

IMPOSSIBLE = [
    ({"order_id": "1234", "amount_cents": 100000}, "at most the order total, $49.99"),
    ({"order_id": "1234", "amount_cents": 0}, "at most the order total"),
    ({"order_id": "99999"}, "no order '99999'"),
    ({"order_id": "4321", "amount_cents": 1000}, "no order '4321'"),
    ({"order_id": "A-1029", "amount_cents": 20000}, "at most the order total, $74.50"),
]


@pytest.mark.parametrize(("arguments", "says"), IMPOSSIBLE)
def test_an_impossible_refund_fails_validation_and_writes_nothing(
    arguments: dict[str, Any], says: str
) -> None:
    contract = SUPPORT.refund_order
    before = dict(SUPPORT.REFUNDS)
    with pytest.raises(ValueError, match=re.escape(says)):
        contract.normalize(arguments)
    with pytest.raises(ToolCallError):
        contract.fn(arguments["order_id"], _Ctx(), arguments.get("amount_cents"))
    assert before == SUPPORT.REFUNDS


class _Ctx:
    idempotency_key = "k-impossible"


@pytest.mark.parametrize(
    "arguments",
    [
        {"order_id": "1234"},
        {"order_id": "5678", "amount_cents": 500},
        {"order_id": "a-1029", "amount_cents": 7450},
    ],
)
def test_a_possible_refund_still_waits_for_approval(arguments: dict[str, Any]) -> None:
    contract = SUPPORT.refund_order
    normalized = contract.normalize(arguments)
    assert normalized["order_id"] == arguments["order_id"]
    assert contract.approval_required(normalized) is True
