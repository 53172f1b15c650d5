"""A fork server for chaos workers: imports Tether once, then forks a worker per command.

A chaos run restarts a worker every few hundred milliseconds; starting each one as a
fresh interpreter (imports, regex tables of the injection scanner) would cost about a
second of CPU apiece and turn a two-core machine's test into a measurement of Python's
start-up. This process pays that once: it imports ``tether``, the agents module and
psycopg, builds the scanner tables, and then, with no thread and no connection open,
forks. Each child is one ``tether worker`` (the CLI's own ``work()``: signal handling,
the store, the runtime) writing its output to ``LOG_DIR/worker-PID.log``.

It first prints the agents it serves with their versions (``name=version ...``).
Commands on stdin, one per line, each answered by one line on stdout:

- ``spawn`` → ``PID``: fork a worker;
- ``kill PID`` → ``PID CODE``: SIGKILL a worker and reap it (``CODE`` is the wait
  status as ``subprocess`` reports it: ``-9``, or the exit code if it had already ended
  on its own). Only this process reaps its children, so a PID it is asked to kill
  cannot have been reused by another process;
- ``exits`` → ``PID:CODE ...``: workers that ended on their own since the last ask.

End of input kills every worker still running, then this process exits.

    python _forkserver.py AGENTS_MODULE STORE_URL LEASE_TTL CONCURRENCY LOG_DIR
"""

from __future__ import annotations

import asyncio
import importlib
import logging
import os
import signal
import sys
from pathlib import Path


def _status(raw: int) -> int:
    """A wait status as ``subprocess`` reports it: ``-signal`` or the exit code."""
    return -os.WTERMSIG(raw) if os.WIFSIGNALED(raw) else os.WEXITSTATUS(raw)


def _child(agents_module: str, url: str, ttl: float, concurrency: int, log_dir: Path) -> None:
    """The forked worker: runs ``tether worker``'s loop, never returns."""
    code = 1
    try:
        log = os.open(log_dir / f"worker-{os.getpid()}.log", os.O_WRONLY | os.O_CREAT, 0o644)
        os.dup2(log, 1)
        os.dup2(log, 2)
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        sys.stdout = os.fdopen(1, "w", buffering=1)
        sys.stderr = os.fdopen(2, "w", buffering=1)
        logging.basicConfig(
            level=logging.WARNING,
            format=f"%(asctime)s {os.getpid()} %(name)s %(levelname)s %(message)s",
            force=True,
        )
        from tether._cli._worker import work

        module = importlib.import_module(agents_module)
        code = asyncio.run(
            work(
                list(module.AGENTS),
                url,
                concurrency=concurrency,
                lease_ttl=ttl,
                say=print,
                # The controller's kills land at random, hundreds per run: a run killed
                # three times at one step is unlucky here, not poisoned.
                quarantine_after=10_000,
            )
        )
    except BaseException as exc:  # reported in the worker's log
        import traceback

        traceback.print_exception(exc)
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def main() -> None:
    agents_module, url, ttl, concurrency, log_dir = sys.argv[1:6]
    sys.path.insert(0, str(Path(__file__).parent))
    module = importlib.import_module(agents_module)
    import psycopg  # noqa: F401  # loaded once, shared by every child

    import tether._cli._worker  # noqa: F401
    from tether.policy import default_scanner

    default_scanner().prepare()  # the regex tables each worker would otherwise build
    children: set[int] = set()
    exited: dict[int, int] = {}
    # First line: the versions of the agents served, so the controller can tell code
    # that changed between its import and this one (runs pin the version they began on).
    sys.stdout.write(" ".join(f"{a.name}={a.version}" for a in module.AGENTS) + "\n")
    sys.stdout.flush()

    def reap() -> None:
        for pid in list(children):
            done, raw = os.waitpid(pid, os.WNOHANG)
            if done:
                children.discard(pid)
                exited[pid] = _status(raw)

    def answer(line: str) -> None:
        sys.stdout.write(line + "\n")
        sys.stdout.flush()

    for command in sys.stdin:
        words = command.split()
        if words == ["spawn"]:
            pid = os.fork()
            if pid == 0:
                _child(agents_module, url, float(ttl), int(concurrency), Path(log_dir))
            children.add(pid)
            answer(str(pid))
        elif len(words) == 2 and words[0] == "kill":
            pid = int(words[1])
            if pid in children:
                os.kill(pid, signal.SIGKILL)
                children.discard(pid)
                answer(f"{pid} {_status(os.waitpid(pid, 0)[1])}")
            else:
                answer(f"{pid} {exited.pop(pid, 0)}")
        elif words == ["exits"]:
            reap()
            answer(" ".join(f"{pid}:{code}" for pid, code in exited.items()))
            exited.clear()
        else:
            answer(f"error unknown command {command.strip()!r}")
    for pid in children:
        os.kill(pid, signal.SIGKILL)
    for pid in children:
        os.waitpid(pid, 0)


if __name__ == "__main__":
    main()
