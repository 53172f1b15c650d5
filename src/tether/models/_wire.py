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
import re
from typing import Any, Final

from tether.models._types import Message, ToolCall
from tether.models._untrusted import render_tool_output, with_untrusted_notice

EMPTY_OBJECT_SCHEMA: dict[str, Any] = {"type": "object", "properties": {}}

MAX_ARGUMENT_DEPTH: Final = 64
"""Levels of objects/arrays tool-call arguments may nest (the arguments object is level 1).

Deeper arguments are kept as ``invalid_arguments`` and reported to the model: no tool
schema needs them, and ~250 levels is where pydantic refuses to serialize the event that
records the call (``json`` gives up near 1,000 with ``RecursionError``).
"""

# A JSON string (escapes included) or one bracket, for measuring nesting in raw text.
_STRING_OR_BRACKET: Final = re.compile(r'"(?:[^"\\]|\\.)*"?|[\[\]{}]')


def as_dict(obj: object) -> dict[str, Any]:
    """The JSON-shaped dict behind an SDK model object (or the dict itself)."""
    if isinstance(obj, dict):
        return obj
    dump = getattr(obj, "model_dump", None)
    if dump is None:
        raise TypeError(f"expected a mapping or an SDK model, got {type(obj).__name__}")
    # warnings=False: SDK objects are built without validation, so pydantic may
    # warn about values outside the declared types; we only read known keys.
    try:
        data = dump(mode="json", by_alias=True, warnings=False)
    except (TypeError, ValueError):
        # JSON mode refuses data nested ~250+ deep (a tool input the model nested absurdly);
        # python mode does not, and the parsers only read plain keys and values.
        data = dump(mode="python", by_alias=True, warnings=False)
    if not isinstance(data, dict):
        raise TypeError(f"{type(obj).__name__}.model_dump() did not return a dict")
    return data


def token_count(value: object) -> int | None:
    """A token count a provider reported, or ``None`` if it is not one.

    ``None``, a missing field, is 0. Anything else must be a whole, finite number of zero
    or more (a float like ``12.0`` is taken): a negative count would hand a run's budget
    back, a string or ``1e999`` says the provider's accounting cannot be read.
    """
    if value is None:
        return 0
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if value >= 0 else None
    if isinstance(value, float) and value.is_integer() and value >= 0:
        return int(value)
    return None


def usage_counts(usage: object, *fields: str) -> list[int] | None:
    """The named counts of a ``usage`` object, or ``None`` if any of them cannot be read
    (then the usage counts as not reported: the engine charges its own estimate)."""
    if not isinstance(usage, dict):
        return None
    counts = [token_count(usage.get(name)) for name in fields]
    if any(c is None for c in counts):
        return None
    return counts  # type: ignore[return-value]  # no None left


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
    except (ValueError, RecursionError):  # json's parser recurses once per level
        return ToolCall(id=call_id, name=name, invalid_arguments=raw)
    if not isinstance(parsed, dict) or nesting_exceeds(parsed, MAX_ARGUMENT_DEPTH):
        return ToolCall(id=call_id, name=name, invalid_arguments=raw)
    return ToolCall(id=call_id, name=name, arguments=parsed)


def tool_call_from_object(call_id: str, name: str, data: object) -> ToolCall:
    """Build a ToolCall from arguments a provider sent already parsed (Anthropic's ``input``).

    ``None`` means "no arguments"; anything but an object of at most
    :data:`MAX_ARGUMENT_DEPTH` levels is kept as text in ``invalid_arguments``.
    """
    if data is None:
        return ToolCall(id=call_id, name=name)
    if isinstance(data, dict) and not nesting_exceeds(data, MAX_ARGUMENT_DEPTH):
        return ToolCall(id=call_id, name=name, arguments=data)
    return ToolCall(id=call_id, name=name, invalid_arguments=arguments_text(data))


def arguments_text(data: object) -> str:
    """Parsed arguments back as JSON text, or a placeholder when ``json`` cannot write them.

    ``json.dumps`` recurses once per level: data nested ~1,000 deep raises ``RecursionError``.
    """
    try:
        return json.dumps(data)
    except (RecursionError, TypeError, ValueError):
        return f"<{type(data).__name__} nested deeper than {MAX_ARGUMENT_DEPTH} levels>"


# Tuples, not ``dict | list``: isinstance() with a union costs three times as much.
_CONTAINERS = (dict, list, tuple)
_SEQUENCES = (list, tuple)


def nesting_exceeds(value: object, limit: int) -> bool:
    """Whether dicts and lists in ``value`` nest more than ``limit`` levels deep.

    ``{"a": [1]}`` is 2 levels; a scalar is 0. Iterative, so no input depth can exhaust
    the stack, and a cycle counts as too deep instead of looping forever.
    """
    if type(value) is dict:  # the common case, flat arguments: one level, no walk
        for child in value.values():
            if isinstance(child, _CONTAINERS):
                break
        else:
            return limit < 1
    stack: list[tuple[object, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, _SEQUENCES):
            children = item
        else:
            continue
        if depth > limit:
            return True
        stack.extend((c, depth + 1) for c in children if isinstance(c, _CONTAINERS))
    return False


def text_nesting_exceeds(text: str, limit: int) -> bool:
    """Whether brackets in JSON ``text`` (outside strings) nest more than ``limit`` deep.

    For explaining why argument text was refused; works on text ``json`` cannot parse.
    """
    return nesting_cut(text, limit) is not None


def nesting_cut(text: str, limit: int) -> int | None:
    """The offset just past the first bracket of ``text`` that nests deeper than ``limit``.

    ``None`` when the JSON text (or what there is of it) stays within ``limit`` levels.
    Brackets inside strings do not count. ``text[:cut]`` is a cut-off JSON text that
    ``json.loads`` rejects with ``ValueError`` before it can recurse too deep.
    """
    depth = 0
    for match in _STRING_OR_BRACKET.finditer(text):
        token = match.group()
        if token in ("[", "{"):
            depth += 1
            if depth > limit:
                return match.end()
        elif token in ("]", "}"):
            depth -= 1
    return None


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
