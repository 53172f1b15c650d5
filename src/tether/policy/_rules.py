"""Tenant policy files: TOML rules that gate tool calls before they are dispatched.

A policy file is reviewed configuration, kept next to the agent and pinned into its version::

    version = 1

    [[rules]]
    name = "big-refunds"
    tool = "refund_order"            # fnmatch glob, or a list of globs
    when = "amount_cents > 5000"     # optional condition on the call's arguments
    action = "require_approval"      # allow | deny | require_approval | escalate
    reason = "Refunds over $50 need a human."

Every rule whose tool glob and condition match a proposed call contributes a
:class:`~tether.policy.Decision` (``source="policy_file"``); :meth:`PolicyFile.decide`
combines them so the most restrictive wins. Anything wrong with the file is reported at load
time as a :class:`PolicyError` naming ``file:line`` and the rule, never at call time.
"""

from __future__ import annotations

import difflib
import fnmatch
import hashlib
import os
import re
import tomllib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, get_args

from tether.exceptions import ConfigError
from tether.policy._conditions import (
    Condition,
    ConditionEvaluationError,
    ConditionSyntaxError,
    path_text,
)
from tether.policy._decision import Action, Decision, combine

__all__ = ["PolicyError", "PolicyFile", "PolicyRule"]

ACTIONS: Final[tuple[str, ...]] = get_args(Action)
_TOP_LEVEL_KEYS: Final = ("rules", "version")
_RULE_KEYS: Final = ("action", "name", "reason", "tool", "when")
_SUPPORTED_VERSION: Final = 1
_CACHE_LIMIT: Final = 1024
"""Tool names remembered per policy file; models can invent names, so the cache is bounded."""

_RULES_HEADER: Final = re.compile(r"^[ \t]*\[\[[ \t]*rules[ \t]*\]\][ \t]*(?:#.*)?$", re.M)
_TOML_POSITION: Final = re.compile(r"\s*\(at line (\d+), column (\d+)\)$")
# For locating over-deep nesting that made tomllib recurse too far: strings, then brackets.
_TOML_STRING_OR_BRACKET: Final = re.compile(r'"(?:[^"\\\n]|\\.)*"|\'[^\'\n]*\'|[\[\]{}]')
_TOML_MAX_DEPTH: Final = 100


class PolicyError(ConfigError):
    """A policy file that cannot be loaded; the message names ``file:line`` and the rule.

    Attributes:
        path: The file (or the ``source`` label given to :meth:`PolicyFile.loads`).
        line: 1-based line of the offending rule's ``[[rules]]`` header (or of the offending
            key or TOML syntax error); ``None`` when the problem has no single line.
        column: 1-based column, for TOML syntax errors only.
        rule: Name of the offending rule, when it has one.
        problem: What is wrong, without the location prefix.
    """

    def __init__(
        self,
        problem: str,
        *,
        path: str,
        line: int | None = None,
        column: int | None = None,
        rule: str | None = None,
    ) -> None:
        location = path if line is None else f"{path}:{line}"
        if line is not None and column is not None:
            location += f":{column}"
        subject = f" rule {rule!r}:" if rule is not None else ""
        super().__init__(
            f"{location}:{subject} {problem}",
            problem=problem,
            path=path,
            line=line,
            column=column,
            rule=rule,
        )
        self.problem = problem
        self.path = path
        self.line = line
        self.column = column
        self.rule = rule


