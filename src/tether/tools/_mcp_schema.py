"""What an MCP server says about a tool, vetted before an agent trusts it.

A server's tool listing is untrusted input: its ``inputSchema`` is compiled into the
validator that checks every call's arguments in this process, and its description goes
into every prompt. So, when the tools are listed:

- **No I/O.** A ``$ref`` (or ``$dynamicRef``, ``$recursiveRef``) must point inside the
  schema (``#...``). The validator is built with a retriever that refuses every URI, so
  a schema cannot make this process fetch a URL (SSRF) or read a file, whose content
  would come back to the model in the error.
- **No catastrophic regex.** ``pattern`` and ``patternProperties`` run on a linear-time
  engine (``jsonschema_rs`` with Rust's ``regex``: no backtracking, no lookaround, no
  backreferences), so no pattern stalls the event loop on any input.
- **Caps.** A description past :data:`MAX_DESCRIPTION` characters is cut (logged); a
  schema past :data:`MAX_SCHEMA_BYTES` is refused. Arguments nested deeper than
  :data:`MAX_ARGUMENT_DEPTH` are refused before validation.

A refused schema does not fail the agent: the tool is listed with an empty object schema
and every call is refused with the reason (``invalid_arguments``), and a warning names
the server and the tool.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

log = logging.getLogger("tether.tools.mcp")

MAX_DESCRIPTION = 4096
"""Characters of a tool description kept from a server (the rest is cut, and logged)."""
MAX_SCHEMA_BYTES = 64 * 1024
"""Bytes of a tool's ``inputSchema`` (as compact JSON) a server may publish."""
MAX_ARGUMENT_DEPTH = 64
"""Nesting of the arguments of a call that the validator is handed (deeper is refused:
the native validator recurses on the machine stack)."""
_REGEX_SIZE_LIMIT = 1 << 20
"""Bytes a compiled pattern may take (``(a{1000}){1000}`` is refused, not built)."""
_REF_KEYS = ("$ref", "$dynamicRef", "$recursiveRef")


@dataclass(frozen=True, slots=True)
class VettedTool:
    """A listed tool as an agent may use it.

    Attributes:
        description: The server's description, cut to :data:`MAX_DESCRIPTION`.
        schema: The server's ``inputSchema`` (an empty object schema when refused).
        validator: A compiled validator of ``schema`` (``None`` when refused).
        problem: Why the schema was refused (``None`` when it was not).
    """

    description: str
    schema: dict[str, Any]
    validator: Any
    problem: str | None


def vet_tool(server: str, entry: Mapping[str, Any]) -> VettedTool:
    """Check one ``tools/list`` entry of ``server``; log what was cut or refused."""
    remote = str(entry.get("name"))
    description = str(entry.get("description") or entry.get("title") or remote)
    if len(description) > MAX_DESCRIPTION:
        log.warning(
            "MCP server %r: the description of tool %r has %d characters; kept the first %d",
            server,
            remote,
            len(description),
            MAX_DESCRIPTION,
        )
        description = description[:MAX_DESCRIPTION]
    schema = entry.get("inputSchema")
    if not isinstance(schema, dict):
        schema = {"type": "object"}
    validator, problem = compile_schema(schema)
    if problem is not None:
        log.warning(
            "MCP server %r: tool %r is listed but every call is refused: %s",
            server,
            remote,
            problem,
        )
        schema = {"type": "object"}
    return VettedTool(description=description, schema=schema, validator=validator, problem=problem)


def compile_schema(schema: dict[str, Any]) -> tuple[Any, str | None]:
    """A validator of ``schema`` that does no I/O and no backtracking, or why there is none."""
    try:
        size = len(json.dumps(schema, separators=(",", ":"), ensure_ascii=False))
    except (TypeError, ValueError, RecursionError):
        return None, "its input schema is not plain JSON"
    if size > MAX_SCHEMA_BYTES:
        return None, f"its input schema has {size} bytes (at most {MAX_SCHEMA_BYTES})"
    for key, ref in _references(schema):
        if not ref.startswith("#"):
            return None, (
                f"its input schema has {key} {ref[:200]!r}, which points outside the "
                "schema (only local references such as '#/$defs/x' are allowed: "
                "Tether never fetches a schema)"
            )
    if schema.get("type", "object") != "object":
        return None, "its input schema does not describe an object"
    # jsonschema_rs ships with the [mcp] extra (require_mcp checks it is installed).
    import jsonschema_rs

    try:
        validator = jsonschema_rs.validator_for(
            schema,
            retriever=_refuse_retrieval,
            validate_formats=False,
            pattern_options=jsonschema_rs.RegexOptions(
                size_limit=_REGEX_SIZE_LIMIT, dfa_size_limit=_REGEX_SIZE_LIMIT
            ),
        )
    except (ValueError, jsonschema_rs.ValidationError, jsonschema_rs.ReferencingError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return None, f"its input schema is invalid: {first[:300]}"
    except BaseException as exc:  # a panic of the native validator is a BaseException
        if type(exc).__name__ != "PanicException":
            raise
        return None, "its input schema could not be compiled"
    return validator, None


def iter_problems(validator: Any, arguments: dict[str, Any]) -> list[tuple[tuple[Any, ...], str]]:
    """Where and why ``arguments`` break the schema (at most 20; empty when they match)."""
    if _depth_over(arguments, MAX_ARGUMENT_DEPTH):
        return [((), f"the arguments are nested more than {MAX_ARGUMENT_DEPTH} levels deep")]
    try:
        errors = list(validator.iter_errors(arguments))
    except BaseException as exc:  # a panic of the native validator is a BaseException
        if not isinstance(exc, Exception) and type(exc).__name__ != "PanicException":
            raise
        return [((), f"the arguments could not be checked: {type(exc).__name__}")]
    errors.sort(key=lambda e: [str(p) for p in e.instance_path])
    return [(tuple(e.instance_path), str(e.message)) for e in errors[:20]]


def _refuse_retrieval(uri: str) -> Any:
    raise ValueError(f"Tether does not fetch schemas ({uri[:200]!r})")


def _references(schema: Any) -> Iterator[tuple[str, str]]:
    """Every ``$ref``-like keyword in ``schema`` and its value, walked without recursion."""
    stack = [schema]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            for key in _REF_KEYS:
                value = node.get(key)
                # A non-string value is a property named "$ref", not a reference (the
                # metaschema check refuses a keyword that is not a string).
                if isinstance(value, str):
                    yield key, value
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)


def _depth_over(value: Any, limit: int) -> bool:
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict | list):
            if depth >= limit:
                return True
            children = node.values() if isinstance(node, dict) else node
            stack.extend((child, depth + 1) for child in children)
    return False
