"""A FastMCP (PyPI `fastmcp`) server whose tool list depends on what the client declared at `initialize`.

Usage: python capability_server.py [stdio|http] [PORT]   (http binds 127.0.0.1 only and serves /mcp)
Tools:
  always        listed to every client
  roots_tool    listed only to clients that declare the `roots` capability
  preview_tool  listed only to clients that declare the extension `io.example/preview`
                (`capabilities.extensions`), as servers offering MCP Apps list UI tools only to clients
                that support them
Each tool answers a fixed text naming itself.
"""
import sys
from collections.abc import Sequence

from fastmcp import FastMCP
from fastmcp.server.low_level import client_supports_extension
from fastmcp.server.middleware import Middleware
from fastmcp.tools import Tool

PREVIEW_EXTENSION = "io.example/preview"

mcp = FastMCP("peer-capabilities")


@mcp.tool(annotations={"readOnlyHint": True, "openWorldHint": False})
def always() -> str:
    """Listed to every client."""
    return "always ok"


@mcp.tool(annotations={"readOnlyHint": True, "openWorldHint": False})
def roots_tool() -> str:
    """Listed only to clients that declare roots."""
    return "roots_tool ok"


@mcp.tool(annotations={"readOnlyHint": True, "openWorldHint": False})
def preview_tool() -> str:
    """Listed only to clients that declare the io.example/preview extension."""
    return "preview_tool ok"


class ListByCapabilities(Middleware):
    """Leaves out of tools/list the tools the client did not declare what they need."""

    async def on_list_tools(self, context, call_next) -> Sequence[Tool]:
        tools = await call_next(context)
        session = context.fastmcp_context.session
        capabilities = session.client_capabilities
        has_roots = capabilities is not None and capabilities.roots is not None
        has_preview = client_supports_extension(session, PREVIEW_EXTENSION)
        keep = {"roots_tool": has_roots, "preview_tool": has_preview}
        return [t for t in tools if keep.get(t.name, True)]


mcp.add_middleware(ListByCapabilities())

if __name__ == "__main__":
    transport = sys.argv[1] if len(sys.argv) > 1 else "stdio"
    if transport == "http":
        port = int(sys.argv[2]) if len(sys.argv) > 2 else 8766
        mcp.run(transport="http", host="127.0.0.1", port=port, path="/mcp", show_banner=False)
    else:
        mcp.run(transport="stdio", show_banner=False)
