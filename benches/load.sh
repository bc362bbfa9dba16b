#!/usr/bin/env bash
# The gateway under load: tools/call and tools/list, direct to bench-upstream and through toolgate.
#
# Builds the release binaries, starts on free loopback ports one bench-upstream (HTTP) and three
# gateways in front of it (allow-all over HTTP; the realistic 219-tool policy with a grant over
# HTTP; allow-all over a shared stdio bench-upstream child), then runs every scenario at every
# client count, interleaved, for ROUNDS rounds, and reports the median of the rounds as a table of
# ratios against direct. With WRITE_README=1 (the default) the table replaces the part of
# benches/README.md between the load.sh markers, with the machine and the date.
#
#   bash benches/load.sh                         # 3 rounds x 6 scenarios x {1,16} clients x (1+5) s
#   ROUNDS=1 DURATION=1 WARMUP=0.5 WRITE_README=0 bash benches/load.sh   # a quick check
#
# Settings (environment): ROUNDS (3), DURATION seconds measured per run (5), WARMUP seconds per
# run (1), CLIENTS ("1 16"), WRITE_README (1), SKIP_BUILD (0), LOADGEN_THREADS (1).
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
BIN="$ROOT/target/release"

if [ "${SKIP_BUILD:-0}" != 1 ]; then
  cargo build --release -p toolgate -p toolgate-bench
fi

WORK=$(mktemp -d "${TMPDIR:-/tmp}/toolgate-load.XXXXXX")
PIDS=()

cleanup() {
  local p i
  for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do
    for i in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$p" 2>/dev/null || true
    wait "$p" 2>/dev/null || true
  done
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# start NAME CMD...: runs CMD in the background, stdout and stderr to $WORK/NAME.{out,err}.
start() {
  local name=$1
  shift
  "$@" >"$WORK/$name.out" 2>"$WORK/$name.err" &
  PIDS+=("$!")
  LAST_PID=$!
}

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

cat >"$WORK/allow.toml" <<EOF
[gateway]
listen = "127.0.0.1:0"

[servers.bench]
url = "$UP"
EOF
cat >"$WORK/realistic.toml" <<EOF
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
cat >"$WORK/stdio.toml" <<EOF
[gateway]
listen = "127.0.0.1:0"

[servers.bench]
command = "$BIN/bench-upstream"
args = ["stdio"]
EOF

GW=()
for g in allow realistic stdio; do
  "$BIN/toolgate" validate -c "$WORK/$g.toml" >/dev/null
  start "gw-$g" "$BIN/toolgate" serve -c "$WORK/$g.toml"
  GW+=("$(first_url "gw-$g" "$LAST_PID" '^toolgate listening on ')/mcp/bench")
done

# name|url|method|auth
SCENARIOS=(
  "direct|$UP|call|"
  "allow-all|${GW[0]}|call|"
  "realistic|${GW[1]}|call|auth"
  "stdio|${GW[2]}|call|"
  "list-direct|$UP|list|"
  "list-gateway|${GW[0]}|list|"
)

RESULTS="$WORK/results.jsonl"
: >"$RESULTS"
budget=$(awk -v d="$DURATION" -v w="$WARMUP" 'BEGIN { printf "%d", d + w + 30 }')
for round in $(seq "$ROUNDS"); do
  for c in $CLIENTS; do
    for s in "${SCENARIOS[@]}"; do
      IFS='|' read -r name url method auth <<<"$s"
      extra=()
      [ "$auth" = auth ] && extra=(--header "Authorization: Bearer $TOKEN")
      line=$(timeout "$budget" "$BIN/loadgen" --url "$url" --method "$method" \
        --sessions "$c" --concurrency "$c" --duration "$DURATION" --warmup "$WARMUP" \
        --threads "$LOADGEN_THREADS" "${extra[@]}" || true)
      [ -n "$line" ] || line='{"fatal":"loadgen gave no output (timed out or crashed)"}'
      printf '{"scenario":"%s","round":%s,"clients":%s,"report":%s}\n' "$name" "$round" "$c" "$line" >>"$RESULTS"
      printf 'round %s  %-13s %2s clients  %s\n' "$round" "$name" "$c" \
        "$(printf '%s' "$line" | python3 -c 'import json,sys; r=json.load(sys.stdin); print(r.get("fatal") or "%(rps).0f/s p50 %(p50_us)s us p99 %(p99_us)s us errors %(errors)s" % r)')" >&2
    done
  done
done

CPU=$(grep -m1 '^model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//' || true)
MACHINE="$(nproc) cores ($(uname -m)), ${CPU:-unknown CPU}"
DATE=$(date -u +%Y-%m-%d)
COMMIT=$(git -C "$ROOT" describe --always --dirty 2>/dev/null || echo unknown)

python3 - "$RESULTS" "$ROOT/benches/README.md" "$WRITE_README" "$MACHINE" "$DATE" "$COMMIT" \
  "$ROUNDS" "$DURATION" "$WARMUP" <<'PY'
import json, statistics, sys

results, readme, write, machine, date, commit, rounds, duration, warmup = sys.argv[1:]
runs = {}
for line in open(results):
    r = json.loads(line)
    runs.setdefault((r["scenario"], r["clients"]), []).append(r["report"])

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
    "allow-all": ("through toolgate, no policy (allow-all), HTTP upstream", "direct", "off"),
    "realistic": ("through toolgate, realistic 219-tool policy + grant, HTTP upstream", "direct", "TODO: not implemented yet"),
    "stdio": ("through toolgate, no policy, shared stdio upstream", "direct", "off"),
    "list-direct": ("tools/list (220 tools), direct", "list-direct", "n/a"),
    "list-gateway": ("tools/list (220 tools) through toolgate, no policy", "list-direct", "off"),
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
l0, l1 = med("list-direct", 1, "p50_us"), med("list-gateway", 1, "p50_us")
t.append(target("tools/list of 220 tools, 1 client: p50 ≤ direct", l1 <= l0 if both(l0, l1) else None,
                "–" if not both(l0, l1) else f"{f(l1)} µs vs {f(l0)} µs"))

errs = [(k, first_error(*k)) for k in runs if errors(*k)]
notes = [f"- `{s}` at {c} clients: {e}" for (s, c), e in errs]

body = "\n".join([
    f"{date}, {machine}, toolgate `{commit}`; median of {rounds} rounds of {duration} s after a {warmup} s warm-up, "
    "scenarios interleaved; one session per client; loadgen, bench-upstream and toolgate on the same cores.",
    "",
    *rows,
    "",
    "Targets (from the issue):",
    "",
    *t,
    *([""] + ["Errors:"] + notes if notes else []),
])
print(body)

if write == "1":
    begin, end = "<!-- load.sh:begin -->", "<!-- load.sh:end -->"
    text = open(readme).read()
    if begin in text and end in text:
        head, rest = text.split(begin, 1)
        _, tail = rest.split(end, 1)
        text = f"{head}{begin}\n{body}\n{end}{tail}"
    else:
        text = text.rstrip("\n") + f"\n\n## The gateway under load\n\n{begin}\n{body}\n{end}\n"
    open(readme, "w").write(text)
    print(f"\n(written to {readme})", file=sys.stderr)
PY

for g in allow realistic stdio; do
  if grep -E '\b(ERROR|WARN)\b' "$WORK/gw-$g.err" | grep -qv 'no grants configured'; then
    echo "load.sh: gateway '$g' logged warnings or errors:" >&2
    grep -E '\b(ERROR|WARN)\b' "$WORK/gw-$g.err" | grep -v 'no grants configured' | head -5 >&2
  fi
done
