#!/usr/bin/env bash
# Runs the official MCP conformance CLI (@modelcontextprotocol/conformance, installed by setup.sh) under Node 22.
# Usage: bash peers/conformance.sh [DIR] ARGS...     (DIR defaults to .peers at the repository root)
#   bash peers/conformance.sh .peers list
#   bash peers/conformance.sh .peers server --url http://127.0.0.1:3001/mcp [--scenario tools-list]
# Exits 1 if any scenario fails. Summary lines: "✓|✗ <scenario>: N passed, M failed", "Total: N passed, M failed".
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if [ $# -gt 0 ] && [ -d "$1" ]; then DIR="$(cd "$1" && pwd)"; shift; else DIR="$ROOT/.peers"; fi
NODE="$DIR/node22/node_modules/.bin/node"
[ -x "$NODE" ] || { echo "conformance: peers not installed in $DIR: run bash peers/setup.sh" >&2; exit 1; }
exec "$NODE" "$DIR/node_modules/@modelcontextprotocol/conformance/dist/index.js" "$@"
