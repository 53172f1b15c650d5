"""Prompt assembly: the cache-stable prefix and how it changed."""

from tether.context._prefix import describe_change, prefix_bytes, prefix_hash

__all__ = ["describe_change", "prefix_bytes", "prefix_hash"]
