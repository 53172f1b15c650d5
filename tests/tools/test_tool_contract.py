"""``@tool`` contracts: strict schemas from type hints, docstrings, options and bad definitions."""

import random
import re
from typing import Annotated, Any, Literal, Optional

import pytest
from pydantic import BaseModel, Field, ValidationError

from tether.exceptions import AgentDefinitionError
from tether.models._types import ToolSpec
from tether.tools import RetryPolicy, ToolContext, ToolContract, tool


class Address(BaseModel):
    """A postal address (a nested model in tool arguments)."""

    street: str
    city: str
    title: str = "home"  # a property *named* title must survive the title stripping


class Order(BaseModel):
    """An order with a nested model, to check closing of every object level."""

    sku: str
    quantity: int = 1
    ship_to: Address


def _walk(schema: Any) -> list[dict[str, Any]]:
    """Every dict inside a schema (subschemas and property maps alike)."""
    found: list[dict[str, Any]] = []
    if isinstance(schema, dict):
        found.append(schema)
        for value in schema.values():
            found.extend(_walk(value))
    elif isinstance(schema, list):
        for value in schema:
            found.extend(_walk(value))
    return found


@tool(effect="write", timeout=5, version="2", owner="shop", risk="medium", idempotent=True)
async def place_order(
    order: Order,
    ctx: ToolContext,
    gift: bool = False,
    note: Optional[str] = None,  # noqa: UP045 -- Optional spelling is what we test
    tags: list[str] | None = None,
    speed: Literal["standard", "express"] = "standard",
) -> dict[str, Any]:
    """Place an order for delivery.

    This second paragraph is not part of the description.

    Args:
        order: What to ship and where.
        gift (bool): Wrap it as a gift;
            adds a card.
        note: Free text for the courier.
        speed: How fast to ship.

    Returns:
        The order confirmation.
    """
    return {"sku": order.sku, "key": ctx.idempotency_key}


def test_bare_decorator_makes_a_contract_that_still_calls_the_function() -> None:
    """``@tool`` without parentheses wraps a sync function and keeps it callable."""

    @tool
    def add(a: int, b: int) -> int:
        """Add two integers."""
        return a + b

    assert isinstance(add, ToolContract)
    assert add(2, b=3) == 5
    assert add.name == "add"
    assert add.description == "Add two integers."
    assert add.is_async is False
    assert add.effect == "read"
    assert add.timeout == 30.0
    assert add.retry == RetryPolicy()
    assert add.idempotent is False
    assert add.requires_approval is False


async def test_async_function_contract_is_async_and_awaitable_when_called() -> None:
    """An ``async def`` tool is flagged ``is_async`` and calling it returns a coroutine."""

    @tool(name="echo_text", description="Echo the text back.")
    async def echo(text: str) -> str:
        return text

    assert echo.is_async is True
    assert echo.name == "echo_text"
    assert echo.description == "Echo the text back."
    assert await echo("hi") == "hi"


def test_options_are_stored_on_the_contract() -> None:
    """Decorator options land on the contract unchanged (timeout as float)."""
    assert place_order.effect == "write"
    assert place_order.timeout == 5.0
    assert isinstance(place_order.timeout, float)
    assert place_order.version == "2"
    assert place_order.owner == "shop"
    assert place_order.risk == "medium"
    assert place_order.idempotent is True


def test_description_is_first_docstring_paragraph() -> None:
    """Only the first paragraph of the docstring describes the tool."""
    assert place_order.description == "Place an order for delivery."


def test_schema_is_strict_json_schema_from_type_hints() -> None:
    """Types, defaults, Optional, list and Literal map to JSON Schema; required is exact."""
    schema = place_order.parameters
    assert schema["type"] == "object"
    assert schema["additionalProperties"] is False
    assert schema["required"] == ["order"]
    props = schema["properties"]
    assert list(props) == ["order", "gift", "note", "tags", "speed"]
    assert props["order"]["$ref"] == "#/$defs/Order"
    assert props["gift"] == {
        "type": "boolean",
        "default": False,
        "description": "Wrap it as a gift; adds a card.",
    }
    assert props["note"]["anyOf"] == [{"type": "string"}, {"type": "null"}]
    assert props["note"]["default"] is None
    assert props["tags"]["anyOf"][0] == {"type": "array", "items": {"type": "string"}}
    assert props["speed"]["enum"] == ["standard", "express"]
    assert props["speed"]["default"] == "standard"


def test_docstring_args_become_parameter_descriptions() -> None:
    """Google-style ``Args:`` entries describe their parameters (continuations joined)."""
    props = place_order.parameters["properties"]
    assert props["order"]["description"] == "What to ship and where."
    assert props["note"]["description"] == "Free text for the courier."
    assert props["speed"]["description"] == "How fast to ship."
    assert "description" not in props["tags"]  # undocumented parameter


