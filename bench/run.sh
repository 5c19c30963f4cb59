#!/usr/bin/env bash
# Keel vs Debian's redis-server on this machine, in one run: redis-benchmark throughput ratios (and each server's
# CPU time per request) and bytes
# per key. Servers are pinned to one core and the load generator to another; rounds interleave the two
# servers so that drift in the machine affects both alike.
#
#   bench/run.sh                # full run: 3 rounds
#   ROUNDS=1 bench/run.sh       # quicker
#
# The throughput and memory tables run both servers without persistence; the durability table runs both
# with `appendonly yes` and the same `appendfsync`; the fan-out table counts pub/sub messages delivered per
# second; the snapshot line measures what a background save costs in memory while clients write; the
# neighbour table measures one database's latency while another in the same Keel is busy; the JSON tables run
# JSON commands on Keel beside strings on both, and measure bytes per document; the growth table gives SET
# latency while the keyspace grows to 2M keys; the replication table gives a replica's lag and the primary's
# throughput with it; the connections table gives the memory a connection costs; the cores table runs
# nothing pinned and compares one database (one redis-server) under load with two.
#
# Keel is the binary it ships, deploy/pgo-build.sh's (built first, again only when the source changed);
# KEEL_BIN=target/release/keel measures the plain release build instead.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
if [ -z "${KEEL_BIN:-}" ]; then
  "$here/deploy/pgo-build.sh"
  KEEL_BIN=$here/target/pgo/release/keel
fi
ROUNDS=${ROUNDS:-3}
TESTS=${TESTS:-ping_mbulk,set,get,incr,mset,lpush,rpop,lrange_100,sadd,spop,hset,zadd,zpopmin}
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
pids=()
trap 'kill ${pids[*]} 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$work"' EXIT

# Starts Keel and redis-server pinned to the server core; sets keel_port/keel_pid/redis_port/redis_pid.
# With an argument (always|everysec|no), both keep an append-only log with that fsync policy.
start_servers() {
  local fsync=${1:-}
  local aof=(--appendonly no)
  [ -n "$fsync" ] && aof=(--appendonly yes --appendfsync "$fsync")
  keel_port=$(free_port); redis_port=$(free_port); keel_http_port=$(free_port)
  rm -rf "$work/keel" "$work/redis"; mkdir -p "$work/redis"
  KEEL_REST_TOKEN=bench-token KEEL_ADMIN_TOKEN=bench-admin taskset -c "$server_cpu" "$KEEL_BIN" serve --port "$keel_port" \
    --http-port "$keel_http_port" --dir "$work/keel" --save '' "${aof[@]}" \
    >"$work/keel.log" 2>&1 &
  keel_pid=$!
  taskset -c "$server_cpu" redis-server --port "$redis_port" --save '' "${aof[@]}" --dir "$work/redis" \
    --enable-debug-command yes --daemonize no >"$work/redis.log" 2>&1 &
  redis_pid=$!
  pids=("$keel_pid" "$redis_pid")
  wait_ready "$keel_port"; wait_ready "$redis_port"
}

stop_servers() {
  kill "$keel_pid" "$redis_pid" 2>/dev/null || true
  wait "$keel_pid" "$redis_pid" 2>/dev/null || true
}

# One redis-benchmark run; prints "TEST rps" lines.
bench_one() {
  local port=$1 pipeline=$2 requests=$3 test=$4
  taskset -c "$client_cpu" redis-benchmark -p "$port" -c 50 -r 1000000 -d 16 -n "$requests" -P "$pipeline" \
    -t "$test" --csv 2>/dev/null | tail -n +2 | tr -d '"' | awk -F, '{sub(/ .*/, "", $1); print $1, $2}'
}

# Scripted commands, as rate limiters and queues send them: a fixed-window limiter by EVAL (its body sent
# every time) and by EVALSHA (loaded once). Prints "NAME rps" for NAME, eval_ratelim or evalsha (rps is
# counted from the end of the CSV line: the command's name column holds the script, commas included).
RATE_LIMIT="local n = redis.call('INCR', KEYS[1]) if n == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end return n"
bench_scripts() {
  local port=$1 pipeline=$2 requests=$3 name=$4 script
  script=(EVAL "$RATE_LIMIT")
  [ "$name" = evalsha ] && script=(EVALSHA "$(redis-cli -p "$port" SCRIPT LOAD "$RATE_LIMIT")")
  taskset -c "$client_cpu" redis-benchmark -p "$port" -c 50 -r 100000 -n "$requests" -P "$pipeline" --csv \
    "${script[@]}" 1 "rl:__rand_int__" 60000 2>/dev/null | tail -n +2 | tr -d '"' \
    | awk -F, -v name="$name" '{print name, $(NF-6)}'
}

# Commands that name ten keys or ten members of one big hash: MGET (of the keys the SET test wrote), HSET of
# ten fields, then HMGET of ten. Prints "NAME rps" for NAME, one of mget_10, hset_10, hmget_10.
bench_multi() {
  local port=$1 pipeline=$2 requests=$3 name=$4 k="key:__rand_int__" f="f:__rand_int__" args
  case $name in
    mget_10) args=(MGET "$k" "$k" "$k" "$k" "$k" "$k" "$k" "$k" "$k" "$k") ;;
    hset_10) args=(HSET bench:hash "$f" v "$f" v "$f" v "$f" v "$f" v "$f" v "$f" v "$f" v "$f" v "$f" v) ;;
    hmget_10) args=(HMGET bench:hash "$f" "$f" "$f" "$f" "$f" "$f" "$f" "$f" "$f" "$f") ;;
  esac
  taskset -c "$client_cpu" redis-benchmark -p "$port" -c 50 -r 1000000 -n "$requests" -P "$pipeline" --csv \
    "${args[@]}" 2>/dev/null | tail -n +2 | tr -d '"' | awk -F, -v name="$name" '{print name, $(NF-6)}'
}

