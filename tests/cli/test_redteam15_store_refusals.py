"""Red team 15, holes 01 and 07: a Postgres store that refuses for good, and a bad pool option.

01: a failure to connect carries no SQLSTATE, so every one of them was called transient:
``tether worker`` on a database that does not exist, a role that does not exist or
``?sslmode=bogus`` printed "the store does not answer yet ... retrying" forever, although
its own docstring says a store that refuses for good ends it. Now those refusals end it
with exit 4, the server's words and a next step fit for a database server; ``tether
runs``/``serve`` no longer tell the user to "check the file and its folder" of a
Postgres URL. A server that is not up (connection refused) is still waited for.

07: ``?pool_timeout=inf`` passed the URL check, then ``open()`` crashed on ``int(inf)``:
``tether worker`` exited 70, "internal error ... a bug in Tether". Now it is refused as
the URL is read, with exit 2, like ``nan`` and ``0``.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import psycopg
import pytest
from typer.testing import CliRunner

import tether
from tether.cli import EXIT_STORE, EXIT_USAGE, app
from tether.exceptions import ConfigError
from tether.store import open_store
from tether.store._postgres import _transient

SRC = Path(tether.__file__).resolve().parents[1]  # the tether under test, for subprocesses
AGENTS = Path(__file__).resolve().parent / "tools_agents.py"
COMMAND = [sys.executable, "-m", "tether.cli", "worker", "--agents", str(AGENTS)]
BOGUS_SSL = "postgresql://u@127.0.0.1:1/db?sslmode=bogus"  # refused by libpq, no network


def _worker(store_url: str) -> subprocess.CompletedProcess[str]:
    """``tether worker`` on ``store_url``; it must end by itself (a retry loop fails)."""
    try:
        return subprocess.run(
            [*COMMAND, "--store", store_url],
            env={**os.environ, "PYTHONPATH": str(SRC)},
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        out = exc.stdout.decode() if isinstance(exc.stdout, bytes) else exc.stdout
        pytest.fail(f"the worker kept retrying a store that refuses for good: {out!r}")


def _connect_error(url: str) -> psycopg.OperationalError:
    try:
        psycopg.connect(url)
    except psycopg.OperationalError as exc:
        return exc
    raise AssertionError(f"{url} connected")


@pytest.mark.parametrize(
    "said",
    [
        'database "nope" does not exist',
        'role "nobody" does not exist',
        'password authentication failed for user "tether"',
        'no pg_hba.conf entry for host "127.0.0.1", user "tether", database "db", no encryption',
    ],
)
def test_a_server_that_refuses_the_connection_for_good_is_not_transient(said: str) -> None:
    # The text libpq gives psycopg for the server's FATAL answer; no SQLSTATE comes with it.
    exc = psycopg.OperationalError(
        f'connection failed: connection to server at "127.0.0.1", port 5432 failed: FATAL:  {said}'
    )
    assert exc.sqlstate is None
    assert not _transient(exc)


def test_connection_settings_libpq_refuses_are_not_transient() -> None:
    assert not _transient(_connect_error(BOGUS_SSL))


@pytest.mark.parametrize(
    "said",
    [
        'connection to server at "127.0.0.1", port 5432 failed: Connection refused\n\tIs the '
        "server running on that host and accepting TCP/IP connections?",
        'connection to server at "127.0.0.1", port 5432 failed: FATAL:  the database system '
        "is starting up",
        'connection to server at "127.0.0.1", port 5432 failed: FATAL:  sorry, too many '
        "clients already",
    ],
)
def test_a_server_that_is_not_up_yet_is_still_transient(said: str) -> None:
    assert _transient(psycopg.OperationalError(f"connection failed: {said}"))


def test_the_worker_ends_on_connection_settings_that_can_never_work() -> None:
    proc = _worker(BOGUS_SSL)
    assert proc.returncode == EXIT_STORE, proc.stdout + proc.stderr
    assert "does not answer yet" not in proc.stdout + proc.stderr
    assert 'invalid sslmode value: "bogus"' in proc.stderr
    assert "check the file and its folder" not in proc.stderr
    assert "another database" in proc.stderr


@pytest.mark.postgres
def test_the_worker_ends_on_a_database_that_does_not_exist(postgres_cluster: Any) -> None:
    proc = _worker(postgres_cluster.url("no_such_database_rt15"))
    assert proc.returncode == EXIT_STORE, proc.stdout + proc.stderr
    assert "does not answer yet" not in proc.stdout + proc.stderr
    assert 'database "no_such_database_rt15" does not exist' in proc.stderr
    assert "CREATE DATABASE" in proc.stderr


def test_runs_on_a_postgres_url_gives_a_hint_for_a_database_not_a_file() -> None:
    result = CliRunner().invoke(app, ["runs", "--store", BOGUS_SSL])
    assert result.exit_code == EXIT_STORE, result.output
    assert "invalid sslmode value" in result.output
    assert "check the file and its folder" not in result.output
    assert "another database" in result.output


@pytest.mark.parametrize("value", ["inf", "-inf", "Infinity", "nan", "0", "-1"])
def test_a_pool_timeout_that_is_not_a_positive_finite_number_is_refused(value: str) -> None:
    with pytest.raises(ConfigError, match="pool_timeout"):
        open_store(f"postgresql://u@127.0.0.1:1/db?pool_timeout={value}")


def test_the_worker_refuses_an_infinite_pool_timeout_as_a_usage_error() -> None:
    result = CliRunner().invoke(
        app,
        [
            "worker",
            "--agents",
            str(AGENTS),
            "--store",
            "postgresql://u@127.0.0.1:1/db?pool_timeout=inf",
        ],
    )
    assert result.exit_code == EXIT_USAGE, result.output
    assert "pool_timeout" in result.output and "finite" in result.output
    assert "internal error" not in result.output