@dataclass(kw_only=True, slots=True, frozen=True)
class PolicyRule:
    """One rule of a policy file: which tools it covers, when, and what it decides.

    Attributes:
        name: Unique name within the file; recorded as ``Decision.rule``.
        tools: ``fnmatch`` globs over tool names (case-sensitive; ``"*"`` matches every tool).
        action: The decision when the rule matches.
        reason: Why, in words the model and the approver will read.
        when: Condition source over the call's arguments; ``None`` matches every call.
        line: 1-based line of the rule's ``[[rules]]`` header; ``None`` if not from a file.
        condition: ``when`` compiled once (``None`` when there is no condition).
    """

    name: str
    tools: tuple[str, ...]
    action: Action
    reason: str = ""
    when: str | None = None
    line: int | None = None
    condition: Condition | None = field(init=False, compare=False)
    _exact_tools: frozenset[str] = field(init=False, repr=False, compare=False)
    _tool_pattern: re.Pattern[str] | None = field(init=False, repr=False, compare=False)
    _decision: Decision = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.action not in ACTIONS:
            raise ConfigError(f"rule {self.name!r}: unknown action {self.action!r}")
        if not self.tools or not all(isinstance(glob, str) and glob for glob in self.tools):
            raise ConfigError(f"rule {self.name!r}: tools must be non-empty glob strings")
        # Frozen dataclass: derived fields are set once here, through object.__setattr__.
        condition = Condition(self.when) if self.when is not None else None
        object.__setattr__(self, "condition", condition)
        # Plain names are a set lookup; only real globs pay for a regex match.
        exact = frozenset(glob for glob in self.tools if not _has_magic(glob))
        globs = [glob for glob in self.tools if _has_magic(glob)]
        object.__setattr__(self, "_exact_tools", exact)
        object.__setattr__(self, "_tool_pattern", _compile_globs(globs) if globs else None)
        decision = Decision(
            action=self.action,
            reason=self.reason or f"policy rule {self.name!r} applies",
            rule=self.name,
            source="policy_file",
        )
        object.__setattr__(self, "_decision", decision)

    def matches_tool(self, tool_name: str) -> bool:
        """Whether any of the rule's globs matches ``tool_name``."""
        if tool_name in self._exact_tools:
            return True
        return self._tool_pattern is not None and self._tool_pattern.match(tool_name) is not None

    def applies(self, tool_name: str, arguments: Mapping[str, Any]) -> bool:
        """Whether the rule covers this call: a glob matches and the condition holds."""
        return self.matches_tool(tool_name) and (
            self.condition is None or self.condition(arguments)
        )

    def decision(self) -> Decision:
        """A fresh :class:`Decision` for a match (a copy, so callers may not alter the rule's)."""
        return self._decision.model_copy()


def _compile_globs(globs: Sequence[str]) -> re.Pattern[str]:
    """One anchored regex for all of a rule's globs, so matching a tool is one ``match``."""
    return re.compile("|".join(f"(?:{fnmatch.translate(glob)})" for glob in globs))


