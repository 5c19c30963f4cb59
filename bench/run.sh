#!/usr/bin/env bash
# Keel vs Debian's redis-server on this machine, in one run: redis-benchmark throughput ratios and bytes
# per key. Servers are pinned to one core and the load generator to another; rounds interleave the two
# servers so that drift in the machine affects both alike.
#
#   bench/run.sh                # full run: 3 rounds
#   ROUNDS=1 bench/run.sh       # quicker
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
KEEL_BIN=${KEEL_BIN:-$here/target/release/keel}
ROUNDS=${ROUNDS:-3}
TESTS=${TESTS:-ping_mbulk,set,get,incr,mset}
REQUESTS_P1=${REQUESTS_P1:-200000}
REQUESTS_P16=${REQUESTS_P16:-1000000}

if ! command -v redis-server >/dev/null || ! command -v redis-benchmark >/dev/null; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server redis-tools >/dev/null
fi
[ -x "$KEEL_BIN" ] || (cd "$here" && cargo build --release -p keel)

cores=$(nproc)
server_cpu=0
client_cpu=$((cores > 1 ? 1 : 0))
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_ready() { for _ in $(seq 100); do redis-cli -p "$1" ping >/dev/null 2>&1 && return; sleep 0.05; done; echo "server on $1 did not start" >&2; exit 1; }

work=$(mktemp -d)
keel_port=$(free_port); redis_port=$(free_port)
taskset -c "$server_cpu" "$KEEL_BIN" serve --port "$keel_port" --dir "$work/keel" >"$work/keel.log" 2>&1 &
keel_pid=$!
taskset -c "$server_cpu" redis-server --port "$redis_port" --save '' --appendonly no --dir "$work" --enable-debug-command yes \
  --daemonize no >"$work/redis.log" 2>&1 &
redis_pid=$!
trap 'kill $keel_pid $redis_pid 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$work"' EXIT
wait_ready "$keel_port"; wait_ready "$redis_port"

# One redis-benchmark run; prints "TEST rps" lines.
bench_one() {
  local port=$1 pipeline=$2 requests=$3 test=$4
  taskset -c "$client_cpu" redis-benchmark -p "$port" -c 50 -r 1000000 -d 16 -n "$requests" -P "$pipeline" \
    -t "$test" --csv 2>/dev/null | tail -n +2 | tr -d '"' | awk -F, '{sub(/ .*/, "", $1); print $1, $2}'
}

memory() {
  local port=$1 pid=$2
  local before; before=$(redis-cli -p "$port" info memory | awk -F: '/^used_memory:/{print $2}' | tr -d '\r')
  local rss_before; rss_before=$(awk '/VmRSS/{print $2*1024}' "/proc/$pid/status")
  redis-cli -p "$port" debug populate 1000000 >/dev/null
  local after; after=$(redis-cli -p "$port" info memory | awk -F: '/^used_memory:/{print $2}' | tr -d '\r')
  local rss_after; rss_after=$(awk '/VmRSS/{print $2*1024}' "/proc/$pid/status")
  redis-cli -p "$port" flushall >/dev/null
  echo "$(( (after - before) / 1000000 )) $(( (rss_after - rss_before) / 1000000 ))"
}
# Memory first, on fresh processes, so that earlier load does not colour the RSS figures.
read -r keel_used keel_rss < <(memory "$keel_port" "$keel_pid")
read -r redis_used redis_rss < <(memory "$redis_port" "$redis_pid")

# Throughput: each test runs on Keel and then on Redis back to back, so both see the same machine.
results="$work/results"
: >"$results"
for round in $(seq "$ROUNDS"); do
  for pipeline in 1 16; do
    requests=$REQUESTS_P1; [ "$pipeline" = 16 ] && requests=$REQUESTS_P16
    for test in ${TESTS//,/ }; do
      for server in keel redis; do
        port=$keel_port; [ $server = redis ] && port=$redis_port
        bench_one "$port" "$pipeline" "$requests" "$test" | while read -r name rps; do
          echo "$server $pipeline $name $rps" >>"$results"
        done
      done
    done
  done
  echo "round $round of $ROUNDS done" >&2
done

python3 - "$results" "$keel_used" "$keel_rss" "$redis_used" "$redis_rss" "$ROUNDS" <<'PY'
import sys, statistics, collections
path, ku, kr, ru, rr, rounds = sys.argv[1:]
runs = collections.defaultdict(list)
for line in open(path):
    server, pipeline, test, rps = line.split()
    runs[(test, int(pipeline), server)].append(float(rps))
tests = sorted({(t, p) for t, p, _ in runs}, key=lambda x: (x[1], x[0]))
print(f"\nredis-benchmark -c 50 -r 1000000 -d 16, median of {rounds} interleaved rounds, server pinned to one core\n")
print(f"| {'test':<12} | {'-P':>3} | {'keel ops/s':>12} | {'redis ops/s':>12} | {'keel/redis':>10} |")
print(f"|{'-'*14}|{'-'*5}|{'-'*14}|{'-'*14}|{'-'*12}|")
for test, p in tests:
    k = statistics.median(runs[(test, p, 'keel')]); r = statistics.median(runs[(test, p, 'redis')])
    print(f"| {test:<12} | {p:>3} | {k:>12,.0f} | {r:>12,.0f} | {k / r:>10.2f} |")
print(f"\nDEBUG POPULATE 1000000: bytes per key")
print(f"| {'server':<6} | {'used_memory':>11} | {'RSS':>6} |")
print(f"|{'-'*8}|{'-'*13}|{'-'*8}|")
print(f"| {'keel':<6} | {ku:>11} | {kr:>6} |")
print(f"| {'redis':<6} | {ru:>11} | {rr:>6} |")
print(f"| {'ratio':<6} | {int(ku)/max(int(ru),1):>11.2f} | {int(kr)/max(int(rr),1):>6.2f} |")
PY
