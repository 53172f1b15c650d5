"""Usage → dollars, with cached input billed once at the cached rate."""

from __future__ import annotations

import pytest

from tether.models._pricing import DEFAULT_PRICING, Price, PricingTable, cost
from tether.models._types import Usage

M = 1_000_000


def test_uncached_input_and_output_use_their_rates() -> None:
    usage = Usage(input_tokens=2 * M, output_tokens=M)
    assert cost("openai:gpt-4.1", usage) == pytest.approx(2 * 2.00 + 8.00)


def test_cached_input_is_billed_only_at_the_cached_rate() -> None:
    """input_tokens includes the cached ones: 1M total of which 0.8M cached."""
    usage = Usage(input_tokens=M, cached_input_tokens=800_000, output_tokens=0)
    expected = 0.2 * 0.40 + 0.8 * 0.10
    assert cost("openai:gpt-4.1-mini", usage) == pytest.approx(expected)


def test_cache_writes_use_the_write_rate_or_the_input_rate() -> None:
    usage = Usage(
        input_tokens=1_000 + 10_000 + 2_000,
        cached_input_tokens=10_000,
        cache_write_tokens=2_000,
        output_tokens=500,
    )
    expected = (1_000 * 1.00 + 10_000 * 0.10 + 2_000 * 1.25 + 500 * 5.00) / M
    assert cost("anthropic:claude-haiku-4-5", usage) == pytest.approx(expected)
    no_write_rate = Price(1.00, 0.10, 5.00)
    expected_at_input_rate = (1_000 * 1.00 + 10_000 * 0.10 + 2_000 * 1.00 + 500 * 5.00) / M
    assert no_write_rate.cost(usage) == pytest.approx(expected_at_input_rate)


def test_inconsistent_usage_never_goes_negative() -> None:
    assert Price(1.0, 0.5, 2.0).cost(Usage(input_tokens=10, cached_input_tokens=20)) == (
        pytest.approx(20 * 0.5 / M)
    )


def test_unknown_models_have_no_cost_rather_than_zero() -> None:
    assert cost("openai:gpt-unknown", Usage(input_tokens=100)) is None
    assert DEFAULT_PRICING.price_for("mystery:model") is None


@pytest.mark.parametrize(
    ("model_id", "expected"),
    [
        ("anthropic:claude-sonnet-4-5-20250929", "anthropic:claude-sonnet-4-5"),
        ("openai:gpt-4.1-mini-2025-04-14", "openai:gpt-4.1-mini"),
        ("openai:gpt-4.1-2025-04-14", "openai:gpt-4.1"),
        ("local:SmolLM2-135M-Instruct-Q4_1", "local"),
        ("local", "local"),
        ("scripted", "scripted"),
    ],
)
def test_lookup_strips_dates_and_uses_provider_wide_entries(model_id: str, expected: str) -> None:
    assert DEFAULT_PRICING.price_for(model_id) == DEFAULT_PRICING[expected]


def test_local_and_scripted_models_are_free() -> None:
    usage = Usage(input_tokens=M, output_tokens=M)
    assert cost("local:SmolLM2-135M-Instruct-Q4_1", usage) == 0.0
    assert cost("scripted", usage) == 0.0


def test_self_hosted_endpoints_are_not_priced_like_the_provider() -> None:
    """A model served from a custom base URL is unknown until priced explicitly."""
    assert DEFAULT_PRICING.price_for("openai:gpt-4.1-mini@http://127.0.0.1:8000/v1") is None


def test_overrides_return_a_new_table() -> None:
    served = "openai:qwen2.5@http://127.0.0.1:8000/v1"
    table = DEFAULT_PRICING.with_overrides(
        {served: Price(0.0, 0.0, 0.0), "openai:gpt-4.1": Price(1.0, 0.25, 4.0)}
    )
    assert table.cost(served, Usage(input_tokens=M)) == 0.0
    assert table.cost("openai:gpt-4.1", Usage(input_tokens=M)) == pytest.approx(1.0)
    assert cost("openai:gpt-4.1", Usage(input_tokens=M), table=table) == pytest.approx(1.0)
    # The original is untouched.
    assert DEFAULT_PRICING.cost("openai:gpt-4.1", Usage(input_tokens=M)) == pytest.approx(2.0)
    assert served not in DEFAULT_PRICING


def test_an_empty_table_knows_nothing() -> None:
    table = PricingTable()
    assert len(table) == 0
    assert table.cost("local", Usage()) is None
