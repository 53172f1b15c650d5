"""Policy files: loading and validation with line numbers, evaluation order and combination."""

from __future__ import annotations

import pickle
from pathlib import Path
from textwrap import dedent

import pytest

from tether.exceptions import ConfigError
from tether.policy._decision import Decision
from tether.policy._rules import PolicyError, PolicyFile, PolicyRule

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "policies" / "support.toml"

REFUNDS = dedent(
    """\
    version = 1

    [[rules]]
    name = "big-refunds"
    tool = "refund_order"            # glob on the tool name
    when = "amount_cents > 5000"
    action = "require_approval"
    reason = "Refunds over $50 need a human."

    [[rules]]
    name = "no-deletes"
    tool = "delete_*"
    action = "deny"
    reason = "Deleting is never allowed from an agent."
    """
)


def load_error(text: str, source: str = "policy.toml") -> PolicyError:
    with pytest.raises(PolicyError) as info:
        PolicyFile.loads(dedent(text), source=source)
    return info.value


# -- loading -----------------------------------------------------------------------------------


def test_loads_rules_in_file_order_with_header_lines() -> None:
    """Each rule keeps its fields, its globs as a tuple and the line of its header."""
    policy = PolicyFile.loads(REFUNDS, source="refunds.toml")
    assert policy.path == "refunds.toml"
    assert policy.version == 1
    assert [rule.name for rule in policy.rules] == ["big-refunds", "no-deletes"]
    big, deletes = policy.rules
    assert big.tools == ("refund_order",)
    assert big.when == "amount_cents > 5000"
    assert big.condition is not None and big.condition.source == "amount_cents > 5000"
    assert big.action == "require_approval"
    assert big.reason == "Refunds over $50 need a human."
    assert (big.line, deletes.line) == (3, 10)
    assert deletes.when is None and deletes.condition is None


def test_default_source_label_is_string() -> None:
    """``loads`` without a source labels the rules ``<string>``."""
    assert PolicyFile.loads("version = 1\n").path == "<string>"


def test_a_file_without_version_is_read_as_version_1() -> None:
    """``version`` may be omitted: there is one format, and other values still fail."""
    policy = PolicyFile.loads('[[rules]]\nname = "a"\ntool = "a"\naction = "deny"\n')
    assert policy.version == 1
    assert policy.rules[0].line == 1
    assert policy.decide("a", {}).action == "deny"


def test_a_file_without_rules_is_valid_and_allows_everything() -> None:
    """``version = 1`` alone is a policy with no rules."""
    policy = PolicyFile.loads("version = 1\n")
    assert policy.rules == ()
    assert policy.evaluate("anything", {}) == []
    assert policy.decide("anything", {}).action == "allow"


def test_load_reads_a_file_and_names_it(tmp_path: Path) -> None:
    """``load`` reads UTF-8 TOML from disk; its path becomes the label in errors."""
    path = tmp_path / "tenant.toml"
    path.write_text(REFUNDS, encoding="utf-8")
    policy = PolicyFile.load(path)
    assert policy.path == str(path)
    assert len(policy.rules) == 2


def test_load_missing_file_is_a_policy_error(tmp_path: Path) -> None:
    """A path that does not exist fails with the path in the message."""
    missing = tmp_path / "nope.toml"
    with pytest.raises(PolicyError, match="cannot read policy file") as info:
        PolicyFile.load(missing)
    assert info.value.path == str(missing)
    assert info.value.line is None


def test_load_non_utf8_file_is_a_policy_error(tmp_path: Path) -> None:
    """Bytes that are not UTF-8 are reported, not decoded with replacement characters."""
    path = tmp_path / "latin1.toml"
    path.write_bytes(b"version = 1\n# caf\xe9\n")
    with pytest.raises(PolicyError, match="not UTF-8"):
        PolicyFile.load(path)


def test_digest_tracks_the_text() -> None:
    """The digest changes with the file's content, for pinning into the agent version."""
    first = PolicyFile.loads(REFUNDS)
    assert first.digest == PolicyFile.loads(REFUNDS).digest
    assert len(first.digest) == 64
    assert first.digest != PolicyFile.loads(REFUNDS.replace("5000", "6000")).digest


