"""The Postgres store's packaging: a lazy import, the pip line, URL options. No server needed."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tether.exceptions import ConfigError, MissingExtraError
from tether.store import open_store

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("url", ["sqlite:///x.db", "postgresql://u@127.0.0.1:1/db"])
def test_import_tether_does_not_load_psycopg_until_a_postgres_url(url: str, tmp_path: Path) -> None:
    probe = (
        "import sys, tether\n"
        "from tether.store import open_store\n"
        "assert 'psycopg' not in sys.modules\n"
        f"open_store({url!r})\n"
        "print('psycopg' in sys.modules)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    out = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout.strip()
    assert out == str(url.startswith("postgresql"))


def test_a_missing_postgres_extra_names_the_pip_line(tmp_path: Path) -> None:
    probe = (
        "import sys\n"
        "sys.modules['psycopg'] = None\n"
        "from tether.store import open_store\n"
        "open_store('postgresql://u@127.0.0.1/db')\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(ROOT / "src")},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode != 0
    assert MissingExtraError.__name__ in proc.stderr
    assert 'pip install "tether-runtime[postgres]"' in proc.stderr


def test_bad_pool_options_are_refused() -> None:
    with pytest.raises(ConfigError, match="pool_size"):
        open_store("postgresql://u@127.0.0.1/db?pool_size=0")
