"""Persistence: one ``Store`` interface, backends chosen by URL."""

from tether.store._base import (
    Durability,
    EventRow,
    RunRecord,
    RunUpdate,
    Store,
)
from tether.store._open import default_store_url, open_store

__all__ = [
    "Durability",
    "EventRow",
    "RunRecord",
    "RunUpdate",
    "Store",
    "default_store_url",
    "open_store",
]
