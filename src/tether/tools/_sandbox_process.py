"""One sandboxed process: bubblewrap's command line, the bootstrap, limits and output.

:class:`tether.tools.Sandbox` decides which process serves which call and where its
files live; this module starts nothing on its own. It builds the command line that
isolates a program, holds the bootstrap that applies the limits inside, reads the
program's output under its caps, and kills a sandbox so that nothing of it is left.
"""

from __future__ import annotations

import contextlib
import os
import random
import selectors
import shutil
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from tether.exceptions import ConfigError

KilledBy = Literal["cpu", "memory", "pids", "file_size", "timeout"]

MOUNT = "/sandbox"
"""Where the sandbox's slot directory is mounted; the working directory is inside it."""
WORKDIR = f"{MOUNT}/work"

# Unprivileged uids handed to runs when Tether runs as root: a large range, so two runs
# almost never share one; systemd's dynamic range when only 16-bit uids are mapped.
UID_RANGES = ((1 << 30, (1 << 31) - 1), (61184, 65519))

# Runs inside the sandbox (as root only when Tether is root, with no capability but
# setuid/setgid): read the header and the program, enter the working directory (before
# dropping privileges if it can: unsandboxed, its parents may be closed to the run's
# uid; sandboxed, root without CAP_DAC_OVERRIDE cannot enter the run's dir), drop
# to the run's uid, apply the limits, then run the program. Nothing of the user's runs
# before the limits are set. ``-S`` then site-packages on ``sys.path`` by hand: installed
# packages import as usual, but no ``.pth`` file runs (they import dozens of modules,
# which costs more than the sandbox itself at start and at exit, and run host code
# before the limits apply).
#
# Unsandboxed (``supervise``) there is no pid namespace whose end kills everything: the
# bootstrap forks, and the parent stays behind as a supervisor (a child subreaper, so
# orphans of the program, ``setsid`` or not, become its children rather than init's).
# When the program ends, or on SIGTERM (the wall timeout), it kills every process below
# it until none is left, then exits with the program's status. As root it keeps its uid,
# so the program, which runs as the run's uid, cannot kill it.
BOOTSTRAP = r"""
import ctypes, json, os, resource, site, sys
sys.path += [p for p in site.getsitepackages() if os.path.isdir(p)]
h = json.loads(sys.stdin.buffer.readline())
body = sys.stdin.buffer.read()
libc = ctypes.CDLL(None)
if h.get("supervise"):
    import signal, traceback
    libc.prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER
    program = os.fork()
    if program:
        me = str(os.getpid()).encode()
        def children():
            found = []
            for p in os.listdir("/proc"):
                try:
                    st = open(f"/proc/{p}/stat", "rb").read() if p.isdigit() else b""
                except OSError:
                    continue
                if st and st[st.rindex(b")") + 2:].split()[1] == me:
                    found.append(int(p))
            return found
        def end(code):
            signal.pthread_sigmask(signal.SIG_BLOCK, [signal.SIGTERM])
            while True:
                for p in children():
                    try:
                        os.kill(p, 9)
                    except OSError:
                        pass
                try:
                    os.wait()
                except ChildProcessError:
                    os._exit(code)
        signal.signal(signal.SIGTERM, lambda *_: end(128 + 9))
        while True:
            pid, status = os.wait()
            if pid == program:
                code = os.waitstatus_to_exitcode(status)
                end(128 - code if code < 0 else code)
os.environ.update(h["env"])
try:
    os.chdir(h["cwd"]); inside = True
except PermissionError:
    inside = False
u = h["uid"]
if u is not None and os.getuid() == 0:
    os.setgroups([]); os.setresgid(u, u, u); os.setresuid(u, u, u)
    libc.prctl(4, 1, 0, 0, 0)  # PR_SET_DUMPABLE: /proc/self is its own again
libc.prctl(38, 1, 0, 0, 0)  # PR_SET_NO_NEW_PRIVS (bubblewrap sets it too): set-uid gains nothing
if not inside:
    os.chdir(h["cwd"])
for name, soft, hard in h["limits"]:
    resource.setrlimit(getattr(resource, name), (soft, hard))
if h["argv"]:
    os.execvp(h["argv"][0], h["argv"])
sys.argv = ["-c"]
sys.path.insert(0, "")
g = {"__name__": "__main__", "__builtins__": __builtins__}
try:
    exec(compile(body, "<python_exec>", "exec"), g)
except SystemExit:
    raise
except BaseException as e:
    import traceback
    traceback.print_exception(type(e), e, e.__traceback__.tb_next)
    sys.exit(1)
"""


