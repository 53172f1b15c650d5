"""A tool result holding a lone UTF-16 surrogate is kept, with U+FFFD in its place.

Such text (``json.loads`` of a cut emoji's ``"\\ud83d"``, ``surrogateescape`` of an
undecodable byte) has no UTF-8 form: it could neither be stored nor sent to a model.
"""

from __future__ import annotations

import json
from enum import StrEnum

from tether.tools._serialize import to_json_result


class Mood(StrEnum):
    BAD = "bad\udc80"


def test_a_string_result_with_a_lone_surrogate_gets_u_fffd() -> None:
    """The commonest result, a string: the rest of the text is kept."""
    assert to_json_result("Great \ud83d!") == "Great \ufffd!"


def test_keys_and_values_at_any_depth_are_replaced() -> None:
    """Dict keys and values, lists, tuples, sets and str-enum keys are all cleaned."""
    result = to_json_result(
        {
            "title": json.loads('"Great product \\ud83d"'),
            "k\udc80": [("x\ud800",), {"y\udfff"}],
            Mood.BAD: 1,
            "ok": "fine",
        }
    )
    assert result == {
        "title": "Great product \ufffd",
        "k\ufffd": [["x\ufffd"], ["y\ufffd"]],
        "bad\ufffd": 1,
        "ok": "fine",
    }
    json.dumps(result, ensure_ascii=False).encode("utf-8")  # strict UTF-8 now


def test_a_pair_held_as_two_code_points_becomes_its_character() -> None:
    """``"\\ud83d\\ude00"`` in a Python string is the emoji it encodes."""
    assert to_json_result(["\ud83d\ude00"]) == ["\U0001f600"]


def test_clean_results_are_returned_as_they_are() -> None:
    """No copy for text without surrogates, ASCII or not."""
    text = "Grüße 😀"
    assert to_json_result(text) is text
    result = {"a": "b", "c": ["Grüße 😀", 1]}
    assert to_json_result(result) is result
