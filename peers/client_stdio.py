"""Python SDK peer client over stdio (official `mcp` 2.x): spawns the server command and talks to it.

Usage: python client_stdio.py [--tool T] [--args JSON] [--repeat N] [--progress] [--no-list]
                              [--read-resource URI] [--get-prompt NAME] [--sampling TEXT] [--elicit JSON]
                              [--roots URI] [--log-level LEVEL] [--linger S] -- COMMAND [ARG...]
  e.g. python client_stdio.py --tool get-sum --args '{"a":2,"b":3}' -- \
         node node_modules/@modelcontextprotocol/server-everything/dist/index.js stdio
The child inherits this process's whole environment (so PAGE_SIZE=1, TOKEN=... reach it).
Output: JSON lines, see peer_client.py. Exit 0 ok, 2 isError result, 3 JSON-RPC error, 1 fatal.
"""
import argparse
import os

from mcp import StdioServerParameters
from mcp.client.stdio import stdio_client

from peer_client import add_common_arguments, run


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_common_arguments(p)
    p.add_argument("cmd", nargs="+", help="server command line, after --")
    o = p.parse_args()

    async def open_streams(stack):
        params = StdioServerParameters(command=o.cmd[0], args=o.cmd[1:], env=dict(os.environ))
        read, write = await stack.enter_async_context(stdio_client(params))
        return read, write

    run(open_streams, o)


if __name__ == "__main__":
    main()