@dataclass(kw_only=True, slots=True, frozen=True)
class SandboxLimits:
    """What one sandboxed program may use.

    Attributes:
        cpu_seconds: CPU time (``RLIMIT_CPU``); past it the program gets ``SIGXCPU``.
        memory_bytes: Memory of the whole sandbox where a cgroup enforces it (the kernel
            kills inside it past the limit), and the address space of each process
            (``RLIMIT_AS``: past it allocations fail). Without a cgroup only the latter
            holds: a program of ``max_processes`` processes may use that many times it.
        max_processes: Processes and threads of the sandbox's uid (``RLIMIT_NPROC``),
            and of the sandbox's cgroup. Kept low because without a cgroup it
            multiplies ``memory_bytes``.
        file_size_bytes: Largest file the program may write (``RLIMIT_FSIZE``).
        wall_seconds: Wall-clock time before the whole sandbox is killed.
        output_bytes: Bytes kept of stdout and of stderr each; the rest is counted and
            dropped, and the output ends with a note saying so.
        tmp_bytes: Size of the private ``/tmp`` (a tmpfs, so it counts against memory).
            Fixed per :class:`~tether.tools.Sandbox` (its warm interpreters are started
            before any call), so only the sandbox's own limits set it.
    """

    cpu_seconds: int = 10
    memory_bytes: int = 1 << 30
    max_processes: int = 16
    file_size_bytes: int = 64 << 20
    wall_seconds: float = 20.0
    output_bytes: int = 64_000
    tmp_bytes: int = 64 << 20

    def __post_init__(self) -> None:
        for name in ("cpu_seconds", "memory_bytes", "max_processes", "file_size_bytes"):
            value = getattr(self, name)
            if type(value) is not int or value < 1:
                raise ConfigError(f"SandboxLimits.{name} must be a positive int, not {value!r}")
        if not self.wall_seconds > 0:
            raise ConfigError("SandboxLimits.wall_seconds must be a positive number of seconds")
        if self.output_bytes < 1 or self.tmp_bytes < 1:
            raise ConfigError("SandboxLimits.output_bytes and tmp_bytes must be positive")

    def rlimits(self) -> list[tuple[str, int, int]]:
        """The ``(resource, soft, hard)`` triples the bootstrap sets before the program runs."""
        return [
            # One second of grace: SIGXCPU at the soft limit, SIGKILL at the hard one.
            ("RLIMIT_CPU", self.cpu_seconds, self.cpu_seconds + 1),
            ("RLIMIT_AS", self.memory_bytes, self.memory_bytes),
            ("RLIMIT_NPROC", self.max_processes, self.max_processes),
            ("RLIMIT_FSIZE", self.file_size_bytes, self.file_size_bytes),
            ("RLIMIT_CORE", 0, 0),
        ]


