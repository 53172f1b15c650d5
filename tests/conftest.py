"""Shared fixtures, and the rule that the suite never skips silently.

A skipped test proves nothing, and ``-ra`` prints skips in a summary nobody
reads: a missing optional dependency or model file would quietly turn a
claim of the README into an untested one. So every skip (of a test or of a
whole module at collection) is reported as a failure that names its reason.
Deselecting tests (``-m "not slow"``) is still allowed; it is not a skip.
``TETHER_ALLOW_SKIPS=1`` restores plain skips for a local machine that lacks
something on purpose.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Generator
from pathlib import Path
from typing import Any

import pytest

_ALLOW_SKIPS = "TETHER_ALLOW_SKIPS"


def pytest_configure(config: pytest.Config) -> None:
    """Caches (example vectors, injection tables) go to a folder of this session's own,
    shared with the processes its tests start, never to the user's ``~/.cache``."""
    if "TETHER_CACHE_DIR" not in os.environ:
        folder = tempfile.mkdtemp(prefix="tether-test-cache-")
        os.environ["TETHER_CACHE_DIR"] = folder
        config.add_cleanup(lambda: shutil.rmtree(folder, ignore_errors=True))


@pytest.fixture
def store_url(tmp_path: Path) -> str:
    """URL of a fresh SQLite store file (a real file, WAL mode, FULL durability)."""
    return f"sqlite:///{tmp_path}/tether.db"


def _skip_reason(report: pytest.TestReport | pytest.CollectReport) -> str:
    longrepr = report.longrepr
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        return str(longrepr[2])
    return str(longrepr)


def _fail_skip(report: pytest.TestReport | pytest.CollectReport) -> None:
    if os.environ.get(_ALLOW_SKIPS) == "1" or not report.skipped:
        return
    if hasattr(report, "wasxfail"):  # an expected failure, not a skip (xfail_strict holds it)
        return
    report.outcome = "failed"
    report.longrepr = (
        f"skipped ({_skip_reason(report)}), and this suite allows no skips: install what is "
        f"missing, or set {_ALLOW_SKIPS}=1 to allow skips on this machine"
    )


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, Any, None]:
    """Turn a skipped test into a failure that names the skip's reason."""
    outcome = yield
    _fail_skip(outcome.get_result())


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(
    collector: pytest.Collector,
) -> Generator[None, Any, None]:
    """Turn a module skipped at import (``importorskip``) into a collection error."""
    outcome = yield
    _fail_skip(outcome.get_result())


# -- Postgres: one throwaway cluster per session, one fresh database per test -----------------

STORE_BACKENDS = [
    b.strip() for b in os.environ.get("TETHER_TEST_STORES", "sqlite").split(",") if b.strip()
]
"""Store backends under test (``TETHER_TEST_STORES``, comma-separated, default ``sqlite``)."""


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Deselect (never skip) ``@pytest.mark.postgres`` tests unless postgres is under test."""
    if "postgres" in STORE_BACKENDS:
        return
    kept = [item for item in items if item.get_closest_marker("postgres") is None]
    if len(kept) != len(items):
        config.hook.pytest_deselected(items=[i for i in items if i not in kept])
        items[:] = kept


@pytest.fixture(scope="session")
def postgres_cluster() -> Generator[Any, None, None]:
    """A real Postgres started for this session on 127.0.0.1 (``tests/_postgres.py``)."""
    from _postgres import start_cluster, stop_cluster

    cluster = start_cluster()
    try:
        yield cluster
    finally:
        stop_cluster(cluster)


@pytest.fixture
def postgres_url(postgres_cluster: Any) -> Generator[str, None, None]:
    """URL of a fresh, empty database on the session's cluster."""
    url: str = postgres_cluster.new_database()
    yield url
    postgres_cluster.drop_database(url)


@pytest.fixture(params=STORE_BACKENDS)
def any_store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh store URL of each backend under test (``TETHER_TEST_STORES``)."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/tether.db"
    if request.param == "postgres":
        return str(request.getfixturevalue("postgres_url"))
    pytest.fail(f"unknown store backend {request.param!r} in TETHER_TEST_STORES")
