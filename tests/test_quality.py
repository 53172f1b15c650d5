"""Quality gates run with the suite: ruff lint, ruff format and mypy --strict stay clean."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=600)


@pytest.mark.skipif(shutil.which("ruff") is None, reason="ruff not installed")
def test_ruff_lint_is_clean() -> None:
    """``ruff check`` reports nothing."""
    proc = _run("ruff", "check", "src", "tests", "benchmarks", "examples")
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.skipif(shutil.which("ruff") is None, reason="ruff not installed")
def test_ruff_format_is_clean() -> None:
    """``ruff format --check`` would change nothing."""
    proc = _run("ruff", "format", "--check", "src", "tests", "benchmarks", "examples")
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_mypy_strict_is_clean() -> None:
    """``mypy --strict src`` reports no errors."""
    proc = _run(sys.executable, "-m", "mypy", "--strict", "src")
    assert proc.returncode == 0, proc.stdout + proc.stderr
