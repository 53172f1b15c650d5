"""Request and response bodies of the HTTP API (pydantic, so /openapi.json describes them).

Every string in a request body must be valid Unicode. JSON lets a client write a lone
UTF-16 surrogate (``"\\ud800"``, often half of an emoji cut by a careless truncation),
and Python decodes it into a string that has no UTF-8 form. Such a body is refused with
422 ``invalid_request`` naming the field (type ``lone_surrogate``), rather than stored
with U+FFFD in place of what the client wrote: a run's input is the task the agent acts
on, a signal's payload and a decision's arguments can be what a tool executes, and
text the server quietly changed is not what anyone approved. The client can see and fix
the text; the server cannot know what it meant.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic_core import PydanticCustomError

from tether.store import RunRecord

_SURROGATE = re.compile("[\ud800-\udfff]")


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")

    @field_validator("*", mode="after")
    @classmethod
    def _valid_unicode(cls, value: Any) -> Any:
        found = _surrogate_at(value, "")
        if found is not None:
            raise PydanticCustomError(
                "lone_surrogate",
                "{what} holds a lone UTF-16 surrogate (a \\ud800-\\udfff escape without "
                "its pair), which is not valid Unicode; send the whole character or leave "
                "it out",
                {"what": found},
            )
        return value


def _surrogate_at(value: Any, path: str) -> str | None:
    """Which text in ``value`` holds a surrogate (``"the text at ['a'][0]"``), or ``None``.

    A key that holds one is named by its position: its text cannot be shown as it is.
    """
    if isinstance(value, str):
        if value.isascii() or _SURROGATE.search(value) is None:
            return None
        return f"the text at {path}" if path else "the text"
    if isinstance(value, dict):
        for index, (key, item) in enumerate(value.items()):
            if _surrogate_at(key, "") is not None:
                return f"key {index} of the object at {path}" if path else f"key {index}"
            named = isinstance(key, str) and key.isascii()
            inner = f"{path}[{key!r}]" if named else f"{path}[key {index}]"
            found = _surrogate_at(item, inner)
            if found is not None:
                return found
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found = _surrogate_at(item, f"{path}[{index}]")
            if found is not None:
                return found
    return None


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
