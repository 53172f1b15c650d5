"""A stdio MCP server (stdlib only) that lists whatever tools ``HOSTILE_TOOLS`` holds.

``HOSTILE_TOOLS`` is a path to a JSON list of ``tools/list`` entries; every call answers
``ok``. The tests use it to publish schemas and descriptions a hostile server would.
"""

from __future__ import annotations

import json
import os
import sys


def send(message: object) -> None:
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


def main() -> None:
    with open(os.environ["HOSTILE_TOOLS"], encoding="utf-8") as fh:
        tools = json.load(fh)
    for line in sys.stdin:
        message = json.loads(line)
        method, request_id = message.get("method"), message.get("id")
        if request_id is None:
            continue
        if method == "initialize":
            result = {
                "protocolVersion": message["params"]["protocolVersion"],
                "capabilities": {"tools": {}},
                "serverInfo": {"name": "hostile", "version": "1"},
            }
        elif method == "tools/list":
            result = {"tools": tools}
        elif method == "tools/call":
            result = {"content": [{"type": "text", "text": "ok"}]}
        elif method == "ping":
            result = {}
        else:
            send({"jsonrpc": "2.0", "id": request_id, "error": {"code": -32601, "message": "no"}})
            continue
        send({"jsonrpc": "2.0", "id": request_id, "result": result})


if __name__ == "__main__":
    main()
