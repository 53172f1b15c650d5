"""Built-in agent machines."""

from tether.engine.loops._react import react_machine

__all__ = ["react_machine"]
