"""The suite's own rule: a skip is a failure that names its reason (see ``conftest.py``)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

CONFTEST = Path(__file__).with_name("conftest.py")

SKIPPING = """
import pytest

def test_skipped_in_the_body():
    pytest.skip("no gpu here")

@pytest.mark.skipif(True, reason="never on this machine")
def test_skipped_by_a_marker():
    pass

@pytest.mark.xfail(reason="a known bug", strict=True)
def test_expected_to_fail():
    assert False

def test_plain():
    pass
"""


def _pytest(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    shutil.copy(CONFTEST, tmp_path / "conftest.py")
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    (tmp_path / "test_skipping.py").write_text(SKIPPING)
    environ = {k: v for k, v in os.environ.items() if k != "TETHER_ALLOW_SKIPS"}
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tmp_path)],
        cwd=tmp_path,
        env={**environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_a_skip_fails_the_run_and_names_its_reason(tmp_path: Path) -> None:
    """Both kinds of skip fail with their reason; an expected failure stays expected."""
    proc = _pytest(tmp_path)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 1, out
    assert "no gpu here" in out and "never on this machine" in out
    assert "allows no skips" in out
    assert "1 xfailed" in out and "1 passed" in out


def test_skips_can_be_allowed_on_purpose(tmp_path: Path) -> None:
    """``TETHER_ALLOW_SKIPS=1`` gives plain skips back, for a machine that lacks something."""
    proc = _pytest(tmp_path, TETHER_ALLOW_SKIPS="1")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "2 skipped" in proc.stdout
