"""Small pieces shared by the provider adapters' wire-format translation.

Adapters read SDK replies as plain JSON-shaped dicts (what the provider's
documentation describes) rather than through each SDK version's typed models,
so new fields, renamed classes or pydantic serialisation quirks in a newer SDK
do not break parsing.

Tool results are sent as delimited untrusted data (:func:`tool_result_text`), and a
request that offers tools gets a notice saying so at the end of its system prompt
(:func:`system_text`); see ``tether.context._untrusted``.
"""

from __future__ import annotations

import json
from typing import Any

from tether.context._untrusted import render_tool_output, with_untrusted_notice
from tether.models._types import Message, ToolCall

EMPTY_OBJECT_SCHEMA: dict[str, Any] = {"type": "object", "properties": {}}


def as_dict(obj: object) -> dict[str, Any]:
    """The JSON-shaped dict behind an SDK model object (or the dict itself)."""
    if isinstance(obj, dict):
        return obj
    dump = getattr(obj, "model_dump", None)
    if dump is None:
        raise TypeError(f"expected a mapping or an SDK model, got {type(obj).__name__}")
    # warnings=False: SDK objects are built without validation, so pydantic may
    # warn about values outside the declared types; we only read known keys.
    data = dump(mode="json", by_alias=True, warnings=False)
    if not isinstance(data, dict):
        raise TypeError(f"{type(obj).__name__}.model_dump() did not return a dict")
    return data


def tool_call_from_json(call_id: str, name: str, raw: str | None) -> ToolCall:
    """Build a ToolCall from the argument text a model produced.

    Empty text means "no arguments". Text that is not a JSON object is kept in
    ``invalid_arguments`` so the executor can tell the model what went wrong,
    instead of failing the whole model call.
    """
    text = (raw or "").strip()
    if not text:
        return ToolCall(id=call_id, name=name)
    try:
        parsed = json.loads(text)
    except ValueError:
        return ToolCall(id=call_id, name=name, invalid_arguments=raw)
    if not isinstance(parsed, dict):
        return ToolCall(id=call_id, name=name, invalid_arguments=raw)
    return ToolCall(id=call_id, name=name, arguments=parsed)


def arguments_for_history(call: ToolCall) -> dict[str, Any]:
    """The arguments to replay for a past tool call in the conversation history.

    Invalid arguments are replayed as ``{}``: several OpenAI-compatible servers
    (llama.cpp among them) re-parse history arguments as JSON and reject the
    whole request otherwise, and Anthropic requires an object. The tool result
    that follows already tells the model what it sent and why it failed.
    """
    return dict(call.arguments) if call.invalid_arguments is None else {}


def settings_extras(extra: dict[str, Any] | None) -> dict[str, Any]:
    """Provider-specific settings (``ModelSettings`` extras) to send as ``extra_body``."""
    return {k: v for k, v in (extra or {}).items() if v is not None}


def tool_result_text(message: Message) -> str:
    """The content of a tool-role message as sent to a provider: delimited untrusted data.

    ``<tool_output tool="name" trust="untrusted">...</tool_output>``, with any delimiter
    inside the result neutralised so the result cannot close the wrapper early.
    """
    return render_tool_output(message.name, message.content or "")


def system_text(instructions: str, *, tools: bool) -> str:
    """The system prompt to send: the instructions, plus the untrusted-data notice when
    the request offers tools (the notice depends only on that, so the prefix stays stable).
    """
    return with_untrusted_notice(instructions) if tools else instructions
