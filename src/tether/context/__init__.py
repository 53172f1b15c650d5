"""Prompt assembly: the cache-stable prefix and how it changed.

How tool output is framed as untrusted data is part of each provider's wire format, so
it lives in ``tether.models``; it is re-exported here, where prompt assembly is read.
"""

from tether.context._prefix import describe_change, prefix_bytes, prefix_hash
from tether.models import (
    UNTRUSTED_DATA_NOTICE,
    neutralize_delimiters,
    render_tool_output,
    with_untrusted_notice,
)

__all__ = [
    "UNTRUSTED_DATA_NOTICE",
    "describe_change",
    "neutralize_delimiters",
    "prefix_bytes",
    "prefix_hash",
    "render_tool_output",
    "with_untrusted_notice",
]
