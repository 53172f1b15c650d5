"""Make tool results safe to persist: JSON values in, JSON values out, anything else refused.

A tool result is stored in ``tool.completed`` and shown to the model, so it must be
plain JSON. Rich values (pydantic models, dataclasses, datetimes, tuples) are converted
with ``pydantic_core.to_jsonable_python``; values JSON cannot represent faithfully are
refused rather than silently mangled.

A result is also bounded, because a tool is code someone else wrote and its output is
input nobody checked: data nested deeper than :data:`MAX_RESULT_DEPTH` levels (a cycle,
usually) is refused, and conversion stops with :class:`ResultTooLargeError` once the
JSON text would pass the byte cap (:data:`DEFAULT_MAX_RESULT_BYTES` unless the contract
sets its own). The conversion recurses, but never deeper than the depth cap. Iterators and
generators are consumed lazily against the same cap, so an endless generator ends in an
error instead of a hang; with a deadline, a slow one ends in ``TimeoutError``. Nothing
is ever truncated: structured data cut short would be wrong data.

Text must be valid Unicode, and a lone UTF-16 surrogate is not: ``json.loads`` makes one
of a cut emoji's ``"\\ud83d"``, and ``surrogateescape`` of any undecodable byte. It cannot
be stored (UTF-8 has no form for it) nor sent to a model, so in keys and strings alike
each one becomes U+FFFD, the replacement character, as the engine's ``encode_event``
does for every event; a surrogate pair held as two code points becomes the character it
encodes. The result stays usable (the rest of the text is intact), and the model sees
exactly what the log holds.
"""

from __future__ import annotations

import collections
import itertools
import math
import re
import time
from collections.abc import Iterable, Iterator
from typing import Any, Final

from pydantic_core import PydanticSerializationError, to_jsonable_python

MAX_RESULT_DEPTH: Final = 100
"""Levels of objects/arrays a tool result may nest (the result itself is level 1).

Well under the ~250 levels at which pydantic refuses to serialize an event, and far
beyond any result a model can make use of; deeper data is almost always a cycle.
"""

DEFAULT_MAX_RESULT_BYTES: Final = 1_000_000
"""Cap on the JSON text of one tool result, unless its contract sets ``max_result_bytes``."""

# json.dumps refuses ints longer than sys.get_int_max_str_digits() (4300 by default), and
# converting a huge int to text is quadratic; 14,000 bits is about 4,200 digits.
_MAX_INT_BITS: Final = 14_000
# Iterators are checked against the deadline once per this many items (a clock read each
# item would cost more than most items do).
_DEADLINE_EVERY: Final = 1024
# Finite or not, these are walked item by item rather than handed to pydantic whole.
_LAZY = (Iterator, range, set, frozenset, collections.deque)
# Any surrogate code point; only text that is not ASCII is searched for one.
_SURROGATE: Final = re.compile("[\ud800-\udfff]")


class UnserializableResultError(Exception):
    """The tool returned something that cannot cross the durable boundary as JSON."""


class ResultTooLargeError(UnserializableResultError):
    """The result's JSON text would pass the byte cap (an endless iterator ends here too).

    Attributes:
        limit: Which limit was hit (``"bytes"``: the JSON text).
        maximum: The limit's value.
    """

    def __init__(self, message: str, *, limit: str, maximum: int) -> None:
        super().__init__(message)
        self.limit = limit
        self.maximum = maximum

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild_too_large, (str(self), self.limit, self.maximum))


def _rebuild_too_large(message: str, limit: str, maximum: int) -> ResultTooLargeError:
    return ResultTooLargeError(message, limit=limit, maximum=maximum)


class _Budget:
    """What a conversion may still spend: bytes of JSON text and, optionally, time."""

    __slots__ = ("deadline", "left", "maximum")

    def __init__(self, maximum: int, deadline: float | None) -> None:
        self.maximum = maximum
        self.left = maximum
        self.deadline = deadline

    def spend(self, size: int) -> None:
        self.left -= size
        if self.left < 0:
            raise ResultTooLargeError(
                f"a result larger than {self.maximum:,} bytes of JSON",
                limit="bytes",
                maximum=self.maximum,
            )


def to_json_result(
    value: Any,
    *,
    max_bytes: int = DEFAULT_MAX_RESULT_BYTES,
    deadline: float | None = None,
) -> Any:
    """Return ``value`` as JSON-compatible data, converting rich types via pydantic.

    Plain JSON values pass through without copying (the common case, kept cheap).
    Bytes, NaN/infinite floats, non-string keys other than ints, cycles and anything
    pydantic cannot convert are rejected. Iterators, generators, ranges and sets become
    lists, consumed one item at a time so an endless one stops at the byte cap.

    The size counted is an estimate of the compact JSON text: characters of strings and
    keys plus quotes and separators (escapes are not counted), and the digits of numbers.

    Args:
        value: What the tool returned.
        max_bytes: Cap on the (estimated) JSON text of the whole result.
        deadline: ``time.monotonic()`` value after which consuming an iterator stops with
            ``TimeoutError``; ``None`` for no deadline.

    Raises:
        ResultTooLargeError: The result's JSON text passes ``max_bytes``.
        UnserializableResultError: The value (or a part of it) has no faithful JSON form,
            or nests deeper than :data:`MAX_RESULT_DEPTH` levels.
        TimeoutError: The deadline passed while an iterator was being consumed.
    """
    if (
        type(value) is str
        and len(value) + 2 <= max_bytes
        and (value.isascii() or _SURROGATE.search(value) is None)
    ):
        return value  # the commonest result, already JSON and within the cap
    return _convert(value, 1, _Budget(max_bytes, deadline))