def test_tool_may_be_a_list_of_globs() -> None:
    """``tool = [..]`` matches any of its globs."""
    policy = PolicyFile.loads(
        dedent(
            """\
            version = 1
            [[rules]]
            name = "writes"
            tool = ["refund_*", "cancel_order"]
            action = "require_approval"
            """
        )
    )
    assert policy.rules[0].tools == ("refund_*", "cancel_order")
    assert policy.decide("refund_partial", {}).action == "require_approval"
    assert policy.decide("cancel_order", {}).action == "require_approval"
    assert policy.decide("lookup_order", {}).action == "allow"


def test_inline_rules_array_points_at_the_rules_key() -> None:
    """Rules written as an inline array have no headers; errors point at ``rules =``."""
    err = load_error(
        """\
        version = 1
        # comment
        rules = [{ name = "x", tool = "a", action = "nope" }]
        """
    )
    assert err.line == 3
    assert err.rule == "x"


# -- malformed files ---------------------------------------------------------------------------


def test_toml_syntax_error_reports_line_and_column() -> None:
    """tomllib's position becomes ``file:line:column`` on a PolicyError."""
    err = load_error(
        """\
        version = 1

        [[rules]]
        name = "broken"
        tool = refund_order
        """
    )
    assert err.line == 5
    assert err.column == 8
    assert err.rule is None
    assert str(err).startswith("policy.toml:5:8: invalid TOML: ")
    assert isinstance(err.__cause__, Exception)


@pytest.mark.parametrize(
    ("text", "line", "rule", "fragment"),
    [
        pytest.param(
            """\
            version = 1

            [[rules]]
            name = "ok"
            tool = "a"
            action = "deny"

            [[rules]]
            name = "typo"
            tool = "b"
            tol = "c"
            action = "deny"
            """,
            8,
            "typo",
            "unknown key 'tol'",
            id="unknown-rule-key",
        ),
        pytest.param(
            """\
            version = 1

            [[rules]]
            tool = "a"
            action = "deny"
            """,
            3,
            None,
            "rule #1 has no 'name'",
            id="missing-name",
        ),
        pytest.param(
            """\
            version = 1

            [[rules]]
            name = ""
            tool = "a"
            action = "deny"
            """,
            3,
            None,
            "'name' must not be empty",
            id="empty-name",
        ),
        pytest.param(
            """\
            version = 1

            [[rules]]
            name = 7
            tool = "a"
            action = "deny"
            """,
            3,
            None,
            "'name' must be a non-empty string, not an integer",
            id="name-not-string",
        ),
        pytest.param(
            """\
            version = 1

            [[rules]]
            name = "first"
            tool = "a"
            action = "deny"

            [[rules]]
            name = "no-tool"
            action = "deny"
            """,
            8,
            "no-tool",
            "missing 'tool'",
            id="missing-tool",
        ),
        pytest.param(
            """\
            version = 1
            [[rules]]
            name = "no-action"
            tool = "a"
            """,
            2,
            "no-action",
            "missing 'action'",
            id="missing-action",
        ),
        pytest.param(
            """\
            version = 1
            [[rules]]
            name = "bad-action"
            tool = "a"
            action = "block"
            """,
            2,
            "bad-action",
            "unknown action 'block' (expected one of: allow, deny, require_approval, escalate)",
            id="bad-action",
        ),
        pytest.param(
            """\
            version = 1
            [[rules]]
            name = "bad-action-type"
            tool = "a"
            action = true
            """,
            2,
            "bad-action-type",
            "unknown action a boolean",
            id="bad-action-type",
        ),
        pytest.param(
            """\
            version = 1

            [[rules]]
            name = "same"
            tool = "a"
            action = "deny"

            [[rules]]
            name = "other"
            tool = "b"
            action = "deny"

            [[rules]]
            name = "same"
            tool = "c"
            action = "allow"
            """,
            13,
            "same",
            "duplicate rule name (first defined at line 3)",
            id="duplicate-name",
        ),
        pytest.param(
            """\
            version = 1
            [[rules]]
            name = "num-glob"
            tool = 5
            action = "deny"
            """,
            2,
            "num-glob",
            "'tool' must be a glob string or a list of glob strings, found an integer",
            id="glob-integer",
        ),
        pytest.param(
            """\
            version = 1
            [[rules]]
            name = "mixed-globs"
            tool = ["a", 1]
            action = "deny"
            """,
            2,
            "mixed-globs",
            "found an integer",
            id="glob-list-with-integer",
        ),
        pytest.param(
            """\
            version = 1
            [[rules]]
            name = "no-globs"
            tool = []
            action = "deny"
            """,
            2,
            "no-globs",
            "'tool' must not be an empty list",
            id="glob-empty-list",
        ),
        pytest.param(
            """\
            version = 1
            [[rules]]
            name = "blank-glob"
            tool = " "
            action = "deny"
            """,
            2,
            "blank-glob",
            "'tool' globs must not be empty",
            id="glob-blank",
        ),
        pytest.param(
            """\
            version = 1
            [[rules]]
            name = "table-glob"
            tool = { name = "a" }
            action = "deny"
            """,
            2,
            "table-glob",
            "found a table",
            id="glob-table",
        ),
        pytest.param(
            """\
            version = 1

            [[rules]]
            name = "ok"
            tool = "a"
            action = "deny"

            [[rules]]
            name = "bad-when"
            tool = "refund_order"
            when = "amount_cents >"
            action = "deny"
            """,
            8,
            "bad-when",
            "invalid 'when' condition: expected an argument path or a value, "
            "found end of condition at column 15",
            id="unparsable-when",
        ),
        pytest.param(
            """\
            version = 1
            [[rules]]
            name = "when-number"
            tool = "a"
            when = 5
            action = "deny"
            """,
            2,
            "when-number",
            "'when' must be a condition string, not an integer",
            id="when-not-string",
        ),
        pytest.param(
            """\
            version = 1
            [[rules]]
            name = "reason-list"
            tool = "a"
            action = "deny"
            reason = ["x"]
            """,
            2,
            "reason-list",
            "'reason' must be a string, not an array",
            id="reason-not-string",
        ),
    ],
)
def test_malformed_rule_names_file_line_and_rule(
    text: str, line: int, rule: str | None, fragment: str
) -> None:
    """Each kind of bad rule fails at load with the rule's header line and its name."""
    err = load_error(text)
    assert err.line == line
    assert err.rule == rule
    assert err.path == "policy.toml"
    assert fragment in err.problem
    assert str(err).startswith(f"policy.toml:{line}:")
    if rule is not None:
        assert f"rule {rule!r}" in str(err)
    assert isinstance(err, ConfigError)


