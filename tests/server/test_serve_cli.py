"""``tether keys`` and ``tether serve`` from the command line.

Keys: the new key alone on the last line of ``create``, only its hash in the database,
``list`` without secrets, ``revoke`` taking effect on a live server. Serve: a real
``tether serve`` process serving every agent of a file, driving the runs it starts.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
from _live import live_server
from typer.testing import CliRunner

from tether import Agent
from tether.cli import app
from tether.store import hash_api_key
from tether.testing import ScriptedModel, text

HELLO = Agent(name="hello", model=ScriptedModel(lambda request: text("hi")))


def _keys(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["keys", *args])
    return result.exit_code, result.output


def test_keys_create_list_revoke(tmp_path: Path) -> None:
    db = tmp_path / "tether.db"
    store = f"sqlite:///{db}"
    code, out = _keys(
        "create", "--store", store, "--tenant", "acme", "--scopes", "runs:read,runs:write"
    )
    assert code == 0, out
    key = out.strip().splitlines()[-1]
    assert re.fullmatch(r"tk_[0-9a-f]{16}_[A-Za-z0-9_-]{43}", key), out
    key_id = key.split("_")[1]
    assert key not in "\n".join(out.strip().splitlines()[:-1])  # shown once, on its own line

    # Only the hash is stored: not in the table, not anywhere in the database's files.
    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT key_id, secret_hash, tenant, scopes FROM api_keys").fetchall()
    assert rows == [(key_id, hash_api_key(key), "acme", "runs:read runs:write")]
    secret = key.rsplit("_", 1)[1].encode()
    for path in tmp_path.iterdir():
        assert secret not in path.read_bytes(), path

    code, out = _keys("list", "--store", store)
    assert code == 0 and key_id in out and "acme" in out and "runs:read,runs:write" in out
    assert secret.decode() not in out

    with live_server(store, [HELLO]) as srv, httpx.Client(base_url=srv.url) as client:
        auth = {"Authorization": f"Bearer {key}"}
        assert client.get("/v1/runs", headers=auth).status_code == 200
        code, out = _keys("revoke", key_id, "--store", store)
        assert code == 0 and f"revoked API key {key_id}" in out
        response = client.get("/v1/runs", headers=auth)
        assert response.status_code == 401 and response.json()["error"]["code"] == "unauthorized"

    code, out = _keys("revoke", "0000000000000000", "--store", store)
    assert code == 2 and "no API key" in out


def test_keys_create_refuses_unknown_scopes(tmp_path: Path) -> None:
    code, out = _keys(
        "create", "--store", f"sqlite:///{tmp_path}/t.db", "--tenant", "a", "--scopes", "root"
    )
    assert code == 2 and "unknown scope" in out


AGENTS = """
from tether import Agent
from tether.testing import ScriptedModel, text

greeter = Agent(name="greeter", model=ScriptedModel(lambda request: text("hello there")))
helper = Agent(name="helper", model=ScriptedModel(lambda request: text("at your service")))
not_an_agent = 42
"""


# A run that stays in its tool until the test creates the file "release" (or a minute
# passes, so a failed test ends): it keeps a slot of the built-in worker busy.
HOLDING_AGENTS = (
    AGENTS
    + """
import time
from pathlib import Path

from tether import tool
from tether.testing import tool_call


@tool(retry=None)
def hold() -> str:
    \"\"\"Stay inside until the test lets go.\"\"\"
    until = time.monotonic() + 60
    while not Path("release").exists() and time.monotonic() < until:
        time.sleep(0.02)
    return "released"


def _hold(req):
    if req.messages[-1].role == "tool":
        return text("done")
    return tool_call("hold")


holder = Agent(name="holder", model=ScriptedModel(_hold), tools=[hold], max_turns=4)
"""
)


@contextlib.contextmanager
def _served(
    tmp_path: Path, *options: str, agents: str = AGENTS, **env_extra: str
) -> Iterator[tuple[subprocess.Popen[str], httpx.Client, list[str]]]:
    """A real ``tether serve`` of agents.py on a free port, healthy, with an API key; yields
    the process, a client of its API and its first lines of output."""
    (tmp_path / "agents.py").write_text(agents)
    store = f"sqlite:///{tmp_path}/tether.db"
    _, out = _keys(
        "create", "--store", store, "--tenant", "acme", "--scopes", "runs:read,runs:write"
    )
    key = out.strip().splitlines()[-1]
    command = [sys.executable, "-m", "tether.cli", "serve", "--agents", "agents.py"]
    proc = subprocess.Popen(
        [*command, "--store", store, "--port", "0", *options],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1", **env_extra},
    )
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()
        match = re.search(r"serving greeter, helper(, holder)? on (http://127\.0\.0\.1:\d+)", first)
        assert match, first
        with httpx.Client(
            base_url=match.group(2), headers={"Authorization": f"Bearer {key}"}, timeout=30
        ) as client:
            deadline = time.monotonic() + 30
            while True:
                try:
                    if client.get("/healthz").status_code == 200:
                        break
                except httpx.TransportError:
                    assert time.monotonic() < deadline
                    time.sleep(0.05)
            yield proc, client, [first]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()


def _serve_one_run(tmp_path: Path, **env_extra: str) -> str:
    """Serve agents.py, complete one run through the API, stop with SIGINT; the output."""
    with _served(tmp_path, **env_extra) as (proc, client, lines):
        deadline = time.monotonic() + 30
        run = client.post("/v1/runs", json={"agent": "helper", "input": "help"}).json()
        while client.get(f"/v1/runs/{run['run_id']}").json()["status"] != "completed":
            assert time.monotonic() < deadline
            time.sleep(0.05)
        unknown = client.post("/v1/runs", json={"agent": "not_an_agent", "input": "x"})
        assert unknown.status_code == 404
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=30) == 0
        assert proc.stdout is not None
        return lines[0] + proc.stdout.read()


def test_tether_serve_serves_every_agent_of_a_file(tmp_path: Path) -> None:
    out = _serve_one_run(tmp_path, OTEL_TRACES_EXPORTER="none")
    assert "tracing:" not in out


def test_tether_serve_exports_spans_when_otel_variables_ask(tmp_path: Path) -> None:
    """The standard OTEL_* variables turn tracing on: the run's spans reach the exporter."""
    out = _serve_one_run(
        tmp_path, OTEL_TRACES_EXPORTER="console", OTEL_SERVICE_NAME="tether-serve-test"
    )
    assert "tracing: spans exported" in out
    assert '"name": "invoke_agent helper"' in out
    assert '"name": "chat scripted"' in out
    assert "tether-serve-test" in out


