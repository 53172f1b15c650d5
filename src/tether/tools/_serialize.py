"""Make tool results safe to persist: JSON values in, JSON values out, anything else refused.

A tool result is stored in ``tool.completed`` and shown to the model, so it must be
plain JSON. Rich values (pydantic models, dataclasses, datetimes, tuples) are converted
with ``pydantic_core.to_jsonable_python``; values JSON cannot represent faithfully are
refused rather than silently mangled.
"""

from __future__ import annotations

import itertools
import math
from typing import Any

from pydantic_core import PydanticSerializationError, to_jsonable_python

_MAX_DEPTH = 64
# Types whose values are JSON as they are (exact types: subclasses go the slow way).
_PLAIN = frozenset({str, int, bool, type(None)})


class UnserializableResultError(Exception):
    """The tool returned something that cannot cross the durable boundary as JSON."""


def to_json_result(value: Any, depth: int = 0) -> Any:
    """Return ``value`` as JSON-compatible data, converting rich types via pydantic.

    Plain JSON values pass through without copying (the common case, kept cheap).
    Bytes, NaN/infinite floats, non-string keys other than ints, cycles and anything
    pydantic cannot convert are rejected.

    Raises:
        UnserializableResultError: The value (or a part of it) has no faithful JSON form.
    """
    kind = type(value)
    if kind in _PLAIN:
        return value
    if kind is float:
        if math.isfinite(value):
            return value
        raise UnserializableResultError(f"a non-finite float ({value!r})")
    if depth > _MAX_DEPTH:
        raise UnserializableResultError(f"data nested deeper than {_MAX_DEPTH} levels (a cycle?)")
    if kind is dict:
        return _jsonable_dict(value, depth)
    if kind is list or kind is tuple:
        items = [v if type(v) in _PLAIN else to_json_result(v, depth + 1) for v in value]
        if kind is list and all(a is b for a, b in zip(items, value, strict=True)):
            return value
        return items
    if isinstance(value, bytes | bytearray | memoryview):
        raise UnserializableResultError(f"binary data ({kind.__name__})")
    try:
        converted = to_jsonable_python(value)
    except (PydanticSerializationError, TypeError, ValueError) as exc:
        raise UnserializableResultError(f"a {kind.__name__} value ({exc})") from exc
    return to_json_result(converted, depth + 1)


def _jsonable_dict(value: dict[Any, Any], depth: int) -> dict[str, Any]:
    """Dict case of :func:`to_json_result`: copy only once some key or item had to change."""
    out: dict[str, Any] | None = None
    for index, (key, item) in enumerate(value.items()):
        if type(key) is str and type(item) in _PLAIN:
            if out is not None:
                out[key] = item
            continue
        new_key = key if type(key) is str else _json_key(key)
        new_item = to_json_result(item, depth + 1)
        if out is None and (new_key is not key or new_item is not item):
            out = dict(itertools.islice(value.items(), index))
        if out is not None:
            out[new_key] = new_item
    return value if out is None else out


def _json_key(key: Any) -> str:
    if type(key) is int:
        return str(key)  # what json.dumps does; keeps {1: ...} results usable
    if isinstance(key, str):
        return str(key)  # str subclasses such as StrEnum members
    raise UnserializableResultError(f"a dict key of type {type(key).__name__}")
