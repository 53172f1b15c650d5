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
from collections.abc import Generator
from pathlib import Path
from typing import Any

import pytest

_ALLOW_SKIPS = "TETHER_ALLOW_SKIPS"


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
