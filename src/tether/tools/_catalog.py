"""Hierarchical tool catalogs: a router tool opens domain sub-catalogs on demand.

An agent with 200 tools pays for 200 schemas in every request's stable prefix. A
:class:`Catalog` shows the model one router tool (``open_catalog(domain)``) plus the
tools that are always on; the domain tools stay out of the prefix.

Opening a domain appends that domain's tool schemas to the *conversation* (they are
the router's result), never to the prefix: the prefix stays byte-identical for the
whole run, so provider and llama.cpp prefix caches keep hitting. The engine reads the
opened domains back from the conversation (the router's recorded results), so a
resumed or replayed run has exactly the tools it had: the log is the only state.

A domain tool is a real tool in the agent's registry: the policy gate, approvals,
budgets, timeouts and the journal apply to it like to any other. Called before its
domain is open, it is refused with a ``catalog_closed`` error naming the domain and
the router call that opens it (a domain opened in the same turn counts from the next).

Models that constrain tool names to the request's declared tools (the local llama.cpp
adapter's grammar) cannot call a tool described only in the conversation; give such
agents the tools directly, or keep the catalog for hosted models.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from tether.exceptions import AgentDefinitionError
from tether.models import Message
from tether.tools._contract import ToolContract, tool
from tether.tools._errors import ToolCallError, ToolError, ToolErrorCode

CATALOG_CLOSED = ToolErrorCode.CATALOG_CLOSED.value
"""The ``error_code`` of a call to a tool whose domain is not open in the run."""

OPENED_KEY = "catalog_opened"
"""Key of the router's result that names the domain it opened."""

_DOMAIN = re.compile(r"^[A-Za-z0-9_-]{1,64}$")

ToolItem = ToolContract | Callable[..., Any]


@dataclasses.dataclass(kw_only=True, eq=False)
class Catalog:
    """Tools grouped in domains that the model opens on demand, through one router tool.

    Put it in ``Agent(tools=[...])`` next to other tools. Only the router and
    ``always`` tools reach the prompt's stable prefix.

    Args:
        domains: Domain name to its tools (``@tool`` contracts or typed functions).
        always: Tools that are always callable (and in the prefix).
        descriptions: One line per domain, shown in the router's description.
        router_name: Name of the router tool.
    """

    domains: Mapping[str, Sequence[ToolItem]]
    always: Sequence[ToolItem] = ()
    descriptions: Mapping[str, str] = dataclasses.field(default_factory=dict)
    router_name: str = "open_catalog"

    def __post_init__(self) -> None:
        if not self.domains:
            raise AgentDefinitionError("Catalog needs at least one domain")
        contracts: dict[str, list[ToolContract]] = {}
        owner: dict[str, str] = {}
        for domain, items in self.domains.items():
            if not isinstance(domain, str) or not _DOMAIN.match(domain):
                raise AgentDefinitionError(
                    f"catalog domain {domain!r} must be 1-64 letters, digits, '_' or '-'"
                )
            if not items:
                raise AgentDefinitionError(f"catalog domain {domain!r} has no tools")
            contracts[domain] = [_contract(i) for i in items]
            for contract in contracts[domain]:
                if contract.name in owner:
                    raise AgentDefinitionError(
                        f"tool {contract.name!r} is in catalog domains {owner[contract.name]!r} "
                        f"and {domain!r}: a tool belongs to one domain"
                    )
                owner[contract.name] = domain
        unknown = set(self.descriptions) - set(contracts)
        if unknown:
            raise AgentDefinitionError(
                f"catalog descriptions name unknown domains: {', '.join(sorted(unknown))}"
            )
        self._contracts = contracts
        self._always = [_contract(i) for i in self.always]
        self._owner = owner
        self._router = self._build_router()

    # -- what the agent sees -----------------------------------------------------------------

    def contracts(self) -> list[ToolContract]:
        """Every contract for the agent's registry: the router, ``always``, then each domain's."""
        out = [self._router, *self._always]
        for items in self._contracts.values():
            out.extend(items)
        return out

    def tool_domains(self) -> dict[str, tuple[str, str]]:
        """Domain tools by name: ``(router name, domain)``; they stay out of the prefix."""
        return {name: (self.router_name, domain) for name, domain in self._owner.items()}

    def map_tools(self, fn: Callable[[ToolContract], ToolContract]) -> Catalog:
        """The same catalog with ``fn`` applied to every tool but the router (simulators)."""
        return Catalog(
            domains={d: [fn(c) for c in items] for d, items in self._contracts.items()},
            always=[fn(c) for c in self._always],
            descriptions=dict(self.descriptions),
            router_name=self.router_name,
        )

    # -- the router --------------------------------------------------------------------------

    def _build_router(self) -> ToolContract:
        specs = {
            domain: [c.spec().model_dump(exclude={"examples"}) for c in items]
            for domain, items in self._contracts.items()
        }
        lines = []
        for domain, items in self._contracts.items():
            about = self.descriptions.get(domain)
            names = ", ".join(c.name for c in items)
            lines.append(f"- {domain}: {about + '. ' if about else ''}tools: {names}")
        description = (
            "Open a domain of tools: its tools' schemas come back and you can call them "
            "for the rest of this task. Domains:\n" + "\n".join(lines)
        )
        domains = list(self._contracts)

        def open_catalog(domain: str) -> dict[str, Any]:
            if domain not in specs:
                raise ToolCallError(
                    f"there is no catalog domain {domain!r}",
                    error_code="invalid_arguments",
                    hint=f"domains: {', '.join(domains)}",
                )
            return {OPENED_KEY: domain, "tools": specs[domain]}

        open_catalog.catalog_router = True  # type: ignore[attr-defined]  # simulators keep it real
        base = tool(name=self.router_name, description=description)(open_catalog)
        parameters = {
            "type": "object",
            "properties": {
                "domain": {"type": "string", "enum": domains, "description": "Domain to open."}
            },
            "required": ["domain"],
            "additionalProperties": False,
        }
        return dataclasses.replace(base, parameters=parameters)


