"""Who is calling: API keys from ``Authorization: Bearer <key>``, their tenant and scopes.

Every route that touches runs depends on :func:`require` with the scope it needs. A
missing, malformed, unknown or revoked key is 401; a key without the scope is 403.
Tenancy is enforced where runs are read (``_app.scoped_run``): another tenant's run is
404, exactly like a run that does not exist, so ids leak nothing.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from tether.runtime import Runtime
from tether.server._errors import ApiError
from tether.store import API_SCOPES, api_key_id

ADMIN = "admin"

_bearer = HTTPBearer(
    auto_error=False,
    scheme_name="ApiKey",
    description="An API key from `tether keys create`, sent as `Authorization: Bearer <key>`.",
)
_CHALLENGE = {"WWW-Authenticate": 'Bearer realm="tether"'}


@dataclass(frozen=True, slots=True)
class Principal:
    """The caller a valid key stands for."""

    key_id: str
    tenant: str
    scopes: frozenset[str]
    label: str | None = None

    @property
    def admin(self) -> bool:
        """Whether the key has the ``admin`` scope (every scope, every tenant)."""
        return ADMIN in self.scopes

    def allows(self, scope: str) -> bool:
        """Whether the key may do what ``scope`` covers."""
        return self.admin or scope in self.scopes

    def sees(self, tenant: str | None) -> bool:
        """Whether runs of ``tenant`` are visible to this key."""
        return self.admin or tenant == self.tenant

    @property
    def by(self) -> str:
        """How decisions made with this key are recorded in a run's log."""
        return f"api-key:{self.key_id}" + (f" ({self.label})" if self.label else "")


def _unauthorized(message: str) -> ApiError:
    return ApiError(401, "unauthorized", message, headers=_CHALLENGE)


async def authenticate(
    runtime: Runtime, credentials: HTTPAuthorizationCredentials | None
) -> Principal:
    """The principal a bearer key stands for.

    Raises:
        ApiError: 401 when the key is missing, malformed, unknown or revoked.
    """
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise _unauthorized(
            "this endpoint needs an API key: send 'Authorization: Bearer <key>' "
            "(create one with `tether keys create --tenant NAME --scopes ...`)"
        )
    key = credentials.credentials.strip()
    key_id = api_key_id(key) if len(key) <= 256 else None
    record = await runtime.store.get_api_key(key_id) if key_id is not None else None
    if record is None or not record.matches(key):
        raise _unauthorized("the API key is not valid; check it, or create a new one")
    if record.revoked:
        raise _unauthorized(f"the API key {record.key_id} was revoked; use another key")
    return Principal(
        key_id=record.key_id,
        tenant=record.tenant,
        scopes=frozenset(s for s in record.scopes if s in API_SCOPES),
        label=record.label,
    )


def require(scope: str) -> Callable[..., Awaitable[Principal]]:
    """A FastAPI dependency: the caller's :class:`Principal`, if its key has ``scope``."""
    if scope not in API_SCOPES:
        raise ValueError(f"unknown scope {scope!r}")

    async def dependency(
        request: Request,
        credentials: HTTPAuthorizationCredentials | None = Depends(_bearer),  # noqa: B008  # FastAPI's dependency idiom
    ) -> Principal:
        principal = await authenticate(request.app.state.runtime, credentials)
        if not principal.allows(scope):
            raise ApiError(
                403,
                "forbidden",
                f"the API key {principal.key_id} lacks the {scope!r} scope this needs "
                f"(it has: {', '.join(sorted(principal.scopes)) or 'none'})",
            )
        return principal

    return dependency
