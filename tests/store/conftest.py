"""The store under test: every backend runs the same conformance suite.

``TETHER_TEST_STORES`` picks backends (comma-separated, default ``sqlite``);
a later Postgres backend joins by adding ``postgres`` here.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tether.store import Store, open_store

BACKENDS = [b.strip() for b in os.environ.get("TETHER_TEST_STORES", "sqlite").split(",") if b]


@pytest.fixture(params=BACKENDS)
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    """An opened, empty store of each configured backend."""
    if request.param == "sqlite":
        backend = open_store(f"sqlite:///{tmp_path}/conformance.db")
    else:
        pytest.fail(f"unknown store backend {request.param!r} in TETHER_TEST_STORES")
    await backend.open()
    try:
        yield backend
    finally:
        await backend.close()