def is_router(contract: ToolContract | None) -> bool:
    """Whether ``contract`` is a catalog's router tool."""
    return contract is not None and getattr(contract.fn, "catalog_router", False) is True


def opened_domains(messages: Iterable[Message], routers: Iterable[str]) -> set[tuple[str, str]]:
    """``(router, domain)`` pairs opened in a conversation: read from the routers' results."""
    names = set(routers)
    opened: set[tuple[str, str]] = set()
    for message in messages:
        if message.role != "tool" or message.name not in names or not message.content:
            continue
        if OPENED_KEY not in message.content[:64]:
            continue  # an error, not an opening
        try:
            value = json.loads(message.content)
        except ValueError:
            continue
        if isinstance(value, dict) and isinstance(value.get(OPENED_KEY), str):
            opened.add((message.name, value[OPENED_KEY]))
    return opened


def closed_catalog_error(
    name: str, tool_domains: Mapping[str, tuple[str, str]], messages: Sequence[Message]
) -> ToolError | None:
    """The ``catalog_closed`` error for a call to a domain tool not yet opened, else ``None``."""
    where = tool_domains.get(name)
    if where is None:
        return None
    router, domain = where
    if where in opened_domains(messages, {router}):
        return None
    return ToolError(
        error_code=CATALOG_CLOSED,
        message=f"{name!r} is in the {domain!r} catalog, which is not open yet",
        hint=f'call {router}(domain="{domain}") first, then call {name!r} again',
        details={"domain": domain, "open_with": router},
    )


def flatten_catalogs(items: Iterable[Any]) -> tuple[list[Any], dict[str, tuple[str, str]]]:
    """An agent's ``tools`` with each :class:`Catalog` replaced by its contracts, and the
    domain tools (name to ``(router, domain)``) that stay out of the prompt's prefix."""
    flat: list[Any] = []
    domains: dict[str, tuple[str, str]] = {}
    for item in items:
        if isinstance(item, Catalog):
            flat.extend(item.contracts())
            domains.update(item.tool_domains())
        else:
            flat.append(item)
    return flat, domains


def _contract(item: ToolItem) -> ToolContract:
    return item if isinstance(item, ToolContract) else tool(item)


__all__ = [
    "CATALOG_CLOSED",
    "Catalog",
    "closed_catalog_error",
    "flatten_catalogs",
    "is_router",
    "opened_domains",
]
