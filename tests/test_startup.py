"""What starting Tether imports: structure, not timing (``benchmarks/startup.py`` times it).

``import tether`` and ``tether --help`` must not load model SDKs, the engine or rich;
the public names stay where they were, imported on first use.
"""

from __future__ import annotations

import ast
import importlib
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import get_args

import pytest

ROOT = Path(__file__).resolve().parents[1]
SDKS = ("openai", "anthropic", "llama_cpp")


def modules_after(code: str) -> set[str]:
    """The modules loaded after running ``code`` in a fresh interpreter."""
    probe = f"{code}\nimport json, sys\nprint(json.dumps(sorted(sys.modules)))"
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    proc = subprocess.run(
        [sys.executable, "-c", probe],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return set(json.loads(proc.stdout.strip().splitlines()[-1]))


def loaded(modules: set[str], package: str) -> set[str]:
    return {m for m in modules if m == package or m.startswith(package + ".")}


def test_import_tether_loads_no_model_sdk_and_no_engine() -> None:
    """`import tether` loads no provider SDK, no engine, no pydantic: names load on use."""
    modules = modules_after("import tether")
    for package in (*SDKS, "tether.engine", "tether.runtime", "tether.models", "pydantic"):
        assert not loaded(modules, package), f"import tether loaded {package}"


def test_using_the_library_loads_no_model_sdk() -> None:
    """Building an agent and a runtime loads no provider SDK until a provider is used."""
    modules = modules_after(
        "import tether\n"
        "from tether.testing import ScriptedModel, text\n"
        "tether.Agent(name='a', model=ScriptedModel([text('hi')]))\n"
        "tether.Runtime('sqlite:///unused.db')\n"
    )
    assert "tether.engine" in modules
    for package in SDKS:
        assert not loaded(modules, package), f"the library loaded {package}"
    for adapter in ("tether.models._openai", "tether.models._anthropic", "tether.models._local"):
        assert adapter not in modules, f"{adapter} loaded though no agent uses it"


def test_tether_help_loads_neither_engine_nor_rich() -> None:
    """`tether --help` needs typer only: commands import the runtime (and asyncio) when they run."""
    modules = modules_after(
        "import contextlib, io, sys\n"
        "sys.argv = ['tether', '--help']\n"
        "from tether.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()), contextlib.suppress(SystemExit):\n"
        "    main()\n"
    )
    heavy = ("tether.engine", "tether.runtime", "tether.store", "rich", "pydantic", "asyncio")
    for package in (*SDKS, *heavy):
        assert not loaded(modules, package), f"tether --help loaded {package}"


@pytest.mark.parametrize("name", ["tether", "tether.models"])
def test_lazy_names_resolve_and_are_listed(name: str) -> None:
    """Every name in ``__all__`` resolves, ``dir()`` lists it, and mypy sees the same list.

    At run time ``__all__`` comes from the module's ``__getattr__``; for type checkers
    a literal ``__all__`` sits under ``TYPE_CHECKING``. The two must not drift apart.
    """
    module = importlib.import_module(name)
    exported = list(module.__all__)
    for attr in exported:
        assert getattr(module, attr) is not None
        assert attr in dir(module)
    source = Path(module.__file__ or "").read_text()
    literal = next(
        ast.literal_eval(node.value)
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.Assign)
        and any(isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets)
    )
    assert literal == exported
    with pytest.raises(AttributeError, match="no attribute 'Nope'"):
        _ = module.Nope


def test_cli_status_list_matches_the_engine() -> None:
    """`tether runs --status` spells out the engine's RunStatus so --help skips the engine."""
    from tether.cli import RUN_STATUSES
    from tether.engine import RunStatus

    assert get_args(RunStatus) == RUN_STATUSES