@dataclass(kw_only=True, slots=True, frozen=True)
class SandboxResult:
    """How a sandboxed program ended.

    Attributes:
        stdout: Standard output (UTF-8, undecodable bytes replaced), capped.
        stderr: Standard error, capped the same way.
        exit_code: The program's exit status; ``128 + n`` when signal ``n`` killed it.
        truncated: Whether either stream was cut at ``SandboxLimits.output_bytes``.
        timed_out: Whether the wall timeout killed the sandbox.
        killed_by: The limit that stopped the program, when one did: ``"timeout"``,
            ``"cpu"`` (``SIGXCPU``/``SIGKILL`` of the CPU limit), ``"file_size"``
            (``SIGXFSZ``), or, from the program's last words, ``"memory"`` (an uncaught
            ``MemoryError``) and ``"pids"`` (an uncaught ``EAGAIN`` from fork).
        sandboxed: ``False`` only for an operator's explicit unsandboxed opt-in.
        enforcement: ``"cgroup"``: ``memory_bytes`` and ``max_processes`` held for the
            whole sandbox (a cgroup of its own, besides the rlimits). ``"rlimit"``: no
            cgroup could be made here, they bound each process, so the program could
            hold up to ``memory_bytes * max_processes`` in all.
    """

    stdout: str
    stderr: str
    exit_code: int
    truncated: bool = False
    timed_out: bool = False
    killed_by: KilledBy | None = None
    sandboxed: bool = True
    enforcement: Literal["cgroup", "rlimit"] = "rlimit"


def bwrap_argv(
    bwrap: str,
    python: str,
    slot: Path,
    *,
    privileged: bool,
    tmp_bytes: int,
    seccomp_fd: int,
) -> list[str]:
    """bubblewrap's command line for one sandbox that mounts ``slot`` at ``/sandbox``.

    ``seccomp_fd`` is a readable descriptor holding
    :func:`~tether.tools._sandbox_seccomp.namespace_filter` (no nested namespaces, no
    mounts), which bubblewrap loads for the program and everything it starts.
    """
    args = [
        bwrap,
        "--seccomp",
        str(seccomp_fd),
        "--die-with-parent",
        "--new-session",
        "--unshare-net",
        "--unshare-pid",
        "--unshare-ipc",
        "--unshare-uts",
        "--unshare-cgroup-try",
        "--hostname",
        "sandbox",
    ]
    if privileged:
        # No user namespace: the bootstrap drops to the run's own host uid, so
        # RLIMIT_NPROC counts that uid (root is exempt from it). It keeps only the
        # capabilities to do so, and loses them with the switch.
        args += ["--cap-drop", "ALL", "--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID"]
    else:
        args += ["--unshare-user", "--cap-drop", "ALL"]
    args += ["--ro-bind", "/usr", "/usr", "--perms", "0755", "--dir", "/etc"]
    for name in ("bin", "sbin", "lib", "lib32", "lib64", "libx32"):
        host = Path("/", name)
        if host.is_symlink():
            args += ["--symlink", os.readlink(host), str(host)]
        elif host.is_dir():
            args += ["--ro-bind", str(host), str(host)]
    for etc in ("/etc/ld.so.cache", "/etc/localtime"):
        if os.path.exists(etc):
            args += ["--ro-bind", etc, etc]
    made: set[str] = set()
    for path in python_paths(python):
        for parent in reversed(Path(path).parents):
            p = str(parent)
            if p != "/" and p not in made and not under_usr(p):
                made.add(p)
                args += ["--perms", "0711", "--dir", p]
        args += ["--ro-bind", path, path]
    args += [
        "--proc",
        "/proc",
        "--dev",
        "/dev",
        "--perms",
        "1777",
        "--size",
        str(tmp_bytes),
        "--tmpfs",
        "/tmp",
        "--bind",
        str(slot),
        MOUNT,
        "--chdir",
        "/",
        "--clearenv",
    ]
    for key, value in base_env(WORKDIR).items():
        args += ["--setenv", key, value]
    return [*args, python, "-I", "-S", "-B", "-c", BOOTSTRAP]


def base_env(home: str) -> dict[str, str]:
    return {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "HOME": home,
        "LANG": "C.UTF-8",
        "TMPDIR": "/tmp",
        "USER": "sandbox",
    }


