"""``Sandbox``: run untrusted code under bubblewrap with rlimits, a wall timeout and capped output.

What the sandboxed program sees (see ``Sandbox._bwrap_argv``):

* no network (a new, empty network namespace), new pid, ipc, uts and cgroup namespaces,
  ``--die-with-parent`` and a new session (no ``TIOCSTI`` into the caller's terminal);
* a read-only ``/usr`` (with the ``/bin``, ``/lib*`` links), ``/etc/ld.so.cache`` and
  ``/etc/localtime``, and the Python installation read-only at its own path; nothing
  else of the host: not ``/root`` or the home directory, not the project tree, not the
  store, not the host's ``/tmp``;
* a private ``/tmp`` (a size-capped tmpfs) and, as working directory, ``/sandbox/work``:
  the run's scratch directory, kept across the run's calls and removed when the run ends;
* an environment of ``PATH``, ``HOME``, ``LANG``, ``TMPDIR`` and ``USER`` only.

Rlimits cap CPU seconds, address space, processes and file size. When Tether runs as
root, each run's code runs as its own unprivileged uid (so the process cap is the run's
own, and no file of the host is the sandbox's), and bubblewrap sets ``no_new_privs`` so a
set-uid binary gains nothing. A wall timeout kills the whole sandbox (process group and
pid namespace).

A warm pool keeps bubblewrap'd interpreters started and waiting on stdin for their one
program; each is used once and discarded, never reused across calls or runs.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import random
import selectors
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import threading
import time
import weakref
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal

import anyio.to_thread

from tether.exceptions import ConfigError

KilledBy = Literal["cpu", "memory", "pids", "file_size", "timeout"]

ALLOW_UNSANDBOXED_ENV = "TETHER_SANDBOX_ALLOW_UNSANDBOXED"
"""Set to ``1`` to run code without bubblewrap where it is missing (rlimits still apply)."""

SCRATCH_DIR_ENV = "TETHER_SANDBOX_DIR"
"""Where scratch directories live (default: ``$TMPDIR/tether-sandbox-<uid>``)."""

INSTALL_HINT = (
    "Install bubblewrap (Debian/Ubuntu: `apt-get install bubblewrap`; Fedora: "
    "`dnf install bubblewrap`) and allow user namespaces, or opt in to unsandboxed "
    f"execution with Sandbox(allow_unsandboxed=True) or {ALLOW_UNSANDBOXED_ENV}=1 "
    "(no isolation from the host; only rlimits and the timeout apply)."
)

_MOUNT = "/sandbox"
_WORKDIR = f"{_MOUNT}/work"
_MAX_CODE_BYTES = 1 << 20
# Unprivileged uids handed to runs when Tether runs as root: a large range, so two runs
# almost never share one; systemd's dynamic range when only 16-bit uids are mapped.
_UID_RANGES = ((1 << 30, (1 << 31) - 1), (61184, 65519))

# Runs inside the sandbox (as root only when Tether is root, with no capability but
# setuid/setgid): read the header and the program, enter the working directory (before
# dropping privileges if it can: unsandboxed, its parents may be closed to the run's
# uid; sandboxed, root without CAP_DAC_OVERRIDE cannot enter the run's dir), drop
# to the run's uid, apply the limits, then run the program. Nothing of the user's runs
# before the limits are set.
_BOOTSTRAP = r"""
import json, os, resource, sys
h = json.loads(sys.stdin.buffer.readline())
body = sys.stdin.buffer.read()
os.environ.update(h["env"])
try:
    os.chdir(h["cwd"]); inside = True
except PermissionError:
    inside = False
u = h["uid"]
if u is not None and os.getuid() == 0:
    os.setgroups([]); os.setresgid(u, u, u); os.setresuid(u, u, u)
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


class SandboxUnavailableError(ConfigError):
    """Bubblewrap is missing or cannot create namespaces here; the message says what to do."""


