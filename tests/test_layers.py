"""ARCHITECTURE's layers, held by a test over the source's import statements (AST).

* **Layers:** a package imports only packages below it (or itself)::

      cli, _cli                    people come in here (``tether serve`` starts the server)
      server, testing              programs come in here
      runtime                      many runs
      engine                       one run
      policy, context, memory      decisions, prompt assembly, long-term memory
      tools                        tool contracts and execution
      models                       model providers
      store, observe               persistence, redaction and telemetry
      exceptions                   shared by all

  Imports under ``if TYPE_CHECKING:`` count too: a type that points upward is a
  dependency upward all the same.
* **Public surfaces:** one package uses another only through its ``__init__``
  (``from tether.models import ToolCall``, never ``tether.models._types``).
* **No import circle:** the modules of each package import each other one way
  (module-level and function-level imports; ``TYPE_CHECKING`` imports are left out,
  since they never run).
* **Never-rules:** the store never imports the engine, models never import policy,
  the engine never imports the CLI or the server.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parent.parent / "src" / "tether"

RANK = {
    "cli": 8,
    "_cli": 8,
    "testing": 7,
    "server": 7,
    "runtime": 6,
    "engine": 5,
    "policy": 4,
    "context": 4,
    "memory": 4,
    "tools": 3,
    "models": 2,
    "store": 1,
    "observe": 1,
    "exceptions": 0,
}
"""Each top-level package (or module) of ``tether`` and its height in the layer picture."""

FORBIDDEN = [
    ("store", "engine"),
    ("models", "policy"),
    ("engine", "cli"),
    ("engine", "_cli"),
    ("engine", "server"),
]


@dataclass(frozen=True)
class Import:
    source: str  # dotted module doing the import
    target: str  # dotted module imported
    line: int
    type_only: bool


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(path: Path) -> Iterator[Import]:
    tree = ast.parse(path.read_text(), filename=str(path))
    source = _module_name(path)
    package = source if path.name == "__init__.py" else source.rsplit(".", 1)[0]
    type_only_lines: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for inner in node.body:
                for sub in ast.walk(inner):
                    type_only_lines.add(getattr(sub, "lineno", -1))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("tether"):
                    yield Import(source, alias.name, node.lineno, node.lineno in type_only_lines)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                module = ".".join([*base, node.module] if node.module else base)
            else:
                module = node.module or ""
            if not module.startswith("tether"):
                continue
            type_only = node.lineno in type_only_lines
            for alias in node.names:
                # ``from tether.engine import loops`` imports a submodule.
                candidate = f"{module}.{alias.name}"
                target = candidate if _is_module(candidate) else module
                yield Import(source, target, node.lineno, type_only)


def _is_module(dotted: str) -> bool:
    path = SRC.parent.joinpath(*dotted.split("."))
    return path.with_suffix(".py").exists() or (path / "__init__.py").exists()


def _all_imports() -> list[Import]:
    return [imp for path in sorted(SRC.rglob("*.py")) for imp in _imports(path)]


def _top(dotted: str) -> str | None:
    parts = dotted.split(".")
    return parts[1] if len(parts) > 1 else None


def test_every_package_has_a_layer() -> None:
    tops = {p.stem if p.is_file() else p.name for p in SRC.iterdir() if p.name != "__pycache__"}
    tops -= {"__init__", "py"}
    tops = {t for t in tops if not t.endswith(".typed")}
    assert tops <= set(RANK), f"packages without a layer: {sorted(tops - set(RANK))}"


def _violations(rule: str) -> list[str]:
    found = []
    for imp in _all_imports():
        src, dst = _top(imp.source), _top(imp.target)
        if src is None or dst is None or src == dst:
            continue  # the root package re-exports everything; same package is free
        if {src, dst} <= {"cli", "_cli"}:
            continue  # the CLI module and its private package are one unit
        where = f"{imp.source}:{imp.line} imports {imp.target}"
        if rule == "layers" and RANK[dst] >= RANK[src]:
            found.append(f"{where} ({src} is not above {dst})")
        if rule == "public" and any(part.startswith("_") for part in imp.target.split(".")[2:]):
            found.append(where)
        if rule == "forbidden" and (src, dst) in FORBIDDEN:
            found.append(where)
    return found


@pytest.mark.parametrize("rule", ["layers", "public", "forbidden"])
def test_imports_follow_the_architecture(rule: str) -> None:
    violations = _violations(rule)
    assert not violations, f"{rule}: {len(violations)} import(s) break the rule:\n" + "\n".join(
        violations
    )


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return [*stack[stack.index(nxt) :], nxt]
            if nxt not in state:
                found = visit(nxt)
                if found:
                    return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state:
            found = visit(node)
            if found:
                return found
    return None


def test_no_import_circle_between_modules() -> None:
    graph: dict[str, set[str]] = {}
    for imp in _all_imports():
        if imp.type_only or imp.source == imp.target:
            continue
        # A package's __init__ is its surface: importing it from inside is a real edge.
        graph.setdefault(imp.source, set()).add(imp.target)
    # Edges into a package's own __init__ from its members are how re-exports work;
    # only circles between implementation modules matter.
    for source, targets in graph.items():
        targets.discard(source.rsplit(".", 1)[0]) if "." in source else None
    cycle = _cycle(graph)
    assert cycle is None, "import circle: " + " -> ".join(cycle or [])


def test_the_checker_sees_a_violation(tmp_path: Path) -> None:
    """The rules are not vacuous: a planted upward, private import is reported."""
    planted = SRC / "store" / "_planted_for_test.py"
    planted.write_text("from tether.engine._state import RunState\n")
    try:
        assert _violations("layers") and _violations("public") and _violations("forbidden")
    finally:
        planted.unlink()


def test_the_cli_reads_no_private_attribute_of_other_objects() -> None:
    """``tether.cli`` and ``tether._cli`` use the runtime's public API only."""
    found = []
    for path in [SRC / "cli.py", *sorted((SRC / "_cli").glob("*.py"))]:
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Attribute)
                and node.attr.startswith("_")
                and not node.attr.startswith("__")
                and not (isinstance(node.value, ast.Name) and node.value.id in ("self", "cls"))
            ):
                found.append(f"{path.name}:{node.lineno} .{node.attr}")
    assert not found, "private attributes read by the CLI:\n" + "\n".join(found)
