"""A cgroup per sandboxed program, so its limits hold for the whole sandbox.

``RLIMIT_AS`` and ``RLIMIT_NPROC`` bind each process: a program that starts children holds
up to ``memory_bytes * max_processes``. Where Tether may create cgroups below its own
(root on a cgroup v1 hierarchy with the memory and pids controllers, or a cgroup v2
hierarchy with both delegated to Tether's cgroup), each program gets one: ``memory.max``
(v1 ``memory.limit_in_bytes``, swap included) is ``memory_bytes`` for everything in the
sandbox, tmpfs pages included, ``pids.max`` caps its processes and threads, and the kernel
kills inside the cgroup when memory runs out. Killing the cgroup kills every process of
the program, wherever it went. Elsewhere :func:`Cgroups.detect` returns ``None`` and only
the rlimits apply (the result's ``enforcement`` says which).
"""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import threading
from dataclasses import dataclass
from pathlib import Path

_PREFIX = "tether-sandbox-"
"""Then the creating process's pid and start time, so a later process can tell whose it is."""


@dataclass(frozen=True, slots=True)
class Cgroup:
    """One program's cgroup: one directory (v2) or one per controller (v1 memory, pids)."""

    dirs: tuple[Path, ...]
    version: int

    @property
    def procs(self) -> list[str]:
        """The ``cgroup.procs`` files a process writes its pid to, to join."""
        return [str(d / "cgroup.procs") for d in self.dirs]

    def set_limits(self, memory_bytes: int, pids: int) -> None:
        mem, pid = self.dirs[0], self.dirs[-1]
        if self.version == 2:
            _write(mem / "memory.max", memory_bytes)
            with contextlib.suppress(FileNotFoundError):  # no swap accounting
                _write(mem / "memory.swap.max", 0)
        else:
            # memsw (memory + swap) must stay >= the memory limit: order the writes.
            memsw = mem / "memory.memsw.limit_in_bytes"
            grow = memsw.exists() and memory_bytes > int(memsw.read_text())
            if grow:
                _write(memsw, memory_bytes)
            _write(mem / "memory.limit_in_bytes", memory_bytes)
            if memsw.exists() and not grow:
                _write(memsw, memory_bytes)
        _write(pid / "pids.max", pids)

    def oom_killed(self) -> bool:
        """Whether the kernel killed a process of the cgroup for memory."""
        name = "memory.events" if self.version == 2 else "memory.oom_control"
        try:
            text = (self.dirs[0] / name).read_text()
        except OSError:
            return False
        for line in text.splitlines():
            key, _, value = line.partition(" ")
            if key == "oom_kill" and value.strip().isdigit():
                return int(value) > 0
        return False

    def close(self, *, rounds: int = 200) -> bool:
        """Kill every process in the cgroup and remove it (safe to repeat); whether it is
        gone. ``rounds`` bounds the tries, 25 ms apart."""
        if self.version == 2:
            with contextlib.suppress(OSError):
                _write(self.dirs[0] / "cgroup.kill", 1)
        wait = threading.Event()
        for _ in range(rounds):  # a fork racing the kill shows up on the next round
            pids = set()
            for procs in self.procs:
                with contextlib.suppress(OSError):
                    pids |= set(Path(procs).read_text().split())
            for pid in pids:
                with contextlib.suppress(OSError):
                    os.kill(int(pid), signal.SIGKILL)
            removed = True
            for d in self.dirs:
                try:
                    d.rmdir()
                except FileNotFoundError:
                    pass
                except OSError:  # busy: processes still exiting
                    removed = False
            if removed:
                return True
            wait.wait(0.025)
        return False


_UNREMOVABLE: set[str] = set()
"""Names :meth:`Cgroups.sweep` could not remove: not tried again in this process."""