def under_usr(path: str) -> bool:
    return path == "/usr" or path.startswith("/usr/")


def python_paths(python: str) -> list[str]:
    """Directories the interpreter needs, outside ``/usr`` (mounted read-only anyway)."""
    real = os.path.realpath(python)
    candidates = {os.path.dirname(os.path.dirname(real))}
    if real == os.path.realpath(sys.executable):  # this interpreter: its venv and its base
        candidates |= {sys.prefix, sys.base_prefix}
    candidates |= {os.path.realpath(c) for c in candidates}
    if not any(real.startswith(c.rstrip("/") + "/") for c in candidates):
        candidates.add(os.path.dirname(real))
    paths = sorted(c for c in candidates if c != "/" and not under_usr(c) and os.path.isdir(c))
    # Keep only outermost directories: a bind inside another bind would be redundant.
    return [p for p in paths if not any(p != q and p.startswith(q + "/") for q in paths)]


def pick_uid() -> int:
    """A random uid this process can switch to, from a range no account should use."""
    mapped: list[tuple[int, int]] = []
    try:
        with open("/proc/self/uid_map") as fh:
            for line in fh:
                inside, _outside, count = (int(x) for x in line.split())
                mapped.append((inside, inside + count - 1))
    except OSError:
        mapped = [(0, (1 << 32) - 2)]
    for low, high in UID_RANGES:
        spans = [(max(low, a), min(high, b)) for a, b in mapped if max(low, a) <= min(high, b)]
        if spans:
            a, b = random.choice(spans)
            return random.randint(a, b)
    return 65534


def remove_tree(path: Path) -> None:
    # rmtree never follows symlinks a program left behind (it works on directory fds).
    try:
        shutil.rmtree(path)
    except FileNotFoundError:
        pass
    except NotADirectoryError:
        os.unlink(path)
    except OSError:
        if os.path.islink(path):  # rmtree refuses a symlink itself
            os.unlink(path)
        else:
            raise


