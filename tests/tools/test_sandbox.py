"""Sandboxed code: ``Sandbox`` under real bubblewrap and the ready ``python_exec`` tool.

The escape set runs real malicious programs (network, writes outside scratch, a fork
bomb, a memory bomb, endless loops, reading the store, ``/root`` and the home directory,
symlink escapes, environment secrets, signalling the host) and checks on the host that
nothing got out; ``test_escape_set_counts`` prints ``contained / attempted``.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import sqlite3
import subprocess
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest

from tether import Agent, Runtime
from tether.engine import ToolCompleted, ToolFailed
from tether.models import ModelRequest
from tether.testing import ScriptedModel, text, tool_call
from tether.tools import (
    Sandbox,
    SandboxLimits,
    SandboxResult,
    SandboxUnavailableError,
    ToolCallError,
    ToolContext,
    execute_tool_call,
    make_python_exec,
    python_exec,
)

LIMITS = SandboxLimits(
    cpu_seconds=2,
    memory_bytes=512 << 20,
    max_processes=32,
    file_size_bytes=1 << 20,
    wall_seconds=20.0,
    output_bytes=4000,
)
PROJECT = Path(__file__).resolve().parents[2]
SECRET = "tether-test-secret-7f3a9c"


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    """One sandbox for the module (bubblewrap must work: CI installs it)."""
    with Sandbox(limits=LIMITS, scratch_root=tmp_path_factory.mktemp("scratch")) as box:
        assert box.check() == "bwrap"
        yield box


def _ctx(run_id: str) -> ToolContext:
    return ToolContext(run_id=run_id, call_id="c1", tool_name="python_exec", idempotency_key="k")


# -- happy path -------------------------------------------------------------------------


async def test_prints_and_exits_zero(sandbox: Sandbox) -> None:
    """stdout comes back, the exit code is 0, nothing was truncated or killed."""
    result = await sandbox.run_python("print(6 * 7)")
    expected = SandboxResult(stdout="42\n", stderr="", exit_code=0)
    assert result == replace(expected, enforcement=result.enforcement)


async def test_exit_code_and_stderr(sandbox: Sandbox) -> None:
    """The program's own exit status and stderr are reported as they are."""
    result = await sandbox.run_python("import sys\nprint('to err', file=sys.stderr)\nsys.exit(3)")
    assert (result.exit_code, result.stderr, result.killed_by) == (3, "to err\n", None)


async def test_uncaught_exception_is_exit_1_with_its_traceback(sandbox: Sandbox) -> None:
    """A traceback names the program's own line, not the sandbox's bootstrap."""
    result = await sandbox.run_python("x = 1\nraise ValueError('boom')")
    assert result.exit_code == 1
    assert 'File "<python_exec>", line 2' in result.stderr
    assert result.stderr.rstrip().endswith("ValueError: boom")
    assert "json.loads" not in result.stderr


async def test_huge_output_is_truncated_with_a_note(sandbox: Sandbox) -> None:
    """Output past the cap is counted and dropped; the program still finishes normally."""
    result = await sandbox.run_python("import sys\nsys.stdout.write('x' * 1_000_000)")
    assert result.exit_code == 0 and result.truncated
    assert result.stdout.startswith("x" * LIMITS.output_bytes)
    assert "[output truncated: 996000 more bytes not shown" in result.stdout
    assert len(result.stdout) < LIMITS.output_bytes + 300


async def test_environment_is_minimal(sandbox: Sandbox) -> None:
    """The program sees PATH, HOME, LANG, TMPDIR, USER and its working directory only."""
    result = await sandbox.run_python("import os, json\nprint(json.dumps(dict(os.environ)))")
    env = json.loads(result.stdout)
    assert set(env) <= {"PATH", "HOME", "LANG", "TMPDIR", "USER", "PWD", "LC_CTYPE"}
    assert env["HOME"] == "/sandbox/work"


