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
    new = json.loads(current)
    try:
        # A prefix that may hold credentials is kept sealed whole (no prefix inside to
        # compare) or redacted (compared as far as it reads).
        old = json.loads(previous)
        old_names = [t["name"] for t in old["tools"]]
        old_tools = {t["name"]: t for t in old["tools"]}
        old_instructions, old_schema = old["instructions"], old["output_schema"]
    except (ValueError, KeyError, TypeError):
        return ["previous prefix sealed"]
    changes: list[str] = []
    if old_instructions != new["instructions"]:
        changes.append("instructions")
    new_tools = {t["name"]: t for t in new["tools"]}
    changes.extend(f"tool added: {name}" for name in sorted(new_tools.keys() - old_tools.keys()))
    changes.extend(f"tool removed: {name}" for name in sorted(old_tools.keys() - new_tools.keys()))
    changes.extend(
        f"tool changed: {name}"
        for name in sorted(old_tools.keys() & new_tools.keys())
        if old_tools[name] != new_tools[name]
    )
    if old_names != [t["name"] for t in new["tools"]] and not any(
        c.startswith(("tool added", "tool removed")) for c in changes
    ):
        changes.append("tool order")
    if old_schema != new["output_schema"]:
        changes.append("output schema")
    return changes or ["unknown"]
