#!/usr/bin/env bash
# Installs the third-party MCP peers that toolgate's end-to-end tests drive: real clients and servers that
# nobody on this project wrote, from the package registries, at pinned versions.
#
# Usage: bash peers/setup.sh [DIR]      (DIR defaults to .peers at the repository root, which git ignores)
#
# DIR/venv          Python: mcp (official SDK), fastmcp, mcp-server-time / -fetch / -git
# DIR/node_modules  server-everything, server-filesystem, inspector (CLI), sdk (TypeScript client),
#                   conformance, supergateway, mcp-remote; playwright-core and axe-core drive the system
#                   Chromium (Debian's `chromium`, installed by .ci/run) in the web UI's browser tests
# DIR/node22        Node 22 from the registry's `node` package (the conformance CLI needs Node >= 22)
# DIR/*.py *.mjs *.cjs   the client and server scripts of this folder, refreshed on every run
#
# Needs python3 (>= 3.10, with venv), node (>= 20) and npm. Idempotent: a stamp file holding the hash of this
# script makes a second run take well under a second; change a pin here and the next run reinstalls.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/.." && pwd)"
DIR="${1:-$ROOT/.peers}"
mkdir -p "$DIR"
DIR="$(cd "$DIR" && pwd)"

PY_PINS=(
  "mcp[cli]==2.3.0"
  "fastmcp==4.1.2"
  "mcp-server-time==2026.10.19"
  "mcp-server-fetch==2026.10.24"
  "mcp-server-git==2026.10.19"
)
NPM_PINS=(
  "@modelcontextprotocol/server-everything@2026.8.31"
  "@modelcontextprotocol/server-filesystem@2026.8.31"
  "@modelcontextprotocol/inspector@0.18.0"
  "@modelcontextprotocol/sdk@1.32.2"
  "@modelcontextprotocol/conformance@0.1.16"
  "supergateway@4.0.0"
  "mcp-remote@0.15.1"
  "playwright-core@1.65.2"
  "axe-core@4.14.1"
)
NODE22_PIN="node@22.23.3"

# The scripts are cheap to copy and may change without this file changing: refresh them every time.
copy_scripts() {
  local f
  for f in "$HERE"/*.py "$HERE"/*.mjs "$HERE"/*.cjs; do
    [ -e "$f" ] || continue
    cmp -s "$f" "$DIR/$(basename "$f")" || cp -f "$f" "$DIR/"
  done
}

STAMP="$DIR/.setup-stamp"
WANT="$(sha256sum "$HERE/setup.sh" | cut -d' ' -f1)"

installed() {
  [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$WANT" ] \
    && [ -x "$DIR/venv/bin/python" ] \
    && [ -d "$DIR/node_modules/@modelcontextprotocol/sdk" ] \
    && [ -d "$DIR/node_modules/playwright-core" ] \
    && [ -x "$DIR/node22/node_modules/.bin/node" ]
}

if installed; then
  copy_scripts
  echo "peers: up to date in $DIR"
  exit 0
fi

# Two runs at once (two test suites, two engineers) must not interleave their installs.
exec 9>"$DIR/.setup.lock"
flock 9
if installed; then
  copy_scripts
  echo "peers: up to date in $DIR"
  exit 0
fi

for tool in python3 node npm; do
  command -v "$tool" >/dev/null || { echo "peers/setup.sh: $tool is required" >&2; exit 1; }
done

start=$SECONDS
cd "$DIR"
rm -f "$STAMP"

echo "peers: python venv"
[ -x venv/bin/python ] || python3 -m venv venv
venv/bin/python -m pip install -q --disable-pip-version-check --upgrade pip
venv/bin/python -m pip install -q --disable-pip-version-check "${PY_PINS[@]}"

echo "peers: npm packages"
[ -f package.json ] || echo '{"name":"toolgate-peers","private":true}' >package.json
npm install --no-audit --no-fund --loglevel=error --save-exact "${NPM_PINS[@]}"

echo "peers: node 22"
mkdir -p node22
[ -f node22/package.json ] || echo '{"name":"toolgate-peers-node22","private":true}' >node22/package.json
(cd node22 && npm install --no-audit --no-fund --loglevel=error --save-exact "$NODE22_PIN")

copy_scripts

echo "peers: python $(venv/bin/python -c 'import importlib.metadata as m; print(*(p + "==" + m.version(p) for p in ["mcp", "fastmcp"]))')"
npm ls --depth=0 2>/dev/null | grep -E 'modelcontextprotocol|supergateway|mcp-remote' || true
echo "peers: node22 $(node22/node_modules/.bin/node --version)"

echo "$WANT" >"$STAMP"
echo "peers: installed in $DIR in $((SECONDS - start))s"
