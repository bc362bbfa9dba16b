"""Python SDK peer client over Streamable HTTP (official `mcp` 2.x, ClientSession.initialize handshake).

Usage: python client_http.py URL [TOOL [JSON_ARGS]] [--tool T] [--args JSON] [--repeat N] [--progress]
                             [--no-list] [--read-resource URI] [--get-prompt NAME] [--header 'K: V']...
                             [--sampling TEXT] [--elicit JSON] [--roots URI] [--log-level LEVEL] [--linger S]
  env TOKEN=...  sends `Authorization: Bearer ...` on every request.
  e.g. python client_http.py http://127.0.0.1:3001/mcp echo '{"message":"hi"}'
       TOKEN=tg_x python client_http.py http://127.0.0.1:8080/mcp/crm --no-list --tool createOneWorkflowRun \
         --args '{"requestBody":{}}' --repeat 31
Output: JSON lines, see peer_client.py. Exit 0 ok, 2 isError result, 3 JSON-RPC error, 1 fatal.
"""
import argparse

from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client

from peer_client import add_common_arguments, auth_headers, emit, run


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("url")
    p.add_argument("tool_pos", nargs="?", metavar="TOOL")
    p.add_argument("args_pos", nargs="?", metavar="JSON_ARGS")
    p.add_argument("--header", action="append", default=[], help="extra request header 'Name: value'")
    add_common_arguments(p)
    o = p.parse_intermixed_args()
    o.tool = o.tool or o.tool_pos
    o.args = o.args if o.args is not None else o.args_pos

    seen_session: list[str] = []

    async def on_response(response) -> None:
        sid = response.headers.get("mcp-session-id")
        if sid and sid not in seen_session:
            seen_session.append(sid)
            emit("session", id=sid)

    async def open_streams(stack):
        client = create_mcp_http_client(headers=auth_headers(o.header))
        client.event_hooks["response"].append(on_response)
        await stack.enter_async_context(client)
        read, write, *_ = await stack.enter_async_context(streamable_http_client(o.url, http_client=client))
        return read, write

    run(open_streams, o)


if __name__ == "__main__":
    main()
