"""Tether over HTTP: runs, resumable event streams, signals and approvals, per tenant.

``create_app(runtime, agents)`` builds the FastAPI app that ``tether serve`` runs; the
endpoint contract is in ``CONTRACT.md`` beside this file. FastAPI and uvicorn come
from the ``[server]`` extra: ``pip install "tether-runtime[server]"``.
"""

try:
    import fastapi  # noqa: F401  # fail here, with the install line, not deep in a module
except ImportError as exc:  # pragma: no cover - exercised without the extra only
    from tether.exceptions import MissingExtraError

    raise MissingExtraError("server", exc.name or "fastapi") from exc

from tether.server._app import create_app
from tether.server._auth import Principal, require

__all__ = ["Principal", "create_app", "require"]
