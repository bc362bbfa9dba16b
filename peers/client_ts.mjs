// TypeScript SDK peer client (@modelcontextprotocol/sdk 1.x), over Streamable HTTP or stdio.
//
// Usage: node client_ts.mjs URL [TOOL [JSON_ARGS]] [options]
//        node client_ts.mjs --stdio "CMD ARG..." [TOOL [JSON_ARGS]] [options]
//        node client_ts.mjs --stdio '["CMD","ARG with spaces"]' [TOOL [JSON_ARGS]] [options]
// Options: --repeat N (call the tool N times in one session), --progress (print progress notifications),
//          --no-list (skip tools/list), --timeout SECONDS (per request, default 60),
//          --sampling TEXT (declare sampling, answer every sampling/createMessage with the assistant text TEXT),
//          --elicit JSON (declare elicitation, accept every elicitation/create with this content),
//          --roots URI (declare roots, answer roots/list with this one root),
//          --log-level LEVEL (logging/setLevel after connecting), --linger SECONDS (stay connected at the end).
// env TOKEN=... sends `Authorization: Bearer ...` over HTTP. Run from the folder setup.sh filled (its
// node_modules has the SDK); the stdio child inherits this environment.
//
// Output: one JSON object per line, the same events as the Python clients (peer_client.py):
//   initialized, session, tool, tools, progress, result, error, fatal; and sampling, elicitation, roots
//   (a server request answered, with its params as "request") and log (every notifications/message).
// Exit code: 0 ok, 2 when a tool result had isError, 3 on a JSON-RPC error answer, 1 fatal.
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import {
  CreateMessageRequestSchema,
  ElicitRequestSchema,
  ListRootsRequestSchema,
  LoggingMessageNotificationSchema,
  McpError,
  ProgressNotificationSchema,
} from "@modelcontextprotocol/sdk/types.js";

const emit = (event, fields = {}) => process.stdout.write(JSON.stringify({ event, ...fields }) + "\n");

function parseArgs(argv) {
  const o = { repeat: 1, progress: false, list: true, timeout: 60, linger: 0, positional: [] };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === "--stdio") o.stdio = argv[++i];
    else if (a === "--repeat") o.repeat = Number(argv[++i]);
    else if (a === "--progress") o.progress = true;
    else if (a === "--no-list") o.list = false;
    else if (a === "--timeout") o.timeout = Number(argv[++i]);
    else if (a === "--sampling") o.sampling = argv[++i];
    else if (a === "--elicit") o.elicit = JSON.parse(argv[++i]);
    else if (a === "--roots") o.roots = argv[++i];
    else if (a === "--log-level") o.logLevel = argv[++i];
    else if (a === "--linger") o.linger = Number(argv[++i]);
    else o.positional.push(a);
  }
  if (!o.stdio) o.url = o.positional.shift();
  [o.tool, o.args] = o.positional;
  if (!o.stdio && !o.url) {
    process.stderr.write("usage: node client_ts.mjs URL|--stdio CMD [TOOL [JSON_ARGS]] [--repeat N] [--progress]\n");
    process.exit(64);
  }
  return o;
}

function transportFor(o) {
  if (o.stdio) {
    // A JSON array keeps arguments with spaces intact; a plain string is split on spaces.
    const argv = o.stdio.trimStart().startsWith("[") ? JSON.parse(o.stdio) : o.stdio.split(" ").filter(Boolean);
    const [command, ...args] = argv;
    return new StdioClientTransport({ command, args, env: { ...process.env }, stderr: "ignore" });
  }
  const headers = process.env.TOKEN ? { Authorization: `Bearer ${process.env.TOKEN}` } : {};
  return new StreamableHTTPClientTransport(new URL(o.url), { requestInit: { headers } });
}

