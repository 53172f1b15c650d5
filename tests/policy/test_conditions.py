"""The ``when`` condition language: grammar, precedence, missing paths, types and errors."""

from __future__ import annotations

import pickle
from typing import Any

import pytest

from tether.exceptions import ConfigError
from tether.policy._conditions import (
    Condition,
    ConditionEvaluationError,
    ConditionSyntaxError,
    compile_condition,
)

ARGS: dict[str, Any] = {
    "amount_cents": 6000,
    "ratio": 0.25,
    "currency": "USD",
    "customer": {"country": "FR", "tags": ["vip", "b2b"], "name": "Ada Lovelace"},
    "items": [{"sku": "GIFT-001", "qty": 2}, {"sku": "BOOK-9", "qty": 1}],
    "reason": "customer mentioned legal action",
    "urgent": True,
    "dry_run": False,
    "note": None,
    "empty": "",
    "codes": [1, 2, 3],
    "meta": {"in": "yes", "x-trace": "abc"},
}


def check(source: str, arguments: dict[str, Any] | None = None) -> bool:
    return compile_condition(source)(ARGS if arguments is None else arguments)


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("amount_cents == 6000", True),
        ("amount_cents == 6000.0", True),
        ("amount_cents != 6000", False),
        ("amount_cents > 5000", True),
        ("amount_cents > 6000", False),
        ("amount_cents >= 6000", True),
        ("amount_cents < 6000", False),
        ("amount_cents <= 6000", True),
        ("ratio < 0.5", True),
        ("ratio == 2.5e-1", True),
        ("amount_cents > 5_000", True),
        ("amount_cents > -1", True),
        ('currency == "USD"', True),
        ("currency == 'USD'", True),
        ('currency != "EUR"', True),
        ('currency < "ZZZ"', True),
        ("5000 < amount_cents", True),
    ],
)
def test_comparison_operators(source: str, expected: bool) -> None:
    """``== != > >= < <=`` compare numbers (int and float alike) and strings."""
    assert check(source) is expected


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ('customer.country in ["US", "CA"]', False),
        ('customer.country not in ["US", "CA"]', True),
        ('customer.country in ["FR"]', True),
        ("amount_cents in [100, 6000]", True),
        ("amount_cents in [100, 6000.0]", True),
        ("amount_cents not in [1, 2]", True),
        ('"vip" in customer.tags', True),
        ('"gold" in customer.tags', False),
        ('"Ada" in customer.name', True),
        ('"country" in customer', True),
        ("codes == [1, 2, 3]", True),
        ("codes == [1, 2]", False),
        ("codes in [[1, 2, 3], [4]]", True),
        ("amount_cents in []", False),
        ("amount_cents not in [1, 2,]", True),
    ],
)
def test_membership(source: str, expected: bool) -> None:
    """``in``/``not in`` test list elements, substrings of a string and keys of an object."""
    assert check(source) is expected


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ('reason contains "legal"', True),
        ('reason contains "Legal"', False),
        ('customer.tags contains "b2b"', True),
        ("codes contains 2", True),
        ("codes contains 9", False),
        ('customer contains "tags"', True),
        ('items[0].sku startswith "GIFT-"', True),
        ('items[1].sku startswith "GIFT-"', False),
        ('customer.name endswith "Lovelace"', True),
        ('reason matches "leg[a-z]+"', True),
        ('reason matches "^legal"', False),
        ('reason matches "(?i)LEGAL"', True),
        ('items[0].sku matches "^GIFT-\\d{3}$"', True),
    ],
)
def test_string_and_container_operators(source: str, expected: bool) -> None:
    """``contains``, ``startswith``, ``endswith`` and ``matches`` (``re.search``)."""
    assert check(source) is expected


