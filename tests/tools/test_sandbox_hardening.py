"""Sandbox hardening found by red-team review: each test pins one closed hole.

* nested namespaces and mounts are refused (seccomp filter), so no unbounded tmpfs;
* ``memory_bytes`` holds for the whole sandbox where a cgroup can enforce it;
* a wall timeout leaves no process behind, ``setsid`` or not, with or without bubblewrap;
* the unsandboxed opt-in never runs code as root, says so, and bubblewrap is re-probed.
"""

from __future__ import annotations

import logging
import os
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tether.tools import (
    Sandbox,
    SandboxLimits,
    SandboxUnavailableError,
    ToolContext,
    make_python_exec,
)

LIMITS = SandboxLimits(
    cpu_seconds=5,
    memory_bytes=256 << 20,
    max_processes=16,
    wall_seconds=20.0,
    output_bytes=8000,
)


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    """One bubblewrap sandbox for the module (CI installs bubblewrap: no skip)."""
    with Sandbox(limits=LIMITS, scratch_root=tmp_path_factory.mktemp("scratch")) as box:
        assert box.check() == "bwrap"
        yield box


# -- nested namespaces (hole 07) -----------------------------------------------------------

NESTED_NAMESPACES = r"""
import ctypes, os, threading, subprocess
libc = ctypes.CDLL(None, use_errno=True)
def attempt(name, rc):
    print(name, "refused" if rc == -1 else "ALLOWED", ctypes.get_errno() if rc == -1 else "")
attempt("unshare_user", libc.unshare(0x10000000))
attempt("unshare_mount", libc.unshare(0x00020000))
attempt("unshare_net", libc.unshare(0x40000000))
os.makedirs("/tmp/m", exist_ok=True)
attempt("mount_tmpfs", libc.mount(b"none", b"/tmp/m", b"tmpfs", 0, None))
attempt("clone_newuser", libc.syscall(56 if os.uname().machine == "x86_64" else 220,
                                      0x10000000 | 17, 0, 0, 0, 0))
t = threading.Thread(target=print, args=("thread works",))
t.start(); t.join()
print(subprocess.run(["echo", "subprocess works"], capture_output=True, text=True).stdout.strip())
if os.fork() == 0:
    os._exit(0)
print("fork works")
"""


def test_nested_namespaces_and_mounts_are_refused(sandbox: Sandbox) -> None:
    """No user, mount or network namespace and no mount: an unbounded tmpfs is impossible.

    Threads (``clone3`` falls back to ``clone``), subprocesses and ``fork`` still work.
    """
    result = sandbox.run_python_sync(NESTED_NAMESPACES)
    assert result.exit_code == 0, result
    lines = result.stdout.splitlines()
    for name in ("unshare_user", "unshare_mount", "unshare_net", "mount_tmpfs", "clone_newuser"):
        assert f"{name} refused 1" in lines, result.stdout  # EPERM
    for works in ("thread works", "subprocess works", "fork works"):
        assert works in lines, result


def test_nested_user_namespace_cannot_park_memory_in_a_tmpfs(sandbox: Sandbox) -> None:
    """The red-team program: a user namespace of its own, then a tmpfs past memory_bytes."""
    code = r"""
import ctypes, os
libc = ctypes.CDLL(None, use_errno=True)
uid, gid = os.getuid(), os.getgid()
if libc.unshare(0x10000000) != 0:
    raise SystemExit("unshare refused")
open("/proc/self/setgroups", "w").write("deny")
open("/proc/self/uid_map", "w").write(f"0 {uid} 1")
open("/proc/self/gid_map", "w").write(f"0 {gid} 1")
if libc.unshare(0x00020000) != 0:
    raise SystemExit("unshare refused")
os.makedirs("/tmp/m", exist_ok=True)
if libc.mount(b"none", b"/tmp/m", b"tmpfs", 0, None) != 0:
    raise SystemExit("mount refused")
for i in range(12):
    with open(f"/tmp/m/f{i}", "wb") as fh:
        fh.write(b"x" * (32 << 20))
print("WROTE")
"""
    result = sandbox.run_python_sync(code)
    assert "WROTE" not in result.stdout
    assert result.stderr.strip().endswith("unshare refused"), result


# -- nothing survives the sandbox (hole 04) ------------------------------------------------

# A daemon in the classic way (fork, setsid, fork): out of the process group, reparented.
DAEMON = r"""
import os, time
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        while True:
            with open("beat", "w") as fh:
                fh.write(repr(time.time()))
            time.sleep(0.05)
    os._exit(0)
while not os.path.exists("beat"):
    time.sleep(0.01)
print("daemon started", flush=True)
"""