def _convert(value: Any, depth: int, budget: _Budget) -> Any:
    kind = type(value)
    if kind is str:
        budget.spend(len(value) + 2)
        return _valid_text(value)
    if kind is int:
        budget.spend(_int_size(value))
        return value
    if kind is bool or value is None:
        budget.spend(5)
        return value
    if kind is float:
        if math.isfinite(value):
            budget.spend(12)
            return value
        raise UnserializableResultError(f"a non-finite float ({value!r})")
    if depth > MAX_RESULT_DEPTH:
        raise UnserializableResultError(
            f"data nested deeper than {MAX_RESULT_DEPTH} levels (or a cycle)"
        )
    if kind is dict:
        return _jsonable_dict(value, depth, budget)
    if kind is list or kind is tuple:
        return _jsonable_list(value, depth, budget)
    if isinstance(value, bytes | bytearray | memoryview):
        raise UnserializableResultError(f"binary data ({kind.__name__})")
    if isinstance(value, _LAZY):
        return _jsonable_items(value, depth, budget)
    try:
        converted = to_jsonable_python(value)
    except (PydanticSerializationError, TypeError, ValueError) as exc:
        raise UnserializableResultError(f"a {kind.__name__} value ({exc})") from exc
    return _convert(converted, depth, budget)


def _int_size(value: int) -> int:
    bits = value.bit_length()
    if bits > _MAX_INT_BITS:
        raise UnserializableResultError(f"an integer of {bits:,} bits (too long for JSON text)")
    return bits // 3 + 2  # an upper bound on the digits, plus sign and separator


def _jsonable_list(value: list[Any] | tuple[Any, ...], depth: int, budget: _Budget) -> Any:
    """List/tuple case of :func:`to_json_result`: a list comes back as is when unchanged."""
    budget.spend(2 + len(value))  # brackets and commas
    items = [_convert(item, depth + 1, budget) for item in value]
    if type(value) is list and all(a is b for a, b in zip(items, value, strict=True)):
        return value
    return items


def _jsonable_dict(value: dict[Any, Any], depth: int, budget: _Budget) -> dict[str, Any]:
    """Dict case of :func:`to_json_result`: copy only once some key or item had to change."""
    budget.spend(2)
    out: dict[str, Any] | None = None
    for index, (key, item) in enumerate(value.items()):
        if type(key) is str and type(item) is str:
            budget.spend(len(key) + len(item) + 6)
            new_key, new_item = _valid_text(key), _valid_text(item)
            if out is None and (new_key is not key or new_item is not item):
                out = dict(itertools.islice(value.items(), index))
            if out is not None:
                out[new_key] = new_item
            continue
        new_key = _valid_text(key) if type(key) is str else _json_key(key)
        budget.spend(len(new_key) + 4)
        new_item = _convert(item, depth + 1, budget)
        if out is None and (new_key is not key or new_item is not item):
            out = dict(itertools.islice(value.items(), index))
        if out is not None:
            out[new_key] = new_item
    return value if out is None else out


def _jsonable_items(values: Iterable[Any], depth: int, budget: _Budget) -> list[Any]:
    """Consume an iterator (or a set, range, deque) into a list, within the budget."""
    budget.spend(2)
    out: list[Any] = []
    deadline = budget.deadline
    for count, item in enumerate(values, 1):
        budget.spend(1)
        out.append(_convert(item, depth + 1, budget))
        if deadline is not None and count % _DEADLINE_EVERY == 0 and time.monotonic() > deadline:
            raise TimeoutError("the result was still being produced when the timeout expired")
    return out


def _json_key(key: Any) -> str:
    if type(key) is int:
        _int_size(key)  # refuses ints too long to write as text
        return str(key)  # what json.dumps does; keeps {1: ...} results usable
    if isinstance(key, str):
        return _valid_text(str(key))  # str subclasses such as StrEnum members
    raise UnserializableResultError(f"a dict key of type {type(key).__name__}")


def _valid_text(text: str) -> str:
    """``text`` with each lone surrogate replaced by U+FFFD; ``text`` itself if it has none.

    ASCII text is known clean at once (CPython records it), the rest is searched in C.
    """
    if text.isascii() or _SURROGATE.search(text) is None:
        return text
    # UTF-16 is the one codec that pairs surrogates up; "replace" turns the rest into
    # U+FFFD, one for each.
    return text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")
