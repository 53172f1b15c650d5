"""Persistence: one ``Store`` interface, backends chosen by URL."""

from tether.store._base import (
    Durability,
    EventChain,
    EventRow,
    RunRecord,
    RunUpdate,
    Store,
)
from tether.store._chain import ChainVerdict, event_hash, genesis_hash, run_key, verify_chain
from tether.store._open import default_store_url, open_store

__all__ = [
    "ChainVerdict",
    "Durability",
    "EventChain",
    "EventRow",
    "RunRecord",
    "RunUpdate",
    "Store",
    "default_store_url",
    "event_hash",
    "genesis_hash",
    "open_store",
    "run_key",
    "verify_chain",
]