async function main() {
  const o = parseArgs(process.argv.slice(2));
  const transport = transportFor(o);
  const capabilities = {};
  if (o.sampling !== undefined) capabilities.sampling = {};
  if (o.elicit !== undefined) capabilities.elicitation = {};
  if (o.roots !== undefined) capabilities.roots = { listChanged: false };
  const client = new Client({ name: "toolgate-peer-ts", version: "0.1.0" }, { capabilities });
  if (o.sampling !== undefined) {
    client.setRequestHandler(CreateMessageRequestSchema, (r) => {
      emit("sampling", { request: r.params });
      return { role: "assistant", content: { type: "text", text: o.sampling }, model: "toolgate-peer", stopReason: "endTurn" };
    });
  }
  if (o.elicit !== undefined) {
    client.setRequestHandler(ElicitRequestSchema, (r) => {
      emit("elicitation", { request: r.params });
      return { action: "accept", content: o.elicit };
    });
  }
  if (o.roots !== undefined) {
    client.setRequestHandler(ListRootsRequestSchema, () => {
      emit("roots");
      return { roots: [{ uri: o.roots, name: "peer root" }] };
    });
  }
  client.setNotificationHandler(LoggingMessageNotificationSchema, (n) => {
    emit("log", { level: n.params.level, logger: n.params.logger ?? null, data: n.params.data ?? null });
  });
  const timeout = o.timeout * 1000;
  // The SDK matches progress to its request inside a microtask, after a response read in the same chunk may
  // have retired the request: the last notification would be lost. Printing from our own handler keeps them all
  // (calls run one at a time, so the current call is the one they belong to).
  let current = 0;
  client.setNotificationHandler(ProgressNotificationSchema, (n) => {
    const p = n.params;
    emit("progress", { call: current, progress: p.progress, total: p.total ?? null, message: p.message ?? null });
  });
  await client.connect(transport, { timeout });
  emit("initialized", {
    protocolVersion: transport.protocolVersion ?? null,
    serverInfo: client.getServerVersion() ?? null,
    capabilities: client.getServerCapabilities() ?? null,
  });
  if (transport.sessionId) emit("session", { id: transport.sessionId });
  if (o.logLevel) await client.setLoggingLevel(o.logLevel, { timeout });
  if (o.list) {
    let cursor, count = 0, pages = 0;
    do {
      const page = await client.listTools(cursor ? { cursor } : undefined, { timeout });
      for (const t of page.tools) emit("tool", { name: t.name, annotations: t.annotations ?? {}, tool: t });
      count += page.tools.length; pages += 1; cursor = page.nextCursor;
    } while (cursor);
    emit("tools", { count, pages });
  }
  let code = 0;
  if (o.tool) {
    const args = JSON.parse(o.args ?? "{}");
    for (let n = 1; n <= o.repeat; n++) {
      current = n;
      const options = { timeout };
      // onprogress makes the SDK send a progressToken; the notifications are printed by the handler above.
      if (o.progress) options.onprogress = () => {};
      try {
        const r = await client.callTool({ name: o.tool, arguments: args }, undefined, options);
        emit("result", { call: n, isError: Boolean(r.isError), result: r });
        if (r.isError) code = Math.max(code, 2);
      } catch (e) {
        if (!(e instanceof McpError)) throw e;
        emit("error", { call: n, code: e.code, message: e.message, data: e.data ?? null });
        code = 3;
      }
    }
  }
  if (o.linger > 0) await new Promise((resolve) => setTimeout(resolve, o.linger * 1000));
  if (transport.terminateSession) await transport.terminateSession().catch(() => {});
  await client.close();
  return code;
}

// Exit only once stdout is flushed: writes to a pipe are asynchronous in Node, and an early
// process.exit() would cut off the last lines of a long tool list.
const exitAfterFlush = (code) => process.stdout.write("", () => process.exit(code));
main().then(exitAfterFlush, (e) => {
  emit("fatal", { error: String(e?.stack ?? e) });
  exitAfterFlush(1);
});
