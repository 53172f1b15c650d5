"""The secrets broker: resolve the credentials a tool declares, at execution time, for it alone.

A tool names what it needs (``@tool(credentials=["stripe_key"])``); just before the call
the engine asks the broker, which asks its providers in order (the environment, a secrets
file, anything with a ``get(name)``) and hands the values to the tool in
``ToolContext.secrets``. The model never sees them, and nothing here puts a value into a
``repr``, a message or an exception: errors carry names and where they were looked for.

Every value the broker hands out is remembered in :meth:`SecretBroker.known_values`, so
the redactor (``tether.observe.Redactor(values_source=broker.known_values)``) can scrub
the exact strings from anything persisted, even when they do not look like credentials.
"""

from __future__ import annotations

import functools
import json
import os
import re
import threading
import tomllib
from collections.abc import Iterable, Mapping
from functools import partial
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import anyio.to_thread

from tether.exceptions import ConfigError

DEFAULT_ENV_PREFIX = "TETHER_SECRET_"

# Names become environment variable suffixes and file keys: plain identifiers only.
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
_QUOTED = re.compile(r"'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\"")


@runtime_checkable
class SecretProvider(Protocol):
    """Where secret values come from: anything that answers ``get(name)``.

    Return ``None`` when the provider does not have the name, so the broker asks the
    next one. Optional extras the broker uses when present: ``describe(name)`` says where
    the value was looked for and ``remedy(name)`` how to provide it (both for error
    messages, so neither may contain a value), and ``blocking = False`` says ``get``
    never does I/O, so :meth:`SecretBroker.aresolve` may call it on the event loop.
    """

    def get(self, name: str) -> str | None:
        """The value of secret ``name``, or ``None`` when this provider does not have it."""
        ...


class EnvSecrets:
    """Secrets from environment variables: ``stripe_key`` is read from ``TETHER_SECRET_STRIPE_KEY``.

    The variable is read on every lookup, so a value exported after start-up is seen. An
    empty variable counts as unset.

    Args:
        prefix: Prepended to the upper-cased secret name.
        environ: Mapping to read instead of ``os.environ`` (tests, subprocess contexts).
    """

    blocking = False

    def __init__(
        self, prefix: str = DEFAULT_ENV_PREFIX, *, environ: Mapping[str, str] | None = None
    ) -> None:
        self.prefix = prefix
        self._environ = environ if environ is not None else os.environ

    def variable(self, name: str) -> str:
        """The environment variable that holds secret ``name``."""
        return f"{self.prefix}{name.upper()}"

    def get(self, name: str) -> str | None:
        """The variable's value, or ``None`` when it is unset or empty."""
        return self._environ.get(self.variable(name)) or None

    def describe(self, name: str) -> str:
        """Where the value was looked for, for error messages."""
        return f"environment variable {self.variable(name)}"

    def remedy(self, name: str) -> str:
        """How to provide the value, for error messages."""
        return f"set {self.variable(name)}"

    def __repr__(self) -> str:
        return f"EnvSecrets(prefix={self.prefix!r})"


