"""Find the agent a command names: ``path/to/file.py:name`` or ``package.module:name``.

The attribute may be an :class:`~tether.Agent` or a zero-argument callable that builds
one. Every way this can go wrong becomes an :class:`AgentRefError` whose message names
what exists instead, so a typo costs one glance, not a debugging session.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import os
import re
import sys
import traceback
from pathlib import Path
from types import ModuleType
from typing import Any

from tether import Agent
from tether.exceptions import TetherError, UserError

_FORMS = "use path/to/file.py:agent or package.module:agent"


class AgentRefError(UserError):
    """An agent reference that does not lead to an ``Agent``; the message says what does."""


def load_agent(ref: str) -> Agent:
    """Import the module or file ``ref`` points at and return the agent it names.

    Without ``:name`` the module's only ``Agent`` is used (an error lists them if there
    are several).

    Raises:
        AgentRefError: the file, module or attribute is missing or is not an agent.
        TetherError: the module built an invalid agent (e.g. ``AgentDefinitionError``).
    """
    source, sep, name = ref.rpartition(":")
    if not sep:
        source, name = ref, ""
    # A Windows drive letter ("C:\\agents.py") is not a separator.
    if sep and (not source or re.fullmatch(r"[A-Za-z]", source)):
        source, name = ref, ""
    if not source:
        raise AgentRefError(f"empty agent reference {ref!r}: {_FORMS}")
    module = _import(source, ref)
    where = source
    if not name:
        found = _agents_in(module)
        if len(found) == 1:
            return _resolve(module, found[0][0], where)
        raise AgentRefError(
            f"{ref!r} names no attribute and {where} defines "
            + (f"several agents: {_listing(found)}" if found else "no Agent")
            + f"; {_FORMS}"
        )
    if not hasattr(module, name):
        found = _agents_in(module)
        available = (
            f"agents found: {_listing(found)}; use {where}:{found[0][0]}"
            if found
            else "it defines no Agent (expected e.g. `agent = Agent(name=..., ...)`)"
        )
        raise AgentRefError(f"{where} has no attribute {name!r}; {available}")
    return _resolve(module, name, where)


def load_agents(ref: str) -> list[Agent]:
    """The agents ``ref`` names: ``FILE_OR_MODULE`` (all its agents) or ``...:NAME``.

    Raises:
        AgentRefError: nothing loads, no agent is defined, or two share a name.
    """
    source, sep, name = ref.rpartition(":")
    if sep and name and len(source) > 1:
        return [load_agent(ref)]
    module = _import(ref, ref)
    found: dict[str, Agent] = {}
    for value in vars(module).values():
        if not isinstance(value, Agent) or found.get(value.name) is value:
            continue
        if value.name in found:
            raise AgentRefError(f"{ref} defines two different agents named {value.name!r}")
        found[value.name] = value
    if not found:
        raise AgentRefError(
            f"{ref} defines no Agent at module level (expected e.g. "
            "`support = Agent(name='support', ...)`)"
        )
    return list(found.values())


def _import(source: str, ref: str) -> ModuleType:
    path = Path(source)
    is_file = source.endswith(".py") or os.sep in source or "/" in source
    if is_file:
        if not path.is_file():
            raise AgentRefError(
                f"no file {source!r} (from agent reference {ref!r}, relative to {Path.cwd()}); "
                "check the path"
            )
        return _import_file(path.resolve())
    # Like `python -m`: modules in the working directory are importable.
    cwd = os.getcwd()
    if cwd not in sys.path and "" not in sys.path:
        sys.path.insert(0, cwd)
    try:
        return importlib.import_module(source)
    except ModuleNotFoundError as exc:
        if exc.name is not None and (source == exc.name or source.startswith(f"{exc.name}.")):
            raise AgentRefError(
                f"cannot import module {source!r}: {exc}; check the name, or pass a file "
                f"path ({_FORMS})"
            ) from None
        raise _user_code_error(source, exc) from None
    except TetherError:
        raise
    except (Exception, SystemExit) as exc:
        raise _user_code_error(source, exc) from None


def _import_file(path: Path) -> ModuleType:
    # Like `python file.py`: the file's folder is importable, so its sibling modules are too.
    folder = str(path.parent)
    if folder not in sys.path:
        sys.path.insert(0, folder)
    # A private module name: a file called e.g. `json.py` must not shadow the real module.
    name = "_tether_agentfile_" + re.sub(r"\W", "_", path.stem)
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise AgentRefError(f"cannot import {path}: not a Python source file")
    module = importlib.util.module_from_spec(spec)
    # Registered before executing: pydantic and dataclasses look their module up by name.
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except TetherError:
        sys.modules.pop(name, None)
        raise
    except (Exception, SystemExit) as exc:
        # SystemExit too: a module that exits while being imported (a script's
        # `sys.exit(main())`) would otherwise end `tether` silently with its code.
        sys.modules.pop(name, None)
        raise _user_code_error(str(path), exc) from None
    return module


def _user_code_error(source: str, exc: BaseException, *, call: bool = False) -> AgentRefError:
    frames = traceback.extract_tb(exc.__traceback__)
    # The innermost frame outside importlib is where the user's code failed.
    user = [f for f in frames if "importlib" not in f.filename]
    at = f" ({user[-1].filename}, line {user[-1].lineno})" if user else ""
    if isinstance(exc, SystemExit):
        what = f"calling {source}()" if call else f"loading {source}"
        return AgentRefError(
            f"{what} called sys.exit({exc.code!r}){at}; an agent module must define the "
            "agent without running a program: move the script part under "
            '`if __name__ == "__main__":`'
        )
    if call:
        return AgentRefError(f"calling {source}() raised {type(exc).__name__}: {exc}{at}")
    rerun = f"python {source}" if source.endswith(".py") else f"python -c 'import {source}'"
    return AgentRefError(
        f"loading {source} raised {type(exc).__name__}: {exc}{at}; fix it, or run "
        f"`{rerun}` to see the full traceback"
    )


def _resolve(module: ModuleType, name: str, where: str) -> Agent:
    value = getattr(module, name)
    if isinstance(value, Agent):
        return value
    label = f"{where}:{name}"
    if inspect.isfunction(value) or inspect.ismethod(value):
        try:
            inspect.signature(value).bind()
        except TypeError:
            found = _agents_in(module)
            others = f"; agents found: {_listing(found)}" if found else ""
            raise AgentRefError(
                f"{label} needs arguments; it must be an Agent or a function that takes none "
                f"and returns one{others}"
            ) from None
        try:
            built = value()
        except TetherError:
            raise
        except (Exception, SystemExit) as exc:
            raise _user_code_error(label, exc, call=True) from None
        if isinstance(built, Agent):
            return built
        raise AgentRefError(f"{label}() returned {type(built).__name__}, not an Agent")
    found = _agents_in(module)
    others = f"; agents found: {_listing(found)}" if found else ""
    raise AgentRefError(
        f"{label} is {type(value).__name__}, not an Agent or a zero-argument function "
        f"returning one{others}"
    )


def _agents_in(module: ModuleType) -> list[tuple[str, str]]:
    """``(attribute, description)`` of the agents (and agent factories) a module defines."""
    found: list[tuple[str, str]] = []
    for attr, value in vars(module).items():
        if attr.startswith("_"):
            continue
        if isinstance(value, Agent):
            found.append((attr, f"Agent {value.name!r}"))
        elif inspect.isfunction(value) and _returns_agent(value):
            found.append((attr, "function returning an Agent"))
    return found


def _returns_agent(fn: Any) -> bool:
    annotation = inspect.signature(fn).return_annotation
    if annotation is Agent:
        return True
    return isinstance(annotation, str) and annotation.rsplit(".", 1)[-1] == "Agent"


def _listing(found: list[tuple[str, str]]) -> str:
    return ", ".join(f"{attr} ({what})" for attr, what in found)
