"""Pure helpers both SQL backends share: column lists, row conversion, migration files."""

from __future__ import annotations

import math
from collections.abc import Sequence
from importlib import resources
from typing import Any

from tether.store._base import RunRecord
from tether.store._keys import ApiKey

RUN_COLUMNS = (
    "run_id, agent, agent_version, status, created_at, updated_at, tenant, parent_run_id, "
    "reason, last_seq, lease_owner, lease_expires_at"
)
"""The columns of ``runs`` in the order :func:`run_record` reads them."""

KEY_COLUMNS = "key_id, secret_hash, tenant, scopes, label, created_at, revoked_at"
"""The columns of ``api_keys`` in the order :func:`api_key` reads them."""


def run_record(row: Sequence[Any]) -> RunRecord:
    """A ``runs`` row selected with :data:`RUN_COLUMNS` as a :class:`RunRecord`.

    The values are typed here, once for every reader: SQLite keeps whatever was written
    into a column (a row edited by hand, ``created_at = 'yesterday'``), and a value of the
    wrong type used to reach the claim pass's ordering and crash every worker on the
    store, and ``tether runs``. A time that is no number is taken from the run's other
    time (else 0, the oldest); a lease expiry that is no number counts as a lease that
    holds, as SQLite's own comparison of it does (text sorts above every number), so the
    run is left alone rather than driven twice.
    """
    created = _seconds(row[4])
    updated = _seconds(row[5])
    expires = row[11]
    return RunRecord(
        run_id=row[0],
        agent=row[1],
        agent_version=row[2],
        status=row[3],
        created_at=created if created is not None else (updated or 0.0),
        updated_at=updated if updated is not None else (created or 0.0),
        tenant=row[6],
        parent_run_id=row[7],
        reason=row[8],
        last_seq=_count(row[9]),
        lease_owner=row[10],
        lease_expires_at=None if expires is None else _seconds(expires, math.inf),
    )


def _seconds(value: Any, malformed: float | None = None) -> float | None:
    """A finite timestamp from a stored value (a number, or text holding one), else
    ``malformed``."""
    if isinstance(value, bool):
        return malformed
    if isinstance(value, int | float):
        number = float(value)
    elif isinstance(value, str | bytes):
        try:
            number = float(value)
        except ValueError:
            return malformed
    else:
        return malformed
    return number if math.isfinite(number) else malformed


def _count(value: Any) -> int:
    """A stored sequence number as an int (0 when it is none)."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    number = _seconds(value)
    return int(number) if number is not None else 0


def api_key(row: Sequence[Any]) -> ApiKey:
    """An ``api_keys`` row selected with :data:`KEY_COLUMNS` as an :class:`ApiKey`."""
    return ApiKey(
        key_id=row[0],
        secret_hash=row[1],
        tenant=row[2],
        scopes=tuple(str(row[3]).split()),
        label=row[4],
        created_at=row[5],
        revoked_at=row[6],
    )


def migration_scripts(package: str) -> list[tuple[int, str]]:
    """The ``NNNN_name.sql`` files of ``package`` as ``(version, sql)``, oldest first.

    Whole-line comments are dropped: a ";" in one must not split a statement.
    """
    found = []
    for entry in resources.files(package).iterdir():
        if entry.name.endswith(".sql"):
            lines = entry.read_text().splitlines()
            sql = "\n".join(line for line in lines if not line.lstrip().startswith("--"))
            found.append((int(entry.name.split("_", 1)[0]), sql))
    return sorted(found)
