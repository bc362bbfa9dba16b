#!/usr/bin/env bash
# The gateway under load: tools/call and tools/list, direct to bench-upstream and through toolgate.
#
# Builds the release binaries, starts on free loopback ports one bench-upstream (HTTP) and four
# gateways in front of it, each with its config in its own folder: allow-all over HTTP with the
# default store (SQLite `toolgate.db` next to the config: audit on); the same with `store = "none"`
# (audit off); the realistic 219-tool policy with a grant over HTTP, default store; allow-all over a
# shared stdio bench-upstream child, default store; allow-all over HTTP in strict audit durability
# (each call's record synced to disk before it is forwarded), against the allow-all gateway in
# batched durability. Then it runs every scenario at every client
# count, interleaved (the order reversed every other round), for ROUNDS rounds, and reports the
# median of the rounds as a table of ratios against direct. Before each run it waits until every
# audit-on gateway's audit queue (`toolgate_audit_queue_depth` on /metrics) is empty, so no run pays
# for the previous one's backlog; the queue left at the end of each run is recorded. At the end the
# audit-on gateways are stopped with SIGTERM (which flushes the audit log) and the records in each
# SQLite file are counted against the requests loadgen sent them. With WRITE_README=1 (the default)
# the table replaces the part of benches/README.md between the load.sh markers, with the machine
# and the date.
#
#   bash benches/load.sh                         # 3 rounds x 7 scenarios x {1,16} clients x (1+5) s
#   ROUNDS=1 DURATION=1 WARMUP=0.5 WRITE_README=0 bash benches/load.sh   # a quick check
#
# Settings (environment): ROUNDS (3), DURATION seconds measured per run (5), WARMUP seconds per
# run (1), CLIENTS ("1 16"), WRITE_README (1), SKIP_BUILD (0), LOADGEN_THREADS (1), DRAIN_TIMEOUT
# seconds to wait for an audit queue to empty (120).
# Everything listens on 127.0.0.1; each run is bounded by `timeout`; on exit only the processes
# this script started are stopped (by pid) and its temporary directory is removed.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$PWD

ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-5}
WARMUP=${WARMUP:-1}
CLIENTS=${CLIENTS:-"1 16"}
WRITE_README=${WRITE_README:-1}
LOADGEN_THREADS=${LOADGEN_THREADS:-1}
DRAIN_TIMEOUT=${DRAIN_TIMEOUT:-120}
BIN="$ROOT/target/release"

# shellcheck source=benches/common.sh
source "$ROOT/benches/common.sh" load

# first_url NAME PID PATTERN: waits (10 s at most) for PATTERN on NAME's stdout; prints its URL.
first_url() {
  local name=$1 pid=$2 pattern=$3 line i
  for i in $(seq 100); do
    line=$(grep -m1 "$pattern" "$WORK/$name.out" 2>/dev/null || true)
    if [ -n "$line" ]; then
      printf '%s\n' "${line##* }"
      return 0
    fi
    if ! kill -0 "$pid" 2>/dev/null; then
      echo "load.sh: $name exited:" >&2
      cat "$WORK/$name.err" >&2
      return 1
    fi
    sleep 0.1
  done
  echo "load.sh: $name did not start within 10 s" >&2
  return 1
}

start upstream "$BIN/bench-upstream" http --listen 127.0.0.1:0
UP=$(first_url upstream "$LAST_PID" '^listening on ')

"$BIN/bench-upstream" policy >"$WORK/realistic.json"
TOKEN="bench-$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')"
TOKEN_SHA=$(printf %s "$TOKEN" | sha256sum | cut -d' ' -f1)

# One folder per gateway: the default store is `toolgate.db` next to the config.
for g in allow allow-noaudit realistic stdio strict; do mkdir -p "$WORK/gw-$g"; done
cat >"$WORK/gw-allow/toolgate.toml" <<EOF
[gateway]
listen = "127.0.0.1:0"

[audit]
durability = "batched"

[servers.bench]
url = "$UP"
EOF
cat >"$WORK/gw-strict/toolgate.toml" <<EOF
[gateway]
listen = "127.0.0.1:0"

[audit]
durability = "strict"

[servers.bench]
url = "$UP"
EOF
cat >"$WORK/gw-allow-noaudit/toolgate.toml" <<EOF
[gateway]
listen = "127.0.0.1:0"
store = "none"