class FileSecrets:
    """Secrets from a TOML or JSON file of ``name = "value"`` pairs, reloaded when it changes.

    The format follows the extension (``.toml`` or ``.json``; anything else is read as
    JSON when it starts with ``{`` and as TOML otherwise). The file is checked on every
    lookup and parsed again only when its modification time or size changed, so rotating
    a secret needs no restart. Keep the file out of version control and readable only by
    the service user.

    Args:
        path: The secrets file.
        missing_ok: Treat a missing file as empty instead of an error.

    Raises:
        ConfigError: On lookup, when the file is missing (unless ``missing_ok``), cannot
            be parsed, or is not a flat table of strings. The message names the file and
            the offending key, never a value.
    """

    blocking = True

    def __init__(self, path: str | os.PathLike[str], *, missing_ok: bool = False) -> None:
        self.path = Path(path)
        self.missing_ok = missing_ok
        self._lock = threading.Lock()
        self._stamp: tuple[int, int] | None = None
        self._values: dict[str, str] = {}

    def get(self, name: str) -> str | None:
        """The value stored under ``name``, or ``None`` when the file does not have it."""
        return self._load().get(name) or None

    def names(self) -> frozenset[str]:
        """Names the file defines (values are never exposed this way)."""
        return frozenset(self._load())

    def describe(self, name: str) -> str:
        """Where the value was looked for, for error messages."""
        return f"secrets file {self.path}"

    def remedy(self, name: str) -> str:
        """How to provide the value, for error messages."""
        return f"add {name} to {self.path}"

    def _load(self) -> dict[str, str]:
        try:
            st = self.path.stat()
        except FileNotFoundError:
            if self.missing_ok:
                return {}
            raise ConfigError(
                f"secrets file {self.path} does not exist", path=str(self.path)
            ) from None
        stamp = (st.st_mtime_ns, st.st_size)
        with self._lock:
            if stamp != self._stamp:
                self._values = self._parse()
                self._stamp = stamp
            return self._values

    def _parse(self) -> dict[str, str]:
        where = f"secrets file {self.path}"
        try:
            text = self.path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{where} cannot be read: {exc}", path=str(self.path)) from None
        suffix = self.path.suffix.lower()
        as_json = suffix == ".json" or (suffix != ".toml" and text.lstrip().startswith("{"))
        data: Any
        # Parser messages carry positions only; the exception chain is cut so no
        # traceback frame can show file contents.
        if as_json:
            try:
                data = json.loads(text)
            except json.JSONDecodeError as exc:
                raise ConfigError(
                    f"{where} is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}",
                    path=str(self.path),
                ) from None
        else:
            try:
                data = tomllib.loads(text)
            except tomllib.TOMLDecodeError as exc:
                # Some messages quote the offending character or key: keep the position only.
                reason = _QUOTED.sub("a character", str(exc))
                raise ConfigError(
                    f"{where} is not valid TOML: {reason}", path=str(self.path)
                ) from None
        if not isinstance(data, dict):
            raise ConfigError(
                f"{where} must hold an object of name to value, not {type(data).__name__}",
                path=str(self.path),
            )
        for key, value in data.items():
            if not isinstance(value, str):
                raise ConfigError(
                    f"{where}: the value of {key!r} must be a string, "
                    f"not {type(value).__name__} (nested tables are not supported)",
                    path=str(self.path),
                    key=key,
                )
        return data

    def __repr__(self) -> str:
        return f"FileSecrets({str(self.path)!r})"


class MappingSecrets:
    """Secrets from an in-memory mapping: tests, or values fetched by your own code.

    Args:
        values: Name to value; copied, so later changes to the original are not seen.
    """

    blocking = False

    def __init__(self, values: Mapping[str, str]) -> None:
        self._values = dict(values)

    def get(self, name: str) -> str | None:
        """The value stored under ``name``, or ``None``."""
        return self._values.get(name) or None

    def describe(self, name: str) -> str:
        """Where the value was looked for, for error messages."""
        return "in-memory secrets"

    def __repr__(self) -> str:
        return f"MappingSecrets(names={sorted(self._values)!r})"


class ResolvedSecrets(dict[str, str]):
    """Resolved secrets, name to value: a plain ``dict`` whose ``repr`` shows only names.

    Printing it, logging it or putting it in an f-string shows ``ResolvedSecrets(names=[...])``;
    the values are reached only by indexing.
    """

    __slots__ = ()

    def __repr__(self) -> str:
        return f"ResolvedSecrets(names={sorted(self)!r})"

    __str__ = __repr__


class MissingSecretError(ConfigError):
    """A tool needs secrets no provider has; carries the names and the sources tried, never values.

    Attributes:
        names: The secrets that could not be resolved.
        sources: Where they were looked for, in provider order.
        remedies: How to provide them (``"set TETHER_SECRET_STRIPE_KEY"``).
        tool: The tool that needed them, when known.
    """

    def __init__(
        self,
        names: Iterable[str],
        *,
        sources: Iterable[str] = (),
        remedies: Iterable[str] = (),
        tool: str | None = None,
    ) -> None:
        names = tuple(names)
        sources = tuple(sources)
        remedies = tuple(remedies)
        quoted = ", ".join(repr(n) for n in names)
        subject = f"tool {tool!r} needs " if tool else ""
        noun = "secret" if len(names) == 1 else "secrets"
        message = f"{subject}{noun} {quoted}, which no provider has"
        if sources:
            message += f" (tried: {'; '.join(sources)})"
        if remedies:
            message += f". To fix: {'; or '.join(remedies)}"
        super().__init__(message, names=names, sources=sources, remedies=remedies, tool=tool)
        self.names = names
        self.sources = sources
        self.remedies = remedies
        self.tool = tool