async def test_run_state_is_kept_across_calls_and_removed_at_close(sandbox: Sandbox) -> None:
    """A file written by one call of a run is there for the next; close_run removes it."""
    write = "open('state.txt', 'w').write('41')\nopen('helper.py', 'w').write('K = 1')"
    assert (await sandbox.run_python(write, run_id="run-a")).exit_code == 0
    read = "import helper, os\nprint(int(open('state.txt').read()) + helper.K, os.getcwd())"
    result = await sandbox.run_python(read, run_id="run-a")
    assert result.stdout == "42 /sandbox/work\n"
    other = await sandbox.run_python("import os\nprint(os.listdir('.'))", run_id="run-b")
    assert other.stdout == "[]\n"  # runs never see each other's files

    sandbox.close_run("run-a")
    again = await sandbox.run_python("import os\nprint(os.listdir('.'))", run_id="run-a")
    assert again.stdout == "[]\n"
    sandbox.close_run("run-a")
    sandbox.close_run("run-b")
    assert _scratch_entries(sandbox) == []


async def test_a_call_without_a_run_leaves_nothing_behind(sandbox: Sandbox) -> None:
    """Scratch of an ad-hoc call and every slot are removed once it returns."""
    await sandbox.run_python("open('junk', 'w').write('x')")
    assert _scratch_entries(sandbox) == []


async def test_sweep_removes_scratch_of_abandoned_runs(sandbox: Sandbox) -> None:
    """A run that ended without close_run loses its scratch once unused past the TTL."""
    await sandbox.run_python("open('f', 'w').write('x')", run_id="abandoned")
    assert len(_scratch_entries(sandbox)) == 1
    assert sandbox.sweep(max_age=3600) == 0
    assert sandbox.sweep(max_age=-1) == 1
    assert _scratch_entries(sandbox) == []


async def test_run_command_runs_a_program_with_the_same_limits(sandbox: Sandbox) -> None:
    """run_command execs a program from the sandbox's PATH in the scratch directory."""
    result = await sandbox.run_command(["sh", "-c", "pwd; echo hi >&2; exit 4"])
    assert (result.stdout, result.stderr, result.exit_code) == ("/sandbox/work\n", "hi\n", 4)


async def test_cancelling_a_call_kills_its_sandbox(sandbox: Sandbox) -> None:
    """A cancelled call (e.g. the executor's timeout) leaves no process and no slot behind."""
    code = "import os, time\nprint(os.getuid(), flush=True)\nos.fork()\ntime.sleep(600)"
    task = asyncio.create_task(sandbox.run_python(code, run_id="cancelled"))
    await asyncio.to_thread(_wait_for, lambda: bool(sandbox._busy_slots))  # it is running
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await asyncio.to_thread(_wait_for, lambda: not sandbox._busy_slots)
    uid = os.stat(sandbox._run_path("cancelled")).st_uid
    if os.geteuid() == 0:
        assert _processes_of(uid) == []
    assert (await sandbox.run_python("print(1)", run_id="cancelled")).stdout == "1\n"
    sandbox.close_run("cancelled")


async def test_warm_pool_serves_fresh_interpreters(tmp_path: Path) -> None:
    """Pooled interpreters answer calls; no interpreter ever serves two of them."""
    with Sandbox(limits=LIMITS, pool_size=2, scratch_root=tmp_path) as box:
        box.start_pool()
        await asyncio.to_thread(_wait_for, lambda: len(box._pool) == 2)
        first = await box.run_python("import builtins\nbuiltins.MARK = 1\nprint('a')")
        second = await box.run_python("import builtins\nprint(hasattr(builtins, 'MARK'))")
        assert (first.stdout, second.stdout) == ("a\n", "False\n")
        await asyncio.to_thread(_wait_for, lambda: len(box._pool) == 2)  # refilled
    assert box._pool == type(box._pool)()
    assert not list((tmp_path / "slots").iterdir())


# -- refusal and the explicit opt-in -------------------------------------------------------


