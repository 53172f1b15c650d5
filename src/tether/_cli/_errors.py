"""Failures a command cannot recover from, as one line: what went wrong and what to do next.

The store is the usual suspect: a file that is not a database, a folder nobody may
write, a path that is a directory, a database from a newer Tether. SQLite reports all
of these as terse ``sqlite3`` or ``OS`` errors from deep inside the store; here they
become a :class:`Failure` that names the path and the fix, with a stable exit code.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from tether._cli._exit import EXIT_INTERNAL, EXIT_STORE
from tether.exceptions import SchemaVersionError, StoreError, TetherError

_FRESH = "or point --store (or $TETHER_STORE) at another file"
_FRESH_SERVER = "or point --store (or $TETHER_STORE) at another database"


@dataclass(kw_only=True, frozen=True, slots=True)
class Failure:
    """What went wrong, what to do about it, and the exit code that says which kind."""

    message: str
    hint: str | None
    code: int


def store_failure(exc: BaseException, store_url: str) -> Failure | None:
    """The failure to report if ``exc`` means the store is unusable, else ``None``.

    Looks through one level of ``__cause__``, so a ``StoreError`` that wraps the
    ``sqlite3`` error gets the same diagnosis as the bare error.
    """
    import sqlite3  # the standard library's; the store has imported it by now anyway

    from tether.store import safe_store_url

    path = _store_path(store_url)
    where = str(path) if path is not None else safe_store_url(store_url)
    if isinstance(exc, SchemaVersionError):
        return Failure(
            message=exc.message,
            hint="`pip install -U tether-runtime` to read it, "
            + (_FRESH if path is not None else _FRESH_SERVER),
            code=EXIT_STORE,
        )
    cause = exc.__cause__ if isinstance(exc, StoreError) else None
    low = exc if isinstance(exc, sqlite3.Error | OSError) else cause
    # Only the errors of a file that cannot be used; IntegrityError, ProgrammingError and
    # the like are bugs, reported as such by the caller.
    unusable = (sqlite3.DatabaseError, sqlite3.OperationalError)
    if isinstance(low, sqlite3.DatabaseError) and type(low) in unusable:
        return _sqlite_failure(low, path, where)
    if isinstance(low, OSError):
        return Failure(
            message=f"cannot create the store {where}: {_os_reason(low)}",
            hint=f"create {_parent_dir(path, where)} as a folder you may write to, " + _FRESH,
            code=EXIT_STORE,
        )
    if isinstance(exc, StoreError):
        return Failure(
            message=f"the store {where} failed: {exc.message}",
            hint=f"check the file and its folder, {_FRESH}"
            if path is not None or store_url.startswith("sqlite:")
            else _server_hint(exc),
            code=EXIT_STORE,
        )
    return None


def _server_hint(exc: StoreError) -> str:
    """What to do about a database server (Postgres) that failed."""
    if exc.transient:
        return (
            "check that the database server is running and reachable at the URL's host and "
            f"port, then run again, {_FRESH_SERVER}"
        )
    return (
        "check the URL's database name, user, password and options, and that the server "
        f"lets that user connect to that database (CREATE DATABASE, pg_hba.conf), {_FRESH_SERVER}"
    )


def internal_failure(exc: BaseException) -> Failure:
    """An exception nothing expected: a bug in Tether, reported as one line."""
    return Failure(
        message=f"internal error: {type(exc).__name__}: {exc}",
        hint="this is a bug in Tether; run again with TETHER_TRACEBACK=1 to see where, and "
        "report it",
        code=EXIT_INTERNAL,
    )


def _sqlite_failure(exc: Exception, path: Path | None, where: str) -> Failure:
    name = getattr(exc, "sqlite_errorname", "")
    said = f"(sqlite: {exc})"
    if path is not None and path.is_dir():
        return Failure(
            message=f"the store path {where} is a directory, not a database file",
            hint=f"point --store at a file inside it, e.g. sqlite:///{path / 'tether.db'}",
            code=EXIT_STORE,
        )
    if name == "SQLITE_READONLY" or "readonly" in str(exc):
        return Failure(
            message=f"the store {where} is read-only {said}",
            hint="make the file and its folder writable (SQLite writes -wal and -shm files "
            f"next to it), {_FRESH}",
            code=EXIT_STORE,
        )
    if name == "SQLITE_CANTOPEN" or "unable to open" in str(exc):
        folder = _parent_dir(path, where)
        why = "cannot be opened"
        if path is not None and not path.exists() and not _writable_dir(path.parent):
            why = f"cannot be created: {folder} is not writable"
        return Failure(
            message=f"the store {where} {why} {said}",
            hint=f"check that {folder} exists and you may write to it, {_FRESH}",
            code=EXIT_STORE,
        )
    if name in ("SQLITE_NOTADB", "SQLITE_CORRUPT") or type(exc).__name__ == "DatabaseError":
        return Failure(
            message=f"the store {where} is not a readable Tether database {said}",
            hint="if it was damaged, restore it from a backup or move it aside; to start "
            f"afresh, delete it {_FRESH}",
            code=EXIT_STORE,
        )
    return Failure(
        message=f"the store {where} failed {said}",
        hint=f"check the file and its folder, {_FRESH}",
        code=EXIT_STORE,
    )


def _store_path(store_url: str) -> Path | None:
    """The file behind a store URL, when the backend has one (SQLite)."""
    from tether.store import open_store

    try:
        store = open_store(store_url)
    except TetherError:
        return None
    path = getattr(store, "path", None)  # SQLite only; a Store has no public path (yet)
    return path if isinstance(path, Path) else None


def _writable_dir(folder: Path) -> bool:
    """Whether new files may be made in ``folder`` (a missing folder is not judged here)."""
    return not folder.is_dir() or os.access(folder, os.W_OK)


def _parent_dir(path: Path | None, where: str) -> str:
    return str(path.parent) if path is not None else f"the folder of {where}"


def _os_reason(exc: OSError) -> str:
    reason = exc.strerror or str(exc)
    return f"{reason} ({exc.filename})" if exc.filename else reason
