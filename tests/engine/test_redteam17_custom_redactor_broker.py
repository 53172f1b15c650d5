"""A redactor of one's own still scrubs the broker's values (red team 17, hole 02).

``Runtime(redactor=Redactor(...))`` replaced the default redactor, which is the one that
knows the values the secrets broker hands to tools. A tool that echoed its credential
then reached the model and the store in clear. The runtime now gives a redactor passed to
it the broker's values (``Redactor.with_values``), keeping its own rules.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from tether import Agent, Runtime, tool
from tether.models import ModelRequest
from tether.observe import Redactor
from tether.policy import MappingSecrets, SecretBroker
from tether.testing import ScriptedModel, text, tool_call
from tether.tools import ToolContext

KEY = "corp-internal-7f3a9c2e11"  # a broker value with no credential shape


@tool(credentials=["crm_key"])
def crm_lookup(customer: str, ctx: ToolContext) -> str:
    """Look up a customer."""
    return f"error from CRM: key {ctx.secrets['crm_key']} is not allowed for {customer}"


async def test_a_custom_redactor_keeps_the_broker_scrub(tmp_path: Path) -> None:
    seen: list[str] = []

    def script(request: ModelRequest) -> Any:
        seen.extend(m.content or "" for m in request.messages)
        if len(request.messages) == 1:
            return tool_call("crm_lookup", customer="acme")
        return text("done")

    agent = Agent(name="crm", model=ScriptedModel(script), tools=[crm_lookup])
    broker = SecretBroker([MappingSecrets({"crm_key": KEY})])
    custom = Redactor(replacement="***")
    async with Runtime(
        f"sqlite:///{tmp_path}/t.db", agents=[agent], secrets=broker, redactor=custom
    ) as rt:
        result = await (await rt.start(agent, "look up acme")).result()
        kept = rt.governance.protection.redactor
    assert result.status == "completed"
    assert not any(KEY in s for s in seen)  # the model never reads the credential
    assert any("error from CRM: key ***" in s for s in seen)  # the custom replacement
    with sqlite3.connect(tmp_path / "t.db") as conn:
        stored = b"".join(bytes(row[0]) for row in conn.execute("SELECT data FROM events"))
    assert KEY.encode() not in stored
    assert kept is not None and kept.replacement == "***"


def test_with_values_adds_a_source_to_the_rules_and_values_already_known() -> None:
    own = Redactor(values_source=lambda: frozenset({"first-secret-value"}), replacement="#")
    both = own.with_values(lambda: frozenset({"second-secret-value"}))
    said = both.redact_text("a first-secret-value, a second-secret-value, password=hunter22x")
    assert "first-secret-value" not in said and "second-secret-value" not in said
    assert "hunter22x" not in said and "#" in said
