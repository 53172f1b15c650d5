"""Tool contracts and their execution: ``@tool`` turns a typed function into a contract.

The executor validates the model's arguments, enforces timeouts, retries transient
failures with backoff and returns every problem as a structured :class:`ToolError` the
model can act on, never as an exception that escapes the run.
"""

from tether.tools._catalog import Catalog, closed_catalog_error, flatten_catalogs
from tether.tools._contract import RetryPolicy, ToolContext, ToolContract, tool
from tether.tools._errors import ToolCallError, ToolError, ToolErrorCode, TransientToolError
from tether.tools._executor import (
    ToolOutcome,
    argument_error,
    execute_tool_call,
    execute_tool_calls,
)
from tether.tools._fetch import http_fetch, make_http_fetch
from tether.tools._limits import Breaker, RateLimit
from tether.tools._mcp import (
    MCPConnectionLostError,
    MCPServer,
    MCPToolContract,
    expand_tools,
    mcp_servers,
)
from tether.tools._python_exec import make_python_exec, python_exec
from tether.tools._sandbox import Sandbox, SandboxUnavailableError
from tether.tools._sandbox_process import SandboxLimits, SandboxResult
from tether.tools._simulator import (
    Fixtures,
    RecordedCall,
    ToolSimulator,
    by_fields,
    is_simulated,
)

__all__ = [
    "Breaker",
    "Catalog",
    "Fixtures",
    "MCPConnectionLostError",
    "MCPServer",
    "MCPToolContract",
    "RateLimit",
    "RecordedCall",
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
    "ToolSimulator",
    "TransientToolError",
    "argument_error",
    "by_fields",
    "closed_catalog_error",
    "execute_tool_call",
    "execute_tool_calls",
    "expand_tools",
    "flatten_catalogs",
    "http_fetch",
    "is_simulated",
    "make_http_fetch",
    "make_python_exec",
    "mcp_servers",
    "python_exec",
    "tool",
]