[servers.bench]
url = "$UP"
EOF
cat >"$WORK/gw-realistic/toolgate.toml" <<EOF
[gateway]
listen = "127.0.0.1:0"

[servers.bench]
url = "$UP"
policy = "$WORK/realistic.json"

[grants.bench]
agent = "bench-agent"
token_sha256 = "$TOKEN_SHA"
servers = ["bench"]
tags = ["staff"]
EOF
cat >"$WORK/gw-stdio/toolgate.toml" <<EOF
[gateway]
listen = "127.0.0.1:0"

[servers.bench]
command = "$BIN/bench-upstream"
args = ["stdio"]
EOF

declare -A GW GWPID ADMIN
AUDITED=(allow realistic stdio strict)
for g in allow allow-noaudit realistic stdio strict; do
  "$BIN/toolgate" validate -c "$WORK/gw-$g/toolgate.toml" >/dev/null
  start "gw-$g" "$BIN/toolgate" serve -c "$WORK/gw-$g/toolgate.toml"
  GWPID[$g]=$LAST_PID
  GW[$g]=$(first_url "gw-$g" "$LAST_PID" '^toolgate listening on ')
  # The admin plane (`/metrics`): "toolgate admin plane on http://ADDR (/api, /ui, /metrics)".
  ADMIN[$g]=$(first_url "gw-$g" "$LAST_PID" '^toolgate admin plane on ' >/dev/null;
    grep -m1 '^toolgate admin plane on ' "$WORK/gw-$g.out" | awk '{ print $5 }')
done

# queue_depth GATEWAY: its audit queue depth from /metrics (empty if unreadable).
queue_depth() {
  { curl -fsS --max-time 2 "${ADMIN[$1]}/metrics" 2>/dev/null || true; } |
    awk '$1 == "toolgate_audit_queue_depth" && !seen { print $2; seen = 1 }'
}

# drain: waits (DRAIN_TIMEOUT at most) until every audit-on gateway's audit queue is empty.
drain() {
  local g d deadline=$((SECONDS + DRAIN_TIMEOUT))
  for g in "${AUDITED[@]}"; do
    while :; do
      d=$(queue_depth "$g")
      [ "${d:-x}" = 0 ] && break
      if [ "$SECONDS" -ge "$deadline" ]; then
        echo "load.sh: the audit queue of gateway '$g' is still at ${d:-?} after ${DRAIN_TIMEOUT} s" >&2
        break
      fi
      sleep 0.2
    done
  done
}

# name|gateway (- for none)|url|method|auth
SCENARIOS=(
  "direct|-|$UP|call|"
  "allow-all|allow|${GW[allow]}/mcp/bench|call|"
  "allow-all-noaudit|allow-noaudit|${GW[allow-noaudit]}/mcp/bench|call|"
  "allow-all-strict|strict|${GW[strict]}/mcp/bench|call|"
  "realistic|realistic|${GW[realistic]}/mcp/bench|call|auth"
  "stdio|stdio|${GW[stdio]}/mcp/bench|call|"
  "list-direct|-|$UP|list|"
  "list-gateway|allow|${GW[allow]}/mcp/bench|list|"
)

