"""The cache-stable prompt prefix: instructions, tool schemas and output schema, in a fixed order.

Providers (and llama.cpp) reuse cached computation only while the start of the
prompt stays byte-identical. Tether assembles every request as this prefix
followed by the conversation, appended and never rewritten, and records the
prefix hash per model call so a cache bust is visible (``prefix.changed``).
The prefix is stored once per hash as a blob, shared across runs.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from typing import Any

from tether.models import ToolSpec


def prefix_bytes(
    instructions: str, tools: Sequence[ToolSpec], output_schema: dict[str, Any] | None
) -> bytes:
    """Canonical JSON of the prefix (sorted keys, no whitespace)."""
    body = {
        "instructions": instructions,
        "tools": [t.model_dump() for t in tools],
        "output_schema": output_schema,
    }
    return json.dumps(body, sort_keys=True, separators=(",", ":")).encode()


def prefix_hash(data: bytes) -> str:
    """Short content hash of a prefix."""
    return hashlib.sha256(data).hexdigest()[:16]


def describe_change(previous: bytes | None, current: bytes) -> list[str]:
    """What differs between two prefixes, for a person reading a ``prefix.changed`` warning."""
    if previous is None:
        return ["previous prefix unknown"]
    old, new = json.loads(previous), json.loads(current)
    changes: list[str] = []
    if old["instructions"] != new["instructions"]:
        changes.append("instructions")
    old_tools = {t["name"]: t for t in old["tools"]}
    new_tools = {t["name"]: t for t in new["tools"]}
    changes.extend(f"tool added: {name}" for name in sorted(new_tools.keys() - old_tools.keys()))
    changes.extend(f"tool removed: {name}" for name in sorted(old_tools.keys() - new_tools.keys()))
    changes.extend(
        f"tool changed: {name}"
        for name in sorted(old_tools.keys() & new_tools.keys())
        if old_tools[name] != new_tools[name]
    )
    if [t["name"] for t in old["tools"]] != [t["name"] for t in new["tools"]] and not any(
        c.startswith(("tool added", "tool removed")) for c in changes
    ):
        changes.append("tool order")
    if old["output_schema"] != new["output_schema"]:
        changes.append("output schema")
    return changes or ["unknown"]
