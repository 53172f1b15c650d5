"""Prompt assembly: the cache-stable prefix and how it changed."""

from tether.context._prefix import describe_change, prefix_bytes, prefix_hash
from tether.context._untrusted import (
    UNTRUSTED_DATA_NOTICE,
    render_tool_output,
    with_untrusted_notice,
)

__all__ = [
    "UNTRUSTED_DATA_NOTICE",
    "describe_change",
    "prefix_bytes",
    "prefix_hash",
    "render_tool_output",
    "with_untrusted_notice",
]
