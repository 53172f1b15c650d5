"""A store whose appends wait first, as on a slow disk: a run's next steps outrun its log."""

from __future__ import annotations

import asyncio
from typing import Any


def slow_appends(store: Any, seconds: float = 0.05) -> None:
    """Make every ``store.append`` wait ``seconds`` before it writes."""
    append = store.append

    async def slow_append(*args: Any, **kwargs: Any) -> Any:
        await asyncio.sleep(seconds)
        return await append(*args, **kwargs)

    store.append = slow_append