@dataclass(kw_only=True, slots=True, frozen=True)
class PolicyFile:
    """A loaded policy file: its rules in file order, ready to evaluate proposed tool calls.

    Attributes:
        path: Where the rules came from (a file path, or the ``source`` label).
        rules: The rules, in file order.
        version: The file's format version (always 1 today).
        digest: SHA-256 of the file text, for pinning the policy into an agent version.
    """

    path: str
    rules: tuple[PolicyRule, ...]
    version: int = _SUPPORTED_VERSION
    digest: str = ""
    _by_tool: dict[str, tuple[PolicyRule, ...]] = field(
        init=False, repr=False, compare=False, default_factory=dict
    )

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> PolicyFile:
        """Read and validate a policy file.

        Raises:
            PolicyError: The file is missing, not UTF-8, not TOML, or breaks a rule of the
                format; the error names the file, the line and the rule.
        """
        label = os.fspath(path)
        try:
            raw = Path(path).read_bytes()
        except OSError as exc:
            raise PolicyError(f"cannot read policy file: {exc.strerror}", path=label) from exc
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise PolicyError(f"policy file is not UTF-8: {exc}", path=label) from exc
        return cls.loads(text, source=label)

    @classmethod
    def loads(cls, text: str, source: str = "<string>") -> PolicyFile:
        """Parse and validate policy TOML held in a string.

        Args:
            text: The TOML document.
            source: Label used in error messages and warnings in place of a file path.

        Raises:
            PolicyError: As for :meth:`load`.
        """
        try:
            document = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            message = str(exc)
            position = _TOML_POSITION.search(message)
            line = column = None
            if position is not None:
                line, column = int(position.group(1)), int(position.group(2))
                message = message[: position.start()]
            raise PolicyError(
                f"invalid TOML: {message}", path=source, line=line, column=column
            ) from exc
        except RecursionError:  # tomllib recurses once per nested array or inline table
            raise PolicyError(
                "invalid TOML: arrays or inline tables nested too deeply",
                path=source,
                line=_deep_nesting_line(text),
            ) from None
        return _Loader(text, source).build(document)

    def evaluate(self, tool_name: str, arguments: Mapping[str, Any]) -> list[Decision]:
        """Every matching rule's decision for a proposed call, in file order.

        Args:
            tool_name: The tool the model wants to call.
            arguments: Its arguments (already parsed JSON).

        Returns:
            One :class:`Decision` per rule whose glob and condition match; empty if none do.

        Raises:
            ConditionEvaluationError: A rule's condition cannot judge these arguments (an
                argument compared with a number is not one, or a string is too long for
                ``matches``); the error names the rule. The gate denies such a call
                (:func:`tether.policy.evaluate_rules`).
        """
        candidates = self._by_tool.get(tool_name)
        if candidates is None:
            candidates = self._candidates(tool_name)
        if not candidates:
            return []
        decisions: list[Decision] = []
        for rule in candidates:
            condition = rule.condition
            try:
                if condition is not None and not condition(arguments):
                    continue
            except ConditionEvaluationError as exc:
                raise exc.within(rule=rule.name) from None
            decisions.append(rule.decision())
        return decisions

    def decide(self, tool_name: str, arguments: Mapping[str, Any]) -> Decision:
        """The combined verdict: the most restrictive matching rule, or allow if none match."""
        return combine(self.evaluate(tool_name, arguments))

    def unknown_argument_rules(
        self, parameters: Mapping[str, Mapping[str, Any]], *, agent: str | None = None
    ) -> list[str]:
        """Warnings for rule conditions that read an argument a tool they cover never has.

        A path the tool's schema does not define is always missing, so a comparison on it
        never holds, and the rule silently never applies: ``payment.amount > 100`` on a
        tool whose ``payment`` model names the field ``amt`` (an alias; the rules see the
        arguments as validated, by alias). One warning per rule, path and tool, with a
        guess when a defined name is close. Paths under a value the schema leaves open (an
        object of any keys, ``Any``) are not judged.

        Args:
            parameters: Each of the agent's tools (by name) and its arguments' JSON Schema.
            agent: The agent's name, for the message.
        """
        whose = f"of agent {agent!r}" if agent is not None else "of the agent"
        warnings: list[str] = []
        for rule in self.rules:
            if rule.condition is None:
                continue
            where = f"{self.path}:{rule.line}" if rule.line is not None else self.path
            for name, schema in parameters.items():
                if not rule.matches_tool(name):
                    continue
                for steps in rule.condition.paths:
                    missing = _undefined_step(schema, steps)
                    if missing is None:
                        continue
                    at, known = missing
                    message = (
                        f"{where} rule {rule.name!r} reads {path_text(steps)!r}, but tool "
                        f"{name!r} {whose} has no argument {path_text(steps[: at + 1])!r}, so "
                        "the rule never applies to it"
                    )
                    step = steps[at]
                    guesses = (
                        difflib.get_close_matches(step, known, n=1, cutoff=0.5)
                        if isinstance(step, str)
                        else []
                    )
                    if guesses:
                        message += f"; did you mean {guesses[0]!r}?"
                    elif known:
                        message += f" (it has: {', '.join(sorted(known))})"
                    warnings.append(message)
        return warnings

    def unknown_tool_rules(
        self, tool_names: Iterable[str], *, agent: str | None = None
    ) -> list[str]:
        """Warnings for rules that can never fire for an agent: usually a typo in ``tool``.

        One warning per rule whose globs match none of ``tool_names``, or, for a rule with
        several globs, whose globs partly match nothing.

        Args:
            tool_names: The names of the agent's tools.
            agent: The agent's name, for the message.
        """
        names = sorted(set(tool_names))
        whose = f"of agent {agent!r}" if agent is not None else "of the agent"
        listing = ", ".join(names) if names else "none"
        warnings: list[str] = []
        for rule in self.rules:
            dead = [
                glob for glob in rule.tools if not any(fnmatch.fnmatchcase(n, glob) for n in names)
            ]
            if not dead:
                continue
            where = f"{self.path}:{rule.line}" if rule.line is not None else self.path
            if len(dead) == len(rule.tools):
                message = f"{where} rule {rule.name!r} matches no tool {whose} (tools: {listing})"
            else:
                globs = ", ".join(repr(glob) for glob in dead)
                message = (
                    f"{where} rule {rule.name!r}: {globs} matches no tool {whose} "
                    f"(tools: {listing})"
                )
            guesses = [
                guess
                for glob in dead
                if not _has_magic(glob)
                for guess in difflib.get_close_matches(glob, names, n=1)
            ]
            if guesses:
                message += f"; did you mean {', '.join(repr(g) for g in guesses)}?"
            warnings.append(message)
        return warnings

    def _candidates(self, tool_name: str) -> tuple[PolicyRule, ...]:
        """Rules whose globs match ``tool_name``, remembered so the next call is a dict hit."""
        found = tuple(rule for rule in self.rules if rule.matches_tool(tool_name))
        if len(self._by_tool) < _CACHE_LIMIT:
            self._by_tool[tool_name] = found
        return found


