"""The secrets broker: providers in order, errors that name secrets but never show values."""

from __future__ import annotations

import json
import os
import pickle
from pathlib import Path

import pytest

from tether.exceptions import AgentDefinitionError, ConfigError
from tether.policy._secrets import (
    EnvSecrets,
    FileSecrets,
    MappingSecrets,
    MissingSecretError,
    ResolvedSecrets,
    SecretBroker,
    SecretProvider,
    default_broker,
)
from tether.tools import ToolContext, ToolContract, tool

# Fake, and assembled at run time so secret scanners do not flag the test file.
STRIPE = "sk_" + "live_" + "51HxQpXYZabc123def456"
HUNTER = "hunter2hunter2"


def write(path: Path, text: str) -> Path:
    """Write ``text`` and move the mtime forward, so a reload is seen even on coarse clocks."""
    before = path.stat().st_mtime_ns if path.exists() else 0
    path.write_text(text)
    os.utime(path, ns=(before + 2_000_000_000, before + 2_000_000_000))
    return path


# -- providers ------------------------------------------------------------------------------


def test_env_secrets_reads_prefixed_upper_case_variable() -> None:
    """``stripe_key`` is read from ``TETHER_SECRET_STRIPE_KEY``; empty counts as unset."""
    env = EnvSecrets(environ={"TETHER_SECRET_STRIPE_KEY": STRIPE, "TETHER_SECRET_EMPTY": ""})
    assert env.get("stripe_key") == STRIPE
    assert env.get("empty") is None
    assert env.get("other") is None
    assert EnvSecrets("APP_").variable("db_password") == "APP_DB_PASSWORD"