def test_matches_keeps_unknown_backslashes_for_regexes() -> None:
    r"""``"\d"`` reaches the regex as ``\d``: patterns need no doubled backslashes."""
    assert check(r'items[1].sku matches "^BOOK-\d$"')
    assert check(r'reason matches "\bmention\w+"')
    assert check(r'"a\"b" == text', {"text": 'a"b'})
    assert check(r"'it\'s' == text", {"text": "it's"})
    assert check(r'"a\\b" == text', {"text": "a\\b"})


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("customer.country == 'FR'", True),
        ("items[0].sku == 'GIFT-001'", True),
        ("items[1].qty == 1", True),
        ("items[-1].qty == 1", True),
        ('customer["country"] == "FR"', True),
        ('meta["x-trace"] == "abc"', True),
        ('meta.in == "yes"', True),
        ("customer.tags[1] == 'b2b'", True),
    ],
)
def test_nested_paths(source: str, expected: bool) -> None:
    """Paths step into objects with ``.name`` or ``["key"]`` and into lists with ``[i]``."""
    assert check(source) is expected


@pytest.mark.parametrize(
    "source",
    [
        "missing == 1",
        "missing != 1",
        "missing > 1",
        "missing in [1]",
        "missing not in [1]",
        'missing contains "x"',
        'missing matches "x"',
        "customer.missing == 'x'",
        "customer.country.deeper == 'x'",
        "items[9].sku != 'x'",
        "items.sku == 'x'",
        "amount_cents[0] == 1",
        "amount_cents == missing",
        "missing == missing",
        "missing",
    ],
)
def test_missing_path_makes_the_comparison_false(source: str) -> None:
    """An absent key, an index out of range or stepping into a scalar is false, never an error.

    This holds for ``!=`` and ``not in`` too: absence is not a value that differs.
    """
    assert check(source) is False


def test_negating_a_missing_comparison_is_true() -> None:
    """``not`` applies after the comparison, so ``not (missing == 1)`` holds."""
    assert check("not missing == 1") is True
    assert check("not exists(missing) or missing != 'US'") is True


@pytest.mark.parametrize(
    "source",
    [
        'amount_cents > "5"',
        'amount_cents == "6000"',
        "note == 0",
        "note > 0",
        "0 > note",
        'amount_cents contains "6"',
        "amount_cents startswith '6'",
        "amount_cents matches '6'",
        "5 in currency",
        "currency in 5",
        "5 in customer",
    ],
)
def test_type_mismatch_is_false(source: str) -> None:
    """A mismatch no number decides is false: a string literal, ``null``, a container test."""
    assert check(source) is False


@pytest.mark.parametrize(
    ("source", "argument", "value_type"),
    [
        ("currency > 5", "currency", "string"),
        ("urgent == 1", "urgent", "boolean"),
        ("dry_run == 0", "dry_run", "boolean"),
        ("dry_run != 0", "dry_run", "boolean"),
        ("customer > 1", "customer", "object"),
        ("codes < 5", "codes", "list"),
        ("5 > codes", "codes", "list"),
        ("not customer.name <= 1", "customer.name", "string"),
        ("amount_cents > currency", "currency", "string"),
        ('meta["x-trace"] == ratio', 'meta["x-trace"]', "string"),
    ],
)
def test_a_number_against_a_value_that_is_not_one_fails_closed(
    source: str, argument: str, value_type: str
) -> None:
    """With a number on one side, a boolean, a word, a list or an object raises: not false.

    False would let a deny rule quietly not apply (and ``not`` would turn it into a match);
    the error names the argument, the type found and the condition, for the gate's reason.
    """
    with pytest.raises(ConditionEvaluationError) as info:
        check(source)
    error = info.value
    assert (error.argument, error.value_type, error.condition) == (argument, value_type, source)
    assert f"argument {argument!r} is a {value_type}" in str(error)
    assert pickle.loads(pickle.dumps(error)).__dict__ == error.__dict__