def test_every_object_level_forbids_additional_properties() -> None:
    """Top level and nested models in ``$defs`` all say ``additionalProperties: false``."""
    schema = place_order.parameters
    assert set(schema["$defs"]) == {"Order", "Address"}
    objects = [s for s in _walk(schema) if s.get("type") == "object"]
    assert len(objects) == 3
    assert all(s["additionalProperties"] is False for s in objects)


def test_schema_has_no_title_noise_but_keeps_a_property_named_title() -> None:
    """Pydantic's ``title`` keys are stripped; a field called ``title`` is not."""
    schema = place_order.parameters
    assert not [s for s in _walk(schema) if isinstance(s.get("title"), str)]
    assert "title" in schema["$defs"]["Address"]["properties"]


def test_tool_context_parameter_is_injected_not_in_schema() -> None:
    """A ``ToolContext`` parameter (any name) is hidden from the model and from kwargs."""
    assert "ctx" not in place_order.parameters["properties"]
    assert place_order.context_param == "ctx"
    kwargs = place_order.validate({"order": {"sku": "a", "ship_to": {"street": "s", "city": "c"}}})
    assert "ctx" not in kwargs


def test_free_form_mapping_keeps_its_value_schema() -> None:
    """``dict[str, int]`` stays an open mapping (its ``additionalProperties`` is the value type)."""

    @tool
    def count(counts: dict[str, int]) -> int:
        """Sum the counts."""
        return sum(counts.values())

    assert count.parameters["properties"]["counts"] == {
        "type": "object",
        "additionalProperties": {"type": "integer"},
    }


def test_tool_without_parameters_has_empty_closed_schema() -> None:
    """A tool with no arguments still gets a complete object schema."""

    @tool
    def ping() -> str:
        """Check liveness."""
        return "pong"

    assert ping.parameters == {
        "type": "object",
        "properties": {},
        "required": [],
        "additionalProperties": False,
    }


def test_annotated_field_description_wins_over_docstring() -> None:
    """``Annotated[..., Field(description=...)]`` is kept when the docstring also describes it."""

    @tool
    def search(query: Annotated[str, Field(description="Full-text query.", min_length=1)]) -> str:
        """Search.

        Args:
            query: docstring text
        """
        return query

    prop = search.parameters["properties"]["query"]
    assert prop["description"] == "Full-text query."
    assert prop["minLength"] == 1


def test_argument_names_that_shadow_basemodel_attributes_work() -> None:
    """Arguments like ``schema``, ``json`` or ``model_config`` are ordinary fields."""

    @tool
    def store(schema: str, json: int, model_config: bool = False) -> str:
        """Store a document."""
        return schema

    assert store.parameters["required"] == ["schema", "json"]
    assert store.validate({"schema": "s", "json": 1}) == {
        "schema": "s",
        "json": 1,
        "model_config": False,
    }


def test_validate_returns_python_kwargs_with_defaults_and_models() -> None:
    """Validation coerces, fills defaults and builds nested pydantic models."""
    kwargs = place_order.validate(
        {"order": {"sku": "a", "quantity": "2", "ship_to": {"street": "s", "city": "c"}}}
    )
    assert kwargs["order"] == Order(sku="a", quantity=2, ship_to=Address(street="s", city="c"))
    assert kwargs["gift"] is False
    assert kwargs["speed"] == "standard"


def test_validate_rejects_unknown_and_missing_arguments() -> None:
    """Extra keys and missing required keys raise pydantic ``ValidationError``."""
    with pytest.raises(ValidationError) as info:
        place_order.validate({"gift": True, "colour": "red"})
    types = {(err["loc"], err["type"]) for err in info.value.errors()}
    assert types == {(("order",), "missing"), (("colour",), "extra_forbidden")}


def test_spec_is_what_the_model_is_told() -> None:
    """``spec()`` returns the provider-neutral ``ToolSpec``."""
    assert place_order.spec() == ToolSpec(
        name="place_order",
        description="Place an order for delivery.",
        parameters=place_order.parameters,
    )


def test_schema_fingerprint_is_stable_and_tracks_contract_changes() -> None:
    """Same definition, same hash; version, effect or schema changes alter it."""

    def make(**options: Any) -> ToolContract:
        def lookup(city: str) -> str:
            """Look up a city."""
            return city

        return tool(**options)(lookup)

    base = make().schema_fingerprint()
    assert re.fullmatch(r"[0-9a-f]{64}", base)
    assert make().schema_fingerprint() == base
    assert make(version="2").schema_fingerprint() != base
    assert make(effect="write").schema_fingerprint() != base

    @tool(name="lookup")
    def lookup_other(city: int) -> int:
        """Look up a city."""
        return city

    assert lookup_other.schema_fingerprint() != base


def test_requires_approval_may_be_a_predicate_over_arguments() -> None:
    """A callable ``requires_approval`` is stored and evaluated by ``approval_required``."""

    @tool(effect="write", requires_approval=lambda args: args["amount"] > 100)
    def refund(amount: int) -> str:
        """Refund money."""
        return "ok"

    assert callable(refund.requires_approval)
    assert refund.approval_required({"amount": 500}) is True
    assert refund.approval_required({"amount": 5}) is False
    assert place_order.approval_required({}) is False