class SecretBroker:
    """Resolve secret names through providers in order; remember every value it hands out.

    Args:
        providers: Asked in order; the first that has a name wins. Default: environment
            variables only (``EnvSecrets()``).
    """

    def __init__(self, providers: Iterable[SecretProvider] | None = None) -> None:
        self.providers: tuple[SecretProvider, ...] = (
            tuple(providers) if providers is not None else (EnvSecrets(),)
        )
        for provider in self.providers:
            if not callable(getattr(provider, "get", None)):
                raise ConfigError(
                    f"secret provider {type(provider).__name__} has no get(name) method"
                )
        self._lock = threading.Lock()
        self._known: frozenset[str] = frozenset()

    def resolve(self, names: Iterable[str], *, tool: str | None = None) -> ResolvedSecrets:
        """Look up every name and return name to value, or fail listing every missing name.

        Args:
            names: Secret names (identifiers), typically ``ToolContract.credentials``.
            tool: The tool asking, named in the error message.

        Raises:
            MissingSecretError: Some names are in no provider (the error lists all of them).
            ConfigError: A name is not an identifier, or a provider is misconfigured.
        """
        wanted = _check_names(names)
        found = ResolvedSecrets()
        missing: list[str] = []
        for name in wanted:
            value = self._lookup(name)
            if value is None:
                missing.append(name)
            else:
                found[name] = value
        if found:
            self._remember(found.values())
        if missing:
            raise MissingSecretError(
                missing,
                sources=self._describe(missing, "describe"),
                remedies=self._describe(missing, "remedy"),
                tool=tool,
            )
        return found

    async def aresolve(self, names: Iterable[str], *, tool: str | None = None) -> ResolvedSecrets:
        """:meth:`resolve` for async callers: providers that may block run in a worker thread.

        A provider counts as non-blocking only when it says so (``blocking = False``,
        like :class:`EnvSecrets` and :class:`MappingSecrets`); files and custom providers
        (a vault client, say) are called off the event loop.
        """
        names = tuple(names)
        if all(getattr(p, "blocking", True) is False for p in self.providers):
            return self.resolve(names, tool=tool)
        return await anyio.to_thread.run_sync(partial(self.resolve, names, tool=tool))

    def known_values(self) -> frozenset[str]:
        """Every value resolved so far, for redaction of the exact strings.

        Returns the same object until a new value is resolved, so callers can cache work
        derived from it by identity.
        """
        return self._known

    def _lookup(self, name: str) -> str | None:
        for provider in self.providers:
            value = provider.get(name)
            if value:
                return value
        return None

    def _remember(self, values: Iterable[str]) -> None:
        new = frozenset(values)
        if new <= self._known:
            return
        with self._lock:
            self._known = self._known | new

    def _describe(self, names: list[str], attr: str) -> list[str]:
        lines: list[str] = []
        for name in names:
            for provider in self.providers:
                method = getattr(provider, attr, None)
                if callable(method):
                    line = str(method(name))
                elif attr == "describe":
                    line = type(provider).__name__
                else:
                    continue
                if line not in lines:
                    lines.append(line)
        return lines

    def __repr__(self) -> str:
        return f"SecretBroker(providers={list(self.providers)!r})"


@functools.cache
def default_broker() -> SecretBroker:
    """The process-wide broker used when a runtime is given none: environment variables only.

    Shared, so a redactor built from ``default_broker().known_values`` sees every value the
    default runtime hands out.
    """
    return SecretBroker()


def _check_names(names: Iterable[str]) -> list[str]:
    if isinstance(names, str | bytes):
        raise ConfigError(f"secret names must be a list of names, e.g. [{names!r}]")
    checked: list[str] = []
    for name in names:
        if not isinstance(name, str) or not _NAME.match(name):
            raise ConfigError(
                f"secret name {name!r} must be an identifier "
                "(letters, digits and '_', not starting with a digit)"
            )
        if name not in checked:
            checked.append(name)
    return checked