def test_missing_bubblewrap_is_refused_with_the_install_line(tmp_path: Path) -> None:
    """Without bubblewrap and without an opt-in, nothing runs and the error says what to do."""
    box = Sandbox(bwrap=str(tmp_path / "no-bwrap"), scratch_root=tmp_path, allow_unsandboxed=False)
    with pytest.raises(SandboxUnavailableError, match="apt-get install bubblewrap"):
        box.run_python_sync("print(1)")


async def test_python_exec_reports_refusal_as_a_tool_error(tmp_path: Path) -> None:
    """The tool turns the refusal into a structured sandbox_unavailable error."""
    box = Sandbox(bwrap=str(tmp_path / "no-bwrap"), scratch_root=tmp_path, allow_unsandboxed=False)
    tool = make_python_exec(box)
    outcome = await execute_tool_call(
        tool_call("python_exec", code="print(1)"), {"python_exec": tool}, _ctx("r")
    )
    assert not outcome.ok and outcome.error is not None
    assert outcome.error.error_code == "sandbox_unavailable"
    assert "apt-get install bubblewrap" in outcome.error.message


def test_unsandboxed_opt_in_still_applies_rlimits(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """TETHER_SANDBOX_ALLOW_UNSANDBOXED=1 runs the code plainly, under the same rlimits."""
    monkeypatch.setenv("TETHER_SANDBOX_ALLOW_UNSANDBOXED", "1")
    box = Sandbox(bwrap=str(tmp_path / "no-bwrap"), scratch_root=tmp_path, limits=LIMITS)
    assert box.check() == "unsandboxed"
    result = box.run_python_sync("print('plain')")
    assert (result.stdout, result.sandboxed) == ("plain\n", False)
    bomb = box.run_python_sync("x = bytearray(4 << 30)")
    assert bomb.killed_by == "memory"


# -- python_exec ---------------------------------------------------------------------------


async def test_python_exec_returns_output_and_keeps_state_per_run(sandbox: Sandbox) -> None:
    """The tool returns stdout, stderr, exit_code, truncated, sandboxed; files persist."""
    tool = make_python_exec(sandbox)
    registry = {"python_exec": tool}
    first = await execute_tool_call(
        tool_call("python_exec", code="open('n', 'w').write('5')\nprint('saved')"),
        registry,
        _ctx("tool-run"),
    )
    second = await execute_tool_call(
        tool_call("python_exec", code="print(int(open('n').read()) * 2)"),
        registry,
        _ctx("tool-run"),
    )
    assert first.result == {
        "stdout": "saved\n",
        "stderr": "",
        "exit_code": 0,
        "truncated": False,
        "sandboxed": True,
    }
    assert second.result == {
        "stdout": "10\n",
        "stderr": "",
        "exit_code": 0,
        "truncated": False,
        "sandboxed": True,
    }
    sandbox.close_run("tool-run")


async def test_python_exec_reports_a_limit_as_a_tool_error(sandbox: Sandbox) -> None:
    """A program stopped by a limit is a tool error with a code, a hint and its output."""
    tool = make_python_exec(sandbox)
    with pytest.raises(ToolCallError) as info:
        await tool.fn(code="print('started', flush=True)\nx = bytearray(4 << 30)", ctx=_ctx("m"))
    assert info.value.error_code == "sandbox_limit"
    assert "ran out of memory" in info.value.message and "started" in info.value.message
    assert info.value.hint
    sandbox.close_run("m")


def test_python_exec_contract() -> None:
    """The ready tool: a high-risk read (no effect outside the sandbox), never retried."""
    assert python_exec.name == "python_exec"
    assert (python_exec.effect, python_exec.risk, python_exec.retry.max_attempts) == (
        "read",
        "high",
        1,
    )
    assert python_exec.parameters["required"] == ["code"]
    assert python_exec.context_param is not None


async def test_agent_runs_python_exec_end_to_end(
    store_url: str, sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A scripted agent calls the exported python_exec and completes with its output."""
    import tether.tools._python_exec as module

    monkeypatch.setattr(module, "_DEFAULT", sandbox)  # the module sandbox, closed after

    def script(req: ModelRequest) -> Any:
        last = req.messages[-1]
        if last.role == "user":
            return tool_call("python_exec", code="print(sum(range(10)))")
        return text(f"the program said {json.loads(str(last.content))['stdout'].strip()}")

    agent = Agent(name="coder", model=ScriptedModel(script), tools=[python_exec])
    async with Runtime(store_url) as rt:
        run = await rt.start(agent, "add up 0..9")
        result = await run.result()
        events = [e.event async for e in rt.get(run.run_id).events(follow=False)]
    assert result.status == "completed"
    assert result.output == "the program said 45"
    assert [e for e in events if isinstance(e, ToolFailed)] == []
    (done,) = [e for e in events if isinstance(e, ToolCompleted)]
    assert done.tool == "python_exec"
    # The runtime removed the run's scratch when the run ended.
    assert not sandbox._run_path(run.run_id).exists()


# -- the escape set ----------------------------------------------------------------------


@dataclass(kw_only=True)
class Escape:
    """One attempt: the program, and a host-side check that it was contained."""

    name: str
    code: Callable[[Path], str]
    contained: Callable[[SandboxResult, Path], bool]
    limits: SandboxLimits = LIMITS


OUTCOMES: dict[str, bool] = {}


def _failed(result: SandboxResult) -> bool:
    """Reported: a non-zero exit or a limit that stopped it, and no claim of success."""
    return (result.exit_code != 0 or result.killed_by is not None) and (
        "ESCAPED" not in result.stdout
    )


def _network_code(port: int) -> str:
    return f"""
import socket
for host, port in (("127.0.0.1", {port}), ("1.1.1.1", 53), ("::1", {port})):
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    s = socket.socket(fam, socket.SOCK_STREAM)
    s.settimeout(2)
    try:
        s.connect((host, port))
        print("ESCAPED", host)
    except OSError as e:
        print("blocked", host, e)
raise SystemExit(1)
"""


class _Listener:
    """A TCP server on the host's 127.0.0.1 that records every connection it accepts."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.accepted = 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            self.accepted += 1
            conn.close()

    def close(self) -> None:
        self.stop.set()
        self.thread.join()
        self.sock.close()


def _store(tmp: Path) -> Path:
    path = tmp / "tether.db"
    if not path.exists():
        with sqlite3.connect(path) as db:
            db.execute("create table secrets (v text)")
            db.execute("insert into secrets values (?)", (SECRET,))
        db.close()
    return path


def _home_files() -> list[str]:
    home = Path.home()
    files = [str(p) for p in sorted(home.iterdir()) if p.is_file()][:20]
    return [*files, "/root/.bashrc", "/root/.profile", "/etc/shadow", "/etc/passwd"]


def _read_code(paths: list[str]) -> str:
    return f"""
import os
hits = 0
for p in {paths!r}:
    try:
        data = open(p, "rb").read()
        print("ESCAPED read", p, len(data))
        hits += 1
    except OSError as e:
        print("blocked", p, type(e).__name__)
for d in ("/root", os.path.expanduser("~root"), "/home", "/work", "/proc/1/root/root"):
    try:
        print("listing", d, os.listdir(d))
    except OSError as e:
        print("blocked", d, type(e).__name__)
raise SystemExit(1)
"""


def _write_code(tmp: Path) -> str:
    targets = ["/usr/pwned", "/etc/pwned", "/pwned", str(tmp / "pwned"), str(PROJECT / "pwned")]
    return f"""
for p in {targets!r}:
    try:
        open(p, "w").write("x")
        print("ESCAPED", p)
    except OSError as e:
        print("blocked", p, type(e).__name__)
raise SystemExit(1)
"""


def _no_write_outside(result: SandboxResult, tmp: Path) -> bool:
    host = [Path("/usr/pwned"), Path("/etc/pwned"), Path("/pwned"), tmp / "pwned"]
    return _failed(result) and not any(p.exists() for p in [*host, PROJECT / "pwned"])


def _store_code(tmp: Path) -> str:
    store = _store(tmp)
    return f"""
import sqlite3
try:
    print("ESCAPED", open({str(store)!r}, "rb").read()[:64])
except OSError as e:
    print("blocked open", type(e).__name__)
try:
    db = sqlite3.connect("file:{store}?mode=ro", uri=True)
    print("ESCAPED", db.execute("select v from secrets").fetchall())
except sqlite3.Error as e:
    print("blocked sqlite", e)
raise SystemExit(1)
"""


def _symlink_code(tmp: Path) -> str:
    store = _store(tmp)
    return f"""
import os
os.symlink({str(store)!r}, "store-link")
os.symlink("/", "root-link")
os.symlink("/proc/1/root/", "proc-link")
for p in ("store-link", "root-link{store}", "proc-link{store}", "/proc/self/root{store}"):
    try:
        print("ESCAPED", p, open(p, "rb").read()[:32])
    except OSError as e:
        print("blocked", p, type(e).__name__)
try:
    os.link({str(store)!r}, "hard-link")
    print("ESCAPED hard link")
except OSError as e:
    print("blocked hard link", type(e).__name__)
raise SystemExit(1)
"""


def _symlink_contained(result: SandboxResult, tmp: Path) -> bool:
    # The host removes the scratch afterwards without following the links it holds.
    return _failed(result) and SECRET not in result.stdout and _store(tmp).exists()


ENV_CODE = f"""
import os
seen = repr(dict(os.environ))
for p in ("/proc/self/environ", "/proc/1/environ", "/proc/2/environ"):
    try:
        seen += open(p, "rb").read().decode("latin-1")
    except OSError as e:
        print("blocked", p, type(e).__name__)
print("ESCAPED" if {SECRET!r} in seen or "TETHER_" in seen else "no secret")
raise SystemExit(1)
"""


def _signal_code(_: Path) -> str:
    pids = [os.getpid(), os.getppid(), 1]
    return f"""
import os, signal
for pid in {pids!r}:
    try:
        os.kill(pid, 0)
        print("visible", pid)
    except OSError as e:
        print("blocked", pid, type(e).__name__)
try:
    os.kill({os.getpid()}, signal.SIGKILL)
except OSError:
    pass
raise SystemExit(1)
"""


FORK_BOMB = """
import os
print(os.getuid(), flush=True)
while True:
    try:
        os.fork()
    except OSError:
        pass
"""

ESCAPES = [
    Escape(
        name="network",
        code=lambda tmp: "",  # filled in by the test: it needs the listener's port
        contained=lambda r, tmp: _failed(r) and "ESCAPED" not in r.stdout,
    ),
    Escape(name="write_outside_scratch", code=_write_code, contained=_no_write_outside),
    Escape(
        name="fork_bomb",
        code=lambda tmp: FORK_BOMB,
        contained=lambda r, tmp: r.killed_by in ("cpu", "timeout", "pids"),
        limits=replace(LIMITS, wall_seconds=4.0),
    ),
    Escape(
        name="memory_bomb",
        code=lambda tmp: "chunks = []\nwhile True:\n    chunks.append(bytearray(50 << 20))",
        contained=lambda r, tmp: r.killed_by == "memory",
    ),
    Escape(
        name="infinite_loop",
        code=lambda tmp: "while True:\n    pass",
        contained=lambda r, tmp: r.killed_by in ("cpu", "timeout"),
    ),
    Escape(
        name="sleep_forever",
        code=lambda tmp: "import time\ntime.sleep(3600)",
        contained=lambda r, tmp: r.killed_by == "timeout" and r.timed_out,
        limits=replace(LIMITS, wall_seconds=1.0),
    ),
    Escape(
        name="read_store_file",
        code=_store_code,
        contained=lambda r, tmp: _failed(r) and SECRET not in r.stdout,
    ),
    Escape(
        name="read_root_and_home",
        code=lambda tmp: _read_code(_home_files()),
        contained=lambda r, tmp: _failed(r) and "'.pyenv'" not in r.stdout,
    ),
    Escape(name="symlink_escape", code=_symlink_code, contained=_symlink_contained),
    Escape(
        name="environment_secrets",
        code=lambda tmp: ENV_CODE,
        contained=lambda r, tmp: _failed(r) and "no secret" in r.stdout,
    ),
    Escape(
        name="signal_the_host",
        code=_signal_code,
        contained=lambda r, tmp: _failed(r) and "visible" not in r.stdout,
    ),
]


def _attempt(sandbox: Sandbox, escape: Escape, tmp: Path) -> tuple[bool, SandboxResult]:
    """Run one escape attempt as a run of its own, check the host, record the outcome."""
    os.environ["TETHER_SECRET_X"] = SECRET  # the parent holds a secret the child must not see
    listener = _Listener()
    try:
        code = _network_code(listener.port) if escape.name == "network" else escape.code(tmp)
        run_id = f"escape-{escape.name}"
        result = sandbox.run_python_sync(code, run_id=run_id, limits=escape.limits)
        sandbox.close_run(run_id)
        contained = escape.contained(result, tmp) and listener.accepted == 0
        contained = contained and _host_is_responsive(sandbox) and not _leftovers(result)
    finally:
        listener.close()
        del os.environ["TETHER_SECRET_X"]
    OUTCOMES[escape.name] = contained
    return contained, result


@pytest.mark.parametrize("escape", ESCAPES, ids=[e.name for e in ESCAPES])
def test_escape_is_contained(sandbox: Sandbox, escape: Escape, tmp_path: Path) -> None:
    """Each malicious program fails or is killed by a limit, and the host is unharmed."""
    contained, result = _attempt(sandbox, escape, tmp_path)
    assert contained, result


def test_escape_set_counts(
    sandbox: Sandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Prints contained / attempted for the whole escape set (running any not yet run)."""
    for escape in ESCAPES:
        if escape.name not in OUTCOMES:
            _attempt(sandbox, escape, tmp_path)
    contained = sum(OUTCOMES.values())
    with capsys.disabled():
        print(f"\nsandbox escape set: {contained} / {len(ESCAPES)} contained")
        for name, ok in OUTCOMES.items():
            print(f"  {'contained' if ok else 'ESCAPED  '}  {name}")
    assert contained == len(ESCAPES)


# -- helpers -------------------------------------------------------------------------------


def _host_is_responsive(sandbox: Sandbox) -> bool:
    """The host still starts processes, and the sandbox still runs code."""
    ok = subprocess.run(["true"], check=False, timeout=30).returncode == 0
    return ok and sandbox.run_python_sync("print('alive')").stdout == "alive\n"


def _leftovers(result: SandboxResult) -> list[int]:
    """Processes still running as the run's uid after the call (only known as root)."""
    first = result.stdout.split("\n", 1)[0]
    if os.geteuid() != 0 or not first.isdigit() or int(first) == 0:
        return []
    return _processes_of(int(first))


def _processes_of(uid: int) -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                status = (entry / "status").read_text()
            except OSError:
                continue
            for line in status.splitlines():
                if line.startswith("Uid:") and int(line.split()[1]) == uid:
                    pids.append(int(entry.name))
    return pids


def _scratch_entries(sandbox: Sandbox) -> list[str]:
    root = sandbox._root
    return sorted(p.name for sub in ("runs", "slots") for p in (root / sub).iterdir())


def _wait_for(condition: Callable[[], bool]) -> None:
    """Poll a condition that background threads make true (a bound, not a timing claim)."""
    event = threading.Event()
    for _ in range(600):
        if condition():
            return
        event.wait(0.05)
    raise AssertionError("condition never became true")