# Stream appends, as event logs and job queues send them: XADD with an auto ID to one capped stream.
# Prints "xadd rps".
bench_streams() {
  local port=$1 pipeline=$2 requests=$3
  redis-cli -p "$port" del bench:stream >/dev/null
  taskset -c "$client_cpu" redis-benchmark -p "$port" -c 50 -r 1000000 -n "$requests" -P "$pipeline" --csv \
    XADD bench:stream MAXLEN "~" 100000 "*" event click user __rand_int__ 2>/dev/null | tail -n +2 | tr -d '"' \
    | awk -F, '{print "xadd", $(NF-6)}'
}

# One throughput test by name: redis-benchmark's own (-t), or one of the commands above, each with the
# share of REQUESTS it runs. Prints "NAME rps requests".
bench_test() {
  local port=$1 pipeline=$2 requests=$3 test=$4
  case $test in
    eval_ratelim|evalsha) requests=$((requests / 2)) ;;
    mget_10|hset_10|hmget_10) requests=$((requests / 4)) ;;
  esac
  case $test in
    eval_ratelim|evalsha) bench_scripts "$port" "$pipeline" "$requests" "$test" ;;
    mget_10|hset_10|hmget_10) bench_multi "$port" "$pipeline" "$requests" "$test" ;;
    xadd) bench_streams "$port" "$pipeline" "$requests" ;;
    *) bench_one "$port" "$pipeline" "$requests" "$test" ;;
  esac | awk -v n="$requests" '{print $1, $2, n}'
}

# CPU time a process has used so far, in clock ticks (all its threads, user and system).
cpu_ticks() {
  awk '{print $14 + $15}' "/proc/$1/stat"
}

# RESP for one dataset, for `redis-cli --pipe`: strings via DEBUG POPULATE, or a big hash, a big set,
# many small hashes, or a stream of events.
dataset() {
  python3 - "$1" <<'PY'
import sys
out = sys.stdout.buffer
def cmd(*args):
    parts = [b"*%d\r\n" % len(args)]
    for a in args:
        a = a if isinstance(a, bytes) else str(a).encode()
        parts.append(b"$%d\r\n%s\r\n" % (len(a), a))
    out.write(b"".join(parts))
kind = sys.argv[1]
if kind == "strings":
    cmd("DEBUG", "POPULATE", 1000000)
elif kind == "hash":
    for start in range(0, 1000000, 100):
        args = ["HSET", "bighash"]
        for i in range(start, start + 100):
            args += ["field:%d" % i, "value:%d" % i]
        cmd(*args)
elif kind == "set":
    for start in range(0, 1000000, 100):
        cmd("SADD", "bigset", *["member:%d" % i for i in range(start, start + 100)])
elif kind == "zset":
    for start in range(0, 1000000, 100):
        args = ["ZADD", "bigzset"]
        for i in range(start, start + 100):
            args += [i, "member:%d" % i]
        cmd(*args)
elif kind == "stream":
    for start in range(0, 1000000, 100):
        for i in range(start, start + 100):
            cmd("XADD", "events", "*", "event", "click", "user", i)
elif kind in ("json-docs", "json-text"):
    doc = '{"user":"u%d","visits":12,"tags":["a","b"],"active":true}'
    for n in range(1000000):
        if kind == "json-docs":
            cmd("JSON.SET", "doc:%d" % n, "$", doc % n)
        else:
            cmd("SET", "doc:%d" % n, doc % n)
elif kind == "small-hashes":
    for n in range(100000):
        args = ["HSET", "h:%d" % n]
        for f in range(10):
            args += ["field%d" % f, "value%d" % f]
        cmd(*args)
elif kind == "small-sets":
    for n in range(100000):
        cmd("SADD", "tags:%d" % n, *["tag%d" % t for t in range(10)])
PY
}
# DATASETS="" skips the memory measurements.
read -r -a DATASETS <<<"${DATASETS-strings:1000000 hash:1000000 set:1000000 zset:1000000 small-hashes:1000000 small-sets:1000000 stream:1000000}"

