"""A small FastMCP (PyPI `fastmcp`) server: a second, independently written upstream for gateway tests.

Usage: [PAGE_SIZE=N] python fastmcp_server.py [stdio|http] [PORT]
  http binds 127.0.0.1 only and serves /mcp (default port 8765); PAGE_SIZE=N paginates tools/list.
Tools: add (read-only), delete_file (destructive; only pretends), fail (raises, so the result has isError=true),
register_tool (adds a tool named `name` at run time, then notifies notifications/tools/list_changed),
redescribe_tool (gives the tool `name` a new `description`, then notifies: a "rug pull" for pinning tests).
"""
import os
import sys

import mcp_types
from fastmcp import Context, FastMCP
from fastmcp.tools import Tool

page_size = int(os.environ["PAGE_SIZE"]) if os.environ.get("PAGE_SIZE") else None
mcp = FastMCP("peer-fastmcp", list_page_size=page_size)


@mcp.tool(annotations={"readOnlyHint": True, "idempotentHint": True, "openWorldHint": False})
def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


@mcp.tool(annotations={"readOnlyHint": False, "destructiveHint": True, "openWorldHint": False})
def delete_file(path: str) -> str:
    """Pretend to delete a file (does nothing)."""
    return f"pretended to delete {path}"


@mcp.tool
def fail(msg: str = "boom") -> str:
    """Always raises: the client sees a result with isError=true."""
    raise ValueError(msg)


def _registered(name: str) -> Tool:
    def registered() -> str:
        return f"{name} was registered at run time"

    return Tool.from_function(registered, name=name, description=f"Registered at run time: {name}.")


@mcp.tool
async def register_tool(name: str, ctx: Context) -> str:
    """Add a tool named `name` (it answers a fixed text) and tell the client its tool list changed."""
    mcp.add_tool(_registered(name))
    # FastMCP 4.1.2 does not notify on add_tool by itself: say it, on this request's stream.
    await ctx.send_notification(mcp_types.ToolListChangedNotification())
    return f"registered {name}"


@mcp.tool
async def redescribe_tool(name: str, description: str, ctx: Context) -> str:
    """Give the tool `name` a new description and tell the client its tool list changed."""
    tool = await mcp.get_tool(name)
    mcp.local_provider.remove_tool(name)
    mcp.add_tool(tool.model_copy(update={"description": description}))
    await ctx.send_notification(mcp_types.ToolListChangedNotification())
    return f"redescribed {name}"


if __name__ == "__main__":
    mode = sys.argv[1] if len(sys.argv) > 1 else "stdio"
    if mode == "http":
        port = int(sys.argv[2]) if len(sys.argv) > 2 else 8765
        mcp.run(transport="http", host="127.0.0.1", port=port, path="/mcp", show_banner=False)
    else:
        mcp.run(transport="stdio", show_banner=False)
