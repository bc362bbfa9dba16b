"""Python SDK high-level Client in mode "auto": probes `server/discover` (protocol 2026-07-28) before falling
back to the initialize handshake. Proves that a server (or the gateway) answers the probe so clients fall back.

Usage: python client_auto.py URL        (env TOKEN=... sends `Authorization: Bearer ...`)
Output: {"event":"initialized","protocolVersion":"..."} then {"event":"tools","count":N,"names":[...]}.
"""
import json
import os
import sys

import anyio
from mcp.client import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client


def emit(event, **fields):
    print(json.dumps({"event": event, **fields}, separators=(",", ":")), flush=True)


async def main(url: str) -> None:
    server = url
    if os.environ.get("TOKEN"):
        headers = {"Authorization": f"Bearer {os.environ['TOKEN']}"}
        server = streamable_http_client(url, http_client=create_mcp_http_client(headers=headers))
    async with Client(server) as c:  # mode="auto": probes server/discover, falls back to initialize
        emit("initialized", protocolVersion=c.protocol_version)
        names = [t.name for t in (await c.list_tools()).tools]
        emit("tools", count=len(names), names=names)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    anyio.run(main, sys.argv[1])