def _unsandboxed(tmp_path: Path, **kw: object) -> Sandbox:
    return Sandbox(
        bwrap=str(tmp_path / "no-bwrap"),
        allow_unsandboxed=True,
        scratch_root=tmp_path / "scratch",
        **kw,  # type: ignore[arg-type]  # the test passes limits only
    )


@pytest.mark.parametrize("ending", ["timeout", "exit"])
@pytest.mark.parametrize("mode", ["bwrap", "unsandboxed"])
def test_no_descendant_survives_the_call(
    sandbox: Sandbox, tmp_path: Path, mode: str, ending: str
) -> None:
    """A setsid'd grandchild dies with the call, at the wall timeout or when the program ends.

    bubblewrap: the pid namespace ends with its pid 1. Unsandboxed: the bootstrap's
    supervisor is the program's subreaper and kills everything below it.
    """
    box = sandbox if mode == "bwrap" else _unsandboxed(tmp_path)
    code = DAEMON + ("import time\ntime.sleep(3600)\n" if ending == "timeout" else "")
    limits = LIMITS if ending == "exit" else SandboxLimits(wall_seconds=1.5)
    run_id = f"daemon-{mode}-{ending}"
    try:
        result = box.run_python_sync(code, run_id=run_id, limits=limits)
        assert result.sandboxed == (mode == "bwrap")
        assert "daemon started" in result.stdout, result
        assert result.killed_by == ("timeout" if ending == "timeout" else None), result
        beat = box._run_path(run_id) / "beat"
        before = beat.read_text()
        _sleep(0.5)
        assert beat.read_text() == before, "a process of the sandbox is still running"
    finally:
        box.close_run(run_id)
        box.close()


# -- the unsandboxed opt-in (hole 05) -------------------------------------------------------

AS_WHOM = r"""
import os, time
n = 0
for i in range(12):
    try:
        if os.fork() == 0:
            time.sleep(1); os._exit(0)
        n += 1
    except OSError:
        break
print(os.getuid(), n, os.access(f"/proc/{os.getppid()}/environ", os.R_OK))
"""


def test_unsandboxed_code_never_runs_as_root(tmp_path: Path) -> None:
    """As root the opt-in runs code as an unprivileged uid: the process cap binds and
    Tether's environment is unreadable. Not root, it runs as Tether's user (nothing to drop).
    """
    box = _unsandboxed(tmp_path, limits=SandboxLimits(max_processes=4, wall_seconds=10))
    result = box.run_python_sync(AS_WHOM)
    box.close()
    uid, forked, environ_readable = result.stdout.split()
    assert result.sandboxed is False
    if os.geteuid() == 0:
        assert int(uid) != 0 and int(forked) < 4 and environ_readable == "False", result
    else:
        assert int(uid) == os.geteuid(), result


