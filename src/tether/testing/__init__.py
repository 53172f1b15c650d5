"""Deterministic doubles for tests: a scripted model and its reply builders."""

from tether.models import ScriptedModel, text, tool_call

__all__ = ["ScriptedModel", "text", "tool_call"]