@pytest.mark.parametrize(
    ("text", "source", "expected"),
    [
        ("900000", "amount > 1000", True),
        ("999.99", "amount > 1000", False),
        ("1000.00", "amount == 1000", True),
        ("1000.00", "amount != 1000", False),
        ("1000.01", "amount >= 1000", True),
        ("-5", "amount < 0", True),
        ("1E+3", "amount <= 1000", True),
        ("2.5e-1", "amount == 0.25", True),
        ("0.1", "amount == 0.1", True),  # the literal is read as 0.1 exactly, not its float
        ("900000", "1000 < amount", True),
        ("900000", "amount > limit", True),
        ("900000", "limit < amount", True),
        ("900000", "not amount > 1000", False),
    ],
)
def test_a_decimal_string_compares_as_the_number_it_spells(
    text: str, source: str, expected: bool
) -> None:
    """A ``Decimal`` argument reaches the rules as the string pydantic writes, e.g. "900000"."""
    assert check(source, {"amount": text, "limit": 1000}) is expected


@pytest.mark.parametrize(
    "value",
    [
        True,
        False,
        "PT1H",
        " 9000 ",
        "9_000",
        "+9000",
        "9000.",
        ".5",
        "NaN",
        "Infinity",
        "\u0669\u0660\u0660\u0660",
        "",
        "0x10",
        [9000],
        {"amount": 9000},
    ],
)
def test_only_a_canonical_decimal_string_counts_as_a_number(value: Any) -> None:
    """Other spellings (spaces, ``_``, ``NaN``, non-ASCII digits, durations) fail closed."""
    for source in ("amount > 1000", "amount <= 1000", "amount == 1000", "amount != 1000"):
        with pytest.raises(ConditionEvaluationError):
            check(source, {"amount": value})


def test_null_is_never_ordered_and_unequal_to_a_number() -> None:
    """``null`` is a value, not a mismatch: ordering is false, ``==`` false, ``!=`` true."""
    arguments = {"amount": None, "limit": 5}
    assert [
        check(source, arguments)
        for source in ("amount > 1", "amount <= 1", "1 < amount", "amount == 1", "amount != 1")
    ] == [False, False, False, False, True]
    assert check("amount < limit", arguments) is False


def test_a_decimal_value_compares_as_a_number() -> None:
    """Arguments handed over unserialised (a ``Decimal`` object) compare as numbers too."""
    from decimal import Decimal

    assert check("amount > 1000", {"amount": Decimal("900000")}) is True
    assert check("amount == 0.1", {"amount": Decimal("0.1")}) is True
    assert check("amount < ratio", {"amount": Decimal("0.1"), "ratio": 0.25}) is True


def test_two_literals_that_cannot_be_compared_are_a_syntax_error() -> None:
    """``"abc" > 5`` is wrong whatever the call: it is reported when the rule loads."""
    with pytest.raises(ConditionSyntaxError, match="cannot compare a string with a number"):
        compile_condition('"abc" > 5')
    with pytest.raises(ConditionSyntaxError, match="cannot compare a string with a number"):
        compile_condition('5 > "abc"')
    assert check('5 == "5"') is True


