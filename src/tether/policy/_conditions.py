"""Conditions on tool-call arguments, compiled once into closures so policy checks stay cheap.

A policy rule's ``when`` is a small expression over the arguments the model proposed::

    amount_cents > 5000 and customer.country not in ["US", "CA"]
    items[0].sku startswith "GIFT-" or not exists(order_id)
    reason matches "(?i)\\b(lawyer|lawsuit)\\b"

It is tokenized and parsed by hand (recursive descent) and compiled to nested Python
closures. Nothing is ever passed to ``eval``/``exec``: a policy file is configuration, and
configuration must not be able to run code.

Grammar, loosest binding first::

    condition  := or_expr
    or_expr    := and_expr ("or" and_expr)*
    and_expr   := not_expr ("and" not_expr)*
    not_expr   := "not" not_expr | primary
    primary    := "(" condition ")"
                | "exists" "(" path ")"
                | operand [comp_op operand]        # a bare operand tests truthiness
    comp_op    := "==" | "!=" | ">" | ">=" | "<" | "<="
                | "in" | "not" "in" | "matches" | "contains" | "startswith" | "endswith"
    operand    := path | literal
    path       := NAME ("." NAME | "[" INT "]" | "[" STRING "]")*
    literal    := INT | FLOAT | STRING | "true" | "false" | "null" | list
    list       := "[" [literal ("," literal)* [","]] "]"

So ``not`` binds tighter than ``and``, which binds tighter than ``or``; comparisons bind
tighter than all three (``not a == 1`` is ``not (a == 1)``) and cannot be chained.

Semantics, chosen so that a rule can never be talked past by the shape of a value:

* A **missing argument path** (absent key, index out of range, stepping into a non-container)
  makes the comparison that uses it false — including ``!=`` and ``not in``. Write
  ``not exists(x) or x != "US"`` when absence should count as a match.
  ``exists(path)`` is true when the path resolves to a value that is not ``null``. Tool
  arguments are validated before the gate sees them, so an omitted optional argument arrives
  as its default: ``not exists(amount_cents)`` holds for ``amount_cents: int | None = None``
  left out, exactly as for ``amount_cents=None`` written out.
* **Numbers.** When one side of ``> >= < <= == !=`` is a number (a number literal, or, between
  two argument paths, an argument that is a number), the other side must be a number too:

  - a number (not a boolean) compares as a number (``1 == 1.0``);
  - ``null`` is never ordered (``> >= < <=`` are false) and is unequal to every number;
  - a string that is a canonical decimal number (``-?\\d+(\\.\\d+)?([eE][+-]?\\d+)?``, ASCII
    digits, no spaces or underscores) compares by its exact decimal value. That is how
    pydantic writes a ``Decimal`` argument, so ``amount > 1000`` judges
    ``amount: Decimal`` as it judges ``amount: int``;
  - anything else (a boolean, any other string such as ``"PT1H"`` or ``" 9000 "``, a list,
    an object) **fails closed**: the condition raises :class:`ConditionEvaluationError`, and
    the gate denies the call with a reason naming the rule, the argument and its type. A
    rule that cannot be judged never lets a call by, whichever way its condition reads.
* Other **type mismatches** make the comparison false: ordering against a string literal
  needs a string (``amount_cents > "5"`` is false), ``matches``/``startswith``/``endswith``
  need strings, ``in``/``contains`` need a list, a string (substring) or an object (key) on
  the container side. Two strings order as text, even when both spell numbers.
* Equality is otherwise JSON-like: ``true == 1`` does not hold (it fails closed, as above),
  lists and objects compare element by element, values of different types are unequal.
* ``matches`` uses :func:`re.search` (anchor with ``^``/``$``); the pattern must be a string
  literal and is compiled when the condition is. String tests are case-sensitive.
  Because it runs on text the model wrote, ``matches`` is bounded: patterns that can
  backtrack catastrophically are refused when the condition is compiled (a quantifier
  inside a quantified group such as ``(a+)+`` or ``(.*a){20}``, an alternation inside a
  quantified group whose alternatives can start alike such as ``(a|aa)+``, and
  backreferences), so a search is linear in practice. It searches the whole string up to
  :data:`MAX_MATCH_CHARS` characters; a longer string fails closed (as above) rather than
  being searched in part, since the forbidden text could sit after any cut. A possessive
  (``a++``) or atomic (``(?>...)``) inner quantifier does not backtrack and is accepted.
* A condition nests at most :data:`MAX_CONDITION_DEPTH` levels of parentheses, ``not`` and
  list brackets; deeper text is a :class:`ConditionSyntaxError`, never a ``RecursionError``.
* A bare path is true when present and truthy (non-empty, non-zero, not ``false``/``null``).

Names that are words of the language (``and or not in matches contains startswith endswith
exists true false null``) cannot start a path; they can follow a dot (``meta.in``).
"""

from __future__ import annotations

import importlib
import json
import operator
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Final

from tether.exceptions import ConfigError

__all__ = [
    "MAX_CONDITION_DEPTH",
    "MAX_MATCH_CHARS",
    "Condition",
    "ConditionEvaluationError",
    "ConditionSyntaxError",
    "compile_condition",
    "path_text",
]

