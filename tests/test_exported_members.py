"""The public surface: each package's ``__all__`` is exactly its public names, sorted."""

from __future__ import annotations

import importlib

import pytest

PACKAGES = [
    "tether",
    "tether.engine",
    "tether.engine.loops",
    "tether.runtime",
    "tether.store",
    "tether.testing",
    "tether.tools",
    "tether.models",
    "tether.observe",
    "tether.policy",
    "tether.context",
    "tether.server",
]


@pytest.mark.parametrize("name", PACKAGES)
def test_all_lists_exactly_the_public_names(name: str) -> None:
    """Every public attribute is in ``__all__``, every ``__all__`` entry exists, sorted."""
    module = importlib.import_module(name)
    exported = list(module.__all__)
    public = {
        attr
        for attr, value in vars(module).items()
        if not attr.startswith("_")
        and not (getattr(value, "__name__", "").startswith(name + "."))
        and not isinstance(value, type(importlib))
    }
    assert exported == sorted(exported, key=lambda s: (not s.isupper(), s))
    assert set(exported) == public
