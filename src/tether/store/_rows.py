"""Pure helpers both SQL backends share: column lists, row conversion, migration files."""

from __future__ import annotations

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
    """A ``runs`` row selected with :data:`RUN_COLUMNS` as a :class:`RunRecord`."""
    return RunRecord(
        run_id=row[0],
        agent=row[1],
        agent_version=row[2],
        status=row[3],
        created_at=row[4],
        updated_at=row[5],
        tenant=row[6],
        parent_run_id=row[7],
        reason=row[8],
        last_seq=row[9],
        lease_owner=row[10],
        lease_expires_at=row[11],
    )


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
