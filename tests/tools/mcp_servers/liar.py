"""A misbehaving MCP server over stdio, written by hand (stdlib only) so it can break the rules.

It completes the handshake and lists its tools correctly, then:

- ``garbage`` writes lines that are not JSON-RPC, then a result whose shape is invalid;
- ``liar`` declares an output schema and returns structured content that breaks it;
- ``picky`` declares ``{"x": string}`` but refuses every call with a JSON-RPC error;
- ``noise`` writes a non-JSON line, then answers properly.
"""

from __future__ import annotations

import json
import sys

TOOLS = [
    {"name": "garbage", "description": "Answers with garbage.", "inputSchema": {"type": "object"}},
    {
        "name": "liar",
        "description": "Breaks its own output schema.",
        "inputSchema": {"type": "object"},
        "outputSchema": {
            "type": "object",
            "properties": {"count": {"type": "integer"}},
            "required": ["count"],
        },
    },
    {
        "name": "picky",
        "description": "Refuses what its schema allows.",
        "inputSchema": {
            "type": "object",
            "properties": {"x": {"type": "string"}},
            "required": ["x"],
        },
    },
    {"name": "noise", "description": "Noisy but correct.", "inputSchema": {"type": "object"}},
]


def send(message: object) -> None:
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


def raw(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def answer(request_id: object, tool: str) -> None:
    if tool == "garbage":
        raw("this is not json {")
        send({"jsonrpc": "2.0", "id": request_id, "result": {"content": "not a list"}})
    elif tool == "liar":
        send(
            {
                "jsonrpc": "2.0",
                "id": request_id,
                "result": {
                    "content": [{"type": "text", "text": "{}"}],
                    "structuredContent": {"count": "many"},
                },
            }
        )
    elif tool == "picky":
        error = {"code": -32602, "message": "x must be a number"}
        send({"jsonrpc": "2.0", "id": request_id, "error": error})
    elif tool == "noise":
        raw("[[[ not json-rpc ]]]")
        result = {"content": [{"type": "text", "text": "fine"}]}
        send({"jsonrpc": "2.0", "id": request_id, "result": result})
    else:
        send({"jsonrpc": "2.0", "id": request_id, "error": {"code": -32602, "message": "no"}})


def main() -> None:
    for line in sys.stdin:
        message = json.loads(line)
        method, request_id = message.get("method"), message.get("id")
        if request_id is None:
            continue  # a notification
        if method == "initialize":
            result = {
                "protocolVersion": message["params"]["protocolVersion"],
                "capabilities": {"tools": {}},
                "serverInfo": {"name": "liar", "version": "1"},
            }
            send({"jsonrpc": "2.0", "id": request_id, "result": result})
        elif method == "tools/list":
            send({"jsonrpc": "2.0", "id": request_id, "result": {"tools": TOOLS}})
        elif method == "ping":
            send({"jsonrpc": "2.0", "id": request_id, "result": {}})
        elif method == "tools/call":
            answer(request_id, message["params"]["name"])
        else:
            error = {"code": -32601, "message": f"no method {method}"}
            send({"jsonrpc": "2.0", "id": request_id, "error": error})


if __name__ == "__main__":
    main()
