"""Sandbox hardening found by red-team review: each test pins one closed hole.

* nested namespaces and mounts are refused (seccomp filter), so no unbounded tmpfs;
* ``memory_bytes`` holds for the whole sandbox where a cgroup can enforce it;
* a wall timeout leaves no process behind, ``setsid`` or not, with or without bubblewrap;
* the unsandboxed opt-in never runs code as root, says so, and bubblewrap is re-probed.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tether.tools import Sandbox, SandboxLimits

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