def test_type_mismatch_on_not_in_is_false_too() -> None:
    """``not in`` against a non-container is a mismatch, not a negated membership."""
    assert check("currency not in 5") is False
    assert check("5 not in currency") is False
    assert check("amount_cents not in ['6000']") is True  # a list is a list: 6000 is not in it


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("note == null", True),
        ("urgent == true", True),
        ("dry_run == false", True),
        ("dry_run != true", True),
        ("urgent", True),
        ("dry_run", False),
        ("note", False),
        ("empty", False),
        ("currency", True),
        ("true", True),
        ("false", False),
        ("exists(note)", False),
        ("not exists(note)", True),
        ("exists(dry_run)", True),
        ("exists(empty)", True),
        ("exists(customer.tags)", True),
        ("exists(items[1])", True),
        ("exists(items[2])", False),
        ("exists(customer.missing)", False),
        ("not exists(missing)", True),
    ],
)
def test_literals_truthiness_and_exists(source: str, expected: bool) -> None:
    """``true``/``false``/``null``; bare paths test truthiness; ``exists``: present, not null."""
    assert check(source) is expected


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        # not > and > or
        ("true or true and false", True),
        ("(true or true) and false", False),
        ("not false and false", False),
        ("not (false and false)", True),
        ("not true or true", True),
        ("not (true or true)", False),
        ("false and true or true", True),
        ("false and (true or true)", False),
        ("not not urgent", True),
        ("not amount_cents > 5000", False),
        ("amount_cents > 5000 and currency == 'USD' and not dry_run", True),
        ("amount_cents > 9000 or customer.country == 'FR'", True),
        ("(((amount_cents > 5000)))", True),
    ],
)
def test_boolean_operators_and_precedence(source: str, expected: bool) -> None:
    """``not`` binds tighter than ``and``, which binds tighter than ``or``; parentheses group."""
    assert check(source) is expected


def test_same_operand_on_both_sides_compares_two_paths() -> None:
    """Both sides of a comparison may be argument paths."""
    arguments = {"refund": 500, "order": {"total": 400}}
    assert check("refund > order.total", arguments) is True
    assert check("order.total >= refund", arguments) is False


def test_condition_is_reusable_and_compares_by_source() -> None:
    """A compiled condition is a value: equal when the source is, usable many times."""
    first = compile_condition("amount_cents > 5000")
    assert first == Condition("amount_cents > 5000")
    assert hash(first) == hash(Condition("amount_cents > 5000"))
    assert first != compile_condition("amount_cents > 1")
    assert [first({"amount_cents": n}) for n in (1, 6000, 1)] == [False, True, False]
    assert "amount_cents > 5000" in repr(first)


def test_evaluation_accepts_any_mapping_and_never_raises_on_odd_values() -> None:
    """Arguments can be any mapping; values of foreign types simply do not match."""

    class Weird:
        def __eq__(self, other: object) -> bool:
            raise RuntimeError("boom")

        __hash__ = object.__hash__

    assert check("x == [1]", {"x": Weird()}) is False
    assert check("x in ['a', 'b']", {"x": object()}) is False
    assert check("x == y", {"x": Weird(), "y": Weird()}) is False
    # Next to a number, a value no number can judge fails closed, as with `x == 1`.
    with pytest.raises(ConditionEvaluationError):
        check("x in [1, 'a']", {"x": object()})


@pytest.mark.parametrize(
    ("source", "column", "fragment"),
    [
        ("amount_cents >", 15, "expected an argument path or a value"),
        ("amount_cents = 5", 14, "compare with '=='"),
        ("amount_cents > 5 && x", 18, "combine with 'and'"),
        ("a || b", 3, "combine with 'or'"),
        ("!a", 1, "negate with 'not'"),
        ("(a > 1", 7, "expected ')'"),
        ("a > 1)", 6, "expected 'and', 'or' or end of condition"),
        ("1 < a < 5", 7, "cannot be chained"),
        ("a b", 3, "expected 'and', 'or' or end of condition"),
        ('a == "open', 6, "unterminated string"),
        ("", 1, "empty condition"),
        ("   ", 4, "empty condition"),
        ("a matches b", 11, "must be a string literal"),
        ('a matches "("', 11, "invalid regular expression"),
        ("a > null", 5, "compares numbers or strings"),
        ("a <= [1]", 6, "compares numbers or strings"),
        ("a startswith 5", 14, "tests strings"),
        ("a == True", 6, "write true"),
        ("a == None", 6, "write null"),
        ("5", 2, "expected a comparison operator after 5"),
        ('"x"', 4, "expected a comparison operator"),
        ("a.", 3, "expected a field name after '.'"),
        ("a[x]", 3, "integer index or a quoted key"),
        ("[1, 2", 6, "expected ',' or ']'"),
        ("[1, a] contains 1", 5, "expected a literal value inside a list"),
        ("exists(5)", 8, "exists() takes an argument path"),
        ("exists(a", 9, "expected ')'"),
        ("and", 1, "expected an argument path or a value, found 'and'"),
        ("a == 1.2.3", 6, "malformed number"),
        ("a == 12abc", 6, "malformed number"),
        ("a == @", 6, "unexpected character '@'"),
        ("a > 1 or", 9, "expected an argument path or a value"),
    ],
)
def test_parse_errors_point_at_the_column(source: str, column: int, fragment: str) -> None:
    """A malformed condition raises with the 1-based column and a caret under it."""
    with pytest.raises(ConditionSyntaxError) as info:
        compile_condition(source)
    err = info.value
    assert err.column == column, str(err)
    assert fragment in err.problem
    assert f"at column {column}" in str(err)
    text_line, caret_line = err.snippet.splitlines()
    assert caret_line.index("^") - 4 == column - 1
    assert text_line.strip() == source.strip()
    assert isinstance(err, ConfigError)


