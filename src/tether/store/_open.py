"""The factory that picks a store backend from a URL and imports it lazily."""

from __future__ import annotations

import os
from urllib.parse import parse_qs, urlsplit

from tether.exceptions import ConfigError
from tether.store._base import Durability, Store
from tether.store._urls import safe_store_url


def default_store_url() -> str:
    """``$TETHER_STORE`` if set, else a SQLite file in ``.tether/`` of the working directory."""
    return os.environ.get("TETHER_STORE") or "sqlite:///.tether/tether.db"


def open_store(url: str | Store, *, durability: Durability | None = None) -> Store:
    """Build the store a URL names (not yet opened).

    Forms: ``sqlite:///relative/path.db``, ``sqlite:////absolute/path.db``, with
    ``?synchronous=FULL|NORMAL`` and ``?busy_timeout=SECONDS`` (how long a write waits
    for another process's lock before it fails and is retried; default 30);
    ``postgresql://user:pass@host:5432/db`` (or ``postgres://``), with libpq's query
    options and Tether's ``?pool_size=N`` (connections per process, default 10) and
    ``?pool_timeout=SECONDS`` (default 10).
    """
    if isinstance(url, Store):
        return url
    try:
        parts = urlsplit(url)
    except ValueError as exc:  # "Invalid IPv6 URL": an unclosed bracket
        raise ConfigError(
            f"store URL {safe_store_url(url)!r} cannot be read ({exc}); use "
            "sqlite:///path/to/tether.db or postgresql://user:pass@host/db",
            url=safe_store_url(url),
        ) from None
    if parts.scheme == "sqlite":
        from tether.store._sqlite import SQLiteStore

        path = parts.path[1:] if parts.path.startswith("/") else parts.path
        if not path:
            raise ConfigError(
                f"store URL {url!r} has no file path; use sqlite:///path/to/tether.db",
                url=url,
            )
        query = parse_qs(parts.query)
        sync = durability or query.get("synchronous", ["FULL"])[0].upper()
        if sync not in ("FULL", "NORMAL"):
            raise ConfigError(
                f"store URL {url!r}: synchronous must be FULL or NORMAL, got {sync!r}", url=url
            )
        busy = query.get("busy_timeout", ["30"])[0]
        try:
            busy_timeout = float(busy)
        except ValueError:
            busy_timeout = -1.0
        if not busy_timeout > 0:
            raise ConfigError(
                f"store URL {url!r}: busy_timeout must be a positive number of seconds, "
                f"got {busy!r}",
                url=url,
            )
        return SQLiteStore(path, durability=sync, busy_timeout=busy_timeout)  # type: ignore[arg-type]  # checked above
    if parts.scheme in ("postgres", "postgresql"):
        # Imported here: psycopg loads only for a Postgres URL (a missing [postgres] extra
        # fails with the pip line).
        from tether.store._postgres import PostgresStore

        return PostgresStore(url)
    raise ConfigError(
        f"unknown store URL {safe_store_url(url)!r}; use sqlite:///path/to/tether.db or "
        "postgresql://user:pass@host/db (or set $TETHER_STORE)",
        url=safe_store_url(url),
    )
