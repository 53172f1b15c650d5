"""Persistence: one ``Store`` interface, backends chosen by URL."""

from tether.store._base import (
    Durability,
    EventChain,
    EventRow,
    RunCursor,
    RunRecord,
    RunUpdate,
    Store,
    fair_share,
    queue_admits,
)
from tether.store._buckets import STORE_RETRY, BucketsOutage, TokenBuckets, TokenGrant, TokenTake
from tether.store._chain import ChainVerdict, event_hash, genesis_hash, run_key, verify_chain
from tether.store._keys import API_SCOPES, ApiKey, api_key_id, hash_api_key, new_api_key
from tether.store._open import default_store_url, open_store
from tether.store._urls import safe_store_url

__all__ = [
    "API_SCOPES",
    "STORE_RETRY",
    "ApiKey",
    "BucketsOutage",
    "ChainVerdict",
    "Durability",
    "EventChain",
    "EventRow",
    "RunCursor",
    "RunRecord",
    "RunUpdate",
    "Store",
    "TokenBuckets",
    "TokenGrant",
    "TokenTake",
    "api_key_id",
    "default_store_url",
    "event_hash",
    "fair_share",
    "genesis_hash",
    "hash_api_key",
    "new_api_key",
    "open_store",
    "queue_admits",
    "run_key",
    "safe_store_url",
    "verify_chain",
]