MAX_CONDITION_DEPTH: Final = 32
"""Levels of ``(``, ``not`` and ``[`` a condition may nest; the parser recurses per level."""

MAX_MATCH_CHARS: Final = 1_000_000
"""Longest string ``matches`` searches; a longer one fails closed instead of being cut.

Patterns that can backtrack badly are refused at load, so a search is linear. Over a
megabyte, a pattern with a literal start (``leg[a-z]+``) takes well under a millisecond and a
case-insensitive one that starts with ``\\b`` (``(?i)\\bdrop\\s+table\\b``) 7-40 ms,
depending on the text. A tool argument this long is rare enough that refusing to judge it
(and so denying the call) is the safe answer.
"""

# The regex parser behind re.compile: private, but the only faithful reading of a pattern's
# structure (3.11-3.13). Without it the static check is skipped; the length cap remains.
try:
    _sre: Any = importlib.import_module("re._parser")
except ImportError:  # pragma: no cover - a Python without re._parser
    _sre = None

Arguments = Mapping[str, Any]
Predicate = Callable[[Arguments], bool]
Getter = Callable[[Arguments], Any]


class _Missing:
    """Marker for a path that does not resolve (distinct from a JSON ``null``)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "<missing>"


_MISSING: Final = _Missing()

_WORD_OPERATORS: Final = frozenset({"in", "matches", "contains", "startswith", "endswith"})
_KEYWORDS: Final = _WORD_OPERATORS | {"and", "or", "not", "exists", "true", "false", "null"}
_SYMBOL_OPERATORS: Final = ("==", "!=", ">=", "<=", ">", "<")
_PYTHON_WORDS: Final = {"True": "true", "False": "false", "None": "null"}

_NAME_RE: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_NUMBER_RE: Final = re.compile(
    r"-?(?:\d(?:_?\d)*)(?P<frac>\.\d(?:_?\d)*)?(?P<exp>[eE][+-]?\d+)?(?![A-Za-z0-9_.])"
)
_ESCAPES: Final = {"\\": "\\", '"': '"', "'": "'", "n": "\n", "t": "\t", "r": "\r"}
# How pydantic writes a Decimal in JSON mode: what an argument string may look like to be
# read as a number. Strict on purpose: " 9000 ", "9_000", "NaN" or "PT1H" fail closed.
_DECIMAL_TEXT: Final = re.compile(r"-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?", re.ASCII)


class ConditionSyntaxError(ConfigError):
    """A ``when`` condition that cannot be parsed; the message points at the column.

    Attributes:
        text: The condition source.
        column: 1-based column of the offending character.
        problem: What is wrong, without the snippet.
        snippet: The condition and a caret under the offending column.
    """

    def __init__(self, problem: str, *, text: str, column: int) -> None:
        flat = re.sub(r"\s", " ", text)
        snippet = f"    {flat}\n    {' ' * (column - 1)}^"
        super().__init__(
            f"{problem} at column {column}\n{snippet}",
            problem=problem,
            text=text,
            column=column,
            snippet=snippet,
        )
        self.problem = problem
        self.text = text
        self.column = column
        self.snippet = snippet


class ConditionEvaluationError(ValueError):
    """An argument value a condition cannot judge; the rule holding it fails closed.

    Raised while a condition runs, never while it compiles. The gate turns it into a denial
    (:func:`tether.policy.evaluate_rules`), so a value of an unexpected type can never make
    a deny rule quietly not apply.

    Attributes:
        problem: What cannot be compared, in words.
        argument: The argument path as written in the condition (``"amount"``).
        value_type: The JSON type of the value found there (``"string"``, ``"boolean"``...).
        condition: The condition's source, once known.
        rule: The name of the policy rule holding the condition, once known.
    """

    def __init__(
        self,
        problem: str,
        *,
        argument: str,
        value_type: str,
        condition: str | None = None,
        rule: str | None = None,
    ) -> None:
        where = f"rule {rule!r}: " if rule is not None else ""
        super().__init__(f"{where}{problem}")
        self.problem = problem
        self.argument = argument
        self.value_type = value_type
        self.condition = condition
        self.rule = rule

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild_evaluation_error, (self.problem, self.__dict__.copy()))

    def within(
        self, *, condition: str | None = None, rule: str | None = None
    ) -> ConditionEvaluationError:
        """The same error, naming the condition and the rule it was raised in."""
        return ConditionEvaluationError(
            self.problem,
            argument=self.argument,
            value_type=self.value_type,
            condition=condition if condition is not None else self.condition,
            rule=rule if rule is not None else self.rule,
        )


def _rebuild_evaluation_error(problem: str, fields: dict[str, Any]) -> ConditionEvaluationError:
    return ConditionEvaluationError(
        problem,
        argument=fields["argument"],
        value_type=fields["value_type"],
        condition=fields.get("condition"),
        rule=fields.get("rule"),
    )


@dataclass(frozen=True, slots=True)
class _Token:
    kind: str  # "name" | "number" | "string" | "op" | "punct" | "end"
    value: Any
    pos: int  # 0-based offset into the condition text
    text: str  # the raw source of the token


def _tokenize(text: str) -> list[_Token]:
    """Split ``text`` into tokens, rejecting look-alikes from other languages with a hint."""
    tokens: list[_Token] = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch.isspace():
            i += 1
            continue
        if ch.isdigit() or (ch == "-" and i + 1 < n and text[i + 1].isdigit()):
            match = _NUMBER_RE.match(text, i)
            if match is None:
                raise ConditionSyntaxError("malformed number", text=text, column=i + 1)
            raw = match.group()
            digits = raw.replace("_", "")
            number: int | float = (
                float(digits) if match.group("frac") or match.group("exp") else int(digits)
            )
            tokens.append(_Token("number", number, i, raw))
            i = match.end()
            continue
        match = _NAME_RE.match(text, i)
        if match is not None:
            tokens.append(_Token("name", match.group(), i, match.group()))
            i = match.end()
            continue
        if ch in "\"'":
            value, end = _read_string(text, i)
            tokens.append(_Token("string", value, i, text[i:end]))
            i = end
            continue
        two = text[i : i + 2]
        if two in _SYMBOL_OPERATORS:
            tokens.append(_Token("op", two, i, two))
            i += 2
            continue
        if ch in "<>":
            tokens.append(_Token("op", ch, i, ch))
            i += 1
            continue
        if ch in "()[],.":
            tokens.append(_Token("punct", ch, i, ch))
            i += 1
            continue
        hint = {
            "=": "unexpected '='; compare with '=='",
            "!": "unexpected '!'; negate with 'not'",
            "&": "unexpected '&'; combine with 'and'",
            "|": "unexpected '|'; combine with 'or'",
        }.get(ch, f"unexpected character {ch!r}")
        raise ConditionSyntaxError(hint, text=text, column=i + 1)
    tokens.append(_Token("end", None, n, ""))
    return tokens


def _read_string(text: str, start: int) -> tuple[str, int]:
    r"""Read a quoted string at ``start``; return its value and the offset after it.

    ``\\``, ``\"``, ``\'``, ``\n``, ``\t`` and ``\r`` are escapes; any other backslash is kept
    as written, so regular expressions such as ``"\d+"`` need no doubling.
    """
    quote = text[start]
    out: list[str] = []
    i = start + 1
    while i < len(text):
        ch = text[i]
        if ch == quote:
            return "".join(out), i + 1
        if ch == "\\" and i + 1 < len(text):
            nxt = text[i + 1]
            if nxt in _ESCAPES:
                out.append(_ESCAPES[nxt])
            else:
                out.append(ch + nxt)
            i += 2
            continue
        out.append(ch)
        i += 1
    raise ConditionSyntaxError("unterminated string", text=text, column=start + 1)


# -- operands --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Path:
    steps: tuple[str | int, ...]
    pos: int


@dataclass(frozen=True, slots=True)
class _Literal:
    value: Any
    pos: int


_Operand = _Path | _Literal


def _getter(path: _Path) -> Getter:
    """A closure resolving ``path`` in the arguments, or returning ``_MISSING``."""
    steps = path.steps
    first = steps[0]
    if len(steps) == 1 and isinstance(first, str):
        # Top-level paths are the common case: one dict lookup, no loop.
        return lambda arguments: arguments.get(first, _MISSING)

    def get(arguments: Arguments) -> Any:
        value: Any = arguments
        for step in steps:
            if isinstance(step, str):
                # `type is dict` first: the ABC check behind isinstance(Mapping) is slow.
                if not (value.__class__ is dict or isinstance(value, Mapping)):
                    return _MISSING
                value = value.get(step, _MISSING)
                if value is _MISSING:
                    return _MISSING
            else:
                if not isinstance(value, list | tuple):
                    return _MISSING
                try:
                    value = value[step]
                except IndexError:
                    return _MISSING
        return value

    return get


# -- value semantics -------------------------------------------------------------------------

_NUMBER_TYPES: Final = (int, float, Decimal)


def _is_number(value: Any) -> bool:
    return isinstance(value, _NUMBER_TYPES) and not isinstance(value, bool)


def _equal(left: Any, right: Any) -> bool:
    """JSON-like equality: numbers compare across int/float, booleans never equal numbers."""
    if isinstance(left, bool) or isinstance(right, bool):
        return left is right
    if _is_number(left) and _is_number(right):
        return bool(left == right)
    if isinstance(left, str) or isinstance(right, str):
        return isinstance(left, str) and isinstance(right, str) and left == right
    if left is None or right is None:
        return left is right
    if isinstance(left, list | tuple) and isinstance(right, list | tuple):
        return len(left) == len(right) and all(map(_equal, left, right))
    if isinstance(left, Mapping) and isinstance(right, Mapping):
        return left.keys() == right.keys() and all(_equal(left[k], right[k]) for k in left)
    try:
        return type(left) is type(right) and bool(left == right)
    except Exception:  # a foreign object's __eq__ must not break a policy check
        return False


def _member(needle: Any, haystack: Any) -> bool | None:
    """Whether ``needle`` is in ``haystack``; ``None`` when the types make the test meaningless."""
    if isinstance(haystack, list | tuple):
        return any(_equal(needle, item) for item in haystack)
    if isinstance(haystack, str):
        return needle in haystack if isinstance(needle, str) else None
    if isinstance(haystack, Mapping):
        return needle in haystack if isinstance(needle, str) else None
    return None


def _same_kind(left: Any, right: Any) -> bool:
    """Whether ``left`` and ``right`` can be ordered: two numbers or two strings."""
    return (_is_number(left) and _is_number(right)) or (
        isinstance(left, str) and isinstance(right, str)
    )


_ORDER: Final[dict[str, Callable[[Any, Any], bool]]] = {
    ">": operator.gt,
    ">=": operator.ge,
    "<": operator.lt,
    "<=": operator.le,
}
_MIRROR: Final = {">": "<", ">=": "<=", "<": ">", "<=": ">=", "==": "==", "!=": "!="}
"""``a op b`` is ``b _MIRROR[op] a``: the number tests are written with the number on the right."""


def _json_type(value: Any) -> str:
    """The JSON name of a value's type, for messages (``"boolean"``, ``"object"``...)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, _NUMBER_TYPES):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list | tuple):
        return "list"
    if isinstance(value, Mapping):
        return "object"
    return type(value).__name__


