"""The public surface of ``tether.tools`` is exactly its curated, sorted ``__all__``."""

import tether.tools


def test_all_is_sorted_and_lists_every_public_name() -> None:
    """``__all__`` is sorted and matches the module's public (non-underscore) names."""
    public = {
        name
        for name, value in vars(tether.tools).items()
        if not name.startswith("_") and getattr(value, "__module__", "").startswith("tether.")
    }
    assert list(tether.tools.__all__) == sorted(tether.tools.__all__)
    assert set(tether.tools.__all__) == public


def test_expected_names_are_exported() -> None:
    """The names other layers rely on are importable from ``tether.tools``."""
    assert set(tether.tools.__all__) >= {
        "Breaker",
        "RateLimit",
        "RetryPolicy",
        "Sandbox",
        "SandboxLimits",
        "SandboxResult",
        "SandboxUnavailableError",
        "ToolCallError",
        "ToolContext",
        "ToolContract",
        "ToolError",
        "ToolErrorCode",
        "ToolOutcome",
        "TransientToolError",
        "execute_tool_call",
        "execute_tool_calls",
        "http_fetch",
        "make_http_fetch",
        "make_python_exec",
        "python_exec",
        "tool",
    }
