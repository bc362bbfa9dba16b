#!/usr/bin/env bash
# Smoke test of the installed peers against each other (no toolgate involved): proves that the install works.
# Usage: bash peers/smoke.sh [DIR] [PORT]     (DIR defaults to .peers at the repository root; PORT to 3001)
# Servers bind 127.0.0.1 only; only the processes started here are stopped. Prints "PEERS OK" at the end.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DIR="$(cd "${1:-$ROOT/.peers}" && pwd)"
PORT="${2:-3001}"
FPORT=$((PORT + 1))
cd "$DIR"
PY=venv/bin/python
EVERY=node_modules/@modelcontextprotocol/server-everything/dist/index.js
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT
wait_port() {
  for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.1; done
  echo "port $1 did not open" >&2
  return 1
}

PORT=$PORT NODE_OPTIONS="--require $DIR/force-loopback.cjs" node "$EVERY" streamableHttp >everything-http.log 2>&1 &
PIDS+=($!)
$PY fastmcp_server.py http "$FPORT" >fastmcp-http.log 2>&1 &
PIDS+=($!)
wait_port "$PORT"
wait_port "$FPORT"

echo "== python client -> server-everything (Streamable HTTP)"
$PY client_http.py "http://127.0.0.1:$PORT/mcp" --no-list echo '{"message":"hi"}' | grep '"event":"result"'
echo "== python client -> server-everything (stdio)"
$PY client_stdio.py --no-list --tool get-sum --args '{"a":2,"b":3}' -- node "$EVERY" stdio 2>/dev/null | grep '"event":"result"'
echo "== python client -> FastMCP (Streamable HTTP)"
$PY client_http.py "http://127.0.0.1:$FPORT/mcp" --no-list add '{"a":2,"b":40}' | grep '"event":"result"'
echo "== python auto client -> server-everything"
$PY client_auto.py "http://127.0.0.1:$PORT/mcp" | grep '"event":"initialized"'
echo "== TS SDK client -> server-everything (HTTP)"
node client_ts.mjs "http://127.0.0.1:$PORT/mcp" --no-list echo '{"message":"ts"}' | grep '"event":"result"'
echo "== inspector CLI (headless) -> server-everything (HTTP)"
npx --no-install @modelcontextprotocol/inspector --cli "http://127.0.0.1:$PORT/mcp" --transport http \
  --method tools/call --tool-name get-sum --tool-arg a=1 b=2 2>/dev/null | tr -d '\n' | cut -c1-200
echo
echo "== mcp-server-time (stdio)"
$PY client_stdio.py --no-list --tool get_current_time --args '{"timezone":"UTC"}' -- venv/bin/mcp-server-time | grep '"event":"result"' | cut -c1-200
echo "PEERS OK"