def test_caret_lines_up_in_a_multiline_condition() -> None:
    """Newlines are flattened in the snippet so the caret still sits under the column."""
    with pytest.raises(ConditionSyntaxError) as info:
        compile_condition("a > 1\nand b ==")
    err = info.value
    text_line, caret_line = err.snippet.splitlines()
    assert text_line == "    a > 1 and b =="
    assert caret_line == "    " + " " * 14 + "^"


def test_syntax_error_round_trips_through_pickle() -> None:
    """Errors cross process boundaries with their structured fields intact."""
    with pytest.raises(ConditionSyntaxError) as info:
        compile_condition("a ==")
    clone = pickle.loads(pickle.dumps(info.value))
    assert isinstance(clone, ConditionSyntaxError)
    assert (clone.column, clone.text, str(clone)) == (5, "a ==", str(info.value))


# -- bounds: nesting depth, catastrophic regexes, text length -----------------------------------


@pytest.mark.parametrize(
    ("source", "column"),
    [
        ("(" * 10_000 + "a == 1" + ")" * 10_000, 33),
        ("not " * 10_000 + "a", 32 * 4 + 1),
        ("a in " + "[" * 10_000 + "]" * 10_000, 5 + 33),
    ],
    ids=["10000-parens", "10000-nots", "10000-brackets"],
)
def test_condition_nested_10000_deep_is_a_syntax_error_not_recursion(
    source: str, column: int
) -> None:
    """Parentheses, ``not`` and list brackets nest at most 32 levels; deeper is a clear error
    pointing at the 33rd level (not a ``RecursionError``)."""
    with pytest.raises(ConditionSyntaxError) as info:
        compile_condition(source)
    assert "nested deeper than 32 levels" in info.value.problem
    assert info.value.column == column


def test_condition_nested_32_deep_still_compiles() -> None:
    """The limit leaves room for any condition a person writes."""
    assert check("(" * 31 + "not " + "amount_cents < 10" + ")" * 31)
    assert check("not " * 32 + "urgent")
    assert check("(" * 16 + "not " * 15 + "urgent" + ")" * 16) is False


@pytest.mark.parametrize(
    ("pattern", "why"),
    [
        ("(a+)+$", "quantifier inside a repeated group"),
        ("(a*)*b", "quantifier inside a repeated group"),
        ("(.*a){20}", "quantifier inside a repeated group"),
        (r"^(\w+\s?)*$", "quantifier inside a repeated group"),
        ("(a|aa)+$", "alternation inside a repeated group"),
        ("(?i)(cat|Cat)+", "alternation inside a repeated group"),
        (r"(\w)\1", "backreference"),
        (r"(?P<q>['\"]).*(?P=q)", "backreference"),
    ],
)
def test_matches_refuses_patterns_that_backtrack_catastrophically(pattern: str, why: str) -> None:
    """Nested quantifiers, overlapping repeated alternations and backreferences are refused
    when the condition compiles, with the column of the pattern."""
    source = f'reason matches "{pattern}"'
    with pytest.raises(ConditionSyntaxError) as info:
        compile_condition(source)
    assert "unsafe regular expression" in info.value.problem
    assert why in info.value.problem
    assert info.value.column == source.index('"') + 1


