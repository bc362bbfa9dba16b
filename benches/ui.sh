#!/usr/bin/env bash
# The web UI's server time: how long each page takes to answer with the 219-tool demo server.
#
# Builds the release binaries, starts `toolgate demo` on free loopback ports in a folder of its own
# (HOME points there, so the operator's demo folder is untouched), signs in with the one-time link
# it prints (a cookie jar), makes some calls so that the audit log and the overview have records
# (allowed, limited, denied, one held), requests every page once to warm it (the catalogue's first
# listing of the server happens then), and then times REQUESTS requests of each page with curl's
# time_starttransfer (request sent → first byte of the answer: the server's time plus one loopback
# round trip). Prints min, median, 95th percentile and max in milliseconds.
#
#   bash benches/ui.sh                      # about half a minute plus the release build
#   SKIP_BUILD=1 REQUESTS=20 bash benches/ui.sh
#
# Settings (environment): REQUESTS per page (50), SKIP_BUILD (0). Everything listens on 127.0.0.1;
# every wait is bounded; on exit the demo is stopped and its folder removed.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
REQUESTS=${REQUESTS:-50}
BIN="$ROOT/target/release"

# shellcheck source=benches/common.sh
source "$ROOT/benches/common.sh" ui

mkdir -p "$WORK/home"
HOME="$WORK/home" start demo "$BIN/toolgate" demo --listen 127.0.0.1:0
demo_pid=$LAST_PID
login="" endpoint="" token=""
for _ in $(seq 300); do
  login=$(sed -n 's/^  sign in:  \(http[^ ]*\).*/\1/p' "$WORK/demo.out")
  endpoint=$(sed -n 's/^  endpoint: \(http[^ ]*\).*/\1/p' "$WORK/demo.out")
  token=$(sed -n 's/^  token:    \(tg_[^ ]*\).*/\1/p' "$WORK/demo.out")
  [ -n "$login" ] && grep -q "^Started" "$WORK/demo.out" && break
  kill -0 "$demo_pid" 2>/dev/null || { echo "ui.sh: the demo exited:" >&2; cat "$WORK/demo.err" >&2; exit 1; }
  sleep 0.1
done
[ -n "$login" ] || { echo "ui.sh: the demo printed no sign-in link within 30 s" >&2; exit 1; }
ui="${login%%/ui/*}/ui"
jar="$WORK/cookies"
curl -fsS -o /dev/null -c "$jar" -b "$jar" -L --max-time 10 "$login"

# Some traffic for the audit log and the overview: a session, then calls of each kind.
mcp() {
  curl -sS -o /dev/null -D "$WORK/headers" --max-time 10 -X POST "$endpoint" \
    -H "authorization: Bearer $token" -H 'content-type: application/json' \
    -H 'accept: application/json, text/event-stream' "$@"
}
mcp -d '{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"ui-bench","version":"1"}}}'
session=$(sed -n 's/^[Mm]cp-[Ss]ession-[Ii]d: *\([^[:space:]]*\).*/\1/p' "$WORK/headers")
call() {
  mcp -H "mcp-session-id: $session" -H 'mcp-protocol-version: 2025-11-25' \
    -d "{\"jsonrpc\":\"2.0\",\"id\":$1,\"method\":\"tools/call\",\"params\":{\"name\":\"$2\",\"arguments\":{}}}" || true
}
for i in $(seq 40); do call "$i" findManyCompanies; done
for i in $(seq 41 80); do call "$i" createOneCompany; done
for i in $(seq 81 90); do call "$i" createOneConnectedAccount; done
# One held call: it waits for a decision, so it is left running in the background.
(call 91 deleteOneCompany >/dev/null 2>&1 &)

pages=(
  "overview "
  "catalogue /catalogue"
  "tool /catalogue/crm/deleteOneCompany"
  "policy builder /policies/crm"
  "approvals /approvals"
  "audit /audit"
  "pins /pins"
  "grants /grants"
)
for entry in "${pages[@]}"; do
  curl -fsS -o /dev/null -b "$jar" --max-time 30 "$ui${entry##* }" || {
    echo "ui.sh: $ui${entry##* } failed" >&2
    exit 1
  }
done

printf '| page | requests | min ms | median ms | p95 ms | max ms |\n| --- | ---: | ---: | ---: | ---: | ---: |\n'
for entry in "${pages[@]}"; do
  name=${entry% *}
  path=${entry##* }
  for _ in $(seq "$REQUESTS"); do
    curl -sS -o /dev/null -b "$jar" --max-time 30 -w '%{http_code} %{time_starttransfer}\n' "$ui$path"
  done >"$WORK/times"
  # Only whole pages count: a redirect (to the sign-in page, say) would time nothing.
  if grep -qv '^200 ' "$WORK/times"; then
    echo "ui.sh: $ui$path answered $(grep -v '^200 ' "$WORK/times" | head -1 | cut -d' ' -f1), not 200" >&2
    exit 1
  fi
  cut -d' ' -f2 "$WORK/times" | sort -n | awk -v name="$name" -v n="$REQUESTS" '
    { t[NR] = $1 * 1000 }
    END {
      p95 = int(NR * 0.95 + 0.5); if (p95 < 1) p95 = 1; if (p95 > NR) p95 = NR
      mid = int((NR + 1) / 2)
      printf "| %s | %d | %.1f | %.1f | %.1f | %.1f |\n", name, n, t[1], t[mid], t[p95], t[NR]
    }'
done
