#!/usr/bin/env bash
# Side by side: teahouse, ngIRCd and InspIRCd on this machine, the same `teahouse bench`
# workloads against each, in one run; prints a Markdown table (and keeps every JSON result).
# The `ws` rows are IRC over WebSocket: teahouse's `/ws` and InspIRCd's websocket module
# (ngIRCd has none).
#
#   bench/compare.sh                 # 3 repeats, median
#   REPEAT=1 bench/compare.sh        # quicker
#   BIG=1 bench/compare.sh           # adds idle K=50000 (needs a high `ulimit -n`)
#   ONLY="inspircd:ws teahouse1:ws" bench/compare.sh   # only these server:proto rows
#
# Limits lifted alike: no flood control or fake lag, 64 MiB send queues (InspIRCd's
# hardsendq, teahouse's sendq), no connection caps. ngIRCd's penalties lift only for operators
# with user mode +F (the bench OPERs each client); its send buffer limit is compiled in.
#
# Every server listens on 127.0.0.1 only; every load goes to 127.0.0.1. Installs ngIRCd and
# InspIRCd from Debian's packages if they are missing (needs root).
set -euo pipefail
cd "$(dirname "$0")/.."

REPEAT=${REPEAT:-3}
BIG=${BIG:-0}
OUT=${OUT:-target/compare}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
RESULTS="$OUT/results.jsonl"
: > "$RESULTS"

if ! command -v ngircd >/dev/null || ! command -v inspircd >/dev/null; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends ngircd inspircd
fi
cargo build --release -q
BIN=./target/release/teahouse
ulimit -n 200000 2>/dev/null || ulimit -n "$(ulimit -Hn)"

# shellcheck source=bench/lib.sh
. bench/lib.sh

# start_<server> PORT TEXTPORT WEBPORT: starts it, sets SERVER_PID.
# teahouse keeps no history here, like the peers (which have none); `teahouseH` is the
# default configuration, every message stored in SQLite (synchronous=FULL) before delivery.
# Either way a fresh data directory per run under $OUT (accounts live there too), never
# ./teahouse-data in the checkout.
start_teahouse() {
  rm -rf "$OUT/teahouse-data"
  local history=(--no-history)
  [ "${TEAHOUSE_HISTORY:-off}" = on ] && history=()
  $BIN serve --irc-addr "127.0.0.1:$1" --text-addr "127.0.0.1:$2" --web-addr "127.0.0.1:$3" \
    --no-flood-control \
    --max-connections 200000 --sendq-bytes 67108864 --workers "${TEAHOUSE_WORKERS:-0}" \
    --data-dir "$OUT/teahouse-data" "${history[@]}" \
    --log warn >"$OUT/teahouse.log" 2>&1 &
  SERVER_PID=$!
}

start_teahouseH() {
  TEAHOUSE_HISTORY=on start_teahouse "$@"
}

# teahouse with one runtime worker: the least CPU per delivery on a 2-core machine that the
# load generator shares.
start_teahouse1() {
  TEAHOUSE_WORKERS=1 start_teahouse "$@"
}

start_ngircd() {
  local conf="$OUT/ngircd.conf"
  cat >"$conf" <<CONF
[Global]
  Name = ngircd.bench
  Info = bench
  Listen = 127.0.0.1
  Ports = $1
[Limits]
  MaxConnections = 0
  MaxConnectionsIP = 0
  MaxJoins = 0
  MaxPenaltyTime = 0
  PingTimeout = 600
  PongTimeout = 600
[Options]
  DNS = no
  Ident = no
  PAM = no
[Operator]
  Name = bench
  Password = bench
CONF
  ngircd -n -f "$conf" >"$OUT/ngircd.log" 2>&1 &
  SERVER_PID=$!
}

start_inspircd() {
  local conf="$OUT/inspircd.conf"
  cat >"$conf" <<CONF
<server name="inspircd.bench" description="bench" network="bench">
<admin name="bench" nick="bench" email="bench@localhost">
<bind address="127.0.0.1" port="$1" type="clients">
<module name="sha1">
<module name="websocket">
<bind address="127.0.0.1" port="$3" type="clients" hook="websocket">
<wsorigin allow="*">
<power diepass="bench" restartpass="bench">
<connect allow="*" timeout="60" pingfreq="10m" hardsendq="64M" softsendq="64M" recvq="64M"
         threshold="1000000" commandrate="1000000000" fakelag="no" localmax="200000"
         globalmax="200000" maxconnwarn="no" resolvehostnames="no" useident="no" limit="200000"
         maxchans="100">
<performance somaxconn="4096" softlimit="200000" clonesonconnect="yes">
<options allowzerolimit="yes">
CONF
  inspircd --nofork --nopid --runasroot --nolog --config="$conf" >"$OUT/inspircd.log" 2>&1 &
  SERVER_PID=$!
}

# bench SERVER PROTO PORT ARGS...: one run against a fresh server; appends its JSON.
run_one() {
  local server=$1 proto=$2; shift 2
  if [ -n "${ONLY:-}" ] && [[ " $ONLY " != *" $server:$proto "* ]]; then return 0; fi
  local port text_port web_port
  port=$(free_port); text_port=$(free_port); web_port=$(free_port)
  "start_$server" "$port" "$text_port" "$web_port"
  PIDS+=("$SERVER_PID")
  local target=$port
  [ "$proto" = text ] && target=$text_port
  [ "$proto" = ws ] && target=$web_port
  wait_port "$target"
  local extra=()
  case $server in
    ngircd) extra=(--oper bench:bench --umode +F --concurrency 8) ;;
    *) extra=(--concurrency 64) ;;
  esac
  local json
  if json=$($BIN bench "$@" --proto "$proto" --addr "127.0.0.1:$target" \
      --server-pid "$SERVER_PID" --json "${extra[@]}" 2>>"$OUT/bench.err"); then
    echo "$json" | python3 -c "import json,sys; r=json.load(sys.stdin); r['server']='$server'; r['args']='$*'; print(json.dumps(r))" >>"$RESULTS"
  else
    echo "{\"server\":\"$server\",\"proto\":\"$proto\",\"args\":\"$*\",\"error\":true}" >>"$RESULTS"
  fi
  kill "$SERVER_PID" 2>/dev/null || true
  wait "$SERVER_PID" 2>/dev/null || true
}

WORKLOADS=(
  "fanout -n 100 -s 10 -m 5000"
  "fanout -n 100 -s 10 -m 200 --window 1"
  "fanout -n 500 -s 5 -m 100 --window 1"
  "fanout -n 100 -s 10 -m 300 --rate 100"
  "fanout -n 100 -s 10 -m 300 --rate 100 --silent 1"
  "idle -n 5000"
)
[ "$BIG" = 1 ] && WORKLOADS+=("idle -n 50000")

for workload in "${WORKLOADS[@]}"; do
  for _ in $(seq "$REPEAT"); do
    # shellcheck disable=SC2086
    run_one teahouse irc $workload
    run_one teahouse1 irc $workload
    run_one teahouse ws $workload
    run_one teahouse1 ws $workload
    case $workload in idle*) ;; *)
      run_one teahouse1 text $workload
      run_one teahouseH irc $workload
      ;;
    esac
    run_one ngircd irc $workload
    run_one inspircd irc $workload
    run_one inspircd ws $workload
  done
done

python3 bench/table.py "$RESULTS"
