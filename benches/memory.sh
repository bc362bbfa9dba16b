#!/usr/bin/env bash
# The gateway's memory: resident set idle with three upstreams, and per open idle session.
#
# Builds the release binaries and starts, on free loopback ports, two `bench-upstream http`
# servers. Then, for each variant (the default allocator settings; MALLOC_ARENA_MAX=2) and each
# endpoint (`/mcp/stdio`, `/mcp/http`, the aggregate `/mcp`), it starts a fresh `toolgate serve`
# with three upstreams: `http` (Streamable HTTP, bench-upstream), `stdio` (a shared bench-upstream
# stdio child, `start = "eager"`) and `http2` (Streamable HTTP, the second bench-upstream), with the
# default SQLite store in its own folder. It waits for /readyz (and the stdio child running), lets
# it settle, and reads VmRSS, VmHWM, RssAnon, RssFile and Threads from /proc/PID/status (VmRSS
# checked against `ps -o rss=`): the idle RSS. Then, when gdb can attach, it calls glibc's
# malloc_stats() in the gateway (heap in use and heap held from the system, all arenas) and
# malloc_trim(0) (returns free heap pages to the system), and reads the RSS again. Then `loadgen
# --hold` opens SESSIONS sessions (initialize + notifications/initialized, one after another on one
# connection that it then closes: the sessions stay in the gateway until their idle timeout, 30 min)
# and keeps them; after SETTLE s the same readings again, and once more after a second loadgen opened
# SESSIONS more. Per session = growth of the heap in use / SESSIONS (and growth of the RSS over the
# trimmed RSS before / SESSIONS), for the first batch (one-time costs included: the audit log's
# SQLite cache, maps growing) and the second (marginal). The RSS alone cannot tell: the gateway
# starts with megabytes of freed heap that glibc keeps, and sessions fill that first. Finally both
# loadgens end their sessions (DELETE) and the heap is read a last time. With WRITE_README=1 (the
# default) the tables replace the part of benches/README.md between the memory.sh markers.
#
#   bash benches/memory.sh                        # about 2 minutes plus the release build
#   VARIANTS=default ENDPOINTS=stdio WRITE_README=0 bash benches/memory.sh   # a quick check
#
# Settings (environment): SESSIONS per batch (1000), SETTLE seconds before each reading (2),
# VARIANTS ("default arena2"), ENDPOINTS ("stdio http aggregate"), WRITE_README (1), SKIP_BUILD (0),
# GDB (1; 0 to read the RSS only). The heap readings assume the gateway uses glibc's malloc.
# Everything listens on 127.0.0.1; every wait is bounded; on exit only the processes this script
# started are stopped (by pid) and its temporary directory is removed.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$PWD

SESSIONS=${SESSIONS:-1000}
SETTLE=${SETTLE:-2}
VARIANTS=${VARIANTS:-"default arena2"}
ENDPOINTS=${ENDPOINTS:-"stdio http aggregate"}
WRITE_README=${WRITE_README:-1}
BIN="$ROOT/target/release"
HOLD_MAX=600 # a loadgen ends its sessions and exits by itself after this long
GDB=${GDB:-1}
if [ "$GDB" = 1 ] && ! command -v gdb >/dev/null; then
  echo "memory.sh: no gdb: reading the RSS only (per-session figures from the RSS are unreliable)" >&2
  GDB=0
fi

# shellcheck source=benches/common.sh
source "$ROOT/benches/common.sh" memory

die() {
  echo "memory.sh: $*" >&2
  exit 1
}

# stop PID: SIGTERM, waits (10 s at most, then SIGKILL), reaps it and forgets it.
stop() {
  local p=$1 i keep=()
  kill -TERM "$p" 2>/dev/null || true
  for i in $(seq 100); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$p" 2>/dev/null || true
  wait "$p" 2>/dev/null || true
  for i in "${PIDS[@]}"; do [ "$i" = "$p" ] || keep+=("$i"); done
  PIDS=("${keep[@]}")
}