def test_unparsable_when_shows_the_caret_snippet() -> None:
    """A bad condition's message carries the condition and a caret under the column."""
    err = load_error(
        """\
        version = 1
        [[rules]]
        name = "bad-when"
        tool = "a"
        when = "amount_cents = 5"
        action = "deny"
        """
    )
    assert str(err).splitlines()[1:] == ["    amount_cents = 5", "                 ^"]


def test_unknown_key_suggests_the_closest_one() -> None:
    """A near-miss key name gets a "did you mean" hint."""
    err = load_error(
        """\
        version = 1
        [[rules]]
        name = "x"
        tool = "a"
        actoin = "deny"
        """
    )
    assert "did you mean 'action'?" in str(err)


@pytest.mark.parametrize(
    ("text", "line", "fragment"),
    [
        ('version = 1\nowner = "support"\n', 2, "unknown top-level key 'owner'"),
        ("version = 1\n\n[settings]\nx = 1\n", 3, "unknown top-level key 'settings'"),
        ("version = 2\n", 1, "unsupported policy format version 2"),
        ('\nversion = "1"\n', 2, "unsupported policy format version '1'"),
        ("version = true\n", 1, "unsupported policy format version True"),
        ("version = 1\n[rules]\nname = 'a'\n", 2, "'rules' must be an array of tables"),
        ("version = 1\nrules = [1]\n", 2, "rule #1 must be a table, not an integer"),
    ],
)
def test_malformed_top_level(text: str, line: int, fragment: str) -> None:
    """Unknown top-level keys, an unsupported version or a non-array ``rules`` fail fast."""
    err = load_error(text)
    assert err.line == line
    assert err.rule is None
    assert fragment in str(err)
    assert str(err).startswith(f"policy.toml:{line}:")