def _shown(value: Any, limit: int = 40) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def path_text(steps: tuple[str | int, ...]) -> str:
    """A path as a condition spells it: ``items[0].sku``, ``meta["x-trace"]``."""
    out = ""
    for step in steps:
        if isinstance(step, int):
            out += f"[{step}]"
        elif _NAME_RE.fullmatch(step):
            out += f".{step}" if out else step
        else:
            out += f"[{json.dumps(step, ensure_ascii=False)}]"
    return out


def _as_number(value: Any, op: str, number: Any, argument: str) -> Any:
    """``value`` (present, not ``null``) as a number to compare with ``number``, or raise.

    A canonical decimal string is what a ``Decimal`` argument looks like after validation;
    anything else a number cannot judge fails closed.

    Raises:
        ConditionEvaluationError: ``value`` is neither a number nor a decimal string.
    """
    if isinstance(value, _NUMBER_TYPES) and not isinstance(value, bool):
        if value != value:  # NaN: no order and no equality (any comparison would be False)
            raise ConditionEvaluationError(
                f"argument {argument!r} is not a number (NaN), so "
                f"'{argument} {op} {_shown(number)}' cannot be judged",
                argument=argument,
                value_type="NaN",
            )
        return value
    if isinstance(value, str) and _DECIMAL_TEXT.fullmatch(value) is not None:
        return Decimal(value)
    kind = _json_type(value)
    raise ConditionEvaluationError(
        f"argument {argument!r} is a {kind} ({_shown(value)}), not a number, so "
        f"'{argument} {op} {number!r}' cannot be judged",
        argument=argument,
        value_type=kind,
    )


