"""SSE fan-out: many clients on one run's stream, and many runs streaming at once.

A ``tether serve``-like server (``create_app`` under uvicorn, SQLite store with
``durability="NORMAL"``) runs in a subprocess; this process is the clients, on raw
asyncio sockets (so the client side costs little next to the server). Two cases:

- ``one_run``: CLIENTS clients follow one run's ``/v1/runs/{id}/events``;
- ``many_runs``: RUNS runs stream at once, one client each.

Each run is a ReAct agent whose tool sleeps ``--step-ms`` and that makes ``--steps``
tool calls (about four events per step). Every run waits at its first tool call until
all clients are connected, so the whole run is streamed live. The server records the
moment each event is published (a runtime observer: right after its commit, when the
stream feeds receive it); a client records the moment each frame is complete in its
socket. Prints one JSON object per case on stdout (progress on stderr):

    events_per_s      frames delivered per second, all clients together
    latency_ms        publish -> receive, p50 / p99 / max over every (client, event)
    rss_per_client_kb (server RSS with the clients connected - before) / clients
    lost              frames a client did not receive (must be 0)

    python benchmarks/sse.py                      # both cases: 1,000 clients, 200 runs
    python benchmarks/sse.py --clients 100 --runs 20 --steps 10   # a quick look
    python benchmarks/sse.py --loop uvloop --http httptools       # faster event loop/parser
    SSE_PROFILE=/tmp/sse.prof python benchmarks/sse.py --only one_run   # cProfile the server

Also reported: the server's CPU time per delivered frame (robust to a busy machine,
unlike latency) and the 1-minute load average while it ran.

The goal of issue 9 is p99 < 50 ms at 1,000 clients on the 2-core machine.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import re
import resource
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

_ROOT = Path(__file__).resolve().parent.parent
try:
    import tether  # noqa: F401
except ImportError:  # running from a checkout without `pip install -e .`
    sys.path.insert(0, str(_ROOT / "src"))

_ID = re.compile(rb"\nid: (\d+)\n")


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _raise_fd_limit() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    with contextlib.suppress(ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, 65536)), hard))


# -- the server (a subprocess) ----------------------------------------------------------------


def serve(args: argparse.Namespace) -> None:
    """Serve one agent until SIGTERM; then write the publish times to ``args.published``."""
    import uvicorn

    from tether import Agent, Runtime, tool
    from tether.models import ModelRequest
    from tether.server import create_app
    from tether.testing import ScriptedModel, text, tool_call

    _raise_fd_limit()
    published: dict[str, float] = {}
    steps, delay = args.steps, args.step_ms / 1000

    async def main() -> None:
        go = asyncio.Event()

        @tool
        async def work(n: int) -> str:
            """One step of work."""
            await go.wait()
            await asyncio.sleep(delay)
            return f"step {n} done"

        def script(request: ModelRequest) -> Any:
            done = sum(1 for m in request.messages if m.role == "tool")
            return tool_call("work", n=done + 1) if done < steps else text("all done")

        agent = Agent(
            name="worker",
            model=ScriptedModel(script, keep_requests=False),
            tools=[work],
            max_turns=steps + 5,
        )

        def observe(run_id: str, events: Any) -> None:
            now = time.time()
            for rec in events:
                published[f"{run_id}:{rec.seq}"] = now

        async with Runtime(
            args.store, agents=[agent], durability="NORMAL", observers=[observe]
        ) as runtime:
            app = create_app(runtime, {"worker": agent}, sse_keepalive=300)
            config = uvicorn.Config(
                app,
                host="127.0.0.1",
                port=args.port,
                log_level="warning",
                backlog=4096,
                timeout_graceful_shutdown=2,
                http=args.http,
            )
            # SIGUSR1 opens the gate: every run starts its first step at once.
            asyncio.get_running_loop().add_signal_handler(signal.SIGUSR1, go.set)
            # uvicorn re-raises the SIGTERM it stopped on: ignore it then, to write the file.
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
            await uvicorn.Server(config).serve()

    if os.environ.get("SSE_PROFILE"):
        import cProfile

        cProfile.runctx("asyncio.run(main())", globals(), locals(), os.environ["SSE_PROFILE"])
    elif args.loop == "uvloop":
        import uvloop

        uvloop.run(main())
    else:
        asyncio.run(main())
    Path(args.published).write_text(json.dumps(published))


# -- the clients (this process) ---------------------------------------------------------------


class Client(asyncio.Protocol):
    """One raw SSE connection: when each piece of its stream arrived.

    An ``asyncio.Protocol`` that only timestamps and keeps what it receives: the frames
    are parsed after the run, so 1,000 clients in one process cost little per event and
    the latency measured is the server's, not this process's parsing.
    """

    def __init__(self, request: bytes) -> None:
        self.request = request
        self.chunks: list[tuple[float, bytes]] = []
        self.connected = asyncio.Event()
        self.done = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        transport.write(self.request)

    def data_received(self, data: bytes) -> None:
        self.chunks.append((time.time(), data))
        self.connected.set()

    def connection_lost(self, exc: Exception | None) -> None:
        self.connected.set()
        if not self.done.done():
            self.done.set_result(None)

    def received(self) -> tuple[list[tuple[int, float]], bool]:
        """``(seq, arrival time)`` of every complete frame, and whether ``end`` came."""
        seen: list[tuple[int, float]] = []
        pending = b"\n"
        ended = False
        for at, chunk in self.chunks:
            data = pending + chunk
            cut = data.rfind(b"\n\n")
            if cut < 0:
                pending = data
                continue
            complete, pending = data[: cut + 2], data[cut + 1 :]
            seen += [(int(m.group(1)), at) for m in _ID.finditer(complete)]
            ended = ended or b"event: end\n" in complete
        return seen, ended

    @classmethod
    async def follow(cls, port: int, path: str, key: str) -> Client:
        request = (
            f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {key}\r\n"
            "Accept: text/event-stream\r\nConnection: close\r\n\r\n"
        ).encode()
        loop = asyncio.get_running_loop()
        _, client = await loop.create_connection(lambda: cls(request), "127.0.0.1", port)
        return client


def _http(port: int, method: str, path: str, key: str, body: Any = None) -> Any:
    import httpx

    response = httpx.request(
        method,
        f"http://127.0.0.1:{port}{path}",
        json=body,
        headers={"Authorization": f"Bearer {key}"},
        timeout=60,
    )
    response.raise_for_status()
    return response.json()


def _rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _start_server(
    store_url: str,
    port: int,
    steps: int,
    step_ms: float,
    published: Path,
    flags: list[str],
) -> subprocess.Popen[bytes]:
    command = [sys.executable, __file__, "--serve", "--store", store_url, "--port", str(port)]
    command += ["--steps", str(steps), "--step-ms", str(step_ms), "--published", str(published)]
    return subprocess.Popen([*command, *flags])


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def run_case(
    name: str,
    *,
    runs: int,
    clients_per_run: int,
    steps: int,
    step_ms: float,
    server_flags: list[str],
) -> dict[str, Any]:
    """Start a server, its runs and their clients; measure the streaming."""
    from tether.store import new_api_key, open_store

    work = Path(tempfile.mkdtemp(prefix="tether-sse-bench-"))
    store_url = f"sqlite:///{work}/tether.db"
    store = open_store(store_url)
    await store.open()
    record, key = new_api_key("bench", ["runs:read", "runs:write"])
    await store.create_api_key(record)
    await store.close()
    port = _free_port()
    published_file = work / "published.json"
    server = _start_server(store_url, port, steps, step_ms, published_file, server_flags)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                _http(port, "GET", "/readyz", key)
                break
            except Exception:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise
                await asyncio.sleep(0.1)
        run_ids = []
        for _ in range(runs):
            created = _http(port, "POST", "/v1/runs", key, {"agent": "worker", "input": "go"})
            run_ids.append(created["run_id"])
        await asyncio.sleep(0.5)
        rss_before = _rss_kb(server.pid)
        clients: list[tuple[str, Client]] = []
        for run_id in run_ids:
            for _ in range(clients_per_run):
                path = f"/v1/runs/{run_id}/events"
                clients.append((run_id, await Client.follow(port, path, key)))
        await asyncio.wait_for(asyncio.gather(*(c.connected.wait() for _, c in clients)), 120)
        await asyncio.sleep(0.5)
        rss_after = _rss_kb(server.pid)
        _log(f"{name}: {len(clients)} clients connected; go")
        began = time.time()
        cpu_before = _cpu_seconds(server.pid)
        server.send_signal(signal.SIGUSR1)
        await asyncio.wait_for(asyncio.gather(*(c.done for _, c in clients)), 600)
        finished = time.time()
        server_cpu = _cpu_seconds(server.pid) - cpu_before
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(60)
    published = json.loads(published_file.read_text())
    latencies: list[float] = []
    frames = 0
    lost = 0
    ended = True
    for run_id, client in clients:
        received, client_ended = client.received()
        ended = ended and client_ended
        seqs = {seq for seq, _ in received}
        expected = {int(k.split(":")[1]) for k in published if k.startswith(run_id + ":")}
        lost += len(expected - seqs)
        for seq, at in received:
            frames += 1
            sent = published.get(f"{run_id}:{seq}")
            if sent is not None and sent >= began:  # live events only, not replayed history
                latencies.append((at - sent) * 1000)
    latencies.sort()

    def pct(p: float) -> float:
        return round(latencies[min(len(latencies) - 1, int(p * len(latencies)))], 2)

    return {
        "case": name,
        "runs": runs,
        "clients": len(clients),
        "steps_per_run": steps,
        "step_ms": step_ms,
        "server": " ".join(server_flags),
        "events_published": len(published),
        "frames_delivered": frames,
        "seconds": round(finished - began, 3),
        "events_per_s": round(frames / (finished - began)),
        "latency_ms": {
            "p50": pct(0.50),
            "p99": pct(0.99),
            "max": round(latencies[-1], 2),
            "mean": round(statistics.fmean(latencies), 2),
        },
        "rss_per_client_kb": round((rss_after - rss_before) / len(clients), 1),
        "server_cpu_s": round(server_cpu, 2),
        "server_cpu_us_per_frame": round(server_cpu / frames * 1e6, 1),
        "load_average_1m": os.getloadavg()[0],
        "lost": lost,
        "all_ended": ended,
        "target_p99_ms": 50,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=1000, help="clients on one run")
    parser.add_argument("--runs", type=int, default=200, help="runs streaming at once")
    parser.add_argument("--steps", type=int, default=25, help="tool calls per run")
    parser.add_argument("--step-ms", type=float, default=100.0, help="tool time per step")
    parser.add_argument("--http", default="auto", choices=["auto", "h11", "httptools"])
    parser.add_argument("--loop", default="asyncio", choices=["asyncio", "uvloop"])
    parser.add_argument("--only", choices=["one_run", "many_runs"])
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--store", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--published", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args)
        return
    _raise_fd_limit()
    cases = []
    if args.only in (None, "one_run"):
        cases.append(("one_run", 1, args.clients))
    if args.only in (None, "many_runs"):
        cases.append(("many_runs", args.runs, 1))
    for name, runs, per_run in cases:
        result = asyncio.run(
            run_case(
                name,
                runs=runs,
                clients_per_run=per_run,
                steps=args.steps,
                step_ms=args.step_ms,
                server_flags=["--http", args.http, "--loop", args.loop],
            )
        )
        print(json.dumps(result), flush=True)


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    main()
