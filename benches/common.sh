# Shared by the benchmark scripts (sourced): builds the release binaries unless SKIP_BUILD=1, makes
# a work folder ($WORK, named after $1) and, on exit, stops every process whose pid is in PIDS
# (TERM, then KILL after 5 s) and removes the folder. `start NAME CMD...` runs a process it
# will stop.
if [ "${SKIP_BUILD:-0}" != 1 ]; then
  cargo build --release -p toolgate -p toolgate-bench
fi

WORK=$(mktemp -d "${TMPDIR:-/tmp}/toolgate-$1.XXXXXX")
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
