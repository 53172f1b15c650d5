"""A small Server-Sent Events reader for the tests: frames as the wire carries them."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import httpx


@dataclass(frozen=True)
class Frame:
    """One SSE frame: its ``id:`` (if any), ``event:`` and ``data:`` lines."""

    id: str | None
    event: str
    data: str

    def json(self) -> Any:
        return json.loads(self.data)


def parse(text: str) -> tuple[list[Frame], str]:
    """Complete frames in ``text``, and the incomplete rest."""
    frames = []
    *blocks, rest = text.split("\n\n")
    for block in blocks:
        fields: dict[str, list[str]] = {}
        for line in block.split("\n"):
            if not line or line.startswith(":"):
                continue
            name, _, value = line.partition(":")
            fields.setdefault(name, []).append(value.removeprefix(" "))
        if "data" not in fields:
            continue  # retry: hints and comments
        frames.append(
            Frame(
                id=fields["id"][-1] if "id" in fields else None,
                event=fields.get("event", ["message"])[-1],
                data="\n".join(fields["data"]),
            )
        )
    return frames, rest


def read_frames(
    client: httpx.Client,
    url: str,
    headers: dict[str, str] | None = None,
    *,
    stop_after: int | None = None,
) -> list[Frame]:
    """Read a stream to its end, or drop the connection after ``stop_after`` event frames."""
    frames: list[Frame] = []
    buffer = ""
    with client.stream("GET", url, headers=headers, timeout=30) as response:
        assert response.status_code == 200, response.read()
        assert response.headers["content-type"].startswith("text/event-stream")
        for chunk in response.iter_text():
            got, buffer = parse(buffer + chunk)
            frames.extend(got)
            events = [f for f in frames if f.id is not None]
            if stop_after is not None and len(events) >= stop_after:
                return frames[: frames.index(events[stop_after - 1]) + 1]
    return frames
