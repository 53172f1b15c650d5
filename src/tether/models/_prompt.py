"""Prompt and response-schema building for the embedded local model, as pure functions.

The local model (:mod:`tether.models._local`) is a 135M-parameter instruct model
that knows nothing of native tool calling. Tether makes it an agent by:

1. a system prompt that lists the tools, says "reply with one JSON object" and
   shows one short worked example;
2. JSON-schema-constrained decoding, so every reply *is* one of
   ``{"tool": <name>, "arguments": {...}}`` or ``{"final_answer": ...}`` and the
   arguments always validate against the tool's parameters schema;
3. a ChatML rendering in which earlier turns never change when new ones are
   appended, so llama.cpp reuses its KV cache for everything but the new turns.

Nothing here touches llama.cpp, so all of it is unit-testable without the model.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from tether.models._types import Message, ModelRequest, StepKind, ToolCall, ToolSpec

__all__ = [
    "ChatTurn",
    "ParsedReply",
    "PromptSegment",
    "assistant_content",
    "build_response_schema",
    "build_system_prompt",
    "build_turns",
    "chatml_segments",
    "format_final_answer",
    "format_tool_call",
    "parse_reply",
    "render_chatml",
    "reply_continuation",
    "tool_result_turn",
    "tool_signature",
]

IM_START = "<|im_start|>"
IM_END = "<|im_end|>"

# Replies are compact JSON: the grammar allows no optional whitespace, so the
# model never spends a token choosing it and history re-renders byte-exact.
JSON_SEPARATORS = (",", ":")

_DEFAULT_INSTRUCTIONS = "You are a helpful assistant."


@dataclass(frozen=True, slots=True, kw_only=True)
class ChatTurn:
    """One ChatML turn: a role name and its already-formatted content.

    ``lead`` is text the turn starts with that is known before the rest (the
    ``[tool result]`` header): it is tokenized on its own, so the local model
    can put it in its cache ahead of time and the tokens still match later.
    """

    role: str
    content: str
    lead: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class PromptSegment:
    """A piece of the rendered prompt and whether it may contain special tokens.

    Template markup (``<|im_start|>user\\n``) is ``special=True``; message
    content is ``special=False`` so a tool result that contains the text
    ``<|im_end|>`` is tokenized as plain text and cannot forge a new turn.
    """

    text: str
    special: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class ParsedReply:
    """What one constrained reply means: tool calls, or final text.

    ``complete`` is false when the JSON could not be parsed (the reply was cut
    off by ``max_tokens``); the fields then hold the best salvage possible.
    """

    text: str | None = None
    tool_calls: list[ToolCall] = field(default_factory=list)
    complete: bool = True


# The one worked example, as real chat turns between the system prompt and the
# conversation (a 135M model copies the shape of turns far better than it
# follows an example described in prose). Its tool is never offered: the
# grammar only admits the request's own tool names, so the model copies the
# *shape* of the example but cannot call `get_weather`. Measured on SmolLM2:
# with the example in the system text the model answered directly instead of
# calling the tool; a final answer phrased "The X is Y" was copied with the
# new facts, while "It is sunny in Paris" leaked "Paris" into other answers.
_EXAMPLE_TURNS = (
    ChatTurn(role="user", content="What is the weather in Paris?"),
    ChatTurn(role="assistant", content='{"tool":"get_weather","arguments":{"city":"Paris"}}'),
    ChatTurn(
        role="user",
        content=(
            '[get_weather result]\n{"city":"Paris","forecast":"sunny","high_c":24}\n[end of result]'
        ),
    ),
    ChatTurn(
        role="assistant",
        content='{"final_answer":"The weather in Paris is sunny, with a high of 24 C."}',
    ),
)


# ---------------------------------------------------------------------------
# System prompt


def _type_label(schema: Mapping[str, Any]) -> str:
    """Render a short, human type name for a JSON Schema (``string``, ``integer[]``)."""
    if "enum" in schema:
        return " | ".join(json.dumps(v) for v in schema["enum"])
    if "const" in schema:
        return json.dumps(schema["const"])
    kind = schema.get("type")
    if isinstance(kind, list):
        return " | ".join(str(k) for k in kind)
    if kind == "array" and isinstance(schema.get("items"), Mapping):
        return f"{_type_label(schema['items'])}[]"
    if isinstance(kind, str):
        return kind
    for key in ("anyOf", "oneOf"):
        if isinstance(schema.get(key), list):
            return " | ".join(_type_label(s) for s in schema[key] if isinstance(s, Mapping))
    return "any"


def tool_signature(tool: ToolSpec) -> str:
    """Render a tool as one line the small model can read: ``name(arg: type, ...): doc``.

    Optional arguments carry a ``?``; argument descriptions follow in brackets.
    """
    props: Mapping[str, Any] = tool.parameters.get("properties", {}) or {}
    required = set(tool.parameters.get("required", []) or [])
    args = []
    for name, schema in props.items():
        schema = schema if isinstance(schema, Mapping) else {}
        label = f"{name}{'' if name in required else '?'}: {_type_label(schema)}"
        if schema.get("description"):
            label += f" ({schema['description']})"
        args.append(label)
    line = f"- {tool.name}({', '.join(args)})"
    description = " ".join(tool.description.split())
    return f"{line}: {description}" if description else line


def build_system_prompt(
    instructions: str,
    tools: Sequence[ToolSpec],
    output_schema: Mapping[str, Any] | None = None,
) -> str:
    """Build the stable system prompt: instructions, tools, reply format, one example.

    The result depends only on the agent definition (instructions, tools,
    output schema), never on the conversation, so it is the cacheable prefix.
    """
    parts = [instructions.strip() or _DEFAULT_INSTRUCTIONS]
    if output_schema is not None:
        answer_shape = (
            '{"final_answer":<a JSON value matching this schema: '
            f"{json.dumps(output_schema, sort_keys=True)}>}}"
        )
    else:
        answer_shape = '{"final_answer":"<your answer>"}'
    if tools:
        parts.append("You can use these tools:\n" + "\n".join(tool_signature(t) for t in tools))
        parts.append(
            "Reply with exactly one JSON object and nothing else.\n"
            'To use a tool: {"tool":"<tool name>","arguments":{<arguments>}}\n'
            f"To answer the user: {answer_shape}\n"
            "First use a tool to get the facts you need. "
            "When a tool result arrives, answer the user with final_answer, "
            "using the facts from the result."
        )
    else:
        parts.append(f"Reply with exactly one JSON object and nothing else: {answer_shape}")
    return "\n\n".join(parts)


# ---------------------------------------------------------------------------
# Conversation rendering


def format_tool_call(call: ToolCall) -> str:
    """Render a tool call exactly as the constrained decoder makes the model write it.

    Matching the model's own bytes (compact JSON, key order as generated) keeps the
    re-rendered history token-identical to what is already in the KV cache.
    """
    if call.invalid_arguments is not None:
        # The model's raw text could not be parsed; replay it verbatim.
        return call.invalid_arguments
    return json.dumps(
        {"tool": call.name, "arguments": call.arguments},
        ensure_ascii=False,
        separators=JSON_SEPARATORS,
    )


def format_final_answer(content: str, *, structured: bool = False) -> str:
    """Render an assistant answer as the ``{"final_answer": ...}`` object the model emits.

    With ``structured`` the content is JSON text (a structured final answer)
    and is embedded as a value rather than as a string.
    """
    if structured:
        try:
            value: Any = json.loads(content)
        except ValueError:
            value = content
    else:
        value = content
    return json.dumps({"final_answer": value}, ensure_ascii=False, separators=JSON_SEPARATORS)


def assistant_content(
    text: str | None, tool_calls: Sequence[ToolCall], *, structured: bool = False
) -> str:
    """Render an assistant turn's content: its tool calls, else its final answer.

    The local model uses this both to render history and to pre-fill its
    cache after a reply, so the two always agree token for token.
    """
    if tool_calls:
        return "\n".join(format_tool_call(c) for c in tool_calls)
    return format_final_answer(text or "", structured=structured)


def tool_result_turn(name: str, content: str) -> ChatTurn:
    """Render a tool result as a delimited user turn: ``[name result]\n...\n[end of result]``.

    SmolLM2's chat template knows system, user and assistant only, so a tool
    result travels as a user turn; the brackets tell it apart from the user.
    The header is the turn's ``lead``: it is known as soon as the call is.
    """
    return ChatTurn(
        role="user", lead=f"[{name} result]\n", content=f"{content.strip()}\n[end of result]"
    )


def _format_message(
    message: Message, *, structured: bool, call_names: Mapping[str, str]
) -> ChatTurn:
    if message.role == "tool":
        name = message.name or call_names.get(message.tool_call_id or "", "tool")
        return tool_result_turn(name, message.content or "")
    if message.role == "assistant":
        body = assistant_content(message.content, message.tool_calls, structured=structured)
        return ChatTurn(role="assistant", content=body)
    return ChatTurn(role=message.role, content=message.content or "")


def build_turns(request: ModelRequest) -> list[ChatTurn]:
    """Turn a request into ChatML turns: the system prompt, then one turn per message.

    Each message renders independently of the ones after it, so appending to
    ``request.messages`` only appends turns (the property prefix reuse needs).
    """
    turns = [
        ChatTurn(
            role="system",
            content=build_system_prompt(request.instructions, request.tools, request.output_schema),
        )
    ]
    if request.tools:
        turns.extend(_EXAMPLE_TURNS)
    structured = request.output_schema is not None
    call_names = {c.id: c.name for m in request.messages for c in m.tool_calls}
    turns.extend(
        _format_message(m, structured=structured, call_names=call_names) for m in request.messages
    )
    return turns


def chatml_segments(
    turns: Iterable[ChatTurn], *, add_generation_prompt: bool = True
) -> list[PromptSegment]:
    """Render turns as ChatML (``<|im_start|>role\\n...<|im_end|>\\n``), split by trust.

    SmolLM2-Instruct's chat template is plain ChatML; this reproduces it
    without Jinja and keeps markup apart from content for safe tokenization.
    """
    segments: list[PromptSegment] = []
    for turn in turns:
        segments.append(PromptSegment(text=f"{IM_START}{turn.role}\n", special=True))
        if turn.lead:
            segments.append(PromptSegment(text=turn.lead, special=False))
        segments.append(PromptSegment(text=turn.content, special=False))
        segments.append(PromptSegment(text=f"{IM_END}\n", special=True))
    if add_generation_prompt:
        segments.append(PromptSegment(text=f"{IM_START}assistant\n", special=True))
    return segments


def reply_continuation(content: str, tool_calls: Sequence[ToolCall]) -> list[PromptSegment]:
    """The segments the next prompt will surely contain from a reply on.

    A reply is followed by the ``<|im_end|>`` that closes it and, after a
    single tool call, by the header of that tool's result turn. The local
    model evaluates these right after generating, so the next call finds them
    cached (the tool runs in between, so this work is off the critical path).
    """
    segments = [
        PromptSegment(text=content, special=False),
        PromptSegment(text=f"{IM_END}\n", special=True),
    ]
    if len(tool_calls) == 1:
        result = tool_result_turn(tool_calls[0].name, "")
        segments.append(PromptSegment(text=f"{IM_START}{result.role}\n", special=True))
        segments.append(PromptSegment(text=result.lead, special=False))
    return segments


def render_chatml(turns: Iterable[ChatTurn], *, add_generation_prompt: bool = True) -> str:
    """Render turns as one ChatML string (for logs, tests and prefix hashing)."""
    segments = chatml_segments(turns, add_generation_prompt=add_generation_prompt)
    return "".join(s.text for s in segments)


# ---------------------------------------------------------------------------
# Response schema


_REF_PREFIXES = ("#/$defs/", "#/definitions/")


def _rewrite_refs(node: Any, prefix: str) -> Any:
    if isinstance(node, dict):
        out: dict[str, Any] = {}
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                for ref_prefix in _REF_PREFIXES:
                    if value.startswith(ref_prefix):
                        value = f"#/$defs/{prefix}{value[len(ref_prefix) :]}"
                        break
            out[key] = _rewrite_refs(value, prefix)
        return out
    if isinstance(node, list):
        return [_rewrite_refs(v, prefix) for v in node]
    return node


def _hoist_defs(schema: Mapping[str, Any], prefix: str, defs: dict[str, Any]) -> dict[str, Any]:
    """Move a sub-schema's ``$defs`` to the root, renamed so tools cannot collide.

    A tool's parameters may use ``#/$defs/X`` refs (pydantic emits them); once
    nested inside the union those refs would point at the wrong root.
    """
    body = copy.deepcopy(dict(schema))
    local: dict[str, Any] = {}
    for key in ("$defs", "definitions"):
        local.update(body.pop(key, None) or {})
    body.pop("$schema", None)
    for name, sub in local.items():
        defs[f"{prefix}{name}"] = _rewrite_refs(sub, prefix)
    rewritten: dict[str, Any] = _rewrite_refs(body, prefix)
    return rewritten


def _parameters_schema(tool: ToolSpec, defs: dict[str, Any], index: int) -> dict[str, Any]:
    params = tool.parameters or {}
    if not params or (params.get("type") == "object" and "properties" not in params):
        # A tool without arguments: only `{}` is valid.
        extra = params.get("additionalProperties", False) if params else False
        return {"type": "object", "properties": {}, "additionalProperties": extra}
    prefix = re.sub(r"[^A-Za-z0-9]", "_", f"t{index}_{tool.name}_")
    return _hoist_defs(params, prefix, defs)


def build_response_schema(
    tools: Sequence[ToolSpec],
    output_schema: Mapping[str, Any] | None = None,
    step_kind: StepKind = "act",
) -> dict[str, Any]:
    """Build the JSON Schema every reply is constrained to: a tool call or a final answer.

    The schema is ``anyOf`` one ``{"tool": const, "arguments": <parameters>}``
    object per tool plus ``{"final_answer": <string | output_schema>}``. At a
    ``finalize`` step (or without tools) only the final answer is allowed.
    """
    defs: dict[str, Any] = {}
    if output_schema is not None:
        answer: dict[str, Any] = _hoist_defs(output_schema, "out_", defs)
    else:
        answer = {"type": "string"}
    final = {
        "type": "object",
        "properties": {"final_answer": answer},
        "required": ["final_answer"],
        "additionalProperties": False,
    }
    options: list[dict[str, Any]] = []
    if step_kind != "finalize":
        for index, tool in enumerate(tools):
            options.append(
                {
                    "type": "object",
                    "properties": {
                        "tool": {"const": tool.name},
                        "arguments": _parameters_schema(tool, defs, index),
                    },
                    "required": ["tool", "arguments"],
                    "additionalProperties": False,
                }
            )
    options.append(final)
    schema: dict[str, Any] = options[0] if len(options) == 1 else {"anyOf": options}
    if defs:
        schema = {**schema, "$defs": defs}
    return schema


# ---------------------------------------------------------------------------
# Reply parsing

_TOOL_NAME = re.compile(r'^\s*\{\s*"tool"\s*:\s*"((?:[^"\\]|\\.)*)"')
_FINAL_ANSWER_STRING = re.compile(r'^\s*\{\s*"final_answer"\s*:\s*"')


def _partial_json_string(body: str) -> str:
    """Decode the body of a JSON string that was cut off (no closing quote)."""
    for cut in range(min(len(body), 6) + 1):  # drop a dangling escape like ``\u00``
        try:
            value: str = json.loads(f'"{body[: len(body) - cut]}"', strict=False)
        except ValueError:
            continue
        return value
    return body


def parse_reply(raw: str, *, first_call_index: int = 1, structured: bool = False) -> ParsedReply:
    """Turn the model's constrained JSON into tool calls or final-answer text.

    Call ids are deterministic (``call_<n>``, numbered from
    ``first_call_index``) so a replayed run sees the same ids. A structured
    final answer is returned as JSON text. Unparseable (truncated) replies are
    salvaged: a recognisable tool name becomes a call with
    ``invalid_arguments`` (the executor reports it to the model), anything
    else is returned as raw text.
    """
    try:
        # strict=False: tolerate raw control characters inside strings.
        value = json.loads(raw, strict=False)
    except ValueError:
        match = _TOOL_NAME.match(raw)
        if match:
            call = ToolCall(
                id=f"call_{first_call_index}",
                name=json.loads(f'"{match.group(1)}"'),
                invalid_arguments=raw,
            )
            return ParsedReply(tool_calls=[call], complete=False)
        answer = _FINAL_ANSWER_STRING.match(raw)
        if answer:
            return ParsedReply(text=_partial_json_string(raw[answer.end() :]), complete=False)
        return ParsedReply(text=raw, complete=False)
    if isinstance(value, dict) and "tool" in value:
        arguments = value.get("arguments")
        call = ToolCall(
            id=f"call_{first_call_index}",
            name=str(value["tool"]),
            arguments=arguments if isinstance(arguments, dict) else {},
            invalid_arguments=None if isinstance(arguments, dict) else raw,
        )
        return ParsedReply(tool_calls=[call])
    if isinstance(value, dict) and "final_answer" in value:
        answer = value["final_answer"]
        if isinstance(answer, str) and not structured:
            return ParsedReply(text=answer)
        return ParsedReply(text=json.dumps(answer, ensure_ascii=False, separators=JSON_SEPARATORS))
    # Only reachable without constrained decoding: keep the text as the answer.
    return ParsedReply(text=raw)
