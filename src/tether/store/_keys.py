"""API keys: how they are made, stored (hashed) and checked.

A key reads ``tk_<key_id>_<secret>``. ``key_id`` is public (listings, revocation,
audit trails); the secret is 256 random bits shown once, when the key is created.
The store keeps only the SHA-256 of the whole key: a random 256-bit secret needs no
slow password hash, and a stolen database holds nothing that authenticates.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections.abc import Iterable
from dataclasses import dataclass

API_SCOPES: tuple[str, ...] = ("runs:read", "runs:write", "approvals:write", "admin")
"""What a key may do. ``admin`` implies every other scope, for every tenant."""

_PREFIX = "tk"


@dataclass(frozen=True, kw_only=True, slots=True)
class ApiKey:
    """A stored API key: who it acts for and what it may do (never the key itself)."""

    key_id: str
    secret_hash: str
    tenant: str
    scopes: tuple[str, ...]
    created_at: float
    label: str | None = None
    revoked_at: float | None = None

    @property
    def revoked(self) -> bool:
        """Whether the key was revoked (it then authenticates nothing)."""
        return self.revoked_at is not None

    def matches(self, key: str) -> bool:
        """Whether ``key`` is this key (a constant-time comparison of hashes)."""
        return hmac.compare_digest(self.secret_hash, hash_api_key(key))


def hash_api_key(key: str) -> str:
    """The hash a key is stored as."""
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()


def api_key_id(key: str) -> str | None:
    """The ``key_id`` part of a presented key, or ``None`` if it is not shaped like one."""
    parts = key.split("_", 2)
    if len(parts) != 3 or parts[0] != _PREFIX or not parts[1] or not parts[2]:
        return None
    return parts[1]


def new_api_key(
    tenant: str, scopes: Iterable[str], *, label: str | None = None
) -> tuple[ApiKey, str]:
    """Make a key for ``tenant``: the record to store and the key to hand out (once).

    Raises:
        ValueError: an unknown scope, no scope, or an empty tenant.
    """
    wanted = tuple(dict.fromkeys(s.strip() for s in scopes if s.strip()))
    unknown = [s for s in wanted if s not in API_SCOPES]
    if unknown:
        raise ValueError(
            f"unknown scope(s) {', '.join(map(repr, unknown))}; use {', '.join(API_SCOPES)}"
        )
    if not wanted:
        raise ValueError(f"a key needs at least one scope: {', '.join(API_SCOPES)}")
    if not tenant.strip():
        raise ValueError("a key needs a tenant")
    key_id = secrets.token_hex(8)
    key = f"{_PREFIX}_{key_id}_{secrets.token_urlsafe(32)}"
    record = ApiKey(
        key_id=key_id,
        secret_hash=hash_api_key(key),
        tenant=tenant.strip(),
        scopes=wanted,
        created_at=time.time(),
        label=label,
    )
    return record, key