@dataclass(kw_only=True, slots=True, frozen=True)
class SandboxLimits:
    """What one sandboxed program may use.

    Attributes:
        cpu_seconds: CPU time (``RLIMIT_CPU``); past it the program gets ``SIGXCPU``.
        memory_bytes: Address space (``RLIMIT_AS``); past it allocations fail.
        max_processes: Processes and threads of the sandbox's uid (``RLIMIT_NPROC``).
        file_size_bytes: Largest file the program may write (``RLIMIT_FSIZE``).
        wall_seconds: Wall-clock time before the whole sandbox is killed.
        output_bytes: Bytes kept of stdout and of stderr each; the rest is counted and
            dropped, and the output ends with a note saying so.
        tmp_bytes: Size of the private ``/tmp`` (a tmpfs, so it counts against memory).
    """

    cpu_seconds: int = 10
    memory_bytes: int = 1 << 30
    max_processes: int = 64
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
    """

    stdout: str
    stderr: str
    exit_code: int
    truncated: bool = False
    timed_out: bool = False
    killed_by: KilledBy | None = None
    sandboxed: bool = True


@dataclass(slots=True)
class _Warm:
    """A started interpreter waiting on stdin for its one program, and its slot directory."""

    proc: subprocess.Popen[bytes]
    slot: Path
    sandboxed: bool


@dataclass(slots=True)
class _RunScratch:
    path: Path
    uid: int | None
    lock: threading.Lock = field(default_factory=threading.Lock)


_LIVE: weakref.WeakSet[Sandbox] = weakref.WeakSet()


class Sandbox:
    """Runs programs under bubblewrap; one per configuration, shared by every run.

    Args:
        limits: Default limits of each program (a call may pass its own).
        pool_size: Interpreters kept started and waiting (0: start each on demand).
        allow_unsandboxed: Run without bubblewrap where it is missing or cannot create
            namespaces. Off unless the operator opts in, here or with
            ``TETHER_SANDBOX_ALLOW_UNSANDBOXED=1``; rlimits and the timeout still apply,
            nothing else does.
        scratch_root: Directory of the scratch directories (``TETHER_SANDBOX_DIR``, else
            ``$TMPDIR/tether-sandbox-<uid>``).
        scratch_ttl: Seconds after its last use when a run's scratch directory counts as
            abandoned and is removed (a run that ended without ``close_run``).
        bwrap: Path of the ``bwrap`` binary (found on ``PATH`` by default).
        python: Interpreter to run code with (default: this one, mounted read-only).
    """

    def __init__(
        self,
        *,
        limits: SandboxLimits | None = None,
        pool_size: int = 0,
        allow_unsandboxed: bool | None = None,
        scratch_root: str | os.PathLike[str] | None = None,
        scratch_ttl: float = 6 * 3600,
        bwrap: str | None = None,
        python: str | None = None,
    ) -> None:
        if pool_size < 0:
            raise ConfigError("Sandbox pool_size must be 0 or more")
        self.limits = limits or SandboxLimits()
        self.pool_size = pool_size
        if allow_unsandboxed is None:
            allow_unsandboxed = os.environ.get(ALLOW_UNSANDBOXED_ENV, "") in ("1", "true", "yes")
        self.allow_unsandboxed = allow_unsandboxed
        self.scratch_ttl = scratch_ttl
        self._bwrap = bwrap if bwrap is not None else shutil.which("bwrap")
        self._python = python or sys.executable
        self._root = Path(
            scratch_root
            or os.environ.get(SCRATCH_DIR_ENV)
            or Path(tempfile.gettempdir()) / f"tether-sandbox-{os.geteuid()}"
        )
        self._privileged = os.geteuid() == 0
        self._mode: Literal["bwrap", "unsandboxed"] | None = None
        self._refusal: str | None = None
        self._runs: dict[str, _RunScratch] = {}
        self._lock = threading.Lock()
        self._pool: deque[_Warm] = deque()
        self._busy_slots: set[Path] = set()
        self._pool_wanted = threading.Condition(self._lock)
        self._spawner: threading.Thread | None = None
        self._closed = False
        self._last_sweep = 0.0
        _LIVE.add(self)

    # -- public API ------------------------------------------------------------------

    async def run_python(
        self, code: str, *, run_id: str | None = None, limits: SandboxLimits | None = None
    ) -> SandboxResult:
        """Run Python source in a fresh sandbox; with ``run_id``, in that run's scratch dir.

        Raises:
            SandboxUnavailableError: No sandbox here and no unsandboxed opt-in.
        """
        return await self._run_async(code=code, argv=None, run_id=run_id, limits=limits)

    async def run_command(
        self,
        argv: Sequence[str],
        *,
        run_id: str | None = None,
        limits: SandboxLimits | None = None,
    ) -> SandboxResult:
        """Run a program (found on the sandbox's ``PATH``) the same way as :meth:`run_python`."""
        if not argv:
            raise ConfigError("Sandbox.run_command needs a program to run")
        return await self._run_async(code="", argv=list(argv), run_id=run_id, limits=limits)

    def run_python_sync(
        self, code: str, *, run_id: str | None = None, limits: SandboxLimits | None = None
    ) -> SandboxResult:
        """Blocking :meth:`run_python`, for scripts and worker threads (never an event loop)."""
        return self._execute(code=code, argv=None, run_id=run_id, limits=limits, cancel=None)

    def check(self) -> Literal["bwrap", "unsandboxed"]:
        """Say how code will run here, probing bubblewrap once.

        Raises:
            SandboxUnavailableError: Bubblewrap is missing or fails, and no opt-in.
        """
        with self._lock:
            if self._mode is None and self._refusal is None:
                self._refusal = self._probe()
                if self._refusal is None:
                    self._mode = "bwrap"
                elif self.allow_unsandboxed:
                    self._mode = "unsandboxed"
            if self._mode is None:
                raise SandboxUnavailableError(
                    f"Cannot sandbox code: {self._refusal}. {INSTALL_HINT}"
                )
            return self._mode

    def start_pool(self) -> None:
        """Start the warm pool now instead of at the first call (a no-op for ``pool_size=0``)."""
        if self.pool_size and self.check():
            with self._lock:
                if self._spawner is None and not self._closed:
                    self._spawner = threading.Thread(
                        target=self._keep_pool_full, name="tether-sandbox-pool", daemon=True
                    )
                    self._spawner.start()

    def close_run(self, run_id: str) -> None:
        """Remove the run's scratch directory (call when the run ends; safe to repeat)."""
        with self._lock:
            scratch = self._runs.pop(run_id, None)
        path = scratch.path if scratch else self._run_path(run_id)
        if scratch:
            with scratch.lock:  # waits for a call of this run still in flight
                _remove_tree(path)
        else:
            _remove_tree(path)

    async def aclose_run(self, run_id: str) -> None:
        """:meth:`close_run` off the event loop."""
        await anyio.to_thread.run_sync(self.close_run, run_id)

    @classmethod
    def run_ended(cls, run_id: str) -> None:
        """Remove ``run_id``'s scratch directories in every live sandbox of this process."""
        for sandbox in list(_LIVE):
            sandbox.close_run(run_id)

    def sweep(self, max_age: float | None = None) -> int:
        """Remove scratch left by runs unused for ``max_age`` seconds (default ``scratch_ttl``).

        Also removes slots of sandboxes a crashed process left behind. Returns the number
        of directories removed.
        """
        age = self.scratch_ttl if max_age is None else max_age
        cutoff = time.time() - age
        removed = 0
        with self._lock:
            busy = self._busy_slots | {w.slot for w in self._pool}
            known = {s.path: (run_id, s) for run_id, s in self._runs.items()}
        for sub in ("runs", "slots"):
            with contextlib.suppress(FileNotFoundError):
                for entry in os.scandir(self._root / sub):
                    path = Path(entry.path)
                    if path in busy:
                        continue
                    run_id, scratch = known.get(path, (None, None))
                    # A run of this process counts too, unless a call of it is running.
                    if scratch is not None and not scratch.lock.acquire(blocking=False):
                        continue
                    try:
                        if entry.stat(follow_symlinks=False).st_mtime < cutoff:
                            _remove_tree(path)
                            removed += 1
                            if run_id is not None:
                                with self._lock:
                                    self._runs.pop(run_id, None)
                    except FileNotFoundError:
                        pass
                    finally:
                        if scratch is not None:
                            scratch.lock.release()
        return removed

    def close(self) -> None:
        """Stop the pool and kill the waiting interpreters (scratch of live runs stays).

        The sandbox stays usable: a later call starts cold and restarts the pool.
        """
        with self._lock:
            self._closed = True
            spawner, self._spawner = self._spawner, None
            self._pool_wanted.notify_all()
        if spawner is not None:
            spawner.join(10)
        with self._lock:
            warm = list(self._pool)
            self._pool.clear()
            self._closed = False
        for w in warm:
            _kill(w.proc, namespace=w.sandboxed)
            _remove_tree(w.slot)

    def __enter__(self) -> Sandbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- one call --------------------------------------------------------------------

    async def _run_async(
        self,
        *,
        code: str,
        argv: list[str] | None,
        run_id: str | None,
        limits: SandboxLimits | None,
    ) -> SandboxResult:
        cancel = threading.Event()
        try:
            # The worker thread owns the sandbox; on cancellation it is told to kill it
            # and cleans up on its own (moving the scratch back, removing the slot).
            return await anyio.to_thread.run_sync(
                lambda: self._execute(
                    code=code, argv=argv, run_id=run_id, limits=limits, cancel=cancel
                ),
                abandon_on_cancel=True,
            )
        finally:
            cancel.set()

    def _execute(
        self,
        *,
        code: str,
        argv: list[str] | None,
        run_id: str | None,
        limits: SandboxLimits | None,
        cancel: threading.Event | None,
    ) -> SandboxResult:
        lim = limits or self.limits
        body = code.encode("utf-8", "surrogatepass")
        if len(body) > _MAX_CODE_BYTES:
            raise ConfigError(f"code is {len(body)} bytes; the sandbox takes at most 1 MiB")
        mode = self.check()
        self._ensure_root()
        self._maybe_sweep()
        scratch = self._scratch(run_id)
        with scratch.lock:
            self._ensure_dir(scratch)
            warm = None
            if self.pool_size:
                self.start_pool()  # the first call starts cold; the pool refills behind it
                warm = self._take_warm()
            if warm is None:
                warm = self._spawn(sandboxed=mode == "bwrap")
            with self._lock:
                self._busy_slots.add(warm.slot)
            work = warm.slot / "work"
            os.rename(scratch.path, work)
            try:
                header = {
                    "env": {"HOME": _WORKDIR if warm.sandboxed else str(work)},
                    # Unsandboxed, the interpreter may live where only Tether's user can
                    # read (a pyenv under /root): the code runs as that user, unisolated.
                    "uid": scratch.uid if warm.sandboxed else None,
                    "limits": lim.rlimits(),
                    "cwd": _WORKDIR if warm.sandboxed else str(work),
                    "argv": argv,
                }
                payload = json.dumps(header).encode() + b"\n" + body
                result = _communicate(warm.proc, payload, lim, cancel, namespace=warm.sandboxed)
            finally:
                _kill(warm.proc, namespace=warm.sandboxed)
                self._restore(work, scratch)
                _remove_tree(warm.slot)
                with self._lock:
                    self._busy_slots.discard(warm.slot)
        if run_id is None:
            _remove_tree(scratch.path)
        return replace(result, sandboxed=warm.sandboxed)

    # -- scratch directories -----------------------------------------------------------

    def _ensure_root(self) -> None:
        for path in (self._root, self._root / "runs", self._root / "slots"):
            try:
                os.mkdir(path, 0o711)
            except FileExistsError:
                st = os.lstat(path)
                if not os.path.isdir(path) or os.path.islink(path) or st.st_uid != os.geteuid():
                    raise ConfigError(
                        f"sandbox scratch directory {path} is not a directory owned by this "
                        f"user; remove it or point {SCRATCH_DIR_ENV} elsewhere"
                    ) from None
                os.chmod(path, 0o711)

    def _run_path(self, run_id: str) -> Path:
        digest = hashlib.sha256(run_id.encode("utf-8", "surrogatepass")).hexdigest()[:32]
        return self._root / "runs" / digest

    def _scratch(self, run_id: str | None) -> _RunScratch:
        if run_id is None:
            path = Path(tempfile.mkdtemp(prefix="call-", dir=self._root / "runs"))
            return _RunScratch(path=path, uid=self._new_owner(path))
        with self._lock:
            scratch = self._runs.get(run_id)
            if scratch is not None:
                return scratch
            path = self._run_path(run_id)
            try:
                os.mkdir(path, 0o700)
                uid = self._new_owner(path)
            except FileExistsError:  # a run resumed by a new process keeps its files
                uid = os.lstat(path).st_uid if self._privileged else None
            scratch = self._runs[run_id] = _RunScratch(path=path, uid=uid)
            return scratch

    def _ensure_dir(self, scratch: _RunScratch) -> None:
        """Recreate a run's scratch dir that ``close_run`` or a sweep removed meanwhile."""
        if not os.path.isdir(scratch.path) or os.path.islink(scratch.path):
            _remove_tree(scratch.path)
            os.mkdir(scratch.path, 0o700)
            if scratch.uid is not None:
                os.chown(scratch.path, scratch.uid, scratch.uid)

    def _restore(self, work: Path, scratch: _RunScratch) -> None:
        """Move the working directory back; a program that replaced it loses its files."""
        st = os.lstat(work) if os.path.lexists(work) else None
        if st is not None and stat.S_ISDIR(st.st_mode):
            os.rename(work, scratch.path)
            os.utime(scratch.path, follow_symlinks=False)
        else:
            self._ensure_dir(scratch)

    def _new_owner(self, path: Path) -> int | None:
        """Give a new scratch dir its own unprivileged uid when Tether runs as root."""
        if not self._privileged:
            return None
        uid = _pick_uid()
        os.chown(path, uid, uid)
        return uid

    def _maybe_sweep(self) -> None:
        now = time.monotonic()
        if now - self._last_sweep > 60:
            self._last_sweep = now
            self.sweep()

    # -- processes ---------------------------------------------------------------------

    def _take_warm(self) -> _Warm | None:
        with self._lock:
            while self._pool:
                warm = self._pool.popleft()
                self._pool_wanted.notify()
                if warm.proc.poll() is None:
                    return warm
                _remove_tree(warm.slot)
        return None

    def _keep_pool_full(self) -> None:
        # The waiting interpreters are children of this long-lived thread: bubblewrap's
        # --die-with-parent follows the *thread* that started it, and worker threads of a
        # pool come and go.
        while True:
            with self._lock:
                while not self._closed and len(self._pool) >= self.pool_size:
                    self._pool_wanted.wait()
                if self._closed:
                    return
                sandboxed = self._mode == "bwrap"
            try:
                warm = self._spawn(sandboxed=sandboxed)
            except OSError:
                time.sleep(1.0)  # e.g. out of processes; the calls still start cold
                continue
            with self._lock:
                if self._closed:
                    _kill(warm.proc, namespace=warm.sandboxed)
                    _remove_tree(warm.slot)
                    return
                self._pool.append(warm)

    def _spawn(self, *, sandboxed: bool) -> _Warm:
        self._ensure_root()
        slot = Path(tempfile.mkdtemp(prefix="slot-", dir=self._root / "slots"))
        os.chmod(slot, 0o711)
        if sandboxed:
            argv = self._bwrap_argv(slot)
            # bwrap's own environment is readable as /proc/1/environ in the sandbox.
            env = {"PATH": _base_env("/")["PATH"]}
        else:
            argv = [self._python, "-I", "-B", "-c", _BOOTSTRAP]
            env = _base_env(str(slot / "work"))
        try:
            proc = subprocess.Popen(
                argv,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                env=env,
                cwd=str(slot),
                start_new_session=True,  # the wall timeout kills the whole group
                close_fds=True,
            )
        except BaseException:
            _remove_tree(slot)
            raise
        return _Warm(proc=proc, slot=slot, sandboxed=sandboxed)

    def _bwrap_argv(self, slot: Path) -> list[str]:
        assert self._bwrap is not None
        args = [
            self._bwrap,
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
        if self._privileged:
            # No user namespace: the bootstrap drops to the run's own host uid, so
            # RLIMIT_NPROC counts that uid (root is exempt from it). It keeps only the
            # capabilities to do so, and loses them with the switch.
            args += ["--cap-drop", "ALL", "--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID"]
        else:
            args += ["--unshare-user", "--cap-drop", "ALL"]
        args += ["--ro-bind", "/usr", "/usr"]
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
        for path in _python_paths(self._python):
            for parent in reversed(Path(path).parents):
                p = str(parent)
                if p != "/" and p not in made and not _under_usr(p):
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
            str(self.limits.tmp_bytes),
            "--tmpfs",
            "/tmp",
            "--bind",
            str(slot),
            _MOUNT,
            "--chdir",
            "/",
            "--clearenv",
        ]
        for key, value in _base_env(_WORKDIR).items():
            args += ["--setenv", key, value]
        return [*args, self._python, "-I", "-B", "-c", _BOOTSTRAP]

    def _probe(self) -> str | None:
        """``None`` when bubblewrap can start a sandbox here, else why not."""
        if not self._bwrap:
            return "bubblewrap (bwrap) is not installed"
        slot = None
        try:
            self._ensure_root()
            warm = self._spawn(sandboxed=True)
            slot = warm.slot
            header: dict[str, object] = {
                "env": {},
                "uid": None,
                "limits": [],
                "cwd": "/",
                "argv": None,
            }
            out, err = warm.proc.communicate(json.dumps(header).encode() + b"\nprint(1)", 30)
        except (OSError, subprocess.SubprocessError) as exc:
            return f"bubblewrap failed to start ({exc})"
        finally:
            if slot is not None:
                _remove_tree(slot)
        if warm.proc.returncode != 0 or out.strip() != b"1":
            detail = err.decode("utf-8", "replace").strip()[-300:]
            return f"bubblewrap cannot create a sandbox here ({detail or 'no output'})"
        return None


# -- helpers -----------------------------------------------------------------------------


def _base_env(home: str) -> dict[str, str]:
    return {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "HOME": home,
        "LANG": "C.UTF-8",
        "TMPDIR": "/tmp",
        "USER": "sandbox",
    }


def _under_usr(path: str) -> bool:
    return path == "/usr" or path.startswith("/usr/")


def _python_paths(python: str) -> list[str]:
    """Directories the interpreter needs, outside ``/usr`` (mounted read-only anyway)."""
    real = os.path.realpath(python)
    candidates = {sys.prefix, sys.base_prefix, os.path.dirname(os.path.dirname(real))}
    candidates |= {os.path.realpath(c) for c in candidates}
    if not any(real.startswith(c.rstrip("/") + "/") for c in candidates):
        candidates.add(os.path.dirname(real))
    paths = sorted(c for c in candidates if c != "/" and not _under_usr(c) and os.path.isdir(c))
    # Keep only outermost directories: a bind inside another bind would be redundant.
    return [p for p in paths if not any(p != q and p.startswith(q + "/") for q in paths)]


def _pick_uid() -> int:
    """A random uid this process can switch to, from a range no account should use."""
    mapped: list[tuple[int, int]] = []
    try:
        with open("/proc/self/uid_map") as fh:
            for line in fh:
                inside, _outside, count = (int(x) for x in line.split())
                mapped.append((inside, inside + count - 1))
    except OSError:
        mapped = [(0, (1 << 32) - 2)]
    for low, high in _UID_RANGES:
        spans = [(max(low, a), min(high, b)) for a, b in mapped if max(low, a) <= min(high, b)]
        if spans:
            a, b = random.choice(spans)
            return random.randint(a, b)
    return 65534


def _remove_tree(path: Path) -> None:
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


def _kill(proc: subprocess.Popen[bytes], *, namespace: bool) -> None:
    """Kill a sandbox and return once every process in it is gone.

    The sandbox's pid 1 (bubblewrap's child) goes first: the kernel then kills everything
    in its pid namespace and lets pid 1 be reaped only after all of it has exited, so
    bubblewrap exiting means nothing of the program is left. Killing bubblewrap first
    would return while the namespace is still being torn down. Unsandboxed there is no
    namespace: the process group is all there is to kill.
    """
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


def _communicate(
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
                _kill(proc, namespace=namespace)
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
    _kill(proc, namespace=namespace)
    code = proc.returncode if proc.returncode is not None else 128 + signal.SIGKILL
    if code < 0:  # unsandboxed: Popen reports a signal as -n; bwrap reports 128 + n
        code = 128 - code
    return SandboxResult(
        stdout=out.text(),
        stderr=err.text(),
        exit_code=code,
        truncated=out.truncated or err.truncated,
        timed_out=timed_out,
        killed_by=_killed_by(code, timed_out, err.tail),
    )


def _killed_by(code: int, timed_out: bool, stderr_tail: bytes) -> KilledBy | None:
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