def _deep_nesting_line(text: str) -> int | None:
    """The 1-based line where brackets outside strings first nest past ``_TOML_MAX_DEPTH``."""
    depth = 0
    for match in _TOML_STRING_OR_BRACKET.finditer(text):
        token = match.group()
        if token in ("[", "{"):
            depth += 1
            if depth > _TOML_MAX_DEPTH:
                return text.count("\n", 0, match.start()) + 1
        elif token in ("]", "}"):
            depth -= 1
    return None


def _has_magic(glob: str) -> bool:
    return any(ch in glob for ch in "*?[")


def _kind(value: Any) -> str:
    """The TOML name of a parsed value's type, for error messages."""
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a float"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "a table"
    return "a date/time"


def _suggest(word: str, choices: Iterable[str]) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1)
    return f"; did you mean {close[0]!r}?" if close else ""


class _Loader:
    """Validates a parsed TOML document against the format, with line numbers from the text."""

    def __init__(self, text: str, source: str) -> None:
        self.text = text
        self.source = source
        # Rule i's line is the line of the i-th `[[rules]]` header. tomllib does not report
        # positions, and the header is the line a reader looks for.
        self.rule_lines = [text.count("\n", 0, m.start()) + 1 for m in _RULES_HEADER.finditer(text)]

    def error(
        self, problem: str, *, line: int | None = None, rule: str | None = None
    ) -> PolicyError:
        return PolicyError(problem, path=self.source, line=line, rule=rule)

    def key_line(self, key: str) -> int | None:
        """Line of a top-level ``key = ...`` or ``[key]`` (best effort, for error messages)."""
        name = re.escape(key)
        pattern = re.compile(
            rf"^[ \t]*(?:(?:{name}|\"{name}\"|'{name}')[ \t]*[=.]|\[+[ \t]*{name}[ \t]*[\].])",
            re.M,
        )
        match = pattern.search(self.text)
        return None if match is None else self.text.count("\n", 0, match.start()) + 1

    def build(self, document: dict[str, Any]) -> PolicyFile:
        for key in document:
            if key not in _TOP_LEVEL_KEYS:
                raise self.error(
                    f"unknown top-level key {key!r} (expected: version, rules)"
                    + _suggest(key, _TOP_LEVEL_KEYS),
                    line=self.key_line(key),
                )
        # A file without `version` was written for the only format there is: read it as 1.
        # Any other value fails fast, so a future format is never misread as this one.
        version = document.get("version", _SUPPORTED_VERSION)
        if type(version) is not int or version != _SUPPORTED_VERSION:
            raise self.error(
                f"unsupported policy format version {version!r}; "
                f"this Tether reads version {_SUPPORTED_VERSION}",
                line=self.key_line("version"),
            )
        entries = document.get("rules", [])
        if not isinstance(entries, list):
            raise self.error(
                "'rules' must be an array of tables, each starting with a [[rules]] header",
                line=self.key_line("rules"),
            )
        rules: list[PolicyRule] = []
        first_seen: dict[str, int | None] = {}
        for index, entry in enumerate(entries):
            rule = self.rule(index, entry)
            if rule.name in first_seen:
                earlier = first_seen[rule.name]
                at = f" (first defined at line {earlier})" if earlier is not None else ""
                raise self.error(f"duplicate rule name{at}", line=rule.line, rule=rule.name)
            first_seen[rule.name] = rule.line
            rules.append(rule)
        digest = hashlib.sha256(self.text.encode("utf-8")).hexdigest()
        return PolicyFile(path=self.source, rules=tuple(rules), version=version, digest=digest)

    def rule(self, index: int, entry: Any) -> PolicyRule:
        # An inline `rules = [{...}]` array has no headers: point at the `rules` key instead.
        line = self.rule_lines[index] if index < len(self.rule_lines) else self.key_line("rules")
        if not isinstance(entry, dict):
            raise self.error(f"rule #{index + 1} must be a table, not {_kind(entry)}", line=line)

        name = entry.get("name")
        if name is None:
            raise self.error(f"rule #{index + 1} has no 'name'", line=line)
        if not isinstance(name, str) or not name.strip():
            raise self.error(
                f"rule #{index + 1}: 'name' must be a non-empty string, not {_kind(name)}"
                if not isinstance(name, str)
                else f"rule #{index + 1}: 'name' must not be empty",
                line=line,
            )

        def fail(problem: str) -> PolicyError:
            return self.error(problem, line=line, rule=name)

        for key in entry:
            if key not in _RULE_KEYS:
                raise fail(
                    f"unknown key {key!r} (allowed: {', '.join(_RULE_KEYS)})"
                    + _suggest(key, _RULE_KEYS)
                )

        if "tool" not in entry:
            raise fail("missing 'tool' (a glob such as \"refund_*\", or a list of globs)")
        tools = self.globs(entry["tool"], fail)

        if "action" not in entry:
            raise fail(f"missing 'action' (one of: {', '.join(ACTIONS)})")
        action = entry["action"]
        if action not in ACTIONS:
            shown = repr(action) if isinstance(action, str) else _kind(action)
            raise fail(
                f"unknown action {shown} (expected one of: {', '.join(ACTIONS)})"
                + (_suggest(action, ACTIONS) if isinstance(action, str) else "")
            )

        reason = entry.get("reason", "")
        if not isinstance(reason, str):
            raise fail(f"'reason' must be a string, not {_kind(reason)}")

        when = entry.get("when")
        if when is not None and not isinstance(when, str):
            raise fail(f"'when' must be a condition string, not {_kind(when)}")

        try:
            return PolicyRule(
                name=name, tools=tools, action=action, reason=reason, when=when, line=line
            )
        except ConditionSyntaxError as exc:
            raise fail(f"invalid 'when' condition: {exc}") from exc

    def globs(self, value: Any, fail: Callable[[str], PolicyError]) -> tuple[str, ...]:
        """The rule's ``tool`` value as a tuple of non-empty glob strings."""
        items = value if isinstance(value, list) else [value]
        if isinstance(value, list) and not value:
            raise fail("'tool' must not be an empty list")
        for item in items:
            if not isinstance(item, str):
                raise fail(
                    f"'tool' must be a glob string or a list of glob strings, found {_kind(item)}"
                )
            if not item.strip():
                raise fail("'tool' globs must not be empty")
        return tuple(items)