# wait_line NAME PID PATTERN SECONDS: waits for PATTERN on NAME's stdout; prints the line.
wait_line() {
  local name=$1 pid=$2 pattern=$3 secs=$4 line i
  for i in $(seq $((secs * 10))); do
    line=$(grep -m1 -- "$pattern" "$WORK/$name.out" 2>/dev/null || true)
    if [ -n "$line" ]; then
      printf '%s\n' "$line"
      return 0
    fi
    if ! kill -0 "$pid" 2>/dev/null; then
      echo "memory.sh: $name exited:" >&2
      cat "$WORK/$name.out" "$WORK/$name.err" >&2
      return 1
    fi
    sleep 0.1
  done
  echo "memory.sh: no '$pattern' from $name within $secs s" >&2
  return 1
}

# mem PID: one JSON object with the memory of PID (KiB) and its thread count.
mem() {
  local pid=$1 ps_rss
  ps_rss=$(ps -o rss= -p "$pid" | tr -d ' ')
  awk -v ps="$ps_rss" '
    $1 == "VmRSS:" { rss = $2 } $1 == "VmHWM:" { hwm = $2 } $1 == "RssAnon:" { anon = $2 }
    $1 == "RssFile:" { file = $2 } $1 == "Threads:" { thr = $2 }
    END { printf "{\"rss\":%d,\"hwm\":%d,\"anon\":%d,\"file\":%d,\"threads\":%d,\"ps_rss\":%d}", rss, hwm, anon, file, thr, ps }
  ' "/proc/$pid/status"
}

# heap PID ERRFILE: calls malloc_stats() (it prints to the gateway's stderr, ERRFILE) and then
# malloc_trim(0) in PID through gdb; prints {"in_use":B,"system":B} (all arenas and mmaps), or {}.
heap() {
  local pid=$1 err=$2 off
  if [ "$GDB" != 1 ]; then
    echo '{}'
    return
  fi
  local try out
  for try in 1 2 3; do
    off=$(stat -c %s "$err")
    timeout 30 gdb -nx -batch --readnever -p "$pid" \
      -ex 'call (void)malloc_stats()' -ex 'call (int)malloc_trim(0)' >"$WORK/gdb.log" 2>&1 || true
    out=$(tail -c +$((off + 1)) "$err" | awk '
      /^Total \(incl\. mmap\):/ { total = 1 }
      total && $1 == "system" { sys = $4 } total && $1 == "in" && $2 == "use" { use = $5 }
      END { if (use != "") printf "{\"in_use\":%d,\"system\":%d}", use, sys }')
    if [ -n "$out" ]; then
      echo "$out"
      return
    fi
    echo "memory.sh: no heap reading from pid $pid (try $try): $(tail -2 "$WORK/gdb.log" | tr '\n' ' ')" >&2
    sleep 0.5
  done
  echo '{}'
}

# reading PID ERRFILE: mem, then heap (which trims), then mem again, as one JSON object.
reading() {
  local raw heap trimmed
  raw=$(mem "$1")
  heap=$(heap "$1" "$2")
  trimmed=$(mem "$1")
  printf '{"raw":%s,"heap":%s,"trimmed":%s}' "$raw" "$heap" "$trimmed"
}

# sessions_gauge URL: the gateway's open sessions from /metrics.
sessions_gauge() {
  { curl -fsS --max-time 2 "$1/metrics" 2>/dev/null || true; } |
    awk '$1 == "toolgate_sessions" { print $2; exit }'
}

start up1 "$BIN/bench-upstream" http --listen 127.0.0.1:0
UP1_PID=$LAST_PID
UP1=$(wait_line up1 "$UP1_PID" '^listening on ' 10)
UP1=${UP1##* }
start up2 "$BIN/bench-upstream" http --listen 127.0.0.1:0
UP2_PID=$LAST_PID
UP2=$(wait_line up2 "$UP2_PID" '^listening on ' 10)
UP2=${UP2##* }

RESULTS="$WORK/results.jsonl"
: >"$RESULTS"
for variant in $VARIANTS; do
  case $variant in
    default) envs=() ;;
    arena2) envs=(MALLOC_ARENA_MAX=2) ;;
    *) die "unknown variant $variant (default, arena2)" ;;
  esac
  for endpoint in $ENDPOINTS; do
    case $endpoint in
      stdio | http) path="/mcp/$endpoint" ;;
      aggregate) path="/mcp" ;;
      *) die "unknown endpoint $endpoint (stdio, http, aggregate)" ;;
    esac
    run="$variant-$endpoint"
    dir="$WORK/gw-$run"
    mkdir -p "$dir"
    cat >"$dir/toolgate.toml" <<EOF