def test_unsandboxed_opt_in_is_refused_as_root_without_a_uid_to_drop_to(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """When the code would keep uid 0, the opt-in is refused rather than run as root."""
    import tether.tools._sandbox as module

    monkeypatch.setattr(module, "pick_uid", lambda: 0)
    box = _unsandboxed(tmp_path)
    if os.geteuid() == 0:
        with pytest.raises(SandboxUnavailableError, match="cannot switch the code"):
            box.check()
    else:  # nothing to drop: the code runs as Tether's own, unprivileged, user
        assert box.check() == "unsandboxed"


async def test_unsandboxed_fallback_is_announced(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """One warning in the log when the fallback starts, and "sandboxed": false per result."""
    box = _unsandboxed(tmp_path)
    tool = make_python_exec(box)
    ctx = ToolContext(run_id="r", call_id="c", tool_name="python_exec", idempotency_key="k")
    with caplog.at_level(logging.WARNING, logger="tether.tools.sandbox"):
        first = await tool.fn(code="print(1)", ctx=ctx)
        second = await tool.fn(code="print(2)", ctx=ctx)
    box.close_run("r")
    assert (first["sandboxed"], second["sandboxed"]) == (False, False)
    warned = [r for r in caplog.records if "UNSANDBOXED" in r.getMessage()]
    assert len(warned) == 1 and "not installed" in warned[0].getMessage()


@pytest.mark.parametrize("opt_in", [False, True])
def test_a_failed_bubblewrap_probe_is_retried(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, opt_in: bool
) -> None:
    """A probe that failed once is retried after a backoff, not remembered for good."""
    import tether.tools._sandbox as module

    monkeypatch.setattr(module, "_REPROBE_FIRST", 0.2)
    bwrap = tmp_path / "bwrap"
    box = Sandbox(bwrap=str(bwrap), allow_unsandboxed=opt_in, scratch_root=tmp_path / "s")
    if opt_in:
        assert box.check() == "unsandboxed"
    else:
        with pytest.raises(SandboxUnavailableError):
            box.check()
    real = shutil.which("bwrap")
    assert real is not None  # CI installs bubblewrap
    bwrap.symlink_to(real)  # bubblewrap works now
    if opt_in:  # within the backoff the last answer stands
        assert box.check() == "unsandboxed"
    else:
        with pytest.raises(SandboxUnavailableError):
            box.check()
    _sleep(0.3)
    assert box.check() == "bwrap"
    assert box.run_python_sync("print(1)").sandboxed is True
    box.close()


def _sleep(seconds: float) -> None:
    threading.Event().wait(seconds)


# -- memory for the whole sandbox (hole 03) -------------------------------------------------

CHILDREN_HOLD_MEMORY = r"""
import os, time
kids = []
for i in range(6):
    pid = os.fork()
    if pid == 0:
        b = bytearray(150 << 20)
        for j in range(0, len(b), 4096):
            b[j] = 1
        time.sleep(3); os._exit(0)
    kids.append(pid)
time.sleep(2)
total = 0
for p in kids:
    try:
        for line in open(f"/proc/{p}/status"):
            if line.startswith("VmRSS:"):
                total += int(line.split()[1]) * 1024
    except OSError:
        pass
print("RSS", total, flush=True)
"""


def _cgroup_expected() -> bool:
    """Whether this host lets Tether make cgroups (detected independently of the code)."""
    from tether.tools._sandbox_cgroup import Cgroups

    return Cgroups.detect() is not None


def test_memory_limit_holds_for_the_whole_sandbox(sandbox: Sandbox) -> None:
    """Six children of 150 MiB each stay within memory_bytes=256 MiB in all, with a cgroup.

    Without one (no writable cgroup hierarchy here) the result says the limits only
    bound each process.
    """
    result = sandbox.run_python_sync(CHILDREN_HOLD_MEMORY)
    held = int(result.stdout.split("RSS", 1)[1]) if "RSS" in result.stdout else 0
    if _cgroup_expected():
        assert result.enforcement == "cgroup"
        assert held <= LIMITS.memory_bytes, result
    else:
        assert result.enforcement == "rlimit"
        assert held > LIMITS.memory_bytes  # each process may hold memory_bytes


def test_a_cgroup_oom_is_reported_as_memory(sandbox: Sandbox) -> None:
    """A program the cgroup's OOM killer stopped reports killed_by="memory", not "cpu"."""
    code = CHILDREN_HOLD_MEMORY.replace(
        "time.sleep(2)", "for p in kids: os.waitpid(p, 0)\nos.kill(os.getpid(), 9)"
    )
    result = sandbox.run_python_sync(code)
    if _cgroup_expected():
        assert result.killed_by == "memory", result
    else:
        assert result.enforcement == "rlimit" and result.killed_by == "cpu", result


def test_sandbox_without_cgroups_says_so(tmp_path: Path) -> None:
    """Sandbox(cgroups=False) runs on rlimits alone, and the result says which applied."""
    with Sandbox(scratch_root=tmp_path, cgroups=False) as box:
        assert box.run_python_sync("print(1)").enforcement == "rlimit"
    assert SandboxLimits().max_processes == 16  # it multiplies memory_bytes without one


def test_no_cgroup_is_left_behind(sandbox: Sandbox) -> None:
    """After calls, timeouts included, no cgroup of a sandbox remains."""
    sandbox.run_python_sync("import time\ntime.sleep(60)", limits=SandboxLimits(wall_seconds=1))
    cgroups = sandbox._cgroups
    if cgroups is None:
        assert not _cgroup_expected()
        return
    for parent in cgroups.parents:
        assert not [p for p in parent.iterdir() if p.name.startswith("tether-sandbox-")]


_HOST_KILLED_MID_CALL = r"""
import sys
from tether.tools import Sandbox, SandboxLimits

with Sandbox(scratch_root=sys.argv[1]) as box:
    print("ready", flush=True)
    box.run_python_sync("import time\ntime.sleep(60)", limits=SandboxLimits(wall_seconds=60))
"""


def _occupied(cgroup_dir: Path) -> bool:
    try:
        return bool((cgroup_dir / "cgroup.procs").read_text().strip())
    except OSError:  # removed meanwhile
        return False


def test_a_killed_hosts_cgroups_are_swept_by_the_next_sandbox(tmp_path: Path) -> None:
    """A host SIGKILLed mid-call leaves its sandbox's cgroup; the next process removes it.

    Only cgroups whose maker is dead go: one of this live process stays.
    """
    import signal
    import subprocess
    import sys
    import time

    from tether.tools._sandbox_cgroup import Cgroups

    cgroups = Cgroups.detect()
    if cgroups is None:
        assert not _cgroup_expected()
        return
    host = subprocess.Popen(
        [sys.executable, "-c", _HOST_KILLED_MID_CALL, str(tmp_path)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert host.stdout is not None and host.stdout.readline().strip() == "ready"
        mine = f"tether-sandbox-{os.stat('/proc/self/ns/pid').st_ino}-{host.pid}-"
        deadline = time.monotonic() + 30
        busy: list[Path] = []
        while not busy and time.monotonic() < deadline:  # the program runs in its cgroup
            busy = [
                p for p in cgroups.parents[0].iterdir() if p.name.startswith(mine) and _occupied(p)
            ]
            time.sleep(0.05)
        assert busy, "the host never ran its program in a cgroup"
        time.sleep(0.5)  # past the start-up's short-lived cgroups (a probe's, a warm-up's)
        left = [p for p in cgroups.parents[0].iterdir() if p.name.startswith(mine)]
    finally:
        host.send_signal(signal.SIGKILL)
        host.wait()
        assert host.stdout is not None
        host.stdout.close()
    assert all(p.is_dir() for p in left)  # close() never ran: the cgroup stays
    live = cgroups.create()  # this process's, alive: never swept
    try:
        swept = Cgroups.detect()
        assert swept is not None
        for parent in cgroups.parents:
            assert not [p for p in parent.iterdir() if p.name.startswith(mine)]
        assert all(d.is_dir() for d in live.dirs)
    finally:
        live.close()


def _fake_hierarchy(monkeypatch: pytest.MonkeyPatch, root: Path) -> tuple[Path, Path]:
    """Plain directories standing in for a v1 memory and pids hierarchy (the sweep only
    lists, reads, kills the pids it reads and removes directories there)."""
    from tether.tools import _sandbox_cgroup as cg

    mem, pids = root / "memory", root / "pids"
    mem.mkdir()
    pids.mkdir()
    monkeypatch.setattr(
        cg, "_mounts", lambda: {"memory": (str(mem), "/"), "pids": (str(pids), "/")}
    )
    monkeypatch.setattr(cg, "_own_cgroups", lambda: {"memory": "/", "pids": "/"})
    monkeypatch.setattr(cg, "_UNREMOVABLE", set())
    return mem, pids


def test_a_name_another_process_made_cannot_break_the_sweep(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Red team 13, hole 08: a directory named like a dead host's cgroup, with a pid that is
    a Unicode digit ("²": isdigit() but not int()), made Cgroups.detect(), so every
    Sandbox(), raise ValueError; and one that cannot be removed (a cgroup below it) was
    tried for 5 s by every Sandbox(). The sweep never raises, and tries such a directory a
    few times, once per process."""
    from tether.tools import _sandbox_cgroup as cg

    mem, pids = _fake_hierarchy(monkeypatch, tmp_path)
    ns = cg._pid_namespace()
    odd = f"tether-sandbox-{ns}-\u00b2-0-aaaa"
    stuck = f"tether-sandbox-{ns}-999999999-1-bbbb"  # a dead maker's
    for parent in (mem, pids):
        (parent / odd).mkdir()
        (parent / stuck / "child").mkdir(parents=True)
    rounds: list[int] = []
    close = cg.Cgroup.close

    def counted(self: Any, **kw: Any) -> bool:
        rounds.append(kw.get("rounds", 200))
        return close(self, **kw)

    monkeypatch.setattr(cg.Cgroup, "close", counted)
    assert cg.Cgroups.detect() is not None  # no ValueError
    assert (mem / stuck).is_dir()  # could not be removed
    tried = list(rounds)
    assert cg.Cgroups.detect() is not None
    assert rounds[len(tried) :] == [200]  # only the probe's own cgroup: stuck is not retried
    assert 4 in tried  # the stuck one was tried briefly, once
    for parent in (mem, pids):
        (parent / stuck / "child").rmdir()