def test_rule_line_ignores_commented_and_indented_headers() -> None:
    """Header lines are counted from the text: comments don't count, indentation is fine."""
    err = load_error(
        """\
        version = 1
        # [[rules]] is how a rule starts
          [[rules]]   # first
          name = "a"
          tool = "a"
          action = "deny"
        [[ rules ]]
        name = "b"
        tool = "b"
        action = "nope"
        """
    )
    assert (err.line, err.rule) == (7, "b")


def test_policy_error_round_trips_through_pickle() -> None:
    """A PolicyError keeps its structured fields across process boundaries."""
    err = load_error('version = 1\n[[rules]]\nname = "r"\ntool = "a"\naction = "x"\n')
    clone = pickle.loads(pickle.dumps(err))
    assert isinstance(clone, PolicyError)
    assert (clone.path, clone.line, clone.rule, str(clone)) == (
        err.path,
        err.line,
        err.rule,
        str(err),
    )


# -- evaluation --------------------------------------------------------------------------------


def test_refund_example() -> None:
    """6000 cents needs approval; 100 cents is allowed; no rule fires for the small refund."""
    policy = PolicyFile.loads(REFUNDS, source="refunds.toml")
    big = policy.decide("refund_order", {"order_id": "A1", "amount_cents": 6000})
    assert big == Decision(
        action="require_approval",
        reason="Refunds over $50 need a human.",
        rule="big-refunds",
        source="policy_file",
    )
    assert policy.evaluate("refund_order", {"order_id": "A1", "amount_cents": 100}) == []
    assert policy.decide("refund_order", {"order_id": "A1", "amount_cents": 100}).action == "allow"


def test_missing_argument_does_not_trigger_a_conditional_rule() -> None:
    """A condition on an absent argument is false, so its rule does not fire."""
    policy = PolicyFile.loads(REFUNDS)
    assert policy.decide("refund_order", {"order_id": "A1"}).action == "allow"


@pytest.mark.parametrize("tool", ["delete_order", "delete_customer", "delete_"])
def test_glob_denies_every_delete(tool: str) -> None:
    """``delete_*`` denies every tool whose name starts with ``delete_``, whatever arguments."""
    decision = PolicyFile.loads(REFUNDS).decide(tool, {"anything": 1})
    assert decision.action == "deny"
    assert decision.rule == "no-deletes"
    assert decision.reason == "Deleting is never allowed from an agent."


@pytest.mark.parametrize("tool", ["undelete_order", "Delete_order", "delete", "lookup_order"])
def test_glob_is_anchored_and_case_sensitive(tool: str) -> None:
    """Globs match the whole tool name, case-sensitively."""
    assert PolicyFile.loads(REFUNDS).evaluate(tool, {}) == []


ORDERED = dedent(
    """\
    version = 1

    [[rules]]
    name = "audit-all"
    tool = "*"
    action = "allow"
    reason = "everything is recorded"

    [[rules]]
    name = "approve-writes"
    tool = ["refund_*", "cancel_*"]
    action = "require_approval"
    reason = "writes need a human"

    [[rules]]
    name = "escalate-legal"
    tool = "refund_*"
    when = 'note contains "legal"'
    action = "escalate"
    reason = "legal"

    [[rules]]
    name = "deny-huge"
    tool = "refund_*"
    when = "amount_cents >= 100000"
    action = "deny"
    reason = "too large"

    [[rules]]
    name = "second-approval"
    tool = "refund_order"
    action = "require_approval"
    reason = "refunds again"
    """
)


def test_evaluate_returns_every_match_in_file_order() -> None:
    """All matching rules contribute, in the order they appear in the file."""
    policy = PolicyFile.loads(ORDERED)
    decisions = policy.evaluate("refund_order", {"amount_cents": 200000, "note": "legal hold"})
    assert [d.rule for d in decisions] == [
        "audit-all",
        "approve-writes",
        "escalate-legal",
        "deny-huge",
        "second-approval",
    ]
    assert {d.source for d in decisions} == {"policy_file"}
    assert [d.action for d in decisions] == [
        "allow",
        "require_approval",
        "escalate",
        "deny",
        "require_approval",
    ]


