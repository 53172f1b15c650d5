"""A well-behaved MCP server (the SDK's own ``MCPServer``) for Tether's MCP client tests.

Run as ``python shop.py`` (stdio) or ``python shop.py --http PORT`` (streamable HTTP on
127.0.0.1). ``SHOP_LOG`` names a file each write appends to, so tests see what executed.
"""

from __future__ import annotations

import asyncio
import os
import sys

from mcp.server.mcpserver import MCPServer

server = MCPServer("shop")


if os.environ.get("SHOP_V2"):

    @server.tool()
    def lookup_order(order_id: str, verbose: bool = False) -> str:
        """Look up an order's status."""
        return f"order {order_id}: shipped" + (" by courier" if verbose else "")

else:

    @server.tool()
    def lookup_order(order_id: str) -> str:
        """Look up an order's status."""
        return f"order {order_id}: shipped"


@server.tool()
def refund(order_id: str, amount_cents: int) -> str:
    """Refund part of an order."""
    log = os.environ.get("SHOP_LOG")
    if log:
        with open(log, "a", encoding="utf-8") as fh:
            fh.write(f"refund {order_id} {amount_cents}\n")
    return f"refunded {amount_cents} cents on {order_id}"


@server.tool()
def search(query: str) -> str:
    """Search the shop's catalog."""
    return f"catalog hits for {query!r}: 3"


@server.tool()
def whoami() -> str:
    """This server process's id (tests tell a restarted server apart)."""
    return str(os.getpid())


@server.tool()
async def hang() -> str:
    """Never finishes."""
    await asyncio.sleep(3600)
    return "unreachable"


@server.tool()
def crash() -> str:
    """Kill the server process mid-call."""
    os._exit(3)


@server.tool()
def huge() -> str:
    """Return 300 kB of text (more than the tests' 100 kB result cap)."""
    return "x" * 300_000


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--http":
        server.run("streamable-http", host="127.0.0.1", port=int(sys.argv[2]))
    else:
        server.run()