@pytest.mark.parametrize(
    "pattern",
    [
        r"(?i)\b(lawyer|lawsuit)\b",
        r"^GIFT-\d{3}$",
        r"(\d{3}-)+\d{4}",  # a fixed-width inner quantifier cannot backtrack differently
        r"(cat|dog)+",  # alternatives start differently
        r"(\w++\s?)*$",  # possessive inner quantifier
        r"(?>a+)+b",  # atomic group
        r"(a+)",
    ],
)
def test_matches_accepts_patterns_that_run_in_bounded_time(pattern: str) -> None:
    """Ordinary patterns, possessive quantifiers and atomic groups still compile."""
    compile_condition(f'reason matches "{pattern}"')


def test_matches_pattern_nested_too_deep_for_re_is_a_syntax_error() -> None:
    """A regex with thousands of groups makes ``re`` recurse; that is a clean error too."""
    with pytest.raises(ConditionSyntaxError, match="nested too deeply"):
        compile_condition('reason matches "' + "(" * 5000 + "a" + ")" * 5000 + '"')


def test_matches_searches_the_whole_string_up_to_the_limit() -> None:
    """Text after the first 10,000 characters is found: a deny rule cannot be padded past."""
    from tether.policy._conditions import MAX_MATCH_CHARS

    needle = compile_condition('reason matches "needle"')
    assert needle({"reason": "x" * 20_000 + "needle"}) is True
    assert needle({"reason": "x" * (MAX_MATCH_CHARS - 6) + "needle"}) is True
    assert compile_condition('reason matches "^x+$"')({"reason": "x" * 50_000 + "y"}) is False


def test_matches_on_a_string_longer_than_the_limit_fails_closed() -> None:
    """A string too long to search is not judged, rather than judged by a prefix."""
    from tether.policy._conditions import MAX_MATCH_CHARS

    needle = compile_condition('not reason matches "needle"')
    with pytest.raises(ConditionEvaluationError) as info:
        needle({"reason": "needle" + "x" * MAX_MATCH_CHARS})
    assert (info.value.argument, info.value.value_type) == ("reason", "string")
    assert "longer than" in info.value.problem


@pytest.mark.parametrize(
    ("source", "value", "expected"),
    [
        ("amount in [900000, 5]", "900000", True),
        ("amount in [900000, 5]", "5.0", True),
        ("amount in [900000, 5]", "7", False),
        ("amount in [900000, 5]", 5.0, True),
        ("amount not in [900000]", "900000", False),
        ("amount not in [900000]", "1", True),
        ("amount in [900000]", None, False),
        ("amount not in [900000]", None, True),
        ('code in ["A", 5]', "A", True),
        ('code in ["A", 5]', "B", False),
    ],
)
def test_a_list_of_numbers_holds_the_decimal_strings_that_spell_them(
    source: str, value: Any, expected: bool
) -> None:
    """``in`` judges each number as ``==`` does: a Decimal argument (validated to the
    string "900000") is in ``[900000]``. On the old code it was in no list of numbers, so
    a deny rule ``amount in [...]`` never fired and ``not in`` always did."""
    name = source.split()[0]
    assert check(source, {name: value}) is expected


@pytest.mark.parametrize("value", [True, "PT1H", " 9000 ", [1], {"a": 1}])
def test_a_list_of_numbers_fails_closed_on_a_value_no_number_can_judge(value: Any) -> None:
    with pytest.raises(ConditionEvaluationError) as info:
        check("amount in [900000, 5]", {"amount": value})
    assert "'amount in [900000, 5]' cannot be judged" in str(info.value)
