"""``python_exec``: the ready tool that runs model-written Python in a :class:`Sandbox`.

Effect ``"read"``, risk ``"high"``. The code cannot change anything outside the sandbox
(no network, a read-only system, no host path but the run's own scratch directory), so
running it again after a crash changes nothing the run depends on beyond that scratch;
being a read also lets it run alongside other reads. It does run arbitrary code, so its
risk is ``"high"``: a policy can require approval for it or deny it by risk class. It is
never retried: a program that hit a limit would only hit it again.

Each call runs in a new sandbox, in the run's scratch directory (``ToolContext.run_id``):
files written by one call are there for the next call of the same run, and gone when the
runtime calls :meth:`Sandbox.run_ended` (or after ``Sandbox.scratch_ttl``).
"""

from __future__ import annotations

import os
import threading
from typing import Any

from tether.tools._contract import RetryPolicy, ToolContext, ToolContract, tool
from tether.tools._errors import ToolCallError, ToolErrorCode
from tether.tools._sandbox import INSTALL_HINT, Sandbox, SandboxUnavailableError
from tether.tools._sandbox_process import SandboxLimits, describe_limit

POOL_SIZE_ENV = "TETHER_SANDBOX_POOL"
"""Interpreters the default sandbox keeps warm (default 2; 0 starts each on demand)."""

_DEFAULT: Sandbox | None = None
_DEFAULT_LOCK = threading.Lock()
_TAIL = 1500


def default_sandbox() -> Sandbox:
    """The process-wide sandbox behind :data:`python_exec`, created on first use."""
    global _DEFAULT
    with _DEFAULT_LOCK:
        if _DEFAULT is None:
            _DEFAULT = Sandbox(pool_size=int(os.environ.get(POOL_SIZE_ENV, "2")))
        return _DEFAULT


def make_python_exec(
    sandbox: Sandbox | None = None,
    *,
    name: str = "python_exec",
    owner: str | None = None,
) -> ToolContract:
    """Build a ``python_exec`` tool over ``sandbox`` (default: :func:`default_sandbox`).

    Args:
        sandbox: The sandbox (limits, warm pool, scratch root) the tool runs code in.
        name: Tool name the model sees.
        owner: Accountable team or person, for the capabilities registry.
    """
    limits = sandbox.limits if sandbox is not None else SandboxLimits()

    async def python_exec(code: str, ctx: ToolContext) -> dict[str, Any]:
        """Run a Python 3 program in an isolated sandbox and return what it printed.
        No network; the working directory keeps its files between calls of this run.

        Args:
            code: A complete Python program (not a notebook cell: print results).
        """
        box = sandbox if sandbox is not None else default_sandbox()
        try:
            result = await box.run_python(code, run_id=ctx.run_id)
        except SandboxUnavailableError as exc:
            raise ToolCallError(
                str(exc),
                error_code="sandbox_unavailable",
                hint="Code execution is not available here; answer without running code. "
                f"Operator: {INSTALL_HINT}",
            ) from None
        if result.killed_by is not None:
            reason, hint = describe_limit(result.killed_by, box.limits)
            limit_code = ToolErrorCode.TIMEOUT if result.killed_by == "timeout" else "sandbox_limit"
            output = (result.stdout[-_TAIL:] + "\n" + result.stderr[-_TAIL:]).strip()
            raise ToolCallError(
                f"{reason}." + (f" Output before it stopped:\n{output}" if output else ""),
                error_code=limit_code,
                hint=hint,
            )
        return {
            "stdout": result.stdout,
            "stderr": result.stderr,
            "exit_code": result.exit_code,
            "truncated": result.truncated,
            # False only under the operator's unsandboxed opt-in: the journal shows it.
            "sandboxed": result.sandboxed,
        }

    return tool(
        name=name,
        effect="read",
        risk="high",
        owner=owner,
        # Past the sandbox's own wall limit, so that limit (a clear error) fires first.
        timeout=limits.wall_seconds + 15.0,
        retry=RetryPolicy(max_attempts=1),
    )(python_exec)


python_exec = make_python_exec()
"""Run model-written Python in the default sandbox; see :func:`make_python_exec`."""
