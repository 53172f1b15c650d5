"""Red team 7, hole 01: a ``SecretStr`` argument executed as pydantic's ``"**********"``.

``ToolContract.normalize`` dumped the validated arguments with ``model_dump(mode="json")``,
which masks secret types; the gate, the approver, the journal and the tool then all had
the mask, and the idempotency re-check passed (the mask validates to the mask). The tool
now receives the real value, and the stored copy is sealed: a secret-typed parameter is a
sensitive key whatever its name.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import pytest
from pydantic import BaseModel, Secret, SecretBytes, SecretStr

from tether import Agent, Runtime, tool
from tether.models import ModelRequest
from tether.observe import Redactor
from tether.testing import ScriptedModel, text, tool_call

MASK = "**********"
REAL = "correct-horse-battery-staple"


def _raw_store(path: Path) -> bytes:
    return b"".join(p.read_bytes() for p in path.parent.glob(path.name + "*"))


class _Vault(BaseModel):
    host: str
    rt7_vault_token_part: SecretStr


def test_hole_01_normalize_keeps_the_real_value_of_every_secret_type() -> None:
    @tool(effect="write")
    def put(
        label: str,
        rt7_plain_name: SecretStr,
        rt7_blob: SecretBytes,
        rt7_number: Secret[int],
        rt7_many: list[SecretStr],
        rt7_maybe: SecretStr | None,
        vault: _Vault,
    ) -> str:
        """Store things."""
        return "ok"

    arguments = {
        "label": "x",
        "rt7_plain_name": REAL,
        "rt7_blob": "b-bytes-value",
        "rt7_number": 424242,
        "rt7_many": ["m-one", "m-two"],
        "rt7_maybe": None,
        "vault": {"host": "h", "rt7_vault_token_part": "v-part"},
    }
    normalized = put.normalize(arguments)
    assert normalized == arguments
    assert MASK not in repr(normalized)
    kwargs = put.validate(normalized)  # what the executor passes to the tool
    assert kwargs["rt7_plain_name"].get_secret_value() == REAL
    assert kwargs["rt7_blob"].get_secret_value() == b"b-bytes-value"
    assert kwargs["rt7_number"].get_secret_value() == 424242
    assert [s.get_secret_value() for s in kwargs["rt7_many"]] == ["m-one", "m-two"]
    assert kwargs["vault"].rt7_vault_token_part.get_secret_value() == "v-part"


def test_hole_01_secret_typed_parameters_are_sensitive_keys() -> None:
    """Whatever its name, a secret-typed parameter's key is sealed; its siblings are not."""

    @tool(effect="write")
    def rotate(rt7_label: str, rt7_new_value: SecretStr, rt7_list: list[SecretStr]) -> str:
        """Rotate a value."""
        return "ok"

    redactor = Redactor()
    assert redactor.is_sensitive_key("rt7_new_value") and redactor.is_sensitive_key("rt7NewValue")
    assert redactor.is_sensitive_key("rt7_list")
    assert not redactor.is_sensitive_key("rt7_label")
    assert not redactor.is_sensitive_key("x_rt7_new_value")  # the whole key, not a suffix
    sealed = redactor.seal({"rt7_label": "a", "rt7_new_value": "s3cret-ish"})
    assert sealed == {"rt7_label": "a", "rt7_new_value": {"$redacted": "field"}}
    # A redactor that looks for known values only (no field names) stays without.
    assert not Redactor(field_names=(), patterns=()).is_sensitive_key("rt7_new_value")


def test_hole_01_a_set_of_secrets_refuses_rather_than_runs_with_the_mask() -> None:
    @tool(effect="write")
    def tag(rt7_tags: frozenset[SecretStr]) -> str:
        """Tag."""
        return "ok"

    with pytest.raises(ValueError, match="secret argument"):
        tag.normalize({"rt7_tags": ["a-1", "b-2"]})


@pytest.mark.parametrize("codec", ["auto", None])
async def test_hole_01_secretstr_argument_executes_as_mask(
    tmp_path: Path, codec: Literal["auto"] | None
) -> None:
    """The repro: an approved write with a SecretStr parameter gets the real value, the
    approver is shown it, and the store holds it sealed (with or without a payload key).
    """
    received: list[tuple[str, str]] = []

    @tool(effect="write", requires_approval=True)
    def set_password(user: str, new_password: SecretStr, rt7_recovery_phrase: SecretStr) -> str:
        """Set a user's password."""
        received.append((new_password.get_secret_value(), rt7_recovery_phrase.get_secret_value()))
        return "password changed"

    def script(request: ModelRequest) -> Any:
        if not any(m.role == "tool" for m in request.messages):
            return tool_call(
                "set_password", user="ana", new_password=REAL, rt7_recovery_phrase="tiger-lily-9"
            )
        return text("done")

    db = tmp_path / "t.db"
    agent = Agent(name="admin", model=ScriptedModel(script), tools=[set_password])
    async with Runtime(f"sqlite:///{db}", payload_codec=codec) as rt:
        run = await rt.start(agent, "set ana's password")
        assert (await run.result(timeout=30)).status == "waiting"
        if codec is not None:
            # With a key the run can be approved from what the store holds.
            (pending,) = await run.pending_approvals()
            assert pending.arguments["new_password"] == REAL
            assert pending.arguments["rt7_recovery_phrase"] == "tiger-lily-9"
            await rt.approve(run.run_id, "0.1", by="ana@example.com")
            assert (await rt.get(run.run_id).result(timeout=30)).status == "completed"
            assert received == [(REAL, "tiger-lily-9")]
    assert MASK not in repr(received)
    raw = _raw_store(db)
    assert REAL.encode() not in raw and b"tiger-lily-9" not in raw
