"""Shared fixtures: a real SQLite file store in a temporary directory."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture
def store_url(tmp_path: Path) -> str:
    """URL of a fresh SQLite store file (a real file, WAL mode, FULL durability)."""
    return f"sqlite:///{tmp_path}/tether.db"