def test_tether_serve_max_pending_answers_429_past_the_bound(tmp_path: Path) -> None:
    """``tether serve --no-worker --max-pending 2``: nothing executes the runs, so the third
    start finds two waiting and is refused with 429 and Retry-After; nothing is queued."""
    options = ("--no-worker", "--max-pending", "2")
    with _served(tmp_path, *options, OTEL_TRACES_EXPORTER="none") as (proc, client, _):
        body = {"agent": "helper", "input": "help"}
        accepted = [client.post("/v1/runs", json=body) for _ in range(2)]
        assert [r.status_code for r in accepted] == [201, 201], [r.text for r in accepted]
        refused = client.post("/v1/runs", json=body)
        assert refused.status_code == 429, refused.text
        assert float(refused.headers["Retry-After"]) > 0
        listed = client.get("/v1/runs").json()
        runs = listed["runs"] if isinstance(listed, dict) else listed
        assert len(runs) == 2
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=30) == 0
        assert proc.stdout is not None
        assert "past 2 runs waiting, POST /v1/runs answers 429" in proc.stdout.read()


def test_tether_serve_with_its_worker_queues_past_concurrency_and_answers_429(
    tmp_path: Path,
) -> None:
    """Red team 15, hole 09: ``tether serve --max-pending`` with its built-in worker never
    answered 429, since every start was driven in the server at once and none waited (and
    serve had no ``--concurrency``). With ``--concurrency 1`` the first run holds the one
    slot, the second waits, pending, and the third finds the queue full."""
    options = ("--concurrency", "1", "--max-pending", "1")
    with _served(tmp_path, *options, agents=HOLDING_AGENTS, OTEL_TRACES_EXPORTER="none") as (
        proc,
        client,
        _,
    ):
        body = {"agent": "holder", "input": "hold on"}
        driven = client.post("/v1/runs", json=body)
        assert driven.status_code == 201, driven.text
        waiting = client.post("/v1/runs", json=body)
        assert waiting.status_code == 201, waiting.text
        refused = client.post("/v1/runs", json=body)
        assert refused.status_code == 429, refused.text
        assert float(refused.headers["Retry-After"]) > 0
        (tmp_path / "release").write_text("")  # both accepted runs finish, one at a time
        deadline = time.monotonic() + 60
        for run in (driven.json(), waiting.json()):
            while client.get(f"/v1/runs/{run['run_id']}").json()["status"] != "completed":
                assert time.monotonic() < deadline
                time.sleep(0.05)
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=30) == 0
        assert proc.stdout is not None
        assert "concurrency 1 (runs driven here at once" in proc.stdout.read()


def test_tether_serve_keeps_a_tenant_concurrency_cap(tmp_path: Path) -> None:
    """``--tenant-concurrency`` reaches the built-in worker, as ``tether worker``'s does."""
    options = ("--tenant-concurrency", "1")
    with _served(tmp_path, *options, OTEL_TRACES_EXPORTER="none") as (proc, client, _):
        assert client.get("/v1/runs").status_code == 200
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=30) == 0
        assert proc.stdout is not None
        assert "tenant concurrency 1 (runs of one tenant at once)" in proc.stdout.read()


def test_tether_serve_says_what_is_wrong(tmp_path: Path) -> None:
    (tmp_path / "empty.py").write_text("x = 1\n")
    result = CliRunner().invoke(
        app,
        ["serve", "--agents", str(tmp_path / "empty.py"), "--store", f"sqlite:///{tmp_path}/t.db"],
    )
    assert result.exit_code == 2 and "defines no Agent" in result.output
    with socket_in_use() as port:
        (tmp_path / "one.py").write_text(AGENTS)
        result = CliRunner().invoke(
            app,
            [
                "serve",
                "--agents",
                str(tmp_path / "one.py"),
                "--port",
                str(port),
                "--store",
                f"sqlite:///{tmp_path}/t.db",
            ],
        )
        assert result.exit_code == 2 and f"cannot listen on 127.0.0.1:{port}" in result.output


@contextlib.contextmanager
def socket_in_use() -> Iterator[int]:
    """A port some other socket already listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield int(sock.getsockname()[1])
