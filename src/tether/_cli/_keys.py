"""``tether keys``: create, list and revoke the API keys of ``tether serve``.

A key is printed once, when it is created, alone on the last line of the output (so
``tether keys create ... | tail -n 1`` captures it); the store keeps only its hash.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from tether.store import Store

keys_app = typer.Typer(
    name="keys",
    help="API keys for `tether serve`: create (shown once), list, revoke.",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode=None,
)

_StoreOption = Annotated[
    str | None,
    typer.Option(
        "--store",
        metavar="URL",
        help="Store URL. Default: $TETHER_STORE, else sqlite:///.tether/tether.db.",
        show_default=False,
    ),
]


@contextlib.asynccontextmanager
async def _opened(store: Store) -> AsyncIterator[Store]:
    """``store``, opened for the ``async with`` block and closed after it."""
    await store.open()
    try:
        yield store
    finally:
        await store.close()


@keys_app.command("create")
def create(
    tenant: Annotated[
        str, typer.Option("--tenant", help="The tenant the key acts for.", show_default=False)
    ],
    scopes: Annotated[
        str,
        typer.Option(
            "--scopes",
            metavar="SCOPE,...",
            help="Comma-separated: runs:read, runs:write, approvals:write, admin.",
        ),
    ] = "runs:read",
    label: Annotated[
        str | None, typer.Option("--label", help="A name for people (shown in listings).")
    ] = None,
    store: _StoreOption = None,
) -> None:
    """Create an API key; it is printed once, alone on the last line."""
    from tether._cli._session import Session
    from tether.store import new_api_key, open_store

    session = Session(store)
    try:
        record, key = new_api_key(tenant, scopes.split(","), label=label)
    except ValueError as exc:
        session.fail(str(exc))

    async def main() -> int:
        async with _opened(open_store(session.store_url)) as backend:
            await backend.create_api_key(record)
        session.out.print(
            f"created API key {record.key_id} for tenant {record.tenant} with scopes "
            f"{', '.join(record.scopes)} in {session.store_shown}"
        )
        session.out.print("the key is shown only this once; the store keeps only its hash:")
        typer.echo(key)
        return 0

    session.execute(main())


@keys_app.command("list")
def list_keys(
    tenant: Annotated[str | None, typer.Option("--tenant", help="Only this tenant's keys.")] = None,
    store: _StoreOption = None,
) -> None:
    """List API keys (ids, tenants, scopes; never the keys themselves)."""
    from rich import box
    from rich.table import Table

    from tether._cli._format import format_when
    from tether._cli._session import Session

    session = Session(store)
    source = session.read_only_store()
    if source is None:
        session.out.print(f"no store at {session.store_shown} yet, so no keys")
        raise typer.Exit(0)

    async def main() -> int:
        async with _opened(source):
            keys = await source.list_api_keys(tenant=tenant)
        if not keys:
            session.out.print(
                f"no API keys in {session.store_shown}; create one with "
                "`tether keys create --tenant NAME --scopes runs:read,runs:write`"
            )
            return 0
        table = Table(box=box.SIMPLE_HEAD, pad_edge=False)
        for column in ("key id", "tenant", "scopes", "label", "created", "revoked"):
            table.add_column(column, no_wrap=column in ("key id", "tenant"))
        now = time.time()
        for key in keys:
            table.add_row(
                key.key_id,
                key.tenant,
                ",".join(key.scopes),
                key.label or "",
                format_when(key.created_at, now),
                format_when(key.revoked_at, now) if key.revoked_at is not None else "",
            )
        session.out.print(table, soft_wrap=False)
        return 0

    session.execute(main())


@keys_app.command("revoke")
def revoke(
    key_id: Annotated[
        str, typer.Argument(metavar="KEY_ID", help="The key's id, as `tether keys list` shows.")
    ],
    store: _StoreOption = None,
) -> None:
    """Revoke an API key: from now on it authenticates nothing."""
    from tether._cli._session import Session

    session = Session(store)
    source = session.read_only_store()
    if source is None:
        session.fail(f"no API key {key_id!r}: there is no store at {session.store_shown}")

    async def main() -> int:
        async with _opened(source):
            found = await source.revoke_api_key(key_id)
        if not found:
            session.fail(
                f"no API key {key_id!r} in {session.store_shown}",
                "list the keys with `tether keys list`",
            )
        session.out.print(f"revoked API key {key_id}")
        return 0

    session.execute(main())
