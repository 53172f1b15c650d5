"""The README's first command, as a user types it, on the embedded local model.

    tether run examples/support.py:agent "Where is my order 1234?"

Run through the installed ``tether`` command in a fresh working directory, so
the store lands in ``.tether/tether.db`` there, with no key and no network.
The assertions are about behaviour (the lookup ran for order 1234, the run
completed, usage was counted), never about the model's wording.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
TETHER = Path(sys.executable).with_name("tether")  # the console script of this install
TASK = "Where is my order 1234?"


@dataclass(frozen=True)
class Headline:
    """What one run of the headline command left behind."""

    proc: subprocess.CompletedProcess[str]
    cwd: Path
    run_id: str
    events: list[dict[str, Any]]


def _tether(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "TETHER_STORE"}
    return subprocess.run(
        [str(TETHER), *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=900
    )


@pytest.fixture(scope="module")
def headline(tmp_path_factory: pytest.TempPathFactory) -> Headline:
    """Run the headline command once in a temporary working directory."""
    assert TETHER.is_file(), f"the tether command is not installed next to {sys.executable}"
    cwd = tmp_path_factory.mktemp("headline")
    shutil.copytree(ROOT / "examples", cwd / "examples")
    proc = _tether(cwd, "run", "examples/support.py:agent", TASK)
    db = cwd / ".tether" / "tether.db"
    assert db.is_file(), f"no store at {db}:\n{proc.stdout}\n{proc.stderr}"
    with closing(sqlite3.connect(db)) as conn:
        (run_id,) = [row[0] for row in conn.execute("SELECT run_id FROM runs")]
    shown = _tether(cwd, "show", run_id, "--json")
    assert shown.returncode == 0, shown.stderr
    events = [json.loads(line) for line in shown.stdout.splitlines() if line.strip()]
    return Headline(proc=proc, cwd=cwd, run_id=run_id, events=events)


@pytest.mark.slow
def test_headline_command_exits_0_after_looking_up_order_1234(headline: Headline) -> None:
    """The main job completes, and its answer comes from the lookup tool for order 1234."""
    proc = headline.proc
    assert proc.returncode == 0, f"{proc.stdout}\n{proc.stderr}"
    kinds = [e["type"] for e in headline.events]
    assert kinds[0] == "run.created" and headline.events[0]["input"] == TASK
    lookups = [e for e in headline.events if e["type"] == "tool.completed"]
    assert [e["tool"] for e in lookups] == ["lookup_order"], kinds
    assert lookups[0]["result"]["order_id"] == "1234"
    calls = [
        call
        for e in headline.events
        if e["type"] == "model.completed"
        for call in e["response"]["tool_calls"]
    ]
    assert [(c["name"], c["arguments"]) for c in calls] == [("lookup_order", {"order_id": "1234"})]
    (finished,) = [e for e in headline.events if e["type"] == "run.finished"]
    assert finished["status"] == "completed"
    assert finished["output"], "the run completed without an answer"
    assert [e["seq"] for e in headline.events] == list(range(1, len(headline.events) + 1))


@pytest.mark.slow
def test_headline_run_counts_the_tokens_of_its_model_calls(headline: Headline) -> None:
    """Usage is recorded for the local model too: a call that ran the model used tokens."""
    model_calls = [e for e in headline.events if e["type"] == "model.completed"]
    assert model_calls
    usage = [e["response"]["usage"] for e in model_calls]
    assert usage[0]["input_tokens"] > 0 and usage[0]["output_tokens"] > 0, usage
    (finished,) = [e for e in headline.events if e["type"] == "run.finished"]
    assert finished["usage"]["input_tokens"] >= usage[0]["input_tokens"], finished["usage"]
