"""Turn a typed Python function into a pydantic arguments model and a strict JSON Schema.

The schema is what the model is shown, so it is kept strict and quiet: every object
level says ``"additionalProperties": false`` (unless the type is a genuinely free-form
mapping such as ``dict[str, int]``), the top level always has ``required``, and the
``title`` keys pydantic adds are stripped because they only cost prompt tokens.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any, get_args, get_origin, get_type_hints

from pydantic import BaseModel, ConfigDict, Field, PydanticUserError, create_model
from pydantic.fields import FieldInfo

_SECTION = re.compile(r"^(\w[\w ]*):\s*$")
_ARGS_SECTIONS = frozenset({"Args", "Arguments", "Parameters", "Params"})
_ARG_ENTRY = re.compile(r"^\*{0,2}(\w+)\s*(?:\([^)]*\))?\s*:\s*(.*)$")

# Schema keywords whose value is a mapping of name -> subschema.
_SCHEMA_MAPS = ("properties", "$defs", "definitions", "patternProperties", "dependentSchemas")
# Schema keywords whose value is one subschema.
_SCHEMA_ONE = ("items", "additionalProperties", "not", "contains", "propertyNames", "if")
_SCHEMA_ONE_MORE = ("then", "else", "unevaluatedProperties", "unevaluatedItems")
# Schema keywords whose value is a list of subschemas.
_SCHEMA_LISTS = ("anyOf", "oneOf", "allOf", "prefixItems")


class SchemaBuildError(Exception):
    """A function signature that cannot become a tool schema (message says why)."""


@dataclass(kw_only=True, slots=True, frozen=True)
class ArgumentsSchema:
    """What :func:`build_arguments` derives from a function signature.

    Attributes:
        model: Pydantic model validating the model-supplied arguments.
        parameters: Strict JSON Schema of the arguments (the model-facing contract).
        field_names: ``(model field name, Python parameter name)`` pairs, in order.
        context_param: Name of the parameter that receives the injected context, if any.
    """

    model: type[BaseModel]
    parameters: dict[str, Any]
    field_names: tuple[tuple[str, str], ...]
    context_param: str | None


def split_docstring(doc: str | None) -> tuple[str, dict[str, str]]:
    """Return the first paragraph of a docstring and its Google-style ``Args:`` entries.

    Args:
        doc: The raw docstring (``None`` when the function has none).

    Returns:
        The first paragraph joined into one line, and a mapping of parameter name to its
        description (continuation lines joined with spaces).
    """
    if not doc:
        return "", {}
    lines = inspect.cleandoc(doc).splitlines()
    summary: list[str] = []
    for line in lines:
        if not line.strip() or _SECTION.match(line.strip()):
            break
        summary.append(line.strip())
    return " ".join(summary), _parse_args_section(lines)


def _parse_args_section(lines: list[str]) -> dict[str, str]:
    """Collect ``name (type): description`` entries under an ``Args:`` header."""
    descriptions: dict[str, str] = {}
    in_args = False
    header_indent = 0
    entry_indent: int | None = None
    current: str | None = None
    for line in lines:
        stripped = line.strip()
        indent = len(line) - len(line.lstrip())
        section = _SECTION.match(stripped)
        if not in_args:
            if section and section.group(1) in _ARGS_SECTIONS:
                in_args, header_indent = True, indent
            continue
        if not stripped:
            continue
        if indent <= header_indent:
            break  # the next section (or dedented prose) ends the Args block
        if entry_indent is None:
            entry_indent = indent
        entry = _ARG_ENTRY.match(stripped) if indent == entry_indent else None
        if entry:
            current = entry.group(1)
            descriptions[current] = entry.group(2).strip()
        elif current is not None:
            descriptions[current] = f"{descriptions[current]} {stripped}".strip()
    return descriptions


def build_arguments(
    fn: Callable[..., Any],
    *,
    tool_name: str,
    context_type: type,
    param_descriptions: dict[str, str],
) -> ArgumentsSchema:
    """Build the arguments model and strict schema for ``fn``.

    Args:
        fn: The tool function.
        tool_name: Used to name the generated model.
        context_type: Parameters annotated with this type are injected, not in the schema.
        param_descriptions: Per-parameter descriptions parsed from the docstring.

    Raises:
        SchemaBuildError: The signature cannot be expressed as a tool schema.
    """
    try:
        signature = inspect.signature(fn)
    except (TypeError, ValueError) as exc:
        raise SchemaBuildError(f"cannot read its signature ({exc})") from exc
    try:
        hints = get_type_hints(fn, include_extras=True)
    except Exception as exc:  # NameError, TypeError, ... from evaluating annotations
        raise SchemaBuildError(
            f"cannot resolve its type hints ({type(exc).__name__}: {exc}); "
            "define referenced types at module level"
        ) from exc

    fields: dict[str, Any] = {}
    field_names: list[tuple[str, str]] = []
    context_param: str | None = None
    for index, param in enumerate(signature.parameters.values()):
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            star = "*" if param.kind is param.VAR_POSITIONAL else "**"
            raise SchemaBuildError(f"{star}{param.name} is not allowed; declare each argument")
        if param.kind is param.POSITIONAL_ONLY:
            raise SchemaBuildError(f"parameter {param.name!r} is positional-only")
        if param.name not in hints:
            raise SchemaBuildError(f"parameter {param.name!r} has no type hint")
        annotation = hints[param.name]
        if annotation is context_type:
            if context_param is not None:
                raise SchemaBuildError("it declares more than one context parameter")
            context_param = param.name
            continue
        # Fields get neutral internal names and the parameter name as alias, so argument
        # names like ``schema``, ``json`` or ``model_id`` never clash with BaseModel.
        internal = f"arg{index}"
        field_names.append((internal, param.name))
        fields[internal] = (annotation, _field_info(param, annotation, param_descriptions))

    try:
        model = create_model(
            f"{tool_name}_arguments",
            # JSON has no NaN or Infinity: a float argument that reads as one ("nan",
            # "inf", 1e400) is no amount a rule can judge or a tool should act on.
            __config__=ConfigDict(extra="forbid", allow_inf_nan=False),
            **fields,
        )
        schema = model.model_json_schema(mode="validation")
    except PydanticUserError as exc:
        raise SchemaBuildError(f"has an unsupported argument type ({exc.message})") from exc
    return ArgumentsSchema(
        model=model,
        parameters=strict_schema(schema),
        field_names=tuple(field_names),
        context_param=context_param,
    )


def _field_info(
    param: inspect.Parameter, annotation: Any, descriptions: dict[str, str]
) -> FieldInfo:
    """Field for one parameter: alias, default, and the docstring description if any."""
    default: Any = ... if param.default is param.empty else param.default
    description = descriptions.get(param.name)
    if _annotated_description(annotation):
        description = None  # an explicit Field(description=...) wins over the docstring
    if isinstance(default, FieldInfo):
        raise SchemaBuildError(
            f"parameter {param.name!r} uses Field(...) as its default; "
            "use Annotated[type, Field(...)] instead"
        )
    # Pass only what is set: an explicit ``description=None`` would erase the one
    # given in ``Annotated[..., Field(...)]`` when pydantic merges the two.
    extra: dict[str, Any] = {"description": description} if description else {}
    info: FieldInfo = Field(default, alias=param.name, **extra)
    return info


def _annotated_description(annotation: Any) -> bool:
    """Whether ``Annotated[..., Field(description=...)]`` already describes the field."""
    if get_origin(annotation) is not Annotated:
        return False
    return any(isinstance(m, FieldInfo) and m.description for m in get_args(annotation)[1:])


def strict_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """Close every object level, drop ``title`` noise and make ``required`` explicit.

    Args:
        schema: A JSON Schema as pydantic produced it (mutated in place and returned).
    """
    _tighten(schema)
    schema.setdefault("properties", {})
    schema.setdefault("required", [])
    return schema


def _tighten(schema: Any) -> None:
    """Walk subschemas only (never property names or ``default`` values)."""
    if not isinstance(schema, dict):
        return
    if isinstance(schema.get("title"), str):
        del schema["title"]
    if schema.get("type") == "object" or "properties" in schema:
        schema.setdefault("additionalProperties", False)
    for key in _SCHEMA_MAPS:
        sub = schema.get(key)
        if isinstance(sub, dict):
            for value in sub.values():
                _tighten(value)
    for key in (*_SCHEMA_ONE, *_SCHEMA_ONE_MORE):
        _tighten(schema.get(key))
    for key in _SCHEMA_LISTS:
        sub = schema.get(key)
        if isinstance(sub, list):
            for value in sub:
                _tighten(value)