_MAX_SCHEMA_DEPTH: Final = 32


def _undefined_step(
    schema: Mapping[str, Any], steps: tuple[str | int, ...]
) -> tuple[int, list[str]] | None:
    """Where ``steps`` leave what ``schema`` defines: the index of the first step no
    branch of the schema allows, with the names defined there; ``None`` when some branch
    allows the whole path, or the schema leaves the value open (any keys, any type)."""
    defs = schema.get("$defs") or schema.get("definitions") or {}
    nodes: list[Mapping[str, Any]] = [schema]
    for index, step in enumerate(steps):
        known: list[str] = []
        following: list[Mapping[str, Any]] = []
        for node in _branches(nodes, defs):
            if isinstance(step, int):
                items = node.get("items")
                if isinstance(items, Mapping):
                    following.append(items)
                elif node.get("type") in (None, "array") and "properties" not in node:
                    return None  # items of any shape
                for prefix in node.get("prefixItems") or ():
                    if isinstance(prefix, Mapping):
                        following.append(prefix)
                continue
            properties = node.get("properties")
            if isinstance(properties, Mapping):
                known.extend(str(k) for k in properties)
                if step in properties and isinstance(properties[step], Mapping):
                    following.append(properties[step])
                    continue
            extra = node.get("additionalProperties")
            if isinstance(extra, Mapping) and extra:
                following.append(extra)  # a mapping of some value type
            elif extra is True or (
                extra is None and not isinstance(properties, Mapping) and _open(node)
            ):
                return None  # any key may be there
        if not following:
            return index, sorted(set(known))
        nodes = following
    return None


def _open(node: Mapping[str, Any]) -> bool:
    """Whether a schema node says nothing of its value's shape (``{}``, ``Any``)."""
    shape = {"properties", "items", "anyOf", "oneOf", "allOf", "$ref", "enum", "const"}
    return not (shape & node.keys()) and node.get("type") in (None, "object")


def _branches(nodes: list[Mapping[str, Any]], defs: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The nodes with references resolved and ``anyOf``/``oneOf``/``allOf`` opened up."""
    out: list[Mapping[str, Any]] = []
    todo = [(node, 0) for node in nodes]
    while todo:
        node, depth = todo.pop()
        if depth > _MAX_SCHEMA_DEPTH:
            continue
        ref = node.get("$ref")
        if isinstance(ref, str):
            target = defs.get(ref.rsplit("/", 1)[-1])
            if isinstance(target, Mapping):
                todo.append((target, depth + 1))
        for key in ("anyOf", "oneOf", "allOf"):
            for branch in node.get(key) or ():
                if isinstance(branch, Mapping):
                    todo.append((branch, depth + 1))
        if not isinstance(ref, str):
            out.append(node)
    return out