def _exact(number: Any) -> Decimal:
    """A number as the ``Decimal`` it reads as: ``0.1`` is ``Decimal("0.1")``, not the float."""
    if isinstance(number, Decimal):
        return number
    return Decimal(repr(number)) if isinstance(number, float) else Decimal(number)


def _against_number(op: str, constant: Any, argument: str) -> Callable[[Any], bool]:
    """The test for ``value op constant`` when ``constant`` is a number.

    A number compares; ``null`` is never ordered and unequal; a decimal string compares by
    its exact value; anything else raises :class:`ConditionEvaluationError` (fail closed).
    """
    exact = _exact(constant)

    def number_of(value: Any) -> tuple[Any, Any]:
        """``value`` and the form of ``constant`` to compare it with."""
        found = _as_number(value, op, constant, argument)
        return found, exact if isinstance(found, Decimal) else constant

    if op in _ORDER:
        compare = _ORDER[op]

        def ordered(value: Any) -> bool:
            kind = value.__class__
            # The common case, checked first (NaN, unequal to itself, is judged below).
            if kind is int or (kind is float and value == value):
                return compare(value, constant)
            if value is None:
                return False
            return compare(*number_of(value))

        return ordered

    def equal(value: Any) -> bool:
        kind = value.__class__
        if kind is int or (kind is float and value == value):
            return bool(value == constant)
        if value is None:
            return False
        found, other = number_of(value)
        return bool(found == other)

    if op == "==":
        return equal
    return lambda value: not equal(value)


def _binary(op: str) -> Callable[[Any, Any], bool]:
    """The general test for ``left op right``, both values present."""
    if op in _ORDER:
        compare = _ORDER[op]
        return lambda left, right: _same_kind(left, right) and compare(left, right)
    tests: dict[str, Callable[[Any, Any], bool]] = {
        "==": _equal,
        "!=": lambda left, right: not _equal(left, right),
        "in": lambda left, right: _member(left, right) is True,
        "not in": lambda left, right: _member(left, right) is False,
        "contains": lambda left, right: _member(right, left) is True,
        "startswith": lambda left, right: (
            isinstance(left, str) and isinstance(right, str) and left.startswith(right)
        ),
        "endswith": lambda left, right: (
            isinstance(left, str) and isinstance(right, str) and left.endswith(right)
        ),
    }
    return tests[op]


