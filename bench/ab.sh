#!/usr/bin/env bash
# Before and after: two teahouse binaries on the same workloads, run alternately in one
# sitting (this machine's speed swings from hour to hour, so only alternating runs compare),
# each run against a fresh server; prints a Markdown table of medians (bench/table.py).
#
#   bench/ab.sh OLD_BIN NEW_BIN                 # history on (the default), one worker each
#   REPEAT=5 MODE=nohistory bench/ab.sh OLD NEW # --no-history
#   WORKERS=0 bench/ab.sh OLD NEW               # one runtime worker per core
#   WORKLOADS="idle -n 5000;fanout -n 20 -s 2" bench/ab.sh OLD NEW   # other workloads
#
# Every server listens on 127.0.0.1 only; every load goes to 127.0.0.1. The load generator
# is NEW_BIN's `teahouse bench`. A fresh data directory per run under $OUT.
set -euo pipefail
cd "$(dirname "$0")/.."

OLD=${1:?usage: bench/ab.sh OLD_BIN NEW_BIN}
NEW=${2:?usage: bench/ab.sh OLD_BIN NEW_BIN}
REPEAT=${REPEAT:-3}
MODE=${MODE:-history}
WORKERS=${WORKERS:-1}
OUT=${OUT:-target/ab}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
RESULTS="$OUT/results.jsonl"
: > "$RESULTS"
ulimit -n 200000 2>/dev/null || ulimit -n "$(ulimit -Hn)"

# shellcheck source=bench/lib.sh
. bench/lib.sh

# run_one NAME BIN ARGS...: one run of `bench ARGS` against a fresh server BIN.
run_one() {
  local name=$1 bin=$2; shift 2
  local port text_port history=()
  port=$(free_port); text_port=$(free_port)
  [ "$MODE" = nohistory ] && history=(--no-history)
  rm -rf "$OUT/data"
  "$bin" serve --irc-addr "127.0.0.1:$port" --text-addr "127.0.0.1:$text_port" \
    --no-flood-control --max-connections 200000 --sendq-bytes 67108864 \
    --workers "$WORKERS" --data-dir "$OUT/data" "${history[@]}" --log warn \
    >"$OUT/$name.log" 2>&1 &
  local pid=$!
  PIDS+=("$pid")
  wait_port "$port"
  local json
  if json=$("$NEW" bench "$@" --addr "127.0.0.1:$port" --server-pid "$pid" --json \
      --concurrency 64 2>>"$OUT/bench.err"); then
    echo "$json" | python3 -c "import json,sys; r=json.load(sys.stdin); r['server']='$name'; r['args']='$*'; print(json.dumps(r))" >>"$RESULTS"
  else
    echo "{\"server\":\"$name\",\"args\":\"$*\",\"error\":true}" >>"$RESULTS"
  fi
  kill "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}

if [ -n "${WORKLOADS:-}" ]; then
  IFS=';' read -r -a WORKLOADS <<<"$WORKLOADS"
else
  WORKLOADS=(
    "fanout -n 100 -s 10 -m 5000"
    "fanout -n 100 -s 10 -m 200 --window 1"
    "fanout -n 100 -s 10 -m 300 --rate 100"
    "idle -n 5000"
  )
fi

for workload in "${WORKLOADS[@]}"; do
  for i in $(seq "$REPEAT"); do
    # Alternate which goes first, so neither always gets the machine's better moment.
    # shellcheck disable=SC2086
    if [ $((i % 2)) = 1 ]; then
      run_one before "$OLD" $workload
      run_one after "$NEW" $workload
    else
      run_one after "$NEW" $workload
      run_one before "$OLD" $workload
    fi
  done
done

python3 bench/table.py "$RESULTS"
