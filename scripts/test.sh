#!/usr/bin/env bash
# The project's test command: installs the third-party MCP peers the end-to-end tests drive (fast when they are
# already installed), then runs every test of the workspace.
# Usage: bash scripts/test.sh [extra arguments for cargo nextest run / cargo test]
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

bash peers/setup.sh "${TOOLGATE_PEERS:-.peers}"

if cargo nextest --version >/dev/null 2>&1; then
  config=()
  [ -f .config/nextest.toml ] || config=(--config-file scripts/nextest.toml)
  exec cargo nextest run "${config[@]}" --workspace --no-fail-fast "$@"
else
  echo "cargo-nextest not found: falling back to cargo test" >&2
  exec cargo test --workspace --no-fail-fast "$@"
fi