def _between_arguments(op: str, left: str, right: str) -> Callable[[Any, Any], bool]:
    """The test for ``path op path``: a number on either side is judged as a literal would be."""
    general = _binary(op)
    if op not in _MIRROR:
        return general

    def test(lhs: Any, rhs: Any) -> bool:
        if _is_number(lhs) and _is_number(rhs) and (lhs != lhs or rhs != rhs):
            # NaN on either side: no comparison judges it (fail closed, like a literal).
            nan_side = left if lhs != lhs else right
            raise ConditionEvaluationError(
                f"argument {nan_side!r} is not a number (NaN), so '{left} {op} {right}' "
                "cannot be judged",
                argument=nan_side,
                value_type="NaN",
            )
        if _is_number(lhs) and not _is_number(rhs):
            return _against_number(_MIRROR[op], lhs, right)(rhs)
        if _is_number(rhs) and not _is_number(lhs):
            return _against_number(op, rhs, left)(lhs)
        return general(lhs, rhs)

    return test


def _equal_to(constant: Any) -> Callable[[Any], bool]:
    """``value == constant`` with :func:`_equal`'s semantics, specialised on the literal."""
    if isinstance(constant, str):
        return lambda value: isinstance(value, str) and value == constant
    if constant is None or isinstance(constant, bool):
        return lambda value: value is constant
    return lambda value: _equal(value, constant)


def _against(op: str, constant: Any, argument: str) -> Callable[[Any], bool]:
    """The test for ``value op constant``, specialised on the literal's type at compile time.

    Each branch gives the same answer as :func:`_binary` (or, for a number, the stricter
    :func:`_against_number`); it only skips work the literal's type already decided (this
    runs before every tool dispatch).
    """
    if _is_number(constant) and op in _MIRROR:
        return _against_number(op, constant, argument)
    if op in _ORDER:
        compare = _ORDER[op]
        if isinstance(constant, str):
            return lambda value: isinstance(value, str) and compare(value, constant)
    elif op in ("==", "!="):
        equal = _equal_to(constant)
        if op == "==":
            return equal
        return lambda value: not equal(value)
    elif op in ("in", "not in") and isinstance(constant, tuple):
        if any(_is_number(item) for item in constant):
            return _in_numbers(op, constant, argument)
        if all(isinstance(item, str) for item in constant):
            strings = frozenset(constant)
            # A non-string is never equal to a string: it is simply not in the list.
            if op == "in":
                return lambda value: isinstance(value, str) and value in strings
            return lambda value: not (isinstance(value, str) and value in strings)
    elif op in ("startswith", "endswith") and isinstance(constant, str):
        if op == "startswith":
            return lambda value: isinstance(value, str) and value.startswith(constant)
        return lambda value: isinstance(value, str) and value.endswith(constant)
    test = _binary(op)
    return lambda value: test(value, constant)


def _in_numbers(op: str, items: tuple[Any, ...], argument: str) -> Callable[[Any], bool]:
    """``value in [..]`` (or ``not in``) for a list literal holding numbers.

    Judged as ``==`` against each number is: a decimal string is in the list when its
    exact value is, and a value a number cannot judge (a boolean, ``"PT1H"``) raises
    :class:`ConditionEvaluationError` unless the list also holds strings it could equal.
    ``null`` or a missing argument is in no list.
    """
    tests = [
        _against_number("==", item, argument) if _is_number(item) else _equal_to(item)
        for item in items
    ]
    any_text = any(isinstance(item, str) for item in items)

    shown = list(items)

    def member(value: Any) -> bool:
        if value is None:
            return False
        if not (any_text and isinstance(value, str)):
            _as_number(value, op, shown, argument)  # raises for what a number cannot judge
        for test in tests:
            try:
                if test(value):
                    return True
            except ConditionEvaluationError:  # a plain string, compared with the strings
                continue
        return False

    if op == "in":
        return member
    return lambda value: value is None or not member(value)


def _searcher(pattern: re.Pattern[str], argument: str) -> Callable[[Any], bool]:
    """``value matches pattern`` over the whole string; a string too long to search raises."""
    search = pattern.search

    def searched(value: Any) -> bool:
        if not isinstance(value, str):
            return False
        if len(value) > MAX_MATCH_CHARS:
            # Searching a prefix would let text after the cut past a deny rule.
            raise ConditionEvaluationError(
                f"argument {argument!r} is a string of {len(value):,} characters, longer "
                f"than the {MAX_MATCH_CHARS:,} that 'matches' searches",
                argument=argument,
                value_type="string",
            )
        return search(value) is not None

    return searched


def _regex_hazard(source: str) -> str | None:
    """Why ``source`` could backtrack catastrophically, or ``None`` if it cannot.

    Walks the parsed pattern iteratively. Refused: a variable-length quantifier inside a
    group that is itself repeated (``(a+)+``, ``(a*)*``, ``(.*a){20}``); inside a repeated
    group, an alternation whose alternatives do not each start with a different literal
    character (``(a|aa)+``); and backreferences (``(\\w)\\1``), which no linear engine
    supports either. Possessive quantifiers and atomic groups never backtrack into their
    body, so quantifiers inside them (or the groups themselves) are fine.
    """
    if _sre is None:  # pragma: no cover - a Python without re._parser
        return None
    repeats = (_sre.MAX_REPEAT, _sre.MIN_REPEAT)
    stack: list[tuple[Any, bool]] = [(_sre.parse(source), False)]
    while stack:
        items, in_repeat = stack.pop()
        for op, av in items:
            if op in repeats:
                low, high, body = av
                if in_repeat and high > 1 and low != high:
                    return "a quantifier inside a repeated group (such as '(a+)+')"
                stack.append((body, in_repeat or high > 1))
            elif op is _sre.POSSESSIVE_REPEAT or op is _sre.ATOMIC_GROUP:
                stack.append((av[2] if op is _sre.POSSESSIVE_REPEAT else av, False))
            elif op is _sre.SUBPATTERN:
                stack.append((av[3], in_repeat))
            elif op is _sre.BRANCH:
                branches = av[1]
                if in_repeat and not _distinct_starts(branches):
                    return (
                        "an alternation inside a repeated group whose alternatives can match "
                        "the same text (such as '(a|aa)+')"
                    )
                stack.extend((branch, in_repeat) for branch in branches)
            elif op is _sre.ASSERT or op is _sre.ASSERT_NOT:
                stack.append((av[1], in_repeat))
            elif op is _sre.GROUPREF or op is _sre.GROUPREF_EXISTS:
                return "a backreference (such as '\\1')"
    return None