RESULTS="$WORK/results.jsonl"
: >"$RESULTS"
budget=$(awk -v d="$DURATION" -v w="$WARMUP" 'BEGIN { printf "%d", d + w + 30 }')
for round in $(seq "$ROUNDS"); do
  order=("${SCENARIOS[@]}")
  if [ $((round % 2)) = 0 ]; then
    order=()
    for ((i = ${#SCENARIOS[@]} - 1; i >= 0; i--)); do order+=("${SCENARIOS[i]}"); done
  fi
  for c in $CLIENTS; do
    for s in "${order[@]}"; do
      IFS='|' read -r name gw url method auth <<<"$s"
      extra=()
      [ "$auth" = auth ] && extra=(--header "Authorization: Bearer $TOKEN")
      drain
      line=$(timeout "$budget" "$BIN/loadgen" --url "$url" --method "$method" \
        --sessions "$c" --concurrency "$c" --duration "$DURATION" --warmup "$WARMUP" \
        --threads "$LOADGEN_THREADS" "${extra[@]}" || true)
      backlog=null
      if [ "$gw" != - ] && [ "$gw" != allow-noaudit ]; then backlog=$(queue_depth "$gw"); fi
      [ -n "$line" ] || line='{"fatal":"loadgen gave no output (timed out or crashed)"}'
      printf '{"scenario":"%s","gateway":"%s","round":%s,"clients":%s,"audit_backlog":%s,"report":%s}\n' \
        "$name" "$gw" "$round" "$c" "${backlog:-null}" "$line" >>"$RESULTS"
      printf 'round %s  %-17s %2s clients  %s  audit queue after: %s\n' "$round" "$name" "$c" \
        "$(printf '%s' "$line" | python3 -c 'import json,sys; r=json.load(sys.stdin); print(r.get("fatal") or "%(rps).0f/s p50 %(p50_us)s us p99 %(p99_us)s us errors %(errors)s" % r)')" \
        "${backlog:-?}" >&2
    done
  done
done
drain

# Stop the audit-on gateways (SIGTERM flushes the audit log), then count the records in each
# SQLite file: one record per request loadgen sent (initialize, warm-up and measured requests).
AUDIT="$WORK/audit.jsonl"
: >"$AUDIT"
for g in "${AUDITED[@]}"; do
  kill -TERM "${GWPID[$g]}" 2>/dev/null || true
  for i in $(seq $((DRAIN_TIMEOUT * 10))); do kill -0 "${GWPID[$g]}" 2>/dev/null || break; sleep 0.1; done
  wait "${GWPID[$g]}" 2>/dev/null || true
  # Reaped: drop it from PIDS so that cleanup never signals a pid the system may have reused.
  keep=()
  for p in "${PIDS[@]}"; do [ "$p" = "${GWPID[$g]}" ] || keep+=("$p"); done
  PIDS=("${keep[@]}")
  python3 - "$WORK/gw-$g/toolgate.db" "$g" >>"$AUDIT" <<'PY'
import json, sqlite3, sys
db, gw = sys.argv[1:]
try:
    con = sqlite3.connect(db)
    # In strict durability a tool call also has a request record before its outcome: count calls.
    calls = "FROM audit_records WHERE phase IS NOT 'request'"
    n = con.execute(f"SELECT COUNT(*) {calls}").fetchone()[0]
    methods = dict(con.execute(f"SELECT method, COUNT(*) {calls} GROUP BY method").fetchall())
    requests = con.execute("SELECT COUNT(*) FROM audit_records WHERE phase = 'request'").fetchone()[0]
    print(json.dumps({"gateway": gw, "records": n, "methods": methods, "request_records": requests}))
except Exception as e:
    print(json.dumps({"gateway": gw, "error": f"{db}: {e}"}))
PY
  tail -1 "$AUDIT" >&2
done

CPU=$(grep -m1 '^model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//' || true)
MACHINE="$(nproc) cores ($(uname -m)), ${CPU:-unknown CPU}"
DATE=$(date -u +%Y-%m-%d)
COMMIT="\`$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)\`"
# The binaries are built from the work tree: say how far it is from the commit (the bench's own
# files aside), as the tree may be shared with other work in progress.
OTHER=$(git -C "$ROOT" status --porcelain -- . ':!benches' ':!crates/bench' 2>/dev/null | wc -l || echo 0)
[ "$OTHER" -gt 0 ] && COMMIT="$COMMIT plus uncommitted edits to $OTHER paths outside benches/ and crates/bench/ then in the work tree"

python3 - "$RESULTS" "$ROOT/benches/README.md" "$WRITE_README" "$MACHINE" "$DATE" "$COMMIT" \
  "$ROUNDS" "$DURATION" "$WARMUP" "$AUDIT" <<'PY'
import json, os, statistics, sys

results, readme, write, machine, date, commit, rounds, duration, warmup, audit = sys.argv[1:]
runs = {}
sent = {}
backlog = {}
for line in open(results):
    r = json.loads(line)
    runs.setdefault((r["scenario"], r["clients"]), []).append(r["report"])
    sent[r["gateway"]] = sent.get(r["gateway"], 0) + r["report"].get("sent", 0)
    if r.get("audit_backlog") is not None:
        key = (r["scenario"], r["clients"])
        backlog[key] = max(backlog.get(key, 0), r["audit_backlog"])
audited = [json.loads(line) for line in open(audit)]

def med(scenario, clients, key):
    vals = [r[key] for r in runs.get((scenario, clients), []) if "fatal" not in r]
    return statistics.median(vals) if vals else None

def errors(scenario, clients):
    rs = runs.get((scenario, clients), [])
    return sum(r.get("errors", 0) for r in rs) + sum(1 for r in rs if "fatal" in r)

def first_error(scenario, clients):
    for r in runs.get((scenario, clients), []):
        e = r.get("fatal") or r.get("first_error")
        if e:
            return e
    return None

clients = sorted({c for _, c in runs})
what = {
    "direct": ("tools/call `echo`, direct to bench-upstream (HTTP)", "direct", "n/a"),
    "allow-all": ("through toolgate, no policy (allow-all), HTTP upstream", "direct", "on (SQLite)"),
    "allow-all-noaudit": ("through toolgate, no policy (allow-all), HTTP upstream, `store = \"none\"`", "direct", "off"),
    "allow-all-strict": ("through toolgate, no policy (allow-all), HTTP upstream, `durability = \"strict\"`", "direct", "on (SQLite, strict)"),
    "realistic": ("through toolgate, realistic 219-tool policy + grant, HTTP upstream", "direct", "on (SQLite)"),
    "stdio": ("through toolgate, no policy, shared stdio upstream", "direct", "on (SQLite)"),
    "list-direct": ("tools/list (220 tools), direct", "list-direct", "n/a"),
    "list-gateway": ("tools/list (220 tools) through toolgate, no policy", "list-direct", "on (SQLite)"),
}

def f(x, d=0):
    return "–" if x is None else f"{x:,.{d}f}"

def ratio(a, b):
    return "–" if a is None or not b else f"{a / b:.2f}×"

def delta(a, b):
    return "–" if a is None or b is None else f"{a - b:+,.0f}"

rows = []
rows.append("| scenario | clients | req/s | req/s vs direct | p50 µs | p50 − direct | p99 µs | p99 − direct | p99.9 µs | errors | audit |")
rows.append("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |")
for c in clients:
    for name, (label, base, audit) in what.items():
        if (name, c) not in runs:
            continue
        rps, p50, p99, p999 = (med(name, c, k) for k in ("rps", "p50_us", "p99_us", "p999_us"))
        brps, bp50, bp99 = (med(base, c, k) for k in ("rps", "p50_us", "p99_us"))
        same = name == base
        rows.append(
            f"| {label} | {c} | {f(rps)} | {'1.00×' if same else ratio(rps, brps)} | {f(p50)} | "
            f"{'–' if same else delta(p50, bp50)} | {f(p99)} | {'–' if same else delta(p99, bp99)} | "
            f"{f(p999)} | {errors(name, c)} | {audit} |"
        )

def target(label, ok, detail):
    mark = "–" if ok is None else ("met" if ok else "**not met**")
    return f"| {label} | {detail} | {mark} |"

def both(*xs):
    return all(x is not None for x in xs)

t = ["| target | measured | status |", "| --- | --- | --- |"]
d50, a50, d99, a99 = med("direct", 1, "p50_us"), med("allow-all", 1, "p50_us"), med("direct", 1, "p99_us"), med("allow-all", 1, "p99_us")
t.append(target("allow-all, 1 client: p50 ≤ direct + 50 µs", both(d50, a50) and a50 <= d50 + 50 if both(d50, a50) else None,
                f"{delta(a50, d50)} µs"))
t.append(target("allow-all, 1 client: p99 ≤ direct + 150 µs", both(d99, a99) and a99 <= d99 + 150 if both(d99, a99) else None,
                f"{delta(a99, d99)} µs"))
d16, a16 = med("direct", 16, "rps"), med("allow-all", 16, "rps")
t.append(target("allow-all, 16 clients: ≥ 30% of direct req/s", a16 >= 0.3 * d16 if both(d16, a16) else None,
                "–" if not both(d16, a16) else f"{100 * a16 / d16:.1f}%"))
t.append(target("allow-all, 16 clients: ≥ 24,000 req/s (5 × 4,800)", a16 >= 24000 if a16 is not None else None, f"{f(a16)} req/s"))
r16, r50 = med("realistic", 16, "rps"), med("realistic", 1, "p50_us")
t.append(target("realistic policy within 15% of allow-all (16-client req/s)", r16 >= 0.85 * a16 if both(r16, a16) else None,
                "–" if not both(r16, a16) else f"{100 * (r16 / a16 - 1):+.1f}%"))
t.append(target("realistic policy within 15% of allow-all (1-client p50)", r50 <= 1.15 * a50 if both(r50, a50) else None,
                "–" if not both(r50, a50) else f"{100 * (r50 / a50 - 1):+.1f}%"))
s16 = med("allow-all-strict", 16, "rps")
t.append(target("strict audit durability within 10% of batched (16-client req/s)", s16 >= 0.9 * a16 if both(s16, a16) else None,
                "–" if not both(s16, a16) else f"{100 * (s16 / a16 - 1):+.1f}% ({f(s16)} strict vs {f(a16)} batched req/s)"))
n16 = med("allow-all-noaudit", 16, "rps")
t.append(target("audit on within 10% of audit off (16-client req/s)", a16 >= 0.9 * n16 if both(a16, n16) else None,
                "–" if not both(a16, n16) else f"{100 * (a16 / n16 - 1):+.1f}% ({f(a16)} on vs {f(n16)} off req/s)"))
l0, l1 = med("list-direct", 1, "p50_us"), med("list-gateway", 1, "p50_us")
t.append(target("tools/list of 220 tools, 1 client: p50 ≤ direct", l1 <= l0 if both(l0, l1) else None,
                "–" if not both(l0, l1) else f"{f(l1)} µs vs {f(l0)} µs"))

errs = [(k, first_error(*k)) for k in runs if errors(*k)]
notes = [f"- `{s}` at {c} clients: {e}" for (s, c), e in errs]

serves = {
    "allow": "allow-all and tools/list scenarios",
    "realistic": "realistic scenario",
    "stdio": "stdio scenario",
    "strict": "allow-all-strict scenario",
}
checks = []
for a in audited:
    g = a["gateway"]
    n = sent.get(g, 0)
    if "error" in a:
        checks.append(f"- `{g}` gateway ({serves.get(g, g)}): requests sent: {n:,}; audit records: unreadable ({a['error']})")
        continue
    m = a["records"]
    verdict = "every request recorded" if m == n else f"**{m - n:+,} records against requests sent**"
    by = ", ".join(f"{k} {v:,}" for k, v in sorted(a["methods"].items()))
    extra = f"; plus {a['request_records']:,} request records written before forwarding" if a.get("request_records") else ""
    checks.append(f"- `{g}` gateway ({serves.get(g, g)}): requests sent: {n:,}, audit records written: {m:,} "
                  f"({by}) — {verdict}{extra}")
queues = ", ".join(f"{s} {c} {'client' if c == 1 else 'clients'}: {v:,}" for (s, c), v in sorted(backlog.items()))

body = "\n".join([
    f"{date}, {machine}, toolgate {commit}; median of {rounds} rounds of {duration} s after a {warmup} s warm-up, "
    "scenarios interleaved; one session per client; loadgen, bench-upstream and toolgate on the same cores.",
    "",
    *rows,
    "",
    "Targets (from the issue):",
    "",
    *t,
    "",
    "Audit log check: after the runs the audit-on gateways were stopped with SIGTERM (which flushes the "
    "audit queue) and the rows of `audit_records` in each one's `toolgate.db` counted against the JSON-RPC "
    "requests loadgen sent it (each session's `initialize`, warm-up and measured requests):",
    "",
    *checks,
    "",
    "Audit records still queued at the end of a run (largest over the rounds; each run starts with empty "
    f"queues): {queues or '–'}.",
    *([""] + ["Errors:"] + notes if notes else []),
])
print(body)

if write == "1":
    sys.path.insert(0, os.path.dirname(readme))
    from readme_section import write_section

    write_section(readme, "load.sh", "The gateway under load", body)
PY

# Expected at start-up on loopback: no grants (allow-all gateways) and no admin token.
EXPECTED=(-e 'no grants configured' -e 'NO ADMIN TOKEN CONFIGURED')
for g in allow allow-noaudit realistic stdio strict; do
  if grep -E '\b(ERROR|WARN)\b' "$WORK/gw-$g.err" | grep -qv "${EXPECTED[@]}"; then
    echo "load.sh: gateway '$g' logged warnings or errors:" >&2
    grep -E '\b(ERROR|WARN)\b' "$WORK/gw-$g.err" | grep -v "${EXPECTED[@]}" | head -5 >&2
  fi
done
