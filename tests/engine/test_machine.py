"""Machines are validated when built and drawable as Mermaid."""

from __future__ import annotations

import pytest

from tether.engine import Done, Machine, StepContext
from tether.engine.loops import react_machine
from tether.exceptions import AgentDefinitionError


async def _noop(ctx: StepContext) -> Done:
    return Done()


def _machine(edges: dict[str, list[str]], terminal: set[str], initial: str = "a") -> Machine:
    m = Machine("m", initial=initial)
    for name, targets in edges.items():
        m.state(name=name, next=targets, terminal=name in terminal)(_noop)
    return m


def test_valid_machine_passes_and_draws_mermaid() -> None:
    """A machine with reachable states and a terminal state validates and draws."""
    m = _machine({"a": ["b"], "b": []}, {"b"})
    m.validate()
    assert m.to_mermaid().splitlines() == [
        "stateDiagram-v2",
        "    [*] --> a",
        "    a --> b",
        "    b --> [*]",
    ]


@pytest.mark.parametrize(
    ("edges", "terminal", "initial", "message"),
    [
        ({"a": ["b"], "b": [], "c": []}, {"b"}, "a", "cannot be reached"),
        ({"a": ["zzz"]}, {"a"}, "a", "undefined"),
        ({"a": []}, set(), "a", "no terminal state"),
        ({"a": []}, {"a"}, "nope", "initial state"),
    ],
)
def test_invalid_machines_are_rejected_when_built(
    edges: dict[str, list[str]], terminal: set[str], initial: str, message: str
) -> None:
    """Unreachable states, unknown targets, no terminal or a bad initial state raise."""
    with pytest.raises(AgentDefinitionError, match=message):
        _machine(edges, terminal, initial).validate()


def test_duplicate_state_names_are_rejected() -> None:
    """Two states cannot share a name."""
    m = Machine("m", initial="a")
    m.state(name="a", terminal=True)(_noop)
    with pytest.raises(AgentDefinitionError, match="twice"):
        m.state(name="a")(_noop)


def test_react_machine_shape() -> None:
    """ReAct is think → act → think … with finalize, drawn from its definition."""
    m = react_machine()
    m.validate()
    assert "think --> act" in m.to_mermaid() and "act --> think" in m.to_mermaid()