def _distinct_starts(branches: list[Any]) -> bool:
    """Whether every alternative starts with a literal character no other one starts with.

    Compared case-folded, so a case-insensitive flag anywhere cannot make two alike.
    """
    starts: set[str] = set()
    for branch in branches:
        if not len(branch) or branch[0][0] is not _sre.LITERAL:
            return False
        starts.add(chr(branch[0][1]).lower())
    return len(starts) == len(branches)


def _comparison(
    left: _Operand, op: str, right: _Operand, pattern: re.Pattern[str] | None
) -> Predicate:
    """Compile one comparison; a missing path on either side makes it false.

    Raises:
        ConditionEvaluationError: Both sides are literals that cannot be compared (the
            parser reports it as a syntax error).
    """
    if isinstance(right, _Literal):
        argument = path_text(left.steps) if isinstance(left, _Path) else repr(left.value)
        unary = (
            _against(op, right.value, argument) if pattern is None else _searcher(pattern, argument)
        )
        if isinstance(left, _Literal):
            if pattern is None and op in _MIRROR and _is_number(left.value):
                # `5 == "5"`: the number decides, whichever side it is written on.
                mirrored = _against_number(_MIRROR[op], left.value, repr(right.value))
                constant = mirrored(right.value)
            else:
                constant = unary(left.value)
            return lambda arguments: constant
        steps = left.steps
        first = steps[0]
        if len(steps) == 1 and isinstance(first, str):
            # The most common shape of all (`amount_cents > 5000`): one lookup, one test.
            def key_vs_literal(arguments: Arguments) -> bool:
                value = arguments.get(first, _MISSING)
                return value is not _MISSING and unary(value)

            return key_vs_literal
        get_path = _getter(left)

        def path_vs_literal(arguments: Arguments) -> bool:
            value = get_path(arguments)
            return value is not _MISSING and unary(value)

        return path_vs_literal
    get_right = _getter(right)
    if isinstance(left, _Literal):
        if _is_number(left.value) and op in _MIRROR:
            # `5000 < amount` is `amount > 5000`: the same number test, mirrored.
            mirrored = _against_number(_MIRROR[op], left.value, path_text(right.steps))

            def number_vs_path(arguments: Arguments) -> bool:
                value = get_right(arguments)
                return value is not _MISSING and mirrored(value)

            return number_vs_path
        test = _binary(op)
        left_value = left.value

        def literal_vs_path(arguments: Arguments) -> bool:
            value = get_right(arguments)
            return value is not _MISSING and test(left_value, value)

        return literal_vs_path
    get_left = _getter(left)
    pair = _between_arguments(op, path_text(left.steps), path_text(right.steps))

    def path_vs_path(arguments: Arguments) -> bool:
        lhs = get_left(arguments)
        if lhs is _MISSING:
            return False
        rhs = get_right(arguments)
        return rhs is not _MISSING and pair(lhs, rhs)

    return path_vs_path


# -- parser ----------------------------------------------------------------------------------