class Cgroups:
    """Where this process may create cgroups for its sandboxes, found once."""

    def __init__(self, parents: tuple[Path, ...], version: int) -> None:
        self.parents = parents
        self.version = version

    @classmethod
    def detect(cls) -> Cgroups | None:
        """The cgroup(s) of this process if programs' cgroups can be made below them."""
        try:
            mounts = _mounts()
            own = _own_cgroups()
        except OSError:
            return None
        v2 = mounts.get("cgroup2")
        if v2 is not None and "" in own:
            found = cls._try((_join(v2, own[""]),), 2)
            if found is not None:
                return found
        mem, pids = mounts.get("memory"), mounts.get("pids")
        if mem is not None and pids is not None and "memory" in own and "pids" in own:
            return cls._try((_join(mem, own["memory"]), _join(pids, own["pids"])), 1)
        return None

    @classmethod
    def _try(cls, parents: tuple[Path, ...], version: int) -> Cgroups | None:
        found = cls(parents, version)
        try:
            if version == 2:
                parent = parents[0]
                enabled = (parent / "cgroup.subtree_control").read_text().split()
                if not {"memory", "pids"} <= set(enabled):
                    _write(parent / "cgroup.subtree_control", "+memory +pids")
            found.create().close()
        except OSError:
            return None
        found.sweep()
        return found

    def sweep(self) -> list[str]:
        """Remove the cgroups of processes that died without closing them; their names.

        A host SIGKILLed mid-call never runs :meth:`Cgroup.close`: its sandbox dies with it
        (bubblewrap's ``--die-with-parent``), but the empty cgroup stays. Each name says
        which process made it (pid and start time, so a reused pid does not count as the
        same process; and pid namespace, as pids mean nothing outside theirs); a cgroup
        whose maker is gone is killed and removed. A live process's cgroups (this one's,
        another Tether's) are left alone. One made in another pid namespace, or named by
        an older version (no maker in the name), goes only if no process is in it.
        """
        names: set[str] = set()
        for parent in self.parents:
            with contextlib.suppress(OSError):
                names |= {p.name for p in parent.iterdir() if p.name.startswith(_PREFIX)}
        swept = []
        for name in sorted(names - _UNREMOVABLE):
            try:
                dirs = tuple(d for d in (parent / name for parent in self.parents) if d.is_dir())
                owner = _owner(name)
                if owner is None:  # another pid namespace's, or named before makers were
                    if any(_members(d) for d in dirs):
                        continue  # only if empty
                elif _start_time(owner[0]) == owner[1]:
                    continue
                # A few tries: one that stays (a cgroup below it, say) is not tried again
                # by this process, so no Sandbox() waits on it twice.
                if Cgroup(dirs=dirs, version=self.version).close(rounds=4):
                    swept.append(name)
                else:
                    _UNREMOVABLE.add(name)
            except (OSError, ValueError):  # the sweep is housekeeping: it never fails a sandbox
                _UNREMOVABLE.add(name)
        return swept

    def create(self) -> Cgroup:
        """A new, empty cgroup for one program."""
        pid = os.getpid()  # this process's, also after a fork
        name = f"{_PREFIX}{_pid_namespace()}-{pid}-{_start_time(pid) or 0}-{secrets.token_hex(6)}"
        made: list[Path] = []
        try:
            for parent in self.parents:
                path = parent / name
                path.mkdir()
                made.append(path)
        except BaseException:
            for path in made:
                with contextlib.suppress(OSError):
                    path.rmdir()
            raise
        return Cgroup(dirs=tuple(made), version=self.version)


def _start_time(pid: int) -> str | None:
    """When process ``pid`` started (clock ticks since boot), or ``None`` if there is none."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            stat = fh.read()
    except OSError:
        return None
    fields = stat.rpartition(")")[2].split()  # the command name may hold spaces
    return fields[19] if len(fields) > 19 else None


def _members(cgroup_dir: Path) -> bool:
    """Whether any process is in a cgroup (an unreadable one counts as occupied)."""
    try:
        return bool((cgroup_dir / "cgroup.procs").read_text().strip())
    except OSError:
        return True


def _pid_namespace() -> str:
    """This process's pid namespace (its inode number): pids mean something only inside it."""
    try:
        return str(os.stat("/proc/self/ns/pid").st_ino)
    except OSError:
        return "0"


def _owner(name: str) -> tuple[int, str] | None:
    """The (pid, start time) a cgroup's name records, if this code made it in this pid
    namespace (a pid from another namespace says nothing about who is alive here)."""
    parts = name[len(_PREFIX) :].split("-")
    if len(parts) != 4 or not all(part.isascii() and part.isdigit() for part in parts[:3]):
        return None  # ("²".isdigit() is true, but int() refuses it)
    if parts[0] != _pid_namespace():
        return None
    return int(parts[1]), parts[2]


def _write(path: Path, value: object) -> None:
    with open(path, "w") as fh:
        fh.write(str(value))


def _join(mount: tuple[str, str], cgroup: str) -> Path:
    """The directory of ``cgroup`` (as /proc/self/cgroup names it) under its mount."""
    point, root = mount
    rel = cgroup[len(root) :] if cgroup.startswith(root) else cgroup
    return Path(point, rel.lstrip("/"))


def _mounts() -> dict[str, tuple[str, str]]:
    """``cgroup2``, ``memory``, ``pids`` -> (mount point, root within the hierarchy)."""
    found: dict[str, tuple[str, str]] = {}
    with open("/proc/self/mountinfo") as fh:
        for line in fh:
            head, _, tail = line.partition(" - ")
            fields, extra = head.split(), tail.split()
            if len(fields) < 5 or len(extra) < 3:
                continue
            root, point, fstype = fields[3], fields[4], extra[0]
            if fstype == "cgroup2":
                found.setdefault("cgroup2", (point, root))
            elif fstype == "cgroup":
                for option in extra[2].split(","):
                    if option in ("memory", "pids"):
                        found.setdefault(option, (point, root))
    return found


def _own_cgroups() -> dict[str, str]:
    """This process's cgroup per v1 controller, and under ``""`` its v2 cgroup."""
    own: dict[str, str] = {}
    with open("/proc/self/cgroup") as fh:
        for line in fh:
            _, controllers, path = line.rstrip("\n").split(":", 2)
            for name in controllers.split(",") if controllers else [""]:
                own[name] = path
    return own
