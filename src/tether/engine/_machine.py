"""Explicit state machines: named states, typed transitions, validated when built.

A state is an async function of a :class:`StepContext` returning a transition.
The engine, not the state, decides when to commit: each ``Goto`` ends a step
(one transaction) unless it says ``commit=False``, which keeps the next state in
the same step — ReAct uses that so a model reply and the tools it asked for
cost one durable commit.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from tether.engine._transitions import Done, Escalate, Fail, Goto, Transition, Wait
from tether.exceptions import AgentDefinitionError

if TYPE_CHECKING:
    from tether.engine._step import StepContext


StateHandler = Callable[["StepContext"], Awaitable[Transition]]


@dataclass(frozen=True, slots=True)
class State:
    """One named state: its handler, where it may go, and whether it may end the run."""

    name: str
    handler: StateHandler
    next: tuple[str, ...] = ()
    terminal: bool = False
    waits: bool = False


@dataclass(slots=True)
class Machine:
    """A named set of states with an initial state.

    Example::

        m = Machine("triage", initial="classify")

        @m.state(next=["draft"])
        async def classify(ctx): ...
    """

    name: str
    initial: str
    states: dict[str, State] = field(default_factory=dict)

    def state(
        self,
        *,
        next: Iterable[str] = (),
        terminal: bool = False,
        waits: bool = False,
        name: str | None = None,
    ) -> Callable[[StateHandler], StateHandler]:
        """Register the decorated coroutine function as a state."""

        def register(fn: StateHandler) -> StateHandler:
            self.add(
                State(
                    name=name or fn.__name__,
                    handler=fn,
                    next=tuple(next),
                    terminal=terminal,
                    waits=waits,
                )
            )
            return fn

        return register

    def add(self, state: State) -> None:
        """Add a state; names are unique."""
        if state.name in self.states:
            raise AgentDefinitionError(f"machine {self.name!r}: state {state.name!r} defined twice")
        self.states[state.name] = state

    def validate(self) -> None:
        """Check the machine can run: known targets, every state reachable, a way to finish."""
        if self.initial not in self.states:
            raise AgentDefinitionError(
                f"machine {self.name!r}: initial state {self.initial!r} is not defined; "
                f"defined: {sorted(self.states)}"
            )
        for st in self.states.values():
            unknown = [t for t in st.next if t not in self.states]
            if unknown:
                raise AgentDefinitionError(
                    f"machine {self.name!r}: state {st.name!r} goes to undefined {unknown}"
                )
        seen = {self.initial}
        frontier = [self.initial]
        while frontier:
            for target in self.states[frontier.pop()].next:
                if target not in seen:
                    seen.add(target)
                    frontier.append(target)
        unreachable = sorted(set(self.states) - seen)
        if unreachable:
            raise AgentDefinitionError(
                f"machine {self.name!r}: states {unreachable} cannot be reached from "
                f"{self.initial!r}; add them to some state's next=[...]"
            )
        if not any(st.terminal for st in self.states.values()):
            raise AgentDefinitionError(
                f"machine {self.name!r}: no terminal state; mark at least one state terminal=True"
            )

    def allows(self, source: str, target: str) -> bool:
        """Whether ``source`` declared ``target`` as a next state."""
        return target in self.states[source].next

    def fingerprint(self) -> str:
        """A stable description of the machine's shape for the agent version hash."""
        parts = [self.name, self.initial]
        for st in sorted(self.states.values(), key=lambda s: s.name):
            parts.append(f"{st.name}->{','.join(st.next)}{'!' if st.terminal else ''}")
        return "|".join(parts)

    def to_mermaid(self) -> str:
        """Draw the machine as a Mermaid state diagram."""
        lines = ["stateDiagram-v2", f"    [*] --> {self.initial}"]
        for st in self.states.values():
            lines.extend(f"    {st.name} --> {target}" for target in st.next)
            if st.terminal:
                lines.append(f"    {st.name} --> [*]")
        return "\n".join(lines)


__all__ = [
    "Done",
    "Escalate",
    "Fail",
    "Goto",
    "Machine",
    "State",
    "StateHandler",
    "Transition",
    "Wait",
]
