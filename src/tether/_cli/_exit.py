"""Exit codes of every ``tether`` command: stable, so scripts can branch on them.

Kept in a module that imports nothing, so ``tether --help`` and scripts that only
need the codes stay fast.
"""

EXIT_COMPLETED = 0
"""The run completed, or a read-only command succeeded."""
EXIT_FAILED = 1
"""The run failed or was cancelled, or this process stopped driving it."""
EXIT_USAGE = 2
"""Bad arguments, an agent that cannot be loaded, a run that does not exist or cannot
be resumed or signalled as asked."""
EXIT_WAITING = 3
"""The run is parked for a person: waiting for a signal or an approval, or escalated."""
EXIT_STORE = 4
"""The store cannot be opened, read or written: not a database, not writable, a
directory, or a schema from a newer Tether."""
EXIT_TAMPERED = 5
"""``tether audit --verify``: the run's stored log was changed, removed from or reordered
(its hash chain breaks); the message names the first bad sequence number."""
EXIT_INTERNAL = 70
"""A bug in Tether (``EX_SOFTWARE``); ``TETHER_TRACEBACK=1`` shows where."""
EXIT_INTERRUPTED = 130
"""Interrupted (Ctrl-C); the run is left ``running`` and ``tether resume`` continues it."""