class _Parser:
    """Recursive descent over the token list, building closures as it goes."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = _tokenize(text)
        self.index = 0
        self.depth = 0  # open "(", "not" and "[" around the current token
        self.paths: list[tuple[str | int, ...]] = []  # every argument path, in order

    def enter(self, token: _Token) -> None:
        """Count one more level of nesting; the parser recurses per level, so it is capped."""
        self.depth += 1
        if self.depth > MAX_CONDITION_DEPTH:
            raise self.error(
                f"condition nested deeper than {MAX_CONDITION_DEPTH} levels of parentheses, "
                "'not' and lists",
                token,
            )

    @property
    def token(self) -> _Token:
        return self.tokens[self.index]

    def peek(self, offset: int = 1) -> _Token:
        return self.tokens[min(self.index + offset, len(self.tokens) - 1)]

    def advance(self) -> _Token:
        token = self.tokens[self.index]
        self.index = min(self.index + 1, len(self.tokens) - 1)
        return token

    def error(self, problem: str, token: _Token | None = None) -> ConditionSyntaxError:
        where = token if token is not None else self.token
        return ConditionSyntaxError(problem, text=self.text, column=where.pos + 1)

    def describe(self, token: _Token) -> str:
        return "end of condition" if token.kind == "end" else repr(token.text)

    def is_word(self, word: str, token: _Token | None = None) -> bool:
        token = token if token is not None else self.token
        return token.kind == "name" and token.value == word

    def expect_punct(self, char: str) -> _Token:
        if self.token.kind == "punct" and self.token.value == char:
            return self.advance()
        raise self.error(f"expected {char!r}, found {self.describe(self.token)}")

    # condition := or_expr, and nothing after it
    def parse(self) -> Predicate:
        if self.token.kind == "end":
            raise self.error("empty condition")
        predicate = self.parse_or()
        if self.token.kind != "end":
            if self.token.kind == "op" or (
                self.token.kind == "name" and self.token.value in _WORD_OPERATORS
            ):
                raise self.error(
                    f"unexpected {self.describe(self.token)}: comparisons cannot be chained "
                    "or applied to a parenthesized condition; combine them with 'and'"
                )
            raise self.error(
                f"expected 'and', 'or' or end of condition, found {self.describe(self.token)}"
            )
        return predicate

    def parse_or(self) -> Predicate:
        parts = [self.parse_and()]
        while self.is_word("or"):
            self.advance()
            parts.append(self.parse_and())
        if len(parts) == 1:
            return parts[0]
        alternatives = tuple(parts)
        return lambda arguments: any(part(arguments) for part in alternatives)

    def parse_and(self) -> Predicate:
        parts = [self.parse_not()]
        while self.is_word("and"):
            self.advance()
            parts.append(self.parse_not())
        if len(parts) == 1:
            return parts[0]
        if len(parts) == 2:
            first, second = parts
            return lambda arguments: first(arguments) and second(arguments)
        conjuncts = tuple(parts)
        return lambda arguments: all(part(arguments) for part in conjuncts)

    def parse_not(self) -> Predicate:
        if self.is_word("not"):
            self.enter(self.advance())
            inner = self.parse_not()
            self.depth -= 1
            return lambda arguments: not inner(arguments)
        return self.parse_primary()

    def parse_primary(self) -> Predicate:
        token = self.token
        if token.kind == "punct" and token.value == "(":
            self.enter(self.advance())
            inner = self.parse_or()
            self.expect_punct(")")
            self.depth -= 1
            return inner
        if self.is_word("exists") and self.peek().kind == "punct" and self.peek().value == "(":
            self.advance()
            self.advance()
            if self.token.kind != "name":
                raise self.error("exists() takes an argument path, such as exists(order.id)")
            get = _getter(self.parse_path())
            self.expect_punct(")")

            # Present and not null: validation fills an omitted optional argument with its
            # default, so "is the key there" would be true for every call.
            def exists(arguments: Arguments) -> bool:
                value = get(arguments)
                return value is not _MISSING and value is not None

            return exists
        left = self.parse_operand()
        op = self.parse_operator()
        if op is None:
            return self.bare(left)
        right = self.parse_operand()
        pattern: re.Pattern[str] | None = None
        if op == "matches":
            if not (isinstance(right, _Literal) and isinstance(right.value, str)):
                raise self.error(
                    "the right side of 'matches' must be a string literal (a regular expression)",
                    self.tokens[self.index - 1],
                )
            pattern = self.compile_pattern(right)
        if op in _ORDER:
            for side in (left, right):
                if isinstance(side, _Literal) and not (
                    _is_number(side.value) or isinstance(side.value, str)
                ):
                    raise ConditionSyntaxError(
                        f"{op!r} compares numbers or strings, not {_literal_kind(side.value)}",
                        text=self.text,
                        column=side.pos + 1,
                    )
        if op in ("startswith", "endswith"):
            for side in (left, right):
                if isinstance(side, _Literal) and not isinstance(side.value, str):
                    raise ConditionSyntaxError(
                        f"{op!r} tests strings, not {_literal_kind(side.value)}",
                        text=self.text,
                        column=side.pos + 1,
                    )
        try:
            return _comparison(left, op, right, pattern)
        except ConditionEvaluationError:  # only two literals are compared while compiling
            # The side that is not a number is the one to point at.
            other = right if isinstance(left, _Literal) and _is_number(left.value) else left
            written = other.value if isinstance(other, _Literal) else None
            raise ConditionSyntaxError(
                f"{op!r} cannot compare a {_json_type(written)} with a number",
                text=self.text,
                column=other.pos + 1,
            ) from None

    def compile_pattern(self, literal: _Literal) -> re.Pattern[str]:
        """Compile the regular expression of ``matches``, refusing ones that can blow up."""

        def bad(problem: str) -> ConditionSyntaxError:
            return ConditionSyntaxError(problem, text=self.text, column=literal.pos + 1)

        try:
            pattern = re.compile(literal.value)
            hazard = _regex_hazard(literal.value)
        except re.error as exc:
            raise bad(f"invalid regular expression for 'matches': {exc}") from None
        except RecursionError:  # re's own parser recurses per group
            raise bad("regular expression for 'matches' nested too deeply") from None
        if hazard is not None:
            raise bad(
                f"unsafe regular expression for 'matches' (it can take exponential time): "
                f"it has {hazard}; "
                "rewrite it without the nesting, or make the inner quantifier possessive "
                "('a++') or atomic ('(?>...)')"
            )
        return pattern

    def parse_operator(self) -> str | None:
        token = self.token
        if token.kind == "op":
            self.advance()
            return str(token.value)
        if token.kind == "name":
            if token.value in _WORD_OPERATORS:
                self.advance()
                return str(token.value)
            if token.value == "not" and self.is_word("in", self.peek()):
                self.advance()
                self.advance()
                return "not in"
        return None

    def bare(self, operand: _Operand) -> Predicate:
        """A lone operand: a path tests truthiness, ``true``/``false`` are constants."""
        if isinstance(operand, _Path):
            get = _getter(operand)

            def truthy(arguments: Arguments) -> bool:
                value = get(arguments)
                return value is not _MISSING and bool(value)

            return truthy
        if isinstance(operand.value, bool):
            constant = operand.value
            return lambda arguments: constant
        written = self.text[operand.pos : self.token.pos].strip()
        raise self.error(
            f"expected a comparison operator after {written}, found {self.describe(self.token)}"
        )

    def parse_operand(self) -> _Operand:
        token = self.token
        if token.kind == "name":
            if token.value in ("true", "false", "null"):
                self.advance()
                value = {"true": True, "false": False, "null": None}[token.value]
                return _Literal(value, token.pos)
            if token.value in _KEYWORDS:
                raise self.error(f"expected an argument path or a value, found {token.text!r}")
            if token.value in _PYTHON_WORDS:
                raise self.error(f"unknown name {token.text!r}; write {_PYTHON_WORDS[token.value]}")
            return self.parse_path()
        if token.kind in ("number", "string") or (token.kind == "punct" and token.value == "["):
            return _Literal(self.parse_literal(), token.pos)
        raise self.error(f"expected an argument path or a value, found {self.describe(token)}")

    def parse_path(self) -> _Path:
        first = self.advance()
        steps: list[str | int] = [str(first.value)]
        while True:
            token = self.token
            if token.kind != "punct":
                break
            if token.value == ".":
                self.advance()
                name = self.token
                if name.kind != "name":
                    raise self.error(
                        f"expected a field name after '.', found {self.describe(name)}"
                    )
                steps.append(str(self.advance().value))
            elif token.value == "[":
                self.advance()
                index = self.token
                if index.kind == "number" and isinstance(index.value, int):
                    steps.append(int(index.value))
                elif index.kind == "string":
                    steps.append(str(index.value))
                else:
                    raise self.error("expected an integer index or a quoted key inside '[ ]'")
                self.advance()
                self.expect_punct("]")
            else:
                break
        self.paths.append(tuple(steps))
        return _Path(tuple(steps), first.pos)

    def parse_literal(self) -> Any:
        token = self.advance()
        if token.kind in ("number", "string"):
            return token.value
        if token.kind == "name" and token.value in ("true", "false", "null"):
            return {"true": True, "false": False, "null": None}[token.value]
        if token.kind == "punct" and token.value == "[":
            self.enter(token)
            items: list[Any] = []
            while not (self.token.kind == "punct" and self.token.value == "]"):
                items.append(self.parse_literal())
                if self.token.kind == "punct" and self.token.value == ",":
                    self.advance()
                elif not (self.token.kind == "punct" and self.token.value == "]"):
                    raise self.error(f"expected ',' or ']', found {self.describe(self.token)}")
            self.advance()
            self.depth -= 1
            return tuple(items)
        raise self.error(
            f"expected a literal value inside a list, found {self.describe(token)}", token
        )


def _literal_kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, tuple):
        return "a list"
    return type(value).__name__


class Condition:
    """A compiled ``when`` condition: call it with a tool call's arguments to test them.

    Conditions compare equal when their source text is equal.

    Attributes:
        source: The condition as written in the policy file.
        paths: The argument paths it reads, each as its steps (``("payment", "amount")``
            for ``payment.amount``, ``("items", 0, "sku")`` for ``items[0].sku``), once
            each, in order.
    """

    __slots__ = ("_test", "paths", "source")

    def __init__(self, source: str) -> None:
        """Parse and compile ``source``.

        Raises:
            ConditionSyntaxError: The text is not a valid condition.
        """
        self.source = source
        parser = _Parser(source)
        self._test: Predicate = parser.parse()
        self.paths: tuple[tuple[str | int, ...], ...] = tuple(dict.fromkeys(parser.paths))

    def __call__(self, arguments: Arguments) -> bool:
        """Whether ``arguments`` satisfy the condition.

        Raises:
            ConditionEvaluationError: An argument the condition compares with a number is
                not one (nor a decimal string), or a string for ``matches`` is longer than
                :data:`MAX_MATCH_CHARS`. The caller must treat the call as not judged and
                refuse it; :meth:`PolicyFile.evaluate` adds the rule's name.
        """
        try:
            return self._test(arguments)
        except ConditionEvaluationError as exc:
            raise exc.within(condition=self.source) from None

    def __repr__(self) -> str:
        return f"Condition({self.source!r})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Condition):
            return NotImplemented
        return self.source == other.source

    def __hash__(self) -> int:
        return hash(self.source)


def compile_condition(source: str) -> Condition:
    """Compile a ``when`` condition once, so each evaluation is a chain of closure calls.

    Args:
        source: The condition text, e.g. ``'amount_cents > 5000 and currency == "USD"'``.

    Raises:
        ConditionSyntaxError: The text is not a valid condition; the error carries the
            1-based ``column`` and a caret snippet.
    """
    return Condition(source)
