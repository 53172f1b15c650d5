"""Turn token usage into US dollars, so budgets and reports can speak in cost.

Usage convention (every adapter follows it): ``Usage.input_tokens`` counts
*all* prompt tokens, including ``cached_input_tokens`` (read from a provider
cache) and ``cache_write_tokens`` (written to it). OpenAI already reports it
that way; the Anthropic adapter adds cache reads and writes back in. Cost is
then::

    uncached = input_tokens - cached_input_tokens - cache_write_tokens
    cost = (uncached       * input_per_mtok
          + cached_input   * cached_input_per_mtok
          + cache_write    * cache_write_per_mtok   (input rate if None)
          + output_tokens  * output_per_mtok) / 1_000_000

so a cached token is billed once, at the cached rate, never also at the input
rate.

Unknown models cost ``None``, not ``0.0``: a budget in dollars cannot be
enforced for a model whose price nobody told us, and the caller should say
so (warn, or fall back to token budgets) rather than count it as free. Add
prices with :meth:`PricingTable.with_overrides`.

Lookup of a model id (``provider:model[@base_url]``), first match wins:

1. the exact id;
2. the id with a trailing date stamp removed
   (``anthropic:claude-sonnet-4-5-20250929`` → ``anthropic:claude-sonnet-4-5``,
   ``openai:gpt-4.1-mini-2025-04-14`` → ``openai:gpt-4.1-mini``);
3. a provider-wide entry, a key without ``:`` (``local`` prices every
   ``local:...`` model). Ids with ``@base_url`` (a self-hosted endpoint) only
   match exactly or provider-wide: their model name says nothing about price.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from types import MappingProxyType

from tether.models._types import Usage

__all__ = ["DEFAULT_PRICING", "Price", "PricingTable", "cost"]

_PER_TOKEN = 1_000_000
_DATE_SUFFIX = re.compile(r"-(\d{8}|\d{4}-\d{2}-\d{2})$")


@dataclass(frozen=True, slots=True)
class Price:
    """What one model charges, in US dollars per million tokens.

    ``cache_write_per_mtok`` is the rate for tokens written to a prompt cache
    (Anthropic charges a premium); ``None`` bills them at the input rate.
    """

    input_per_mtok: float
    cached_input_per_mtok: float
    output_per_mtok: float
    cache_write_per_mtok: float | None = None

    def cost(self, usage: Usage) -> float:
        """Dollars for ``usage``; cached input is billed only at the cached rate."""
        uncached = max(usage.input_tokens - usage.cached_input_tokens - usage.cache_write_tokens, 0)
        write_rate = (
            self.input_per_mtok if self.cache_write_per_mtok is None else self.cache_write_per_mtok
        )
        total = (
            uncached * self.input_per_mtok
            + usage.cached_input_tokens * self.cached_input_per_mtok
            + usage.cache_write_tokens * write_rate
            + usage.output_tokens * self.output_per_mtok
        )
        return total / _PER_TOKEN


FREE = Price(0.0, 0.0, 0.0, 0.0)


class PricingTable(Mapping[str, Price]):
    """An immutable map from model ids (or provider names) to prices.

    Example:
        >>> table = DEFAULT_PRICING.with_overrides({"openai:qwen2.5@http://gpu:8000/v1": FREE})
        >>> table.cost("openai:gpt-4.1-mini", Usage(input_tokens=1_000_000))
        0.4
    """

    def __init__(self, prices: Mapping[str, Price] | None = None) -> None:
        self._prices: Mapping[str, Price] = MappingProxyType(dict(prices or {}))
        self._found: dict[str, Price | None] = {}  # price_for per model id (asked every call)

    def __getitem__(self, key: str) -> Price:
        return self._prices[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._prices)

    def __len__(self) -> int:
        return len(self._prices)

    def __repr__(self) -> str:
        return f"PricingTable({dict(self._prices)!r})"

    def with_overrides(self, prices: Mapping[str, Price]) -> PricingTable:
        """A new table with ``prices`` added or replacing entries of the same id."""
        return PricingTable({**self._prices, **prices})

    def price_for(self, model_id: str) -> Price | None:
        """The price of ``model_id`` (see the module docstring for the lookup order)."""
        try:
            return self._found[model_id]
        except KeyError:
            pass
        price = self._lookup(model_id)
        if len(self._found) < 4096:  # the table is immutable: an answer never changes
            self._found[model_id] = price
        return price

    def _lookup(self, model_id: str) -> Price | None:
        if model_id in self._prices:
            return self._prices[model_id]
        if "@" not in model_id:
            undated = _DATE_SUFFIX.sub("", model_id)
            if undated != model_id and undated in self._prices:
                return self._prices[undated]
        provider, sep, _ = model_id.partition(":")
        if sep and provider in self._prices:
            return self._prices[provider]
        return None

    def cost(self, model_id: str, usage: Usage) -> float | None:
        """Dollars for ``usage`` on ``model_id``; ``None`` when the model has no known price."""
        price = self.price_for(model_id)
        return None if price is None else price.cost(usage)


DEFAULT_PRICING = PricingTable(
    {
        # Public list prices (USD per million tokens) as of late 2025. Override
        # them for negotiated rates or when providers change their prices.
        "openai:gpt-4.1": Price(2.00, 0.50, 8.00),
        "openai:gpt-4.1-mini": Price(0.40, 0.10, 1.60),
        "openai:gpt-4o-mini": Price(0.15, 0.075, 0.60),
        "anthropic:claude-sonnet-4-5": Price(3.00, 0.30, 15.00, cache_write_per_mtok=3.75),
        "anthropic:claude-haiku-4-5": Price(1.00, 0.10, 5.00, cache_write_per_mtok=1.25),
        # In-process and test models cost nothing.
        "local": FREE,
        "scripted": FREE,
    }
)
"""Prices of a few well-known models; extend with :meth:`PricingTable.with_overrides`."""


def cost(model_id: str, usage: Usage, *, table: PricingTable = DEFAULT_PRICING) -> float | None:
    """Dollars for ``usage`` on ``model_id`` under ``table``; ``None`` if the price is unknown."""
    return table.cost(model_id, usage)
