"""Request and response bodies of the HTTP API (pydantic, so /openapi.json describes them)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from tether.store import RunRecord


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CreateRun(_Body):
    """Start a run of a served agent."""

    agent: str = Field(min_length=1, max_length=200, description="The agent's name.")
    input: str = Field(description="The task: what the agent should do.")


class CancelRun(_Body):
    """Why a run is cancelled (recorded in its log)."""

    reason: str | None = Field(default=None, max_length=2000)


class SendSignal(_Body):
    """A signal's payload, e.g. ``{"message": "..."}`` for ``input``."""

    payload: Any = None


class Decision(_Body):
    """A person's decision on a call waiting for approval."""

    decision: Literal["approve", "deny"]
    arguments: dict[str, Any] | None = Field(
        default=None,
        description="Approve with these arguments instead (validated against the tool's "
        "schema; 422 if they do not fit). Only with `approve`.",
    )
    reason: str | None = Field(
        default=None, max_length=2000, description="Why; for a denial the model is told."
    )


class RunOut(BaseModel):
    """A run's summary."""

    run_id: str
    agent: str
    agent_version: str
    tenant: str | None
    status: str
    reason: str | None
    created_at: float
    updated_at: float
    last_seq: int
    parent_run_id: str | None

    @classmethod
    def of(cls, record: RunRecord) -> RunOut:
        """The summary of a stored run."""
        return cls(
            run_id=record.run_id,
            agent=record.agent,
            agent_version=record.agent_version,
            tenant=record.tenant,
            status=record.status,
            reason=record.reason,
            created_at=record.created_at,
            updated_at=record.updated_at,
            last_seq=record.last_seq,
            parent_run_id=record.parent_run_id,
        )


class RunList(BaseModel):
    """A page of runs, newest first; pass ``next_cursor`` as ``cursor`` for the next."""

    runs: list[RunOut]
    next_cursor: str | None


class ApprovalOut(BaseModel):
    """A call waiting for a person, with what they need to decide."""

    run_id: str
    agent: str
    approval_id: str
    call_id: str
    tool: str
    arguments: dict[str, Any]
    reason: str
    rule: str | None
    task: str
    reasoning: str | None
    expires_at: float | None
    requested_at: float
    preview: str | None = Field(
        default=None, description="What the call will do, in the tool's words, if it says."
    )


class ApprovalList(BaseModel):
    """Pending approvals of the key's tenant, oldest request first."""

    approvals: list[ApprovalOut]


class ErrorDetail(BaseModel):
    """What went wrong."""

    code: str
    message: str
    details: Any = None


class ErrorOut(BaseModel):
    """Every error response."""

    error: ErrorDetail


class Health(BaseModel):
    """Liveness or readiness."""

    status: str
