"""``Sandbox``: run untrusted code under bubblewrap with rlimits, a wall timeout and capped output.

What the sandboxed program sees (see ``_sandbox_process.bwrap_argv``):

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
set-uid binary gains nothing. A seccomp filter refuses new namespaces and mounts
(``_sandbox_seccomp``). Where a cgroup can be made, memory and processes are capped for
the whole sandbox (``_sandbox_cgroup``; the result's ``enforcement`` says so). A wall
timeout kills the whole sandbox (cgroup, pid namespace and process group).

Unsandboxed (the operator's opt-in, bubblewrap missing), code still never runs as root,
a supervisor kills whatever it leaves behind, and a warning is logged once.

A warm pool keeps bubblewrap'd interpreters started and waiting on stdin for their one
program; each is used once and discarded, never reused across calls or runs.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import shutil
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
from tether.tools._sandbox_cgroup import Cgroup, Cgroups
from tether.tools._sandbox_process import (
    BOOTSTRAP,
    WORKDIR,
    SandboxLimits,
    SandboxResult,
    base_env,
    bwrap_argv,
    communicate,
    kill_sandbox,
    pick_uid,
    remove_tree,
)
from tether.tools._sandbox_seccomp import namespace_filter

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

_MAX_CODE_BYTES = 1 << 20
# A failed probe is retried after this many seconds, doubling up to the maximum: one
# transient failure at first use must not leave an opted-in process unsandboxed forever.
_REPROBE_FIRST = 5.0
_REPROBE_MAX = 120.0

log = logging.getLogger("tether.tools.sandbox")


def _filter_fd() -> int:
    """A pipe's read end holding the seccomp filter, for bubblewrap's ``--seccomp``."""
    program = namespace_filter()
    read, write = os.pipe()
    try:
        os.write(write, program)  # a few hundred bytes: far below a pipe's buffer
    except BaseException:
        os.close(read)
        raise
    finally:
        os.close(write)
    return read


class SandboxUnavailableError(ConfigError):
    """Bubblewrap is missing or cannot create namespaces here; the message says what to do."""


@dataclass(slots=True)
class _Warm:
    """A started interpreter waiting on stdin for its one program, and its slot directory."""

    proc: subprocess.Popen[bytes]
    slot: Path
    sandboxed: bool
    cgroup: Cgroup | None = None


def _discard(warm: _Warm) -> None:
    """Kill an interpreter that will not serve a call, and remove its cgroup and slot."""
    kill_sandbox(warm.proc, namespace=warm.sandboxed)
    if warm.cgroup is not None:
        warm.cgroup.close()
    remove_tree(warm.slot)


def _pids_max(limits: SandboxLimits) -> int:
    # bubblewrap and its pid 1 (or, unsandboxed, the supervisor) count in the cgroup too.
    return limits.max_processes + 2


# Joins the cgroup (both hierarchies' files under v1) before anything else runs.
_JOIN_CGROUP = 'echo $$ > "$1" && echo $$ > "$2" && shift 2 && exec "$@"'


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
            ``$TMPDIR/tether-sandbox-<uid>``). Files are capped one by one
            (``file_size_bytes``), their total is not: in production, a size-capped
            filesystem of its own keeps a program from filling the host's disk.
        scratch_ttl: Seconds after its last use when a run's scratch directory counts as
            abandoned and is removed (a run that ended without ``close_run``).
        bwrap: Path of the ``bwrap`` binary (found on ``PATH`` by default).
        python: Interpreter to run code with (default: this one, mounted read-only).
        cgroups: Give each program a cgroup where this process may create one (see
            :mod:`tether.tools._sandbox_cgroup`), so ``memory_bytes`` and
            ``max_processes`` hold for the whole sandbox; ``False``, or where no cgroup
            can be made, they bind each process (``SandboxResult.enforcement``).
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
        cgroups: bool = True,
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
        self._cgroups = Cgroups.detect() if cgroups else None
        self._mode: Literal["bwrap", "unsandboxed"] | None = None
        self._refusal: str | None = None
        self._reprobe_at = 0.0
        self._backoff = _REPROBE_FIRST
        self._warned = False
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
        """Say how code will run here, probing bubblewrap until it works.

        A working bubblewrap is remembered for the sandbox's lifetime; a failure is not:
        bubblewrap is probed again after a backoff (5 s, doubling to 2 min), so a
        transient failure does not leave the sandbox refusing, or unsandboxed, for good.

        Raises:
            SandboxUnavailableError: Bubblewrap is missing or fails, and no opt-in (or,
                as root, the code cannot be switched to an unprivileged uid).
        """
        with self._lock:
            now = time.monotonic()
            if self._mode != "bwrap" and now >= self._reprobe_at:
                refusal = self._probe()
                if refusal is None:
                    self._mode, self._refusal, self._backoff = "bwrap", None, _REPROBE_FIRST
                    if self._warned:
                        log.warning("sandbox: bubblewrap works now; code runs sandboxed again")
                        self._warned = False
                else:
                    self._reprobe_at = now + self._backoff
                    self._backoff = min(self._backoff * 2, _REPROBE_MAX)
                    self._mode, self._refusal = None, refusal
                    if self.allow_unsandboxed:
                        self._fall_back(refusal)
            if self._mode is None:
                raise SandboxUnavailableError(
                    f"Cannot sandbox code: {self._refusal}. {INSTALL_HINT}"
                )
            return self._mode

    def _fall_back(self, why: str) -> None:
        """Use the operator's unsandboxed opt-in, never as root; warn once that it is on."""
        problem = self._probe_unsandboxed()
        if problem is not None:
            self._refusal = f"{why}; and unsandboxed, {problem}"
            return
        self._mode = "unsandboxed"
        if not self._warned:
            self._warned = True
            log.warning(
                "sandbox: running code UNSANDBOXED (operator opt-in %s): %s. Only rlimits, "
                "the wall timeout and output caps apply; the code %s.",
                ALLOW_UNSANDBOXED_ENV,
                why,
                "runs as an unprivileged uid of its own"
                if self._privileged
                else "runs as Tether's own user and can read what it can",
            )

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
                remove_tree(path)
        else:
            remove_tree(path)

    async def aclose_run(self, run_id: str) -> None:
        """:meth:`close_run` off the event loop."""
        await anyio.to_thread.run_sync(self.close_run, run_id)

    @classmethod
    def in_use(cls) -> bool:
        """Whether any sandbox lives in this process (else a run's end has nothing to remove)."""
        return bool(_LIVE)

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
                            remove_tree(path)
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
            _discard(w)

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
            if warm is None or warm.sandboxed != (mode == "bwrap"):
                if warm is not None:  # started before the mode changed
                    _discard(warm)
                warm = self._spawn(sandboxed=mode == "bwrap")
            with self._lock:
                self._busy_slots.add(warm.slot)
            work = warm.slot / "work"
            try:
                os.rename(scratch.path, work)
                header = {
                    "env": {"HOME": WORKDIR if warm.sandboxed else str(work)},
                    # As root, sandboxed or not, the code runs as the run's own uid.
                    "uid": scratch.uid,
                    "limits": lim.rlimits(),
                    "cwd": WORKDIR if warm.sandboxed else str(work),
                    "argv": argv,
                    "supervise": not warm.sandboxed,
                }
                payload = json.dumps(header).encode() + b"\n" + body
                if warm.cgroup is not None:  # the call's own limits, for the whole sandbox
                    warm.cgroup.set_limits(lim.memory_bytes, _pids_max(lim))
                result = communicate(warm.proc, payload, lim, cancel, namespace=warm.sandboxed)
                if warm.cgroup is not None and result.exit_code and warm.cgroup.oom_killed():
                    result = replace(result, killed_by="memory")
            finally:
                kill_sandbox(warm.proc, namespace=warm.sandboxed)
                if warm.cgroup is not None:
                    warm.cgroup.close()
                self._restore(work, scratch)
                remove_tree(warm.slot)
                with self._lock:
                    self._busy_slots.discard(warm.slot)
        if run_id is None:
            remove_tree(scratch.path)
        enforcement: Literal["cgroup", "rlimit"] = "cgroup" if warm.cgroup else "rlimit"
        return replace(result, sandboxed=warm.sandboxed, enforcement=enforcement)

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
                if uid == os.geteuid() and self._privileged:  # never run code as root
                    remove_tree(path)
                    os.mkdir(path, 0o700)
                    uid = self._new_owner(path)
            scratch = self._runs[run_id] = _RunScratch(path=path, uid=uid)
            return scratch

    def _ensure_dir(self, scratch: _RunScratch) -> None:
        """Recreate a run's scratch dir that ``close_run`` or a sweep removed meanwhile."""
        if not os.path.isdir(scratch.path) or os.path.islink(scratch.path):
            remove_tree(scratch.path)
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
        uid = pick_uid()
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
                _discard(warm)
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
                    _discard(warm)
                    return
                self._pool.append(warm)

    def _spawn(self, *, sandboxed: bool) -> _Warm:
        self._ensure_root()
        slot = Path(tempfile.mkdtemp(prefix="slot-", dir=self._root / "slots"))
        os.chmod(slot, 0o711)
        pass_fds: tuple[int, ...] = ()
        if sandboxed:
            assert self._bwrap is not None
            pass_fds = (_filter_fd(),)
            argv = bwrap_argv(
                self._bwrap,
                self._python,
                slot,
                privileged=self._privileged,
                tmp_bytes=self.limits.tmp_bytes,
                seccomp_fd=pass_fds[0],
            )
            # bwrap's own environment is readable as /proc/1/environ in the sandbox.
            env = {"PATH": base_env("/")["PATH"]}
        else:
            argv = [self._python, "-I", "-S", "-B", "-c", BOOTSTRAP]
            env = base_env(str(slot / "work"))
        cgroup = self._cgroups.create() if self._cgroups is not None else None
        if cgroup is not None:
            procs = cgroup.procs
            argv = ["/bin/sh", "-c", _JOIN_CGROUP, "tether-sandbox", procs[0], procs[-1], *argv]
        try:
            if cgroup is not None:
                cgroup.set_limits(self.limits.memory_bytes, _pids_max(self.limits))
            proc = subprocess.Popen(
                argv,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                env=env,
                cwd=str(slot),
                start_new_session=True,  # the wall timeout kills the whole group
                close_fds=True,
                pass_fds=pass_fds,
            )
        except BaseException:
            if cgroup is not None:
                cgroup.close()
            remove_tree(slot)
            raise
        finally:
            for fd in pass_fds:
                os.close(fd)
        return _Warm(proc=proc, slot=slot, sandboxed=sandboxed, cgroup=cgroup)

    def _probe_unsandboxed(self) -> str | None:
        """``None`` when unsandboxed code will not run as root, else why it would.

        As root, the bootstrap switches the code to an unprivileged uid of the run's own
        (as in bubblewrap's root mode): run a program that way once and check. If the
        interpreter's files are closed to other users (a pyenv under ``/root``), modules
        not loaded before the switch cannot be imported: say so in the log.
        """
        if not self._privileged:
            return None
        uid = pick_uid()
        code = "import os\nprint(os.getuid())\nimport decimal\nprint('imports')"
        try:
            out, err, status = self._probe_run(sandboxed=False, uid=uid, code=code)
        except (OSError, subprocess.SubprocessError) as exc:
            return f"the interpreter failed to start ({exc})"
        lines = out.split()
        if not lines or lines[0] != str(uid).encode() or uid == 0:
            detail = err.decode("utf-8", "replace").strip()[-300:]
            return (
                f"Tether runs as root and cannot switch the code to an unprivileged uid "
                f"({detail or f'exit status {status}'}); code never runs as root"
            )
        if b"imports" not in lines:
            log.warning(
                "sandbox: unsandboxed code runs as an unprivileged uid that cannot read the "
                "interpreter's library under %s; modules not already loaded will not import "
                "(use an interpreter under /usr: Sandbox(python=...), or install bubblewrap)",
                sys.prefix,
            )
        return None

    def _probe_run(
        self, *, sandboxed: bool, uid: int | None, code: str
    ) -> tuple[bytes, bytes, int]:
        """Run ``code`` once in a new interpreter (no limits): stdout, stderr, status."""
        self._ensure_root()
        warm = self._spawn(sandboxed=sandboxed)
        try:
            header: dict[str, object] = {
                "env": {},
                "uid": uid,
                "limits": [],
                "cwd": "/",
                "argv": None,
                "supervise": not sandboxed,
            }
            payload = json.dumps(header).encode() + b"\n" + code.encode()
            out, err = warm.proc.communicate(payload, timeout=30)
            return out, err, warm.proc.returncode
        finally:
            _discard(warm)

    def _probe(self) -> str | None:
        """``None`` when bubblewrap can start a sandbox here, else why not."""
        if not self._bwrap or not os.access(self._bwrap, os.X_OK):
            return f"bubblewrap ({self._bwrap or 'bwrap'}) is not installed"
        try:
            out, err, status = self._probe_run(sandboxed=True, uid=None, code="print(1)")
        except (OSError, subprocess.SubprocessError) as exc:
            return f"bubblewrap failed to start ({exc})"
        if status != 0 or out.strip() != b"1":
            detail = err.decode("utf-8", "replace").strip()[-300:]
            return f"bubblewrap cannot create a sandbox here ({detail or 'no output'})"
        return None
