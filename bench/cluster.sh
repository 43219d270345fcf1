#!/usr/bin/env bash
# Fan-out on 1, 2 and 3 nodes of one cluster on this machine (issue 15): a NATS server of
# its own (JetStream on, a free loopback port), NODES fresh nodes per run, then
#   spanning: one room whose members are spread over every node in turn;
#   local:    one room whose members are all on the first node (the others idle).
# CPU counts every node and the NATS server. Prints one JSON line per run to
# $OUT/results.jsonl and a summary table.
#
#   bench/cluster.sh                          # 1, 2, 3 nodes, 3 runs each, alternated
#   REPEAT=5 WORKLOAD="fanout -n 100 -s 10 -m 2000" bench/cluster.sh
#
# Every server listens on 127.0.0.1 only; every load goes to 127.0.0.1.
set -euo pipefail
cd "$(dirname "$0")/.."

BIN=${BIN:-target/release/teahouse}
REPEAT=${REPEAT:-3}
NODES=${NODES:-"1 2 3"}
WORKLOAD=${WORKLOAD:-"fanout -n 99 -s 9 -m 2000"}
# Also held idle connections, all on the first node: what each costs on every node
# (IDLE="" to skip).
IDLE=${IDLE-"idle -n 3000"}
WORKERS=${WORKERS:-1}
OUT=${OUT:-target/cluster-bench}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
RESULTS="$OUT/results.jsonl"
: > "$RESULTS"
: > "$OUT/bench.err"

# shellcheck source=bench/lib.sh
. bench/lib.sh

NATS_PORT=$(free_port)
rm -rf "$OUT/js"
nats-server -a 127.0.0.1 -p "$NATS_PORT" -js -sd "$OUT/js" >"$OUT/nats.log" 2>&1 &
NATS_PID=$!
PIDS+=("$NATS_PID")
wait_port "$NATS_PORT"

nats_cpu() { awk '{ print ($14 + $15) / 100 }' "/proc/$NATS_PID/stat"; }

# run_one N SHAPE [WORKLOAD]: one run on N fresh nodes.
run_one() {
  local n=$1 shape=$2 workload=${3:-$WORKLOAD} prefix="bench-$$-$RANDOM"
  local addrs=() pids=()
  for i in $(seq "$n"); do
    local port
    port=$(free_port)
    "$BIN" serve --irc-addr "127.0.0.1:$port" --text-addr off --web-addr off \
      --no-flood-control --no-history --data-dir :memory: --workers "$WORKERS" \
      --max-connections 200000 --sendq-bytes 67108864 \
      --cluster "nats://127.0.0.1:$NATS_PORT" --node-name "n$i" --cluster-prefix "$prefix" \
      --log warn >"$OUT/n$i.log" 2>&1 &
    pids+=($!)
    PIDS+=($!)
    addrs+=("127.0.0.1:$port")
    wait_port "$port"
  done
  local more_addrs more_pids
  more_addrs=$(IFS=,; echo "${addrs[*]:1}")
  more_pids=$(IFS=,; echo "${pids[*]:1}" "$NATS_PID" | tr ' ' ,)
  more_pids=${more_pids#,}
  local spread=()
  [ "$shape" = spanning ] && [ -n "$more_addrs" ] && spread=(--more-addrs "$more_addrs")
  local json nats_before nats_after
  nats_before=$(nats_cpu)
  # shellcheck disable=SC2086
  if json=$("$BIN" bench $workload --addr "${addrs[0]}" "${spread[@]}" \
      --server-pid "${pids[0]}" --more-pids "$more_pids" --json 2>>"$OUT/bench.err"); then
    nats_after=$(nats_cpu)
    echo "$json" | python3 -c "import json,sys; r=json.load(sys.stdin); r['nodes']=$n; r['shape']='$shape'; r['nats_cpu_seconds']=$nats_after-$nats_before; print(json.dumps(r))" >>"$RESULTS"
  else
    echo "run failed: $n nodes, $shape (see $OUT/bench.err)" >&2
  fi
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
}

for _ in $(seq "$REPEAT"); do
  for n in $NODES; do
    run_one "$n" spanning
    [ "$n" != 1 ] && run_one "$n" local
    [ -n "$IDLE" ] && run_one "$n" idle "$IDLE"
  done
done

python3 - "$RESULTS" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
groups = {}
for r in rows:
    groups.setdefault((r['nodes'], r['shape']), []).append(r)
fmt = lambda xs, f: f"{f(statistics.median(xs))} ({f(min(xs))}–{f(max(xs))})" if xs else "–"
print("| nodes | room | runs | deliveries/s (median, min–max) | CPU-s per million deliveries (all nodes + NATS) | of which NATS |")
print("|---|---|---|---|---|---|")
for (n, shape), rs in sorted(groups.items()):
    if shape == 'idle':
        continue
    rate = [r['deliveries_per_second'] for r in rs]
    cpu = [r['server_cpu_seconds_per_million'] for r in rs if r.get('server_cpu_seconds_per_million') is not None]
    nats = [r['nats_cpu_seconds'] * 1e6 / r['received'] for r in rs if r.get('received')]
    print(f"| {n} | {shape} | {len(rs)} | {fmt(rate, lambda x: f'{x/1000:.0f} k')} | {fmt(cpu, lambda x: f'{x:.2f}')} | {fmt(nats, lambda x: f'{x:.2f}')} |")
idle = {k: v for k, v in groups.items() if k[1] == 'idle'}
if idle:
    print()
    print("| nodes | idle connections (all on the first node) | runs | bytes per connection, all nodes together (median, min–max) |")
    print("|---|---|---|---|")
    for (n, _), rs in sorted(idle.items()):
        per = [r['server_rss_per_connection_bytes'] for r in rs if r.get('server_rss_per_connection_bytes')]
        print(f"| {n} | {rs[0]['clients']} | {len(rs)} | {fmt(per, lambda x: f'{x:.0f}')} |")
PY