def test_rerunnable_means_read_or_idempotent() -> None:
    """Reads and idempotent writes may be re-run when their outcome is unknown."""

    @tool(effect="write")
    def send(text: str) -> str:
        """Send a message."""
        return text

    assert place_order.rerunnable is True
    assert send.rerunnable is False


class Opaque:
    """A type pydantic cannot describe as JSON Schema."""


def _no_hint(x, y: int) -> int:  # type: ignore[no-untyped-def]
    return y


def _var_args(*items: int) -> int:
    return len(items)


def _var_kwargs(**options: int) -> int:
    return len(options)


def _positional_only(x: int, /) -> int:
    return x


def _opaque(thing: Opaque) -> str:
    return "x"


def _unresolvable(thing: "NoSuchType") -> str:  # type: ignore[name-defined]  # noqa: F821
    return "x"


def _two_contexts(a: ToolContext, b: ToolContext) -> str:
    return "x"


@pytest.mark.parametrize(
    ("fn", "reason"),
    [
        (_no_hint, "parameter 'x' has no type hint"),
        (_var_args, r"\*items is not allowed"),
        (_var_kwargs, r"\*\*options is not allowed"),
        (_positional_only, "positional-only"),
        (_opaque, "unsupported argument type"),
        (_unresolvable, "cannot resolve its type hints"),
        (_two_contexts, "more than one context parameter"),
    ],
)
def test_bad_signatures_raise_agent_definition_error_naming_the_tool(fn: Any, reason: str) -> None:
    """Signatures that cannot become a schema fail at decoration, naming tool and cause."""
    with pytest.raises(AgentDefinitionError, match=rf"tool '{fn.__name__}': .*{reason}"):
        tool(fn)


@pytest.mark.parametrize(
    ("options", "reason"),
    [
        ({"name": "has space"}, "name must be"),
        ({"effect": "delete"}, "effect must be"),
        ({"risk": "extreme"}, "risk must be"),
        ({"timeout": 0}, "timeout must be"),
        ({"timeout": float("nan")}, "timeout must be"),
    ],
)
def test_bad_options_raise_agent_definition_error(options: dict[str, Any], reason: str) -> None:
    """Invalid decorator options are rejected with a message naming the tool."""

    def lookup(city: str) -> str:
        return city

    with pytest.raises(AgentDefinitionError, match=reason):
        tool(**options)(lookup)


def test_decorating_twice_is_rejected() -> None:
    """Applying ``@tool`` to a contract is a definition error, not a silent re-wrap."""
    with pytest.raises(AgentDefinitionError, match="twice"):
        tool(place_order)


def test_retry_policy_delay_grows_exponentially_and_is_capped() -> None:
    """Without jitter the delay is ``initial * multiplier**(attempt-1)``, capped at max."""
    policy = RetryPolicy(initial_delay=0.5, multiplier=3.0, max_delay=2.0, jitter=False)
    assert [policy.delay(n) for n in (1, 2, 3, 4)] == [0.5, 1.5, 2.0, 2.0]
    assert policy.delay(100_000) == 2.0  # no OverflowError for absurd attempt numbers


def test_retry_policy_full_jitter_stays_within_the_cap() -> None:
    """With jitter each delay is uniform in ``[0, cap]`` and reproducible from the rng."""
    policy = RetryPolicy(initial_delay=0.2, multiplier=2.0, max_delay=1.0)
    delays = [policy.delay(n, random.Random(n)) for n in range(1, 30)]
    caps = [min(0.2 * 2 ** (n - 1), 1.0) for n in range(1, 30)]
    assert all(0.0 <= d <= cap for d, cap in zip(delays, caps, strict=True))
    assert policy.delay(3, random.Random(7)) == policy.delay(3, random.Random(7))


@pytest.mark.parametrize(
    "options",
    [{"max_attempts": 0}, {"initial_delay": -1.0}, {"multiplier": 0.5}],
)
def test_retry_policy_rejects_impossible_settings(options: dict[str, Any]) -> None:
    """A policy that could never run or would shrink delays is a definition error."""
    with pytest.raises(AgentDefinitionError):
        RetryPolicy(**options)


def test_max_result_bytes_defaults_to_one_megabyte_and_can_be_set() -> None:
    """Every tool has a result cap: 1 MB unless ``@tool(max_result_bytes=...)`` says otherwise."""

    @tool
    def plain() -> str:
        """Plain."""
        return ""

    @tool(max_result_bytes=4096)
    def small() -> str:
        """Small."""
        return ""

    assert plain.max_result_bytes == 1_000_000
    assert small.max_result_bytes == 4096


@pytest.mark.parametrize("bad", [0, -1, 1.5, "1MB", True])
def test_max_result_bytes_must_be_a_positive_int(bad: Any) -> None:
    """A cap that is not a positive int is a definition error naming the option."""
    with pytest.raises(AgentDefinitionError, match="max_result_bytes"):

        @tool(max_result_bytes=bad)
        def capped() -> str:
            """Capped."""
            return ""
