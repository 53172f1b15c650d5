"""Red team 11, holes 04 and 05: the store's password reached people who must not see it.

- The CLI printed the store URL as given, password and all: in the error line of a store
  that does not answer, in ``tether runs`` (its title, "no runs in ..."), in ``tether
  keys create/list``, in ``tether serve``/``tether worker``'s banners and in the next-step
  hints. ``PostgresStore.url`` kept it too, and reached ``RunNotFoundError`` messages.
- The store masked only ``user:password@``, not libpq's ``?password=`` (nor
  ``sslpassword=``); and while the store failed, the API answered *any* request, with any
  made-up bearer token (the key lookup comes first), with a 503 carrying the store's
  error text: the database password, to an unauthenticated caller.

Now every place that shows a store URL shows :func:`tether.store.safe_store_url` (the
password in the user part and any query option named like a secret masked as ``***``),
and the API's 503s say only that the store is unavailable (the detail goes to the log).
"""

from __future__ import annotations

import subprocess
import sys

import httpx
import pytest

from tether import Runtime
from tether.exceptions import ConfigError, StoreError
from tether.server import create_app
from tether.store import open_store, safe_store_url

PW = "Sup3rS3cretPw"


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        (
            f"postgresql://admin:{PW}@db.internal:5432/app",
            "postgresql://admin:***@db.internal:5432/app",
        ),
        (
            f"postgres://h/db?password={PW}&sslpassword={PW}&application_name=a",
            "postgres://h/db?password=***&sslpassword=***&application_name=a",
        ),
        (
            f"postgresql://admin:{PW}@h/db?sslmode=require",
            "postgresql://admin:***@h/db?sslmode=require",
        ),
        ("postgresql://u@h/db", "postgresql://u@h/db"),
        ("sqlite:///a/b.db?synchronous=FULL", "sqlite:///a/b.db?synchronous=FULL"),
        (f"postgres://u:{PW}@[::1/db", "<store URL>"),
    ],
)
def test_a_store_url_is_shown_without_its_password(url: str, shown: str) -> None:
    assert safe_store_url(url) == shown
    assert PW not in safe_store_url(url)


def test_a_postgres_store_keeps_only_the_shown_url() -> None:
    pytest.importorskip("psycopg")
    store = open_store(f"postgresql://admin:{PW}@127.0.0.1:1/db?password={PW}")
    assert PW not in store.url


def test_an_unreadable_store_url_is_a_config_error_without_the_password() -> None:
    with pytest.raises(ConfigError) as caught:
        open_store(f"postgres://u:{PW}@[::1/db")
    assert PW not in str(caught.value)


def _tether(args: list[str], url: str) -> tuple[int, str]:
    """The CLI in a subprocess, as a person runs it: exit code and everything it printed."""
    done = subprocess.run(
        [sys.executable, "-m", "tether.cli", *args, "--store", url],
        capture_output=True,
        text=True,
        timeout=120,
    )
    return done.returncode, done.stdout + done.stderr


def test_the_cli_does_not_print_the_password_of_a_store_that_does_not_answer() -> None:
    url = f"postgresql://admin:{PW}@127.0.0.1:1/db?connect_timeout=1&pool_timeout=1"
    for args in (["runs"], ["keys", "list"]):
        code, out = _tether(args, url)
        assert code != 0, out
        assert PW not in out, out
        assert "Traceback" not in out


@pytest.mark.postgres
def test_the_cli_does_not_print_the_password_of_a_working_store(postgres_url: str) -> None:
    # The cluster trusts local connections: a password in the URL is ignored, and shown.
    user, _, rest = postgres_url.partition("://")[2].partition("@")
    url = f"postgresql://{user}:{PW}@{rest}?sslpassword={PW}"
    for args in (
        ["keys", "create", "--tenant", "acme", "--scopes", "runs:read"],
        ["keys", "list"],
        ["runs"],
        ["show", "run_doesnotexist"],
    ):
        _, out = _tether(args, url)
        assert PW not in out, (args, out)
        assert "Traceback" not in out, (args, out)


async def test_the_api_does_not_tell_a_caller_why_the_store_failed(
    store_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A made-up key while the store fails: 503, and nothing of the store's error text."""
    async with Runtime(store_url) as rt:

        async def down(key_id: str) -> None:
            raise StoreError(
                f"postgres postgresql://tether@db/app?password={PW}: get_api_key: "
                "couldn't get a connection after 2.00 sec",
                transient=True,
            )

        monkeypatch.setattr(rt.store, "get_api_key", down)
        app = create_app(rt, {})
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://127.0.0.1"
        ) as client:
            answer = await client.get(
                "/v1/runs", headers={"Authorization": "Bearer tk_madeup_nothing"}
            )
    assert answer.status_code == 503
    assert answer.json()["error"]["code"] == "store_unavailable"
    assert PW not in answer.text and "postgres" not in answer.text