@pytest.mark.parametrize(
    ("tool", "arguments", "action", "rule"),
    [
        # `combine` starts from the default allow, so an explicit allow rule is not reported.
        ("lookup_order", {}, "allow", None),
        ("cancel_order", {}, "require_approval", "approve-writes"),
        ("refund_order", {"amount_cents": 5}, "require_approval", "approve-writes"),
        ("refund_order", {"amount_cents": 5, "note": "legal"}, "escalate", "escalate-legal"),
        ("refund_order", {"amount_cents": 100000, "note": "legal"}, "deny", "deny-huge"),
    ],
)
def test_decide_picks_the_most_restrictive(
    tool: str, arguments: dict[str, object], action: str, rule: str | None
) -> None:
    """deny > escalate > require_approval > allow; the first rule wins a tie."""
    decision = PolicyFile.loads(ORDERED).decide(tool, arguments)
    assert (decision.action, decision.rule) == (action, rule)


def test_decide_defaults_to_allow_when_nothing_matches() -> None:
    """No matching rule: the default allow decision, not one from the file."""
    decision = PolicyFile.loads(REFUNDS).decide("search_kb", {"query": "x"})
    assert decision.action == "allow"
    assert decision.source == "default"
    assert decision.rule is None


def test_returned_decisions_are_copies() -> None:
    """Changing a returned decision does not change what the next evaluation returns."""
    policy = PolicyFile.loads(REFUNDS)
    first = policy.decide("delete_order", {})
    first.reason = "tampered"
    assert policy.decide("delete_order", {}).reason == "Deleting is never allowed from an agent."


def test_rule_without_reason_gets_one_naming_it() -> None:
    """A rule with no ``reason`` still explains itself by name."""
    policy = PolicyFile.loads(
        'version = 1\n[[rules]]\nname = "quiet"\ntool = "x"\naction = "deny"\n'
    )
    assert policy.rules[0].reason == ""
    assert policy.decide("x", {}).reason == "policy rule 'quiet' applies"


def test_repeated_evaluation_is_stable_for_many_tool_names() -> None:
    """Results do not depend on how many distinct tool names were seen before."""
    policy = PolicyFile.loads(REFUNDS)
    for i in range(3000):
        assert policy.evaluate(f"tool_{i}", {}) == []
    assert policy.decide("delete_x", {}).action == "deny"
    assert policy.decide("refund_order", {"amount_cents": 6000}).action == "require_approval"


def test_policy_rule_can_be_built_directly() -> None:
    """A PolicyRule is a plain value: it compiles its condition and globs on construction."""
    rule = PolicyRule(name="r", tools=("refund_*",), action="deny", when="amount_cents > 1")
    assert rule.line is None
    assert rule.matches_tool("refund_order") and not rule.matches_tool("lookup")
    assert rule.applies("refund_order", {"amount_cents": 2})
    assert not rule.applies("refund_order", {"amount_cents": 1})
    assert rule.decision() == Decision(
        action="deny", reason="policy rule 'r' applies", rule="r", source="policy_file"
    )
    with pytest.raises(ConfigError, match="unknown action"):
        PolicyRule(name="r", tools=("a",), action="nope")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="non-empty glob"):
        PolicyRule(name="r", tools=(), action="deny")


# -- unknown tools -----------------------------------------------------------------------------


def test_unknown_tool_rules_warns_per_rule_that_can_never_fire() -> None:
    """Rules whose globs match none of the agent's tools each get one warning."""
    policy = PolicyFile.loads(REFUNDS, source="policy.toml")
    warnings = policy.unknown_tool_rules(["refund_order", "lookup_order"], agent="support")
    assert warnings == [
        "policy.toml:10 rule 'no-deletes' matches no tool of agent 'support' "
        "(tools: lookup_order, refund_order)"
    ]


def test_unknown_tool_rules_quiet_when_every_rule_can_fire() -> None:
    """A glob that matches at least one tool is not reported."""
    policy = PolicyFile.loads(REFUNDS)
    assert policy.unknown_tool_rules({"refund_order": 1, "delete_order": 2}) == []