# Bytes per element of one dataset: used_memory and RSS growth divided by the elements it holds.
memory() {
  local port=$1 pid=$2 kind=$3 elements=$4
  local before; before=$(redis-cli -p "$port" info memory | awk -F: '/^used_memory:/{print $2}' | tr -d '\r')
  local rss_before; rss_before=$(awk '/VmRSS/{print $2*1024}' "/proc/$pid/status")
  dataset "$kind" | redis-cli -p "$port" --pipe >/dev/null
  local after; after=$(redis-cli -p "$port" info memory | awk -F: '/^used_memory:/{print $2}' | tr -d '\r')
  local rss_after; rss_after=$(awk '/VmRSS/{print $2*1024}' "/proc/$pid/status")
  redis-cli -p "$port" flushall >/dev/null
  echo "$(( (after - before) / elements )) $(( (rss_after - rss_before) / elements ))"
}
# Memory: fresh processes for every dataset, so that no earlier allocation colours the RSS figures.
memory_results="$work/memory"
: >"$memory_results"
for entry in "${DATASETS[@]+"${DATASETS[@]}"}"; do
  kind=${entry%%:*}; elements=${entry##*:}
  start_servers
  read -r ku kr < <(memory "$keel_port" "$keel_pid" "$kind" "$elements")
  read -r ru rr < <(memory "$redis_port" "$redis_pid" "$kind" "$elements")
  stop_servers
  echo "$kind $ku $kr $ru $rr" >>"$memory_results"
done

# Memory per connection: CONNECTIONS clients (default 5000) that each SET and GET 1 KB, measured right after
# (between requests) and after 3 s idle; fresh processes. CONNECTIONS=0 skips it.
connection_results="$work/connections"
: >"$connection_results"
if [ "${CONNECTIONS-5000}" -gt 0 ]; then
  start_servers
  echo "keel $(python3 "$here/bench/connections.py" "$keel_port" "$keel_pid" "${CONNECTIONS-5000}" 3)" >>"$connection_results"
  echo "redis $(python3 "$here/bench/connections.py" "$redis_port" "$redis_pid" "${CONNECTIONS-5000}" 3)" >>"$connection_results"
  stop_servers
fi

start_servers

# Throughput: each test runs on Keel and then on Redis back to back, so both see the same machine. Beside
# ops/s, the server's CPU time per request: at -P 1 the one-core load generator is the limit for both
# servers (it runs at 100% while they do not), so what each server spends per request tells them apart.
results="$work/results"
: >"$results"
EXTRA_TESTS=${EXTRA_TESTS-eval_ratelim,evalsha,xadd,mget_10,hset_10,hmget_10}
ticks_per_second=$(getconf CLK_TCK)
# Long pipelines (a bulk load, a batch job's reads): LONG_TESTS at -P 100.
LONG_TESTS=${LONG_TESTS-set,get}
REQUESTS_P100=${REQUESTS_P100:-3000000}
for round in $(seq "$ROUNDS"); do
  for pipeline in 1 16 100; do
    requests=$REQUESTS_P1; [ "$pipeline" = 16 ] && requests=$REQUESTS_P16
    tests="${TESTS//,/ } ${EXTRA_TESTS//,/ }"
    [ "$pipeline" = 100 ] && { requests=$REQUESTS_P100; tests=${LONG_TESTS//,/ }; }
    for test in $tests; do
      for server in keel redis; do
        port=$keel_port; pid=$keel_pid
        [ $server = redis ] && { port=$redis_port; pid=$redis_pid; }
        before=$(cpu_ticks "$pid")
        bench_test "$port" "$pipeline" "$requests" "$test" >"$work/one-test"
        after=$(cpu_ticks "$pid")
        while read -r name rps done_requests; do
          cpu_us=$(awk -v t=$((after - before)) -v hz="$ticks_per_second" -v n="$done_requests" \
            'BEGIN {printf "%.3f", t * 1e6 / hz / n}')
          echo "$server $pipeline $name $rps $cpu_us" >>"$results"
        done <"$work/one-test"
      done
    done
  done
  echo "round $round of $ROUNDS done" >&2
done

stop_servers

# Durability: SET with the log on, same fsync policy on both servers.
read -r -a DURABILITY <<<"${DURABILITY-everysec always}"
durability_results="$work/durability"
: >"$durability_results"
for fsync in "${DURABILITY[@]+"${DURABILITY[@]}"}"; do
  start_servers "$fsync"
  for round in $(seq "$ROUNDS"); do
    for pipeline in 1 16; do
      requests=$REQUESTS_P1; [ "$pipeline" = 16 ] && requests=$REQUESTS_P16
      [ "$fsync" = always ] && requests=$((requests / 4))
      for server in keel redis; do
        port=$keel_port; [ $server = redis ] && port=$redis_port
        bench_one "$port" "$pipeline" "$requests" set | while read -r name rps; do
          echo "$server $pipeline $fsync $rps" >>"$durability_results"
        done
      done
    done
  done
  stop_servers
done

# PUBLISH fan-out: messages delivered per second to 1, 100 and 1000 subscribers of one channel.
read -r -a FANOUT <<<"${FANOUT-1 100 1000}"
fanout_results="$work/fanout"
: >"$fanout_results"
if [ ${#FANOUT[@]} -gt 0 ]; then
  start_servers
  for round in $(seq "$ROUNDS"); do
    for subscribers in "${FANOUT[@]}"; do
      for server in keel redis; do
        port=$keel_port; [ $server = redis ] && port=$redis_port
        rate=$(taskset -c "$client_cpu" python3 "$here/bench/pubsub.py" "$port" "$subscribers" 3)
        echo "$server $subscribers $rate" >>"$fanout_results"
      done
    done
  done
  stop_servers
fi

# Snapshot memory: ~1M keys, BGSAVE while SETs overwrite them; Keel's peak RSS growth during the save against Redis's
# copy-on-write size (its forked child's private memory, which INFO reports as rdb_last_cow_size).
snapshot_results="$work/snapshot"
: >"$snapshot_results"
if [ "${SNAPSHOT-1}" = 1 ]; then
  start_servers
  for server in keel redis; do
    port=$keel_port; pid=$keel_pid; [ $server = redis ] && port=$redis_port && pid=$redis_pid
    # Fill the benchmark's own key space, so that the SETs during the save overwrite rather than add.
    taskset -c "$client_cpu" redis-benchmark -p "$port" -c 50 -r 1000000 -d 16 -n 4000000 -P 16 -t set -q \
      >/dev/null 2>&1
    rss_before=$(awk '/VmRSS/{print $2*1024}' "/proc/$pid/status")
    taskset -c "$client_cpu" redis-benchmark -p "$port" -c 50 -r 1000000 -d 16 -n 2000000 -P 16 -t set -q \
      >/dev/null 2>&1 &
    load=$!
    sleep 0.5
    redis-cli -p "$port" bgsave >/dev/null
    peak=$rss_before
    until redis-cli -p "$port" info persistence | grep -q '^rdb_bgsave_in_progress:0'; do
      rss=$(awk '/VmRSS/{print $2*1024}' "/proc/$pid/status"); [ "$rss" -gt "$peak" ] && peak=$rss
      sleep 0.01
    done
    kill "$load" 2>/dev/null || true; wait "$load" 2>/dev/null || true
    cow=$(redis-cli -p "$port" info persistence | awk -F: '/^rdb_last_cow_size:/{print $2}' | tr -d '\r')
    secs=$(redis-cli -p "$port" info persistence | awk -F: '/^rdb_last_bgsave_time_sec:/{print $2}' | tr -d '\r')
    echo "$server $((peak - rss_before)) $cow $secs" >>"$snapshot_results"
  done
  stop_servers
fi

# REST: GET and SET requests per second over 50 keep-alive connections (wrk), Keel only (Redis has no HTTP
# face); the table sets them beside Keel's RESP -P 1 figures from the same run. `pipeline` POSTs /pipeline
# with 16 SETs per request and counts commands, beside RESP's SET at -P 16.
read -r -a REST <<<"${REST-get set pipeline}"
rest_results="$work/rest"
: >"$rest_results"
if [ ${#REST[@]} -gt 0 ] && command -v wrk >/dev/null; then
  start_servers
  redis-cli -p "$keel_port" set key value >/dev/null
  for round in $(seq "$ROUNDS"); do
    for test in "${REST[@]}"; do
      path=/get/key; script=(); per_request=1
      [ "$test" = set ] && path=/set/key/value
      [ "$test" = pipeline ] && path=/pipeline && script=(-s "$here/bench/rest-pipeline.lua") && per_request=16
      rps=$(taskset -c "$client_cpu" wrk -t1 -c50 -d5s -H "Authorization: Bearer bench-token" "${script[@]}" \
        "http://127.0.0.1:$keel_http_port$path" | awk '/Requests\/sec/{print $2}')
      echo "$test $(awk -v r="$rps" -v n="$per_request" 'BEGIN {print r * n}')" >>"$rest_results"
    done
  done
  stop_servers
fi

# Growth: SETs of new keys (-P 1, 50 clients, keys drawn from 10^9) until the keyspace holds about GROWTH
# keys: the latency percentiles and the worst request, when tables resize. GROWTH=0 skips it.
GROWTH=${GROWTH-2000000}
growth_results="$work/growth"
: >"$growth_results"
if [ "$GROWTH" -gt 0 ]; then
  for server in keel redis; do
    start_servers
    port=$keel_port; [ $server = redis ] && port=$redis_port
    taskset -c "$client_cpu" redis-benchmark -p "$port" -c 50 -n "$GROWTH" -r 1000000000 -P 1 -t set -d 16 2>/dev/null |
      tr '\r' '\n' | awk -v server=$server '
        /Latency by percentile distribution/ {on = 1; next}
        on && /%/ { p = $1; sub("%", "", p); p += 0; v = $3 + 0
                    if (p >= 99 && !p99) p99 = v; if (p >= 99.9 && !p999) p999 = v; top = v }
        /Cumulative distribution/ {on = 0}
        END {print server, p99, p999, top}' >>"$growth_results"
    stop_servers
  done
fi

# JSON documents (Keel only: Debian's redis-server has no JSON module): JSON.SET, JSON.GET and JSON.NUMINCRBY
# beside SET and GET of the same document as a string on both servers, and bytes per small document
# (1M documents as JSON in Keel, and as strings in Keel and in Redis). JSON=0 skips it.
json_results="$work/json"
: >"$json_results"
if [ "${JSON-1}" = 1 ]; then
  doc='{"user":"u123","visits":12,"tags":["a","b"],"active":true}'
  # One redis-benchmark run of a command: "NAME PIPELINE rps" (rps counted from the end of the CSV line,
  # whose first column holds the command with its commas).
  one() { # port pipeline requests name args...
    local port=$1 pipeline=$2 requests=$3 name=$4; shift 4
    local rps; rps=$(taskset -c "$client_cpu" redis-benchmark -p "$port" -c 50 -r 1000000 -n "$requests" \
      -P "$pipeline" --csv "$@" 2>/dev/null | tail -1 | tr -d '"' | awk -F, '{print $(NF-6)}')
    echo "$name $pipeline $rps"
  }
  start_servers
  redis-cli -p "$keel_port" JSON.SET jdoc '$' "$doc" >/dev/null
  for server in keel redis; do
    port=$keel_port; [ $server = redis ] && port=$redis_port
    redis-cli -p "$port" SET sdoc "$doc" >/dev/null
  done
  for round in $(seq "$ROUNDS"); do
    for pipeline in 1 16; do
      requests=$REQUESTS_P1; [ "$pipeline" = 16 ] && requests=$REQUESTS_P16
      for server in keel redis; do
        port=$keel_port; [ $server = redis ] && port=$redis_port
        { one "$port" "$pipeline" "$requests" set-text SET "sdoc:__rand_int__" "$doc"
          one "$port" "$pipeline" "$requests" get-text GET sdoc; } | sed "s/^/$server /" >>"$json_results"
      done
      { one "$keel_port" "$pipeline" "$requests" json.set JSON.SET "jdoc:__rand_int__" '$' "$doc"
        one "$keel_port" "$pipeline" "$requests" json.get JSON.GET jdoc '$.tags'
        one "$keel_port" "$pipeline" "$requests" json.numincrby JSON.NUMINCRBY jdoc '$.visits' 1; } |
        sed "s/^/keel /" >>"$json_results"
    done
  done
  stop_servers
  start_servers
  read -r ju jr < <(memory "$keel_port" "$keel_pid" json-docs 1000000)
  read -r ku kr < <(memory "$keel_port" "$keel_pid" json-text 1000000)
  read -r ru rr < <(memory "$redis_port" "$redis_pid" json-text 1000000)
  stop_servers
  echo "memory $ju $jr $ku $kr $ru $rr" >>"$json_results"
fi

# Noisy neighbours (Keel only: Redis has no databases that share a process): database B's PING latency while
# database A is quiet, runs a long script, takes pipelined writes, scans its keys, or the admin API is polled.
neighbour_results="$work/neighbour"
: >"$neighbour_results"
if [ "${NEIGHBOUR-1}" = 1 ]; then
  start_servers
  taskset -c "$client_cpu" python3 "$here/bench/neighbour.py" "$keel_port" "$keel_http_port" bench-admin 3 \
    >"$neighbour_results"
  stop_servers
fi

# Cores (CORES=0 skips it; needs two cores or more): nothing pinned, the servers and the load generators share
# every core. Keel with one database under SET -P 16, then two databases at once (a redis-benchmark each);
# redis-server with one instance, then two. Prints "KIND one two_a two_b" per round.
cores_results="$work/cores"
: >"$cores_results"
cores_set() {
  redis-benchmark -p "$1" ${2:+-a "$2"} -c 50 -r 1000000 -d 16 -n "${CORES_REQUESTS:-2000000}" -P 16 -t set --csv \
    2>/dev/null | tail -n +2 | tr -d '"' | awk -F, '{print $2}'
}
cores_pair() {
  local one two_a
  one=$(cores_set "$1" "$3")
  cores_set "$1" "$3" >"$work/cores-a" &
  two_a=$!
  cores_set "$2" "$4" >"$work/cores-b"
  wait "$two_a"
  echo "$one $(cat "$work/cores-a") $(cat "$work/cores-b")"
}
if [ "${CORES-1}" = 1 ] && [ "$cores" -gt 1 ]; then
  for _ in $(seq "$ROUNDS"); do
    keel_port=$(free_port); keel_http_port=$(free_port)
    rm -rf "$work/keel"
    KEEL_ADMIN_TOKEN=bench-admin "$KEEL_BIN" serve --port "$keel_port" --http-port "$keel_http_port" \
      --dir "$work/keel" --save '' --appendonly no >"$work/keel.log" 2>&1 &
    keel_pid=$!
    pids=("$keel_pid")
    wait_ready "$keel_port"
    read -r password_a password_b < <(python3 - "$keel_http_port" <<'PY'
import json, sys, urllib.request
def create(name):
    request = urllib.request.Request(f"http://127.0.0.1:{sys.argv[1]}/v1/databases", method="POST",
                                     data=json.dumps({"name": name}).encode(),
                                     headers={"Authorization": "Bearer bench-admin", "Content-Type": "application/json"})
    with urllib.request.urlopen(request) as reply:
        return json.loads(reply.read())["password"]
print(create("cores-a"), create("cores-b"))
PY
)
    echo "keel $(cores_pair "$keel_port" "$keel_port" "$password_a" "$password_b")" >>"$cores_results"
    kill "$keel_pid"; wait "$keel_pid" 2>/dev/null || true
    redis_port=$(free_port); redis_second_port=$(free_port)
    redis-server --port "$redis_port" --save '' --appendonly no --dir "$work/redis" >/dev/null 2>&1 &
    redis_pid=$!
    redis-server --port "$redis_second_port" --save '' --appendonly no --dir "$work/redis" >/dev/null 2>&1 &
    redis_second_pid=$!
    pids=("$redis_pid" "$redis_second_pid")
    wait_ready "$redis_port"; wait_ready "$redis_second_port"
    echo "redis $(cores_pair "$redis_port" "$redis_second_port" "" "")" >>"$cores_results"
    kill "$redis_pid" "$redis_second_pid"; wait "$redis_pid" "$redis_second_pid" 2>/dev/null || true
  done
fi

# Replication (REPLICATION=0 skips it): each server kind with a replica of its own kind (pinned to the client
# core, beside the load generator): the replica's lag under about 100k SETs a second, and the primary's SET
# -P 16 throughput with the replica attached against without it, and a FAILOVER to the replica under writes.
replication_results="$work/replication"
: >"$replication_results"
if [ "${REPLICATION-1}" = 1 ]; then
  start_servers
  keel_replica_port=$(free_port); redis_replica_port=$(free_port)
  taskset -c "$client_cpu" "$KEEL_BIN" serve --port "$keel_replica_port" --http-port 0 --dir "$work/keel-replica" \
    --save '' --appendonly no >"$work/keel-replica.log" 2>&1 &
  keel_replica_pid=$!
  mkdir -p "$work/redis-replica"
  taskset -c "$client_cpu" redis-server --port "$redis_replica_port" --save '' \
    --appendonly no --dir "$work/redis-replica" --daemonize no >"$work/redis-replica.log" 2>&1 &
  redis_replica_pid=$!
  pids+=("$keel_replica_pid" "$redis_replica_pid")
  wait_ready "$keel_replica_port"; wait_ready "$redis_replica_port"
  redis-cli -p "$redis_port" CONFIG SET repl-diskless-sync-delay 0 >/dev/null
  python3 "$here/bench/replication.py" keel "$keel_port" "$keel_replica_port" "$client_cpu" "$server_cpu" >>"$replication_results"
  python3 "$here/bench/replication.py" redis "$redis_port" "$redis_replica_port" "$client_cpu" "$server_cpu" >>"$replication_results"
  kill "$keel_replica_pid" "$redis_replica_pid" 2>/dev/null || true
  wait "$keel_replica_pid" "$redis_replica_pid" 2>/dev/null || true
  stop_servers
fi

echo "Keel: $KEEL_BIN ($("$KEEL_BIN" --version 2>/dev/null || echo "version unknown")); redis-server: $(redis-server --version)"

python3 - "$results" "$memory_results" "$ROUNDS" "$durability_results" "$snapshot_results" "$fanout_results" "$rest_results" "$neighbour_results" "$json_results" "$growth_results" "$replication_results" "$connection_results" "$cores_results" <<'PY'
import collections, os, statistics, sys
path, memory_path, rounds, durability_path, snapshot_path, fanout_path, rest_path, neighbour_path, json_path, growth_path, replication_path, connection_path, cores_path = sys.argv[1:]
runs = collections.defaultdict(list)
cpu = collections.defaultdict(list)
for line in open(path):
    server, pipeline, test, rps, cpu_us = line.split()
    runs[(test, int(pipeline), server)].append(float(rps))
    cpu[(test, int(pipeline), server)].append(float(cpu_us))
tests = sorted({(t, p) for t, p, _ in runs}, key=lambda x: (x[1], x[0]))
print(f"\nredis-benchmark -c 50 -r 1000000 -d 16, median of {rounds} interleaved rounds, server pinned to one core;")
print("CPU: the server's CPU time per request (ratio redis/keel: above 1, Keel spends less per request)\n")
print(f"| {'test':<12} | {'-P':>3} | {'keel ops/s':>12} | {'redis ops/s':>12} | {'keel/redis':>10} "
      f"| {'keel CPU':>8} | {'redis CPU':>9} | {'redis/keel':>10} |")
print(f"|{'-'*14}|{'-'*5}|{'-'*14}|{'-'*14}|{'-'*12}|{'-'*10}|{'-'*11}|{'-'*12}|")
ratios = collections.defaultdict(list)
for test, p in tests:
    k = statistics.median(runs[(test, p, 'keel')]); r = statistics.median(runs[(test, p, 'redis')])
    kc = statistics.median(cpu[(test, p, 'keel')]); rc = statistics.median(cpu[(test, p, 'redis')])
    ratios[p].append((k / r, rc / max(kc, 1e-9)))
    print(f"| {test:<12} | {p:>3} | {k:>12,.0f} | {r:>12,.0f} | {k / r:>10.2f} "
          f"| {kc:>6.2f}us | {rc:>7.2f}us | {rc / max(kc, 1e-9):>10.2f} |")
for p, pairs in sorted(ratios.items()):
    ops = statistics.geometric_mean([a for a, _ in pairs]); per_request = statistics.geometric_mean([b for _, b in pairs])
    print(f"| {'geomean':<12} | {p:>3} | {'':>12} | {'':>12} | {ops:>10.2f} | {'':>8} | {'':>9} | {per_request:>10.2f} |")
print("\nBytes per element (strings: DEBUG POPULATE 1000000; hash, set, zset: 1M fields/members in one key;")
print("small-hashes: 100k hashes of 10 fields, per field; small-sets: 100k sets of 10 members, per member;")
print("stream: 1M XADD * of 2 fields to one stream, per entry), growth of used_memory and of RSS")
print(f"| {'dataset':<13} | {'keel used':>9} | {'redis used':>10} | {'ratio':>5} | {'keel RSS':>8} | {'redis RSS':>9} | {'ratio':>5} |")
print(f"|{'-'*15}|{'-'*11}|{'-'*12}|{'-'*7}|{'-'*10}|{'-'*11}|{'-'*7}|")
for line in open(memory_path):
    kind, ku, kr, ru, rr = line.split()
    ku, kr, ru, rr = int(ku), int(kr), int(ru), int(rr)
    print(f"| {kind:<13} | {ku:>9} | {ru:>10} | {ku / max(ru, 1):>5.2f} | {kr:>8} | {rr:>9} | {kr / max(rr, 1):>5.2f} |")
conns = {l.split()[0]: [int(x) for x in l.split()[1:]] for l in open(connection_path) if len(l.split()) == 3}
if "keel" in conns and "redis" in conns:
    print("\nBytes of RSS per connection (bench/connections.py: 5000 clients that each SET and GET 1 KB)")
    print(f"| {'':<21} | {'keel':>7} | {'redis':>7} | {'ratio':>5} |")
    print(f"|{'-'*23}|{'-'*9}|{'-'*9}|{'-'*7}|")
    for i, name in enumerate(("between requests", "after 3 s idle")):
        k, r = conns["keel"][i], conns["redis"][i]
        print(f"| {name:<21} | {k:>7} | {r:>7} | {k / max(r, 1):>5.2f} |")
durable = collections.defaultdict(list)
for line in open(durability_path):
    server, pipeline, fsync, rps = line.split()
    durable[(fsync, int(pipeline), server)].append(float(rps))
if durable:
    print(f"\nSET with appendonly yes on both (median of {rounds}; -c 50 -d 16)")
    print(f"| {'appendfsync':<11} | {'-P':>3} | {'keel ops/s':>12} | {'redis ops/s':>12} | {'keel/redis':>10} |")
    print(f"|{'-'*13}|{'-'*5}|{'-'*14}|{'-'*14}|{'-'*12}|")
    for fsync, p in sorted({(f, p) for f, p, _ in durable}, key=lambda x: (x[0], x[1])):
        k = statistics.median(durable[(fsync, p, 'keel')]); r = statistics.median(durable[(fsync, p, 'redis')])
        print(f"| {fsync:<11} | {p:>3} | {k:>12,.0f} | {r:>12,.0f} | {k / r:>10.2f} |")
fan = collections.defaultdict(list)
for line in open(fanout_path):
    server, subscribers, rate = line.split()
    fan[(int(subscribers), server)].append(float(rate))
if fan:
    print(f"\nPUBLISH fan-out (bench/pubsub.py: pipelined PUBLISH of 16 bytes; messages delivered/s, median of {rounds})")
    print(f"| {'subscribers':>11} | {'keel msg/s':>12} | {'redis msg/s':>12} | {'keel/redis':>10} |")
    print(f"|{'-'*13}|{'-'*14}|{'-'*14}|{'-'*12}|")
    for n in sorted({n for n, _ in fan}):
        k = statistics.median(fan[(n, 'keel')]); r = statistics.median(fan[(n, 'redis')])
        print(f"| {n:>11} | {k:>12,.0f} | {r:>12,.0f} | {k / r:>10.2f} |")
snap = [l.split() for l in open(snapshot_path)]
if snap:
    print("\nBGSAVE of ~1M keys while SET -P 16 overwrites them: extra memory the snapshot cost")
    for server, rss_growth, cow, secs in snap:
        print(f"  {server:<5}: peak RSS growth of the server {int(rss_growth) / 2**20:7.1f} MiB, "
              f"rdb_last_cow_size {int(cow) / 2**20:7.1f} MiB, {secs} s")
rest = collections.defaultdict(list)
for line in open(rest_path):
    test, rps = line.split()
    rest[test].append(float(rps))
if rest:
    print(f"\nREST on Keel (wrk -t1 -c50 -d5s, keep-alive; median of {rounds}) beside Keel's RESP at -P 1;")
    print("pipeline: POST /pipeline of 16 SETs, commands/s, beside RESP's SET at -P 16")
    print(f"| {'test':<8} | {'REST ops/s':>12} | {'RESP ops/s':>12} | {'REST/RESP':>9} |")
    print(f"|{'-'*10}|{'-'*14}|{'-'*14}|{'-'*11}|")
    for test in sorted(rest):
        h = statistics.median(rest[test])
        r = runs.get(('SET', 16, 'keel')) if test == 'pipeline' else runs.get((test.upper(), 1, 'keel'))
        resp = statistics.median(r) if r else float('nan')
        print(f"| {test:<8} | {h:>12,.0f} | {resp:>12,.0f} | {h / resp:>9.2f} |")
neighbours = [l.split() for l in open(neighbour_path)]
if neighbours:
    print("\nNoisy neighbours: database B's PING round trip (ms) while database A is busy (bench/neighbour.py, 3 s each)")
    print(f"| {'A is doing':<18} | {'p50':>7} | {'p99':>7} | {'max':>7} | {'samples':>8} |")
    print(f"|{'-'*20}|{'-'*9}|{'-'*9}|{'-'*9}|{'-'*10}|")
    for name, p50, p99, top, n in neighbours:
        print(f"| {name:<18} | {float(p50):>7.3f} | {float(p99):>7.3f} | {float(top):>7.3f} | {int(n):>8} |")
json_runs = collections.defaultdict(list)
json_memory = None
for line in open(json_path):
    fields = line.split()
    if fields[0] == "memory":
        json_memory = [int(x) for x in fields[1:]]
    elif len(fields) == 4 and fields[3]:
        json_runs[(fields[0], fields[1], int(fields[2]))].append(float(fields[3]))
if json_runs:
    print(f"\nJSON documents (Keel only: Debian's redis-server has no JSON), a 60-byte document; median of {rounds}")
    print(f"| {'test':<15} | {'-P':>3} | {'keel ops/s':>12} | {'redis ops/s':>12} | {'keel/redis':>10} |")
    print(f"|{'-'*17}|{'-'*5}|{'-'*14}|{'-'*14}|{'-'*12}|")
    for name, p in sorted({(n, p) for _, n, p in json_runs}, key=lambda x: (x[1], x[0])):
        k = statistics.median(json_runs[("keel", name, p)])
        r = json_runs.get(("redis", name, p))
        r = statistics.median(r) if r else None
        ratio = f"{k / r:>10.2f}" if r else f"{'-':>10}"
        redis = f"{r:>12,.0f}" if r else f"{'-':>12}"
        print(f"| {name:<15} | {p:>3} | {k:>12,.0f} | {redis} | {ratio} |")
if json_memory:
    ju, jr, ku, kr, ru, rr = json_memory
    print("\nBytes per document, 1M documents of about 60 bytes (used_memory growth / RSS growth)")
    print(f"| {'stored as':<22} | {'used':>6} | {'rss':>6} |")
    print(f"|{'-'*24}|{'-'*8}|{'-'*8}|")
    for name, u, r in (("JSON in Keel", ju, jr), ("a string in Keel", ku, kr), ("a string in Redis", ru, rr)):
        print(f"| {name:<22} | {u:>6} | {r:>6} |")
growth = {l.split()[0]: [float(x) for x in l.split()[1:]] for l in open(growth_path) if len(l.split()) == 4}
if "keel" in growth and "redis" in growth:
    print("\nGrowth: SET latency (ms) while the keyspace grows from empty by GROWTH new keys (default 2M; -P 1, 50 clients)")
    print(f"| {'':<6} | {'keel':>8} | {'redis':>8} | {'keel/redis':>10} |")
    print(f"|{'-'*8}|{'-'*10}|{'-'*10}|{'-'*12}|")
    for i, name in enumerate(("p99", "p99.9", "max")):
        k, r = growth["keel"][i], growth["redis"][i]
        print(f"| {name:<6} | {k:>8.2f} | {r:>8.2f} | {k / r:>10.2f} |")
cores = collections.defaultdict(list)
for line in open(cores_path):
    fields = line.split()
    if len(fields) == 4:
        cores[fields[0]].append([float(x) for x in fields[1:]])
if "keel" in cores and "redis" in cores:
    print(f"\nCores: SET -P 16, nothing pinned (servers and load generators share all {os.cpu_count()} cores); median of {rounds}")
    print("Keel: one database, then two at once; redis-server: one instance, then two")
    print(f"| {'':<6} | {'one ops/s':>11} | {'two ops/s':>11} | {'two/one':>7} |")
    print(f"|{'-'*8}|{'-'*13}|{'-'*13}|{'-'*9}|")
    totals = {}
    for name in ("keel", "redis"):
        one = statistics.median(r[0] for r in cores[name])
        two = statistics.median(r[1] + r[2] for r in cores[name])
        totals[name] = (one, two)
        print(f"| {name:<6} | {one:>11,.0f} | {two:>11,.0f} | {two / one:>7.2f} |")
    (ko, kt), (ro, rt) = totals["keel"], totals["redis"]
    print(f"| {'k/r':<6} | {ko / ro:>11.2f} | {kt / rt:>11.2f} | {'':>7} |")
replication = {l.split()[0]: [float(x) for x in l.split()[1:]] for l in open(replication_path) if len(l.split()) == 11}
if "keel" in replication and "redis" in replication:
    print("\nReplication (bench/replication.py): replica lag (ms) under ~100k SET/s; SET -P 16 on the primary, ops/s and")
    print("the primary's CPU microseconds per SET: without a replica, with a stream sink (SYNC, all discarded, on the")
    print("server's core: the primary's own cost of feeding a replica), and with one replica (on the load generator's core)")
    print(f"| {'':<6} | {'lag p50':>8} | {'lag p99':>8} | {'ops/s none':>11} | {'ops/s sink':>11} | {'ratio':>5} | {'ops/s replica':>13} | {'ratio':>5} | {'cpu none':>8} | {'cpu sink':>8} | {'cpu replica':>11} |")
    print(f"|{'-'*8}|{'-'*10}|{'-'*10}|{'-'*13}|{'-'*13}|{'-'*7}|{'-'*15}|{'-'*7}|{'-'*10}|{'-'*10}|{'-'*13}|")
    for name in ("keel", "redis"):
        p50, p99, without, with_replica, cpu_without, cpu_with, _, _, sink, cpu_sink = replication[name]
        print(f"| {name:<6} | {p50:>8.3f} | {p99:>8.3f} | {without:>11,.0f} | {sink:>11,.0f} | {sink / without:>5.2f} | {with_replica:>13,.0f} | {with_replica / without:>5.2f} | {cpu_without:>8.3f} | {cpu_sink:>8.3f} | {cpu_with:>11.3f} |")
    print("\nFAILOVER TO the replica while a client writes in a loop: the hand-over (ms) and the longest a write waited (ms)")
    print(f"| {'':<6} | {'hand-over':>9} | {'longest write':>13} |")
    print(f"|{'-'*8}|{'-'*11}|{'-'*15}|")
    for name in ("keel", "redis"):
        took, held = replication[name][6:8]
        print(f"| {name:<6} | {took:>9.0f} | {held:>13.0f} |")
PY
