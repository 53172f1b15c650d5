"""The store under test: every backend runs the same conformance suite.

``TETHER_TEST_STORES`` picks backends (comma-separated, default ``sqlite``):
``sqlite`` is a file in the test's temporary directory, ``postgres`` a fresh
database on a real cluster started for the session (``tests/_postgres.py``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tether.store import Store, open_store


@pytest.fixture
async def store(any_store_url: str) -> AsyncIterator[Store]:
    """An opened, empty store of each configured backend."""
    backend = open_store(any_store_url)
    await backend.open()
    try:
        yield backend
    finally:
        await backend.close()