def test_unknown_tool_rules_suggests_a_close_name_and_flags_dead_globs() -> None:
    """A typo gets a "did you mean"; a dead glob inside a live list is reported too."""
    policy = PolicyFile.loads(
        dedent(
            """\
            version = 1
            [[rules]]
            name = "typo"
            tool = "refund_ordr"
            action = "deny"
            [[rules]]
            name = "partly-dead"
            tool = ["refund_order", "cancel_*"]
            action = "deny"
            """
        ),
        source="p.toml",
    )
    warnings = policy.unknown_tool_rules(["refund_order"])
    assert warnings == [
        "p.toml:2 rule 'typo' matches no tool of the agent (tools: refund_order); "
        "did you mean 'refund_order'?",
        "p.toml:6 rule 'partly-dead': 'cancel_*' matches no tool of the agent "
        "(tools: refund_order)",
    ]


def test_unknown_tool_rules_with_no_tools() -> None:
    """An agent without tools makes every rule, even ``*``, dead."""
    policy = PolicyFile.loads(ORDERED)
    warnings = policy.unknown_tool_rules([])
    assert len(warnings) == len(policy.rules)
    assert "(tools: none)" in warnings[0]


# -- the shipped example -----------------------------------------------------------------------


def test_support_example_policy() -> None:
    """examples/policies/support.toml loads and says what its comments promise."""
    policy = PolicyFile.load(EXAMPLE)
    assert policy.decide("refund_order", {"order_id": "A1", "amount_cents": 6000}).action == (
        "require_approval"
    )
    assert policy.decide("refund_order", {"order_id": "A1", "amount_cents": 100}).action == "allow"
    assert policy.decide("refund_order", {"order_id": "A1"}).action == "deny"
    assert policy.decide("delete_customer", {"id": "C1"}).action == "deny"
    legal = policy.decide("close_ticket", {"ticket_id": "T1", "reason": "legal threat"})
    assert (legal.action, legal.rule) == ("escalate", "legal-goes-to-a-human")
    lawyer = policy.decide("close_ticket", {"ticket_id": "T1", "reason": "Their Lawyer called"})
    assert lawyer.action == "escalate"
    assert policy.decide("close_ticket", {"ticket_id": "T1", "reason": "resolved"}).action == (
        "allow"
    )
    assert policy.decide("lookup_order", {"order_id": "A1"}).action == "allow"


# -- bounds: hostile conditions and documents fail at load with file:line ---------------------


@pytest.mark.parametrize(
    ("when", "fragment"),
    [
        ("(" * 10_000 + "a == 1" + ")" * 10_000, "nested deeper than 32 levels"),
        ("not " * 10_000 + "a", "nested deeper than 32 levels"),
        ('reason matches "(a+)+$"', "unsafe regular expression"),
        ('reason matches "(a|aa)+"', "unsafe regular expression"),
        ('reason matches "(.*a){20}"', "unsafe regular expression"),
        ('reason matches "(\\\\w)\\\\1"', "backreference"),
    ],
    ids=["10000-parens", "10000-nots", "nested-plus", "overlapping-alternation", "counted",
         "backreference"],
)  # fmt: skip
def test_hostile_when_condition_is_a_policy_error_with_file_and_line(
    when: str, fragment: str
) -> None:
    """Deep nesting and catastrophic regexes are refused at load as ``file:line`` errors."""
    text = (
        f'version = 1\n\n[[rules]]\nname = "hostile"\ntool = "*"\n'
        f"when = '{when}'\naction = \"deny\"\n"
    )
    err = load_error(text)
    assert err.line == 3
    assert err.rule == "hostile"
    assert fragment in err.problem
    assert str(err).startswith("policy.toml:3:")


def test_toml_nested_10000_deep_is_a_policy_error_with_a_line() -> None:
    """An array nested past tomllib's recursion limit is a PolicyError, not a RecursionError."""
    text = 'version = 1\n\n[[rules]]\nname = "x"\ntool = "*"\naction = "deny"\nx = ' + (
        "[" * 10_000 + "]" * 10_000
    )
    err = load_error(text)
    assert "nested too deeply" in err.problem
    assert err.line == 7
