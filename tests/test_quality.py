"""Quality gates run with the suite: ruff lint, ruff format and mypy --strict stay clean.

Each tool runs as ``sys.executable -m TOOL``: the one installed with the dev extra in
this interpreter, never whatever happens to be on ``PATH`` (or nothing, and a skip).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=600)


def test_ruff_lint_is_clean() -> None:
    """``ruff check`` reports nothing."""
    proc = _run(sys.executable, "-m", "ruff", "check", "src", "tests", "benchmarks", "examples")
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_ruff_format_is_clean() -> None:
    """``ruff format --check`` would change nothing."""
    proc = _run(
        sys.executable, "-m", "ruff", "format", "--check", "src", "tests", "benchmarks", "examples"
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_mypy_strict_is_clean() -> None:
    """``mypy --strict src`` reports no errors."""
    proc = _run(sys.executable, "-m", "mypy", "--strict", "src")
    assert proc.returncode == 0, proc.stdout + proc.stderr
