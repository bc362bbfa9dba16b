"""Shared body of the Python SDK peer clients (client_http.py, client_stdio.py).

The official `mcp` SDK drives the session; this module only turns a command line into calls and prints every
observation as one JSON object per line on stdout, so that Rust tests can parse the output line by line:

  {"event":"initialized","protocolVersion":"2025-11-25","serverInfo":{...},"capabilities":{...}}
  {"event":"session","id":"..."}                       HTTP only, when the server issued Mcp-Session-Id
  {"event":"tool","name":"echo","annotations":{...},"tool":{...full definition...}}   one per tool
  {"event":"tools","count":13,"pages":1}
  {"event":"progress","call":1,"progress":1.0,"total":4.0,"message":null}   with --progress
  {"event":"result","call":1,"isError":false,"result":{...CallToolResult...}}
  {"event":"error","call":31,"code":-32602,"message":"...","data":null}      JSON-RPC error answer
  {"event":"resource","uri":"...","result":{...}}   /  {"event":"error","uri":"...",...}
  {"event":"sampling","request":{...params...}}     with --sampling TEXT: a sampling/createMessage answered
  {"event":"elicitation","request":{...params...}}  with --elicit JSON: an elicitation/create accepted
  {"event":"roots"}                                   with --roots URI: a roots/list answered
  {"event":"log","level":"info","logger":null,"data":...}   every notifications/message received
  {"event":"list_changed"}                            every notifications/tools/list_changed received
  {"event":"tools_after","count":2,"names":[...]}     with --call-then-list: the tools listed after list_changed
  {"event":"fatal","error":"..."}                     anything else (connection refused, HTTP 401, ...)

`call` counts from 1, so with `--repeat 31` the refused 31st call is the line with "call":31; calls made with
`--also-call` count on after the `--tool` ones.
`--call-then-list`: after the calls, wait (at most 10 s, or --timeout if shorter) for a
notifications/tools/list_changed if none came yet, then list the tools again (one `tools_after` event); no
notification in time is fatal.
Exit code: 0 when everything succeeded, 2 when a tool result had isError=true, 3 when a request got a JSON-RPC
error (3 wins over 2), 1 on a fatal error.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from contextlib import AsyncExitStack
from typing import Any

import anyio
from mcp import ClientSession
from mcp.shared.exceptions import MCPError
from mcp import types
from mcp.types import PaginatedRequestParams


def emit(event: str, **fields: Any) -> None:
    print(json.dumps({"event": event, **fields}, default=str, separators=(",", ":")), flush=True)


def dump(model: Any) -> Any:
    return model.model_dump(mode="json", exclude_none=True, by_alias=True)


def add_common_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--tool", help="tool to call after listing")
    p.add_argument("--args", default=None, help="JSON object of tool arguments (default {})")
    p.add_argument("--repeat", type=int, default=1, help="call the tool N times in the same session")
    p.add_argument("--progress", action="store_true", help="ask for progress and print each notification")
    p.add_argument("--no-list", action="store_true", help="skip tools/list")
    p.add_argument("--read-resource", metavar="URI", help="resources/read this URI")
    p.add_argument("--get-prompt", metavar="NAME", help="prompts/get this prompt (arguments from --prompt-args)")
    p.add_argument("--prompt-args", default="{}", help="JSON object of prompt arguments")
    p.add_argument("--timeout", type=float, default=60.0, help="seconds to wait for each answer")
    p.add_argument("--sampling", metavar="TEXT", help="declare sampling; answer every createMessage with TEXT")
    p.add_argument("--elicit", metavar="JSON", help="declare elicitation; accept every request with this content")
    p.add_argument("--roots", metavar="URI", help="declare roots; answer roots/list with this one root")
    p.add_argument("--extension", action="append", default=[], metavar="ID",
                   help="declare the extension ID (capabilities.extensions) with empty settings (repeatable)")
    p.add_argument("--log-level", metavar="LEVEL", help="send logging/setLevel LEVEL after initializing")
    p.add_argument("--linger", type=float, default=0.0, help="seconds to stay connected at the end")
    p.add_argument("--also-call", nargs=2, action="append", default=[], metavar=("TOOL", "JSON_ARGS"),
                   help="another call after the --tool ones, in the same session (repeatable)")
    p.add_argument("--call-then-list", action="store_true",
                   help="after the calls, wait for notifications/tools/list_changed and list the tools again")


class Outcome:
    def __init__(self) -> None:
        self.code = 0

    def tool_error(self) -> None:
        self.code = max(self.code, 2)

    def rpc_error(self) -> None:
        self.code = max(self.code, 3)


class ListChanges:
    """Counts notifications/tools/list_changed; `wait` returns once at least one has come."""

    def __init__(self) -> None:
        self.count = 0
        self.event = anyio.Event()

    def seen(self) -> None:
        self.count += 1
        emit("list_changed")
        self.event.set()

    async def wait(self, seconds: float) -> None:
        with anyio.fail_after(seconds):
            await self.event.wait()


async def fetch_all_tools(s: ClientSession) -> tuple[list[types.Tool], int]:
    tools, cursor, pages = [], None, 0
    while True:  # follow tools/list pagination (nextCursor)
        page = await s.list_tools(params=PaginatedRequestParams(cursor=cursor) if cursor else None)
        tools += page.tools
        pages += 1
        cursor = page.next_cursor
        if not cursor:
            break
    return tools, pages


async def list_all_tools(s: ClientSession) -> None:
    tools, pages = await fetch_all_tools(s)
    for t in tools:
        emit("tool", name=t.name, annotations=dump(t.annotations) if t.annotations else {}, tool=dump(t))
    emit("tools", count=len(tools), pages=pages)


async def call_once(s: ClientSession, o: argparse.Namespace, outcome: Outcome, n: int, tool: str, args: Any) -> None:
    callback = None
    if o.progress:
        async def callback(progress: float, total: float | None, message: str | None, n: int = n) -> None:
            emit("progress", call=n, progress=progress, total=total, message=message)
    try:
        r = await s.call_tool(tool, args, read_timeout_seconds=o.timeout, progress_callback=callback)
    except MCPError as e:
        emit("error", call=n, code=e.code, message=e.message, data=e.data)
        outcome.rpc_error()
        return
    emit("result", call=n, isError=bool(r.is_error), result=dump(r))
    if r.is_error:
        outcome.tool_error()


async def drive(s: ClientSession, o: argparse.Namespace, changes: ListChanges) -> int:
    outcome = Outcome()
    init = await s.initialize()
    emit(
        "initialized",
        protocolVersion=init.protocol_version,
        serverInfo=dump(init.server_info),
        capabilities=dump(init.capabilities),
    )
    if o.log_level:
        await s.set_logging_level(o.log_level)
    if not o.no_list:
        await list_all_tools(s)
    calls = 0
    if o.tool:
        args = json.loads(o.args) if o.args is not None else {}
        for _ in range(o.repeat):
            calls += 1
            await call_once(s, o, outcome, calls, o.tool, args)
    for tool, args in o.also_call:
        calls += 1
        await call_once(s, o, outcome, calls, tool, json.loads(args))
    if o.call_then_list:
        try:
            await changes.wait(min(o.timeout, 10.0))
        except TimeoutError:
            raise TimeoutError("no notifications/tools/list_changed arrived after the calls") from None
        tools, _ = await fetch_all_tools(s)
        emit("tools_after", count=len(tools), names=[t.name for t in tools])
    if o.read_resource:
        try:
            r = await s.read_resource(o.read_resource)
            emit("resource", uri=o.read_resource, result=dump(r))
        except MCPError as e:
            emit("error", uri=o.read_resource, code=e.code, message=e.message, data=e.data)
            outcome.rpc_error()
    if o.get_prompt:
        try:
            r = await s.get_prompt(o.get_prompt, json.loads(o.prompt_args))
            emit("prompt", name=o.get_prompt, result=dump(r))
        except MCPError as e:
            emit("error", prompt=o.get_prompt, code=e.code, message=e.message, data=e.data)
            outcome.rpc_error()
    if o.linger > 0:
        await anyio.sleep(o.linger)
    return outcome.code


def server_request_callbacks(o: argparse.Namespace, changes: ListChanges) -> dict[str, Any]:
    """ClientSession keyword arguments: callbacks for the server-to-client requests the options declare (a
    callback declares the capability), one printing every log notification, one noting every
    tools/list_changed, and the extensions to declare."""

    async def on_log(params: types.LoggingMessageNotificationParams) -> None:
        emit("log", level=params.level, logger=params.logger, data=params.data)

    async def on_message(message: Any) -> None:
        if isinstance(message, types.ToolListChangedNotification):
            changes.seen()

    callbacks: dict[str, Any] = {"logging_callback": on_log, "message_handler": on_message}
    if o.extension:
        callbacks["extensions"] = {identifier: {} for identifier in o.extension}
    if o.sampling is not None:
        text = o.sampling

        async def on_sampling(context: Any, params: types.CreateMessageRequestParams) -> types.CreateMessageResult:
            emit("sampling", request=dump(params))
            return types.CreateMessageResult(
                role="assistant",
                content=types.TextContent(type="text", text=text),
                model="toolgate-peer",
                stop_reason="endTurn",
            )

        callbacks["sampling_callback"] = on_sampling
    if o.elicit is not None:
        content = json.loads(o.elicit)

        async def on_elicit(context: Any, params: types.ElicitRequestParams) -> types.ElicitResult:
            emit("elicitation", request=dump(params))
            return types.ElicitResult(action="accept", content=content)

        callbacks["elicitation_callback"] = on_elicit
    if o.roots is not None:
        uri = o.roots

        async def on_roots(context: Any) -> types.ListRootsResult:
            emit("roots")
            return types.ListRootsResult(roots=[types.Root(uri=uri, name="peer root")])

        callbacks["list_roots_callback"] = on_roots
    return callbacks


def describe(e: BaseException) -> str:
    """Flattens anyio's exception groups into the messages of their leaves."""
    if isinstance(e, BaseExceptionGroup):
        return "; ".join(describe(x) for x in e.exceptions)
    return f"{type(e).__name__}: {e}"


def run(open_streams, o: argparse.Namespace) -> None:
    """open_streams(stack) -> (read, write): enters the transport on the given exit stack."""

    async def main() -> int:
        async with AsyncExitStack() as stack:
            read, write = await open_streams(stack)
            changes = ListChanges()
            s = await stack.enter_async_context(ClientSession(read, write, **server_request_callbacks(o, changes)))
            return await drive(s, o, changes)

    try:
        code = anyio.run(main)
    except (Exception, BaseExceptionGroup) as e:  # noqa: BLE001 - every failure becomes a parseable line
        emit("fatal", error=describe(e))
        code = 1
    sys.stdout.flush()
    sys.exit(code)


def auth_headers(extra: list[str]) -> dict[str, str]:
    """TOKEN in the environment becomes `Authorization: Bearer TOKEN`; --header K:V adds more."""
    headers: dict[str, str] = {}
    if os.environ.get("TOKEN"):
        headers["Authorization"] = f"Bearer {os.environ['TOKEN']}"
    for h in extra:
        k, _, v = h.partition(":")
        headers[k.strip()] = v.strip()
    return headers
