"""A disk cache of the injection scanner's tables, so a new process builds them in a blink.

Building the tables costs about a second of CPU in every process: half of it is
Python's ``re`` parsing and compiling some hundred large alternations, half is the
literal analysis of each pattern (``needles``, ``requirements``), which parses them
again. Both depend only on the pattern table and the Python version. So a build
records, in one JSON file per (table, Python) under the cache directory
(``$TETHER_CACHE_DIR``, else ``$XDG_CACHE_HOME/tether``, else ``~/.cache/tether``;
``TETHER_CACHE_DIR=off`` turns it off):

- each compiled regex's program, the list of integers ``re`` itself hands to
  ``_sre.compile``, with its flags and groups; a later process hands the same
  program to ``_sre.compile`` and skips the parser and the compiler;
- the literal analysis of each pattern.

The file is JSON (no pickle): loading it runs no code. A program is only ever used
under the exact Python build that made it (``sys.version``, ``_sre.MAGIC`` and
``_sre.CODESIZE`` are part of the file's name), and anything that does not load
cleanly (a missing, corrupt or foreign file, an internal API that changed) falls
back to ``re.compile`` and the analysis, as if there were no cache. A cached program
compiles to the same pattern object ``re.compile`` returns
(``tests/policy/test_injection_cache.py`` compares them on the corpus).
"""

from __future__ import annotations

import contextlib
import contextvars
import hashlib
import importlib
import json
import logging
import os
import re
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

from tether.models import cache_dir

log = logging.getLogger(__name__)

T = TypeVar("T")
_FORMAT = 1


def _sre() -> Any:
    """CPython's regex engine module, where ``re.compile`` ends (no type stubs)."""
    return importlib.import_module("_sre")


def _python_tag() -> str:
    sre = _sre()
    return f"{sys.version}|{sre.MAGIC}|{sre.CODESIZE}|{sre.MAXREPEAT}|{sre.MAXGROUPS}"


class TableCache:
    """Regex programs and analysis results of one pattern table, loaded from and saved to
    one JSON file. Every failure is a miss."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._regexes: dict[str, list[Any]] = {}
        self._analysis: dict[str, Any] = {}
        self._dirty = False
        self.hits = 0
        self.misses = 0
        if path is not None:
            self._load(path)

    @classmethod
    def for_table(cls, table_fingerprint: str) -> TableCache:
        """The cache of a pattern table (anything that names it exactly) for this Python."""
        folder = cache_dir()
        if folder is None:
            return cls(None)
        key = hashlib.sha256(f"{_FORMAT}|{_python_tag()}|{table_fingerprint}".encode()).hexdigest()[
            :24
        ]
        return cls(folder / f"injection-{key}.json")

    def _load(self, path: Path) -> None:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            if not isinstance(data, dict) or data.get("format") != _FORMAT:
                return
            regexes, analysis = data.get("regexes"), data.get("analysis")
            if isinstance(regexes, dict) and isinstance(analysis, dict):
                self._regexes, self._analysis = regexes, analysis
        except (OSError, ValueError, UnicodeDecodeError):
            return

    # -- regexes -------------------------------------------------------------------------

    def compile(self, pattern: str, flags: int = 0) -> re.Pattern[str]:
        """``re.compile(pattern, flags)``, from the cached program when there is one."""
        key = hashlib.sha256(f"{int(flags)}|{pattern}".encode()).hexdigest()
        entry = self._regexes.get(key)
        if entry is not None:
            compiled = _from_program(pattern, entry)
            if compiled is not None:
                self.hits += 1
                return compiled
        self.misses += 1
        compiled, program = _compile_recording(pattern, int(flags))
        if program is not None:
            self._regexes[key] = program
            self._dirty = True
        return compiled

    # -- analysis ------------------------------------------------------------------------

    def memo(
        self,
        kind: str,
        key: str,
        compute: Callable[[], T],
        encode: Callable[[T], Any],
        decode: Callable[[Any], T],
    ) -> T:
        """``compute()``, or its result as recorded by an earlier process."""
        slot = f"{kind}|{hashlib.sha256(key.encode()).hexdigest()}"
        if slot in self._analysis:
            try:
                value = decode(self._analysis[slot])
            except (TypeError, ValueError, KeyError, IndexError):
                pass
            else:
                self.hits += 1
                return value
        self.misses += 1
        value = compute()
        self._analysis[slot] = encode(value)
        self._dirty = True
        return value

    def save(self) -> None:
        """Write what this build computed (atomically; a failure only costs the next build)."""
        if not self._dirty or self.path is None:
            return
        data = {"format": _FORMAT, "regexes": self._regexes, "analysis": self._analysis}
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=".injection-", dir=self.path.parent)
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                json.dump(data, out, separators=(",", ":"))
            os.replace(tmp, self.path)
            self._dirty = False
        except OSError as exc:
            log.debug("injection table cache %s not written: %s", self.path, exc)
            with contextlib.suppress(OSError, UnboundLocalError):
                os.unlink(tmp)


def _compile_recording(pattern: str, flags: int) -> tuple[re.Pattern[str], list[Any] | None]:
    """Compile as ``re`` does, keeping the program; plain ``re.compile`` if that fails."""
    try:
        from re import _compiler, _parser  # type: ignore[attr-defined]

        parsed = _parser.parse(pattern, flags)
        code = list(_compiler._code(parsed, flags))
        groupindex = dict(parsed.state.groupdict)
        indexgroup: list[str | None] = [None] * parsed.state.groups
        for name, index in groupindex.items():
            indexgroup[index] = name
        program = [
            flags | parsed.state.flags,
            code,
            parsed.state.groups - 1,
            groupindex,
            indexgroup,
        ]
        compiled = _from_program(pattern, program)
        if compiled is not None:
            return compiled, program
    except Exception as exc:  # an internal API that changed: re.compile still works
        log.debug("regex program not recorded (%s); compiling normally", exc)
    return re.compile(pattern, flags), None


def _from_program(pattern: str, entry: list[Any]) -> re.Pattern[str] | None:
    """The pattern object for a recorded program (``None`` if it does not load)."""
    try:
        final_flags, code, groups, groupindex, indexgroup = entry
        compiled: re.Pattern[str] = _sre().compile(
            pattern, int(final_flags), list(code), int(groups), dict(groupindex), tuple(indexgroup)
        )
    except Exception:
        return None
    return compiled


# -- the cache of the build in progress ----------------------------------------------------

_BUILDING: contextvars.ContextVar[TableCache | None] = contextvars.ContextVar(
    "tether_injection_cache", default=None
)


@contextlib.contextmanager
def building(cache: TableCache) -> Iterator[TableCache]:
    """Make ``cache`` the one :func:`compile_regex` uses while a table is built."""
    token = _BUILDING.set(cache)
    try:
        yield cache
    finally:
        _BUILDING.reset(token)


def compile_regex(pattern: str, flags: int = 0) -> re.Pattern[str]:
    """``re.compile``, through the cache of the table being built (if any)."""
    cache = _BUILDING.get()
    if cache is None:
        return re.compile(pattern, flags)
    return cache.compile(pattern, flags)


def current() -> TableCache | None:
    """The cache of the table being built, if any."""
    return _BUILDING.get()