def kill_sandbox(proc: subprocess.Popen[bytes], *, namespace: bool) -> None:
    """Kill a sandbox and return once every process in it is gone.

    The sandbox's pid 1 (bubblewrap's child) goes first: the kernel then kills everything
    in its pid namespace and lets pid 1 be reaped only after all of it has exited, so
    bubblewrap exiting means nothing of the program is left. Killing bubblewrap first
    would return while the namespace is still being torn down. Unsandboxed there is no
    namespace: SIGTERM asks the bootstrap's supervisor to kill every process below it
    (their subreaper, so ``setsid`` does not get one away), then the process group is
    killed too, in case the program killed the supervisor (same uid, Tether not root).
    """
    if not namespace and proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(5)
    if namespace and proc.poll() is None:
        with contextlib.suppress(OSError):
            children = Path(f"/proc/{proc.pid}/task/{proc.pid}/children").read_text().split()
            for child in children:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(int(child), signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(5)
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(5)
    for stream in (proc.stdin, proc.stdout, proc.stderr):
        if stream is not None:
            with contextlib.suppress(OSError):
                stream.close()


class _Capped:
    """Keeps the first ``cap`` bytes of a stream and a short tail; counts the rest."""

    __slots__ = ("cap", "head", "tail", "total")

    def __init__(self, cap: int) -> None:
        self.cap = cap
        self.head = bytearray()
        self.tail = b""
        self.total = 0

    def add(self, chunk: bytes) -> None:
        self.total += len(chunk)
        room = self.cap - len(self.head)
        if room > 0:
            self.head += chunk[:room]
        self.tail = (self.tail + chunk)[-2048:]

    @property
    def truncated(self) -> bool:
        return self.total > self.cap

    def text(self) -> str:
        out = bytes(self.head).decode("utf-8", "replace")
        if self.truncated:
            out += (
                f"\n[output truncated: {self.total - self.cap} more bytes not shown; "
                "print less, or write to a file in the working directory and summarise it]"
            )
        return out


def communicate(
    proc: subprocess.Popen[bytes],
    payload: bytes,
    limits: SandboxLimits,
    cancel: threading.Event | None,
    *,
    namespace: bool,
) -> SandboxResult:
    """Send the program, read both streams under their caps, and stop at the deadline."""
    assert proc.stdin is not None and proc.stdout is not None and proc.stderr is not None
    deadline = time.monotonic() + limits.wall_seconds
    out, err = _Capped(limits.output_bytes), _Capped(limits.output_bytes)
    with contextlib.suppress(BrokenPipeError):
        # The bootstrap reads all of stdin before anything else, so this cannot block
        # for long; a sandbox that died early shows up as a broken pipe.
        proc.stdin.write(payload)
    with contextlib.suppress(BrokenPipeError):
        proc.stdin.close()
    timed_out = False
    with selectors.DefaultSelector() as sel:
        sel.register(proc.stdout, selectors.EVENT_READ, out)
        sel.register(proc.stderr, selectors.EVENT_READ, err)
        while sel.get_map():
            left = deadline - time.monotonic()
            if left <= 0 or (cancel is not None and cancel.is_set()):
                timed_out = left <= 0
                kill_sandbox(proc, namespace=namespace)
                break
            for key, _ in sel.select(min(left, 0.25)):
                chunk = os.read(key.fd, 65536)
                if chunk:
                    key.data.add(chunk)
                else:
                    sel.unregister(key.fileobj)
    if not timed_out:
        try:
            proc.wait(max(deadline - time.monotonic(), 0.1))
        except subprocess.TimeoutExpired:
            timed_out = True
    kill_sandbox(proc, namespace=namespace)
    code = proc.returncode if proc.returncode is not None else 128 + signal.SIGKILL
    if code < 0:  # unsandboxed: Popen reports a signal as -n; bwrap reports 128 + n
        code = 128 - code
    return SandboxResult(
        stdout=out.text(),
        stderr=err.text(),
        exit_code=code,
        truncated=out.truncated or err.truncated,
        timed_out=timed_out,
        killed_by=killed_by_limit(code, timed_out, err.tail),
    )


def killed_by_limit(code: int, timed_out: bool, stderr_tail: bytes) -> KilledBy | None:
    if timed_out:
        return "timeout"
    if code in (128 + signal.SIGXCPU, 128 + signal.SIGKILL):
        return "cpu"
    if code == 128 + signal.SIGXFSZ:
        return "file_size"
    if code != 0:
        last = stderr_tail.rstrip().rsplit(b"\n", 1)[-1]
        if last.startswith(b"MemoryError"):
            return "memory"
        if last.startswith(b"BlockingIOError: [Errno 11]"):
            return "pids"
    return None


def describe_limit(killed_by: KilledBy, limits: SandboxLimits) -> tuple[str, str]:
    """What stopped the program and what to do instead, phrased for the model."""
    mib = 1 << 20
    reasons: dict[str, tuple[str, str]] = {
        "timeout": (
            f"the code ran past the {limits.wall_seconds:g} s wall-clock limit and was killed",
            "Make it finish sooner: less work, no waiting or sleeping, no endless loop.",
        ),
        "cpu": (
            f"the code used more than {limits.cpu_seconds} s of CPU time and was killed",
            "Use a faster algorithm or less data; an endless loop never finishes.",
        ),
        "memory": (
            f"the code ran out of memory (limit {limits.memory_bytes // mib} MiB)",
            "Process the data in smaller pieces or use less memory per item.",
        ),
        "pids": (
            f"the code hit the process limit ({limits.max_processes} processes and threads)",
            "Start fewer processes or threads.",
        ),
        "file_size": (
            f"the code wrote a file past the {limits.file_size_bytes // mib} MiB limit",
            "Write smaller files.",
        ),
    }
    return reasons[killed_by]