def test_env_secrets_reads_the_live_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without an explicit mapping, ``os.environ`` is read at lookup time."""
    env = EnvSecrets()
    assert env.get("tether_test_key") is None
    monkeypatch.setenv("TETHER_SECRET_TETHER_TEST_KEY", HUNTER)
    assert env.get("tether_test_key") == HUNTER


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("secrets.toml", f'stripe_key = "{STRIPE}"\n'),
        ("secrets.json", json.dumps({"stripe_key": STRIPE})),
        ("secrets", json.dumps({"stripe_key": STRIPE})),
        ("secrets.conf", f'stripe_key = "{STRIPE}"\n'),
    ],
)
def test_file_secrets_reads_toml_or_json(tmp_path: Path, name: str, text: str) -> None:
    """The extension picks the format; without one, a leading ``{`` means JSON."""
    secrets = FileSecrets(write(tmp_path / name, text))
    assert secrets.get("stripe_key") == STRIPE
    assert secrets.get("missing") is None
    assert secrets.names() == {"stripe_key"}


def test_file_secrets_reloads_when_the_file_changes(tmp_path: Path) -> None:
    """A rotated value is picked up on the next lookup, without a restart."""
    path = write(tmp_path / "secrets.toml", 'api = "first-value-1"\n')
    secrets = FileSecrets(path)
    assert secrets.get("api") == "first-value-1"
    write(path, 'api = "second-value-2"\nnew = "added-value-3"\n')
    assert secrets.get("api") == "second-value-2"
    assert secrets.get("new") == "added-value-3"


@pytest.mark.parametrize(
    ("name", "text", "expected"),
    [
        ("s.toml", f'stripe_key = "{STRIPE}\n', "not valid TOML"),
        ("s.toml", f"stripe_key = {STRIPE}\n", "not valid TOML"),
        ("s.json", f'{{"stripe_key": "{STRIPE}",}}', "not valid JSON"),
        ("s.json", json.dumps([STRIPE]), "must hold an object"),
        ("s.json", json.dumps({"stripe_key": {"nested": STRIPE}}), "'stripe_key' must be a string"),
        ("s.toml", f'[stripe]\nkey = "{STRIPE}"\n', "'stripe' must be a string"),
    ],
)
def test_bad_secrets_file_names_the_file_never_the_value(
    tmp_path: Path, name: str, text: str, expected: str
) -> None:
    """Parse and shape errors say which file and what is wrong, without echoing contents."""
    path = write(tmp_path / name, text)
    with pytest.raises(ConfigError) as info:
        FileSecrets(path).get("stripe_key")
    message = str(info.value)
    assert str(path) in message
    assert expected in message
    assert STRIPE not in message
    assert STRIPE[:12] not in message
    assert info.value.__cause__ is None


def test_missing_secrets_file_is_an_error_unless_allowed(tmp_path: Path) -> None:
    """A configured file that is not there is reported; ``missing_ok`` makes it empty."""
    with pytest.raises(ConfigError, match="does not exist"):
        FileSecrets(tmp_path / "nope.toml").get("x")
    assert FileSecrets(tmp_path / "nope.toml", missing_ok=True).get("x") is None


def test_mapping_secrets_copy_and_hide_values() -> None:
    """The mapping is copied and its ``repr`` lists names only."""
    source = {"db_password": HUNTER}
    secrets = MappingSecrets(source)
    source["db_password"] = "changed-later"
    assert secrets.get("db_password") == HUNTER
    assert HUNTER not in repr(secrets)
    assert "db_password" in repr(secrets)


def test_built_in_providers_satisfy_the_protocol() -> None:
    """Env, file and mapping providers are all ``SecretProvider``s."""
    for provider in (EnvSecrets(), FileSecrets("x.toml"), MappingSecrets({})):
        assert isinstance(provider, SecretProvider)


# -- broker ---------------------------------------------------------------------------------


def test_broker_asks_providers_in_order(tmp_path: Path) -> None:
    """The first provider that has a name wins: env before file before mapping, here."""
    path = write(tmp_path / "s.toml", 'both = "from-file-1"\nfile_only = "from-file-2"\n')
    broker = SecretBroker(
        [
            EnvSecrets(environ={"TETHER_SECRET_BOTH": "from-env-1"}),
            FileSecrets(path),
            MappingSecrets({"both": "from-map", "file_only": "from-map", "map_only": "m-1234"}),
        ]
    )
    assert broker.resolve(["both", "file_only", "map_only"]) == {
        "both": "from-env-1",
        "file_only": "from-file-2",
        "map_only": "m-1234",
    }


def test_custom_provider_only_needs_get() -> None:
    """Anything with ``get(name)`` plugs in (a vault client, say)."""

    class Vault:
        def get(self, name: str) -> str | None:
            return {"token": "vault-token-1"}.get(name)

    broker = SecretBroker([Vault()])
    assert broker.resolve(["token"]) == {"token": "vault-token-1"}
    with pytest.raises(MissingSecretError, match="Vault"):
        broker.resolve(["other"])


def test_missing_secret_error_lists_names_sources_and_how_to_fix(tmp_path: Path) -> None:
    """Every missing name is listed with where it was looked for and how to set it."""
    broker = SecretBroker(
        [
            EnvSecrets(environ={"TETHER_SECRET_PRESENT": HUNTER}),
            FileSecrets(tmp_path / "secrets.toml", missing_ok=True),
        ]
    )
    with pytest.raises(MissingSecretError) as info:
        broker.resolve(["present", "stripe_key", "db_password"], tool="charge")
    err = info.value
    assert err.names == ("stripe_key", "db_password")
    assert err.tool == "charge"
    message = str(err)
    assert "tool 'charge'" in message
    assert "'stripe_key'" in message and "'db_password'" in message
    assert "environment variable TETHER_SECRET_STRIPE_KEY" in message
    assert f"secrets file {tmp_path / 'secrets.toml'}" in message
    assert "set TETHER_SECRET_STRIPE_KEY" in message
    assert "set TETHER_SECRET_DB_PASSWORD" in message
    assert HUNTER not in message
    assert HUNTER not in repr(err)
    assert isinstance(err, ConfigError)


def test_missing_secret_error_round_trips_through_pickle() -> None:
    """The error crosses process boundaries with its fields intact."""
    with pytest.raises(MissingSecretError) as info:
        SecretBroker([MappingSecrets({})]).resolve(["stripe_key"], tool="charge")
    copy = pickle.loads(pickle.dumps(info.value))
    assert isinstance(copy, MissingSecretError)
    assert copy.names == ("stripe_key",)
    assert copy.tool == "charge"
    assert str(copy) == str(info.value)


def test_default_broker_reads_the_environment_only() -> None:
    """The process-wide default has one provider, ``EnvSecrets``, and is shared."""
    broker = default_broker()
    assert broker is default_broker()
    assert [type(p) for p in broker.providers] == [EnvSecrets]
    assert [type(p) for p in SecretBroker().providers] == [EnvSecrets]


def test_known_values_remember_every_value_handed_out() -> None:
    """Values resolved so far are available for exact-value redaction; same object until new."""
    broker = SecretBroker([MappingSecrets({"a": "value-aaaa", "b": "value-bbbb"})])
    assert broker.known_values() == frozenset()
    broker.resolve(["a"])
    first = broker.known_values()
    assert first == {"value-aaaa"}
    broker.resolve(["a"])
    assert broker.known_values() is first
    broker.resolve(["b"])
    assert broker.known_values() == {"value-aaaa", "value-bbbb"}


def test_resolved_secrets_show_names_never_values() -> None:
    """The result is a dict whose repr, str and f-string show names only."""
    resolved = SecretBroker([MappingSecrets({"stripe_key": STRIPE})]).resolve(["stripe_key"])
    assert isinstance(resolved, ResolvedSecrets) and isinstance(resolved, dict)
    assert resolved["stripe_key"] == STRIPE
    for shown in (repr(resolved), str(resolved), f"{resolved}", repr([resolved])):
        assert STRIPE not in shown
        assert "stripe_key" in shown


@pytest.mark.parametrize("names", ["stripe_key", ["1bad"], ["has-dash"], [""]])
def test_broker_rejects_names_that_are_not_identifiers(names: object) -> None:
    """A bare string or a non-identifier is a usage error, not a lookup."""
    with pytest.raises(ConfigError):
        SecretBroker([MappingSecrets({})]).resolve(names)  # type: ignore[arg-type]


async def test_aresolve_runs_blocking_providers_off_the_loop(tmp_path: Path) -> None:
    """``aresolve`` returns what ``resolve`` returns, for file and in-memory providers."""
    path = write(tmp_path / "s.toml", 'key = "file-value-1"\n')
    assert await SecretBroker([FileSecrets(path)]).aresolve(["key"]) == {"key": "file-value-1"}
    fast = SecretBroker([MappingSecrets({"key": "map-value-1"})])
    assert await fast.aresolve(["key"]) == {"key": "map-value-1"}


# -- tool contract and context --------------------------------------------------------------


def test_tool_declares_credentials_and_they_enter_the_fingerprint() -> None:
    """``@tool(credentials=[...])`` is kept on the contract and changes its fingerprint."""

    def make(**options: object) -> ToolContract:
        def charge(amount: int) -> str:
            """Charge a card."""
            return "ok"

        return tool(**options)(charge)  # type: ignore[call-overload]

    plain = make()
    stripe = make(credentials=["stripe_key"])
    assert plain.credentials == ()
    assert stripe.credentials == ("stripe_key",)
    assert stripe.schema_fingerprint() != plain.schema_fingerprint()
    assert make(credentials=["stripe_key", "stripe_key"]).credentials == ("stripe_key",)
    assert (
        make(credentials=["a_key", "b_key"]).schema_fingerprint()
        == make(credentials=["b_key", "a_key"]).schema_fingerprint()
    )
    assert "stripe_key" not in json.dumps(stripe.spec().model_dump())


def test_fingerprint_without_credentials_is_unchanged_by_the_option() -> None:
    """Tools that declare none keep the fingerprint they had, so pinned runs still match."""
    import hashlib

    @tool
    def lookup(city: str) -> str:
        """Look up a city."""
        return city

    legacy = hashlib.sha256(
        json.dumps(
            {
                "name": "lookup",
                "version": "1",
                "effect": "read",
                "parameters": lookup.parameters,
            },
            sort_keys=True,
            separators=(",", ":"),
            ensure_ascii=True,
        ).encode()
    ).hexdigest()
    assert lookup.schema_fingerprint() == legacy


@pytest.mark.parametrize("bad", ["stripe_key", ["1key"], ["stripe-key"], [3], ["a" * 65]])
def test_credential_names_must_be_identifiers(bad: object) -> None:
    """A bare string, a non-identifier or a non-string is an agent definition error."""
    with pytest.raises(AgentDefinitionError, match="credential"):

        @tool(credentials=bad)  # type: ignore[arg-type]
        def charge(amount: int) -> str:
            """Charge a card."""
            return "ok"


def test_tool_context_never_shows_secrets() -> None:
    """``repr`` and ``str`` of a context leave the secrets out; they are still readable."""
    ctx = ToolContext(
        run_id="run-1",
        call_id="call-1",
        tool_name="charge",
        idempotency_key="run-1:0:0",
        secrets={"stripe_key": STRIPE},
    )
    assert ctx.secrets["stripe_key"] == STRIPE
    for shown in (repr(ctx), str(ctx), f"{ctx}"):
        assert STRIPE not in shown
    bare = ToolContext(run_id="r", call_id="c", tool_name="t", idempotency_key="k")
    assert dict(bare.secrets) == {}


async def test_tool_receives_its_resolved_secrets() -> None:
    """End to end: broker result in the context, the tool reads it, nothing else sees it."""
    from tether.models import ToolCall
    from tether.tools import execute_tool_call

    seen: list[str] = []

    @tool(credentials=["stripe_key"])
    def charge(amount: int, ctx: ToolContext) -> str:
        """Charge a card."""
        seen.append(ctx.secrets["stripe_key"])
        return f"charged {amount}"

    broker = SecretBroker([MappingSecrets({"stripe_key": STRIPE})])
    ctx = ToolContext(
        run_id="run-1",
        call_id="call-1",
        tool_name="charge",
        idempotency_key="run-1:0:0",
        secrets=broker.resolve(charge.credentials, tool=charge.name),
    )
    outcome = await execute_tool_call(
        ToolCall(id="call-1", name="charge", arguments={"amount": 5}), {"charge": charge}, ctx
    )
    assert seen == [STRIPE]
    assert STRIPE not in repr(outcome)