[gateway]
listen = "127.0.0.1:0"

[servers.http]
url = "$UP1"

[servers.stdio]
command = "$BIN/bench-upstream"
args = ["stdio"]
start = "eager"

[servers.http2]
url = "$UP2"
EOF
    "$BIN/toolgate" validate -c "$dir/toolgate.toml" >/dev/null
    start "gw-$run" env "${envs[@]}" "$BIN/toolgate" serve -c "$dir/toolgate.toml"
    gw_pid=$LAST_PID
    gw=$(wait_line "gw-$run" "$gw_pid" '^toolgate listening on ' 10)
    gw=${gw##* }
    # `env` execs toolgate: the pid is toolgate's own.
    [ "$(cat "/proc/$gw_pid/comm")" = toolgate ] || die "pid $gw_pid is not toolgate"
    child=
    for i in $(seq 100); do
      ready=$(curl -sS --max-time 2 "$gw/readyz" 2>/dev/null || true)
      child=$(printf '%s' "$ready" | python3 -c '
import json, re, sys
try:
    r = json.load(sys.stdin)
except ValueError:
    sys.exit()
m = re.search(r"running as pid (\d+)", r["servers"]["stdio"]["state"]) if r.get("ready") else None
print(m.group(1) if m else "")' || true)
      [ -n "$child" ] && break
      sleep 0.1
    done
    [ -n "$child" ] || die "$run: not ready with the stdio child running within 10 s: $ready"

    sleep "$SETTLE"
    idle=$(reading "$gw_pid" "$WORK/gw-$run.err")
    if [ "$GDB" = 1 ] && [ "$(printf '%s' "$idle" | python3 -c 'import json,sys; print(bool(json.load(sys.stdin)["heap"]))')" = False ]; then
      echo "memory.sh: gdb could not read the heap (ptrace not allowed?): reading the RSS only" >&2
      GDB=0
    fi
    child_mem=$(mem "$child")

    start "hold-$run-1" "$BIN/loadgen" --url "$gw$path" --sessions "$SESSIONS" --hold "$HOLD_MAX"
    h1=$LAST_PID
    open1=$(wait_line "hold-$run-1" "$h1" '"phase":"open"' 120)
    sleep "$SETTLE"
    one=$(reading "$gw_pid" "$WORK/gw-$run.err")
    n1=$(sessions_gauge "$gw")

    start "hold-$run-2" "$BIN/loadgen" --url "$gw$path" --sessions "$SESSIONS" --hold "$HOLD_MAX"
    h2=$LAST_PID
    open2=$(wait_line "hold-$run-2" "$h2" '"phase":"open"' 120)
    sleep "$SETTLE"
    two=$(reading "$gw_pid" "$WORK/gw-$run.err")
    n2=$(sessions_gauge "$gw")

    kill -TERM "$h1" "$h2"
    closed1=$(wait_line "hold-$run-1" "$h1" '"phase":"closed"' 120)
    closed2=$(wait_line "hold-$run-2" "$h2" '"phase":"closed"' 120)
    stop "$h1"
    stop "$h2"
    sleep "$SETTLE"
    after=$(reading "$gw_pid" "$WORK/gw-$run.err")
    n0=$(sessions_gauge "$gw")
    stop "$gw_pid"
    if grep -E '\b(ERROR|WARN)\b' "$WORK/gw-$run.err" | grep -qv -e 'no grants configured' -e 'NO ADMIN TOKEN CONFIGURED'; then
      echo "memory.sh: gateway $run logged warnings or errors:" >&2
      grep -E '\b(ERROR|WARN)\b' "$WORK/gw-$run.err" | grep -v -e 'no grants configured' -e 'NO ADMIN TOKEN CONFIGURED' | head -5 >&2
    fi

    printf '{"variant":"%s","endpoint":"%s","sessions":%s,"idle":%s,"child":%s,"one":%s,"two":%s,"after":%s,"gauge":[%s,%s,%s],"open":[%s,%s],"closed":[%s,%s]}\n' \
      "$variant" "$endpoint" "$SESSIONS" "$idle" "$child_mem" "$one" "$two" "$after" \
      "${n1:-null}" "${n2:-null}" "${n0:-null}" "$open1" "$open2" "$closed1" "$closed2" >>"$RESULTS"
    tail -1 "$RESULTS" | python3 -c '
import json, sys
r = json.load(sys.stdin)
n, i, a, b = r["sessions"], r["idle"], r["one"], r["two"]
heap = lambda x, y: "%.2f" % ((y["heap"]["in_use"] - x["heap"]["in_use"]) / 1024 / n) if x["heap"] and y["heap"] else "?"
print("%-8s %-9s idle RSS %5.1f MiB (trimmed %5.1f)  KiB/session: heap %s, %s  RSS %.2f, %.2f  (opening %d took %.2f s; sessions gauge %s)" % (
    r["variant"], r["endpoint"], i["raw"]["rss"] / 1024, i["trimmed"]["rss"] / 1024, heap(i, a), heap(a, b),
    (a["raw"]["rss"] - i["trimmed"]["rss"]) / n, (b["raw"]["rss"] - a["trimmed"]["rss"]) / n, n, r["open"][0]["open_s"], r["gauge"]))' >&2
  done
done

CPU=$(grep -m1 '^model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//' || true)
LIBC=$(ldd --version 2>/dev/null | head -1 | sed 's/.* //' || true)
MACHINE="$(nproc) cores ($(uname -m)), ${CPU:-unknown CPU}, glibc ${LIBC:-?}"
DATE=$(date -u +%Y-%m-%d)
COMMIT="\`$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)\`"
# The binaries are built from the work tree: say how far it is from the commit (the bench's own
# files aside), as the tree may be shared with other work in progress.
OTHER=$(git -C "$ROOT" status --porcelain -- . ':!benches' ':!crates/bench' 2>/dev/null | wc -l || echo 0)
[ "$OTHER" -gt 0 ] && COMMIT="$COMMIT plus uncommitted edits to $OTHER paths outside benches/ and crates/bench/ then in the work tree"

python3 - "$RESULTS" "$ROOT/benches/README.md" "$WRITE_README" "$MACHINE" "$DATE" "$COMMIT" "$SETTLE" <<'PY'
import json, os, sys

results, readme, write, machine, date, commit, settle = sys.argv[1:]
runs = [json.loads(line) for line in open(results)]
mib = lambda kib: f"{kib / 1024:.1f}"
what = {
    "stdio": "`/mcp/stdio`: shared stdio child (gateway state only)",
    "http": "`/mcp/http`: Streamable HTTP (plus an upstream session)",
    "aggregate": "`/mcp`: aggregate (a member on each of the 3 servers)",
}
variants = {"default": "default", "arena2": "`MALLOC_ARENA_MAX=2`"}


def per_session(r):
    """KiB per session, first batch and next batch: (heap in use, RSS over the trimmed RSS before)."""
    n, i, a, b = r["sessions"], r["idle"], r["one"], r["two"]
    heap = lambda x, y: (y["heap"]["in_use"] - x["heap"]["in_use"]) / 1024 / n if x["heap"] and y["heap"] else None
    rss = lambda x, y: (y["raw"]["rss"] - x["trimmed"]["rss"]) / n
    return heap(i, a), heap(a, b), rss(i, a), rss(a, b)


def k(x):
    return "–" if x is None else f"{x:.1f}"


def m(b):
    return "–" if b is None else f"{b / 1048576:.1f}"


have_heap = all(r["idle"]["heap"] for r in runs)
rows = [
    "| allocator | endpoint | idle RSS MiB (anon + file) | threads | idle heap in use / held MiB | idle RSS after `malloc_trim` MiB "
    "| KiB/session, heap: first N, next N | KiB/session, RSS: first N, next N | all closed: heap in use MiB | opening N took |",
    "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
]
for r in runs:
    i, c = r["idle"], r["after"]
    h1, h2, r1, r2 = per_session(r)
    rows.append(
        f"| {variants.get(r['variant'], r['variant'])} | {what[r['endpoint']]} | "
        f"{mib(i['raw']['rss'])} ({mib(i['raw']['anon'])} + {mib(i['raw']['file'])}) | {i['raw']['threads']} | "
        f"{m(i['heap'].get('in_use'))} / {m(i['heap'].get('system'))} | {mib(i['trimmed']['rss'])} | "
        f"{k(h1)}, {k(h2)} | {k(r1)}, {k(r2)} | {m(c['heap'].get('in_use'))} | {r['open'][0]['open_s']:.2f} s |"
    )

checks = []
for r in runs:
    n = r["sessions"]
    want = [n, 2 * n, 0]
    if r["gauge"] != want:
        checks.append(f"- {r['variant']} {r['endpoint']}: `toolgate_sessions` read {r['gauge']}, expected {want}")
    errs = sum(c.get("close_errors") or 0 for c in r["closed"])
    if errs:
        checks.append(f"- {r['variant']} {r['endpoint']}: {errs} session DELETEs not answered 2xx")
    for key in ("idle", "one", "two", "after"):
        for kind in ("raw", "trimmed"):
            x = r[key][kind]
            if abs(x["rss"] - x["ps_rss"]) > 256:
                checks.append(f"- {r['variant']} {r['endpoint']} {key}: VmRSS {x['rss']} KiB vs ps {x['ps_rss']} KiB")

t = ["| target | measured (default allocator) | status |", "| --- | --- | --- |"]
d = [r for r in runs if r["variant"] == "default"] or runs
if d:
    idle = max(r["idle"]["raw"]["rss"] for r in d)
    t.append(f"| idle, three upstreams: < 30 MiB resident | {mib(idle)} MiB (largest of {len(d)} starts) | "
             f"{'met' if idle < 30 * 1024 else '**not met**'} |")
    for r in d:
        n = r["sessions"]
        h1, h2, r1, r2 = per_session(r)
        worst = max(x for x in (h1, h2, r1, r2) if x is not None)
        by = f"heap {k(h1)} KiB (first {n}), {k(h2)} KiB (next {n})" if h1 is not None else f"RSS {k(r1)}, {k(r2)} KiB"
        t.append(f"| {what[r['endpoint']]}: < 50 KiB per open idle session | {by} | {'met' if worst < 50 else '**not met**'} |")

child = mib(runs[0]["child"]["rss"]) if runs else "?"
body = "\n".join([
    f"{date}, {machine}, toolgate {commit}; N = {runs[0]['sessions'] if runs else '?'} sessions per batch; "
    f"{settle} s settling before each reading; a fresh gateway for each row; VmRSS from /proc (matches `ps`)"
    + ("; heap from glibc's `malloc_stats()` through gdb." if have_heap else "; no heap readings (no gdb)."),
    "",
    *rows,
    "",
    "Targets (from the issue):",
    "",
    *t,
    "",
    f"Not counted above: the shared stdio child (`bench-upstream stdio`), a process of its own, {child} MiB resident.",
    *([""] + ["Checks that failed:"] + checks if checks else []),
])
print(body)

if write == "1":
    sys.path.insert(0, os.path.dirname(readme))
    from readme_section import write_section

    write_section(readme, "memory.sh", "Memory", body)
PY
