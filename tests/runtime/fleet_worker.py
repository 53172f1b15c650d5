"""A real ``tether worker`` process for tests, serving ``fleet_agents`` (or another file).

Shared by the fleet tests (``test_fleet.py``) and the worker-option tests
(``tests/cli/test_worker_options.py``).
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import fleet_agents
import pytest

AGENTS = Path(fleet_agents.__file__)
TTL = 1.0
DEADLINE = 120.0  # bounds a hung test only


class Worker:
    """One ``tether worker`` process; ``line`` is its startup line, ``owner`` its runtime's
    lease owner. ``ttl`` and ``concurrency`` become ``--lease-ttl`` and ``--concurrency``
    (``None``: the command's defaults); ``options`` are more arguments; ``env`` more
    environment variables."""

    def __init__(
        self,
        store_url: str,
        ledger: Path,
        *options: str,
        agents: Path = AGENTS,
        ttl: float | None = TTL,
        concurrency: int | None = 50,
        **env: str,
    ) -> None:
        command = [sys.executable, "-m", "tether.cli", "worker", "--agents", str(agents)]
        command += ["--store", store_url]
        if ttl is not None:
            command += ["--lease-ttl", str(ttl)]
        if concurrency is not None:
            command += ["--concurrency", str(concurrency)]
        self.proc = subprocess.Popen(
            [*command, *options],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "TETHER_TEST_LEDGER": str(ledger), "COLUMNS": "300", **env},
        )
        assert self.proc.stdout is not None
        self.line = self.proc.stdout.readline()
        found = re.match(r"worker (\S+) serving", self.line)
        if found is None:
            self.stop()
            err = self.proc.stderr.read() if self.proc.stderr else ""
            pytest.fail(f"worker did not start ({self.proc.returncode}): {self.line}\n{err}")
        self.owner = found.group(1)

    def signal(self, sig: int) -> None:
        self.proc.send_signal(sig)

    def wait(self) -> int:
        return self.proc.wait(timeout=DEADLINE)

    def drain(self) -> int:
        """SIGTERM (drain) and the exit code."""
        self.signal(signal.SIGTERM)
        return self.wait()

    def read_until(self, text: str) -> None:
        """Read the worker's output up to a line containing ``text``."""
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            if text in line:
                return
        pytest.fail(f"the worker ended without saying {text!r}")

    def output(self) -> str:
        assert self.proc.stdout is not None
        return self.proc.stdout.read()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=30)
        for stream in (self.proc.stdout, self.proc.stderr):
            if stream is not None:
                stream.close()


@contextmanager
def workers(*made: Worker) -> Iterator[list[Worker]]:
    """The workers, each stopped (killed if still running) at the end."""
    try:
        yield list(made)
    finally:
        for w in made:
            w.stop()


def poll(check: Callable[[], object], what: str) -> None:
    """Wait until ``check()`` is true; fail the test after ``DEADLINE`` (a hung test only)."""
    deadline = time.monotonic() + DEADLINE
    while not check():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.05)
