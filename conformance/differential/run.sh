#!/usr/bin/env bash
# Differential check: the same commands against Keel and Debian's redis-server 7.0.15, reply bytes compared
# in RESP2 and RESP3. Needs redis-server and a built Keel (KEEL_BIN, default target/release/keel).
# The lists in redis8/ (commands newer than 7.0) run against Redis 8.0.2 when REDIS8_SERVER names its
# redis-server (../shared/tools/redis8-reference.sh builds one; its default place is used when present).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
KEEL_BIN=${KEEL_BIN:-$here/../../target/release/keel}
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
work=$(mktemp -d)
keel_port=$(free_port); redis_port=$(free_port)
"$KEEL_BIN" serve --port "$keel_port" --http-port 0 --dir "$work/keel" >/dev/null 2>&1 &
keel_pid=$!
redis-server --port "$redis_port" --save '' --appendonly no --dir "$work" >/dev/null 2>&1 &
redis_pid=$!
REDIS8_SERVER=${REDIS8_SERVER:-/tmp/redis-8.0.2/src/redis-server}
redis8_port=$(free_port); redis8_pid=
if [ -x "$REDIS8_SERVER" ]; then
  "$REDIS8_SERVER" --port "$redis8_port" --save '' --appendonly no --dir "$work" >/dev/null 2>&1 &
  redis8_pid=$!
fi
trap 'kill $keel_pid $redis_pid $redis8_pid 2>/dev/null; wait 2>/dev/null; rm -rf "$work"' EXIT
for port in "$keel_port" "$redis_port" ${redis8_pid:+"$redis8_port"}; do
  for _ in $(seq 50); do redis-cli -p "$port" ping >/dev/null 2>&1 && break; sleep 0.1; done
done
status=0
for list in "$here"/*.tsv; do
  echo "== $(basename "$list")"
  python3 "$here/compare.py" "$keel_port" "$redis_port" "$list" || status=1
done
for list in "$here"/redis8/*.tsv; do
  echo "== redis8/$(basename "$list")"
  if [ -z "$redis8_pid" ]; then echo "skipped: no Redis 8 at REDIS8_SERVER=$REDIS8_SERVER"; continue; fi
  python3 "$here/compare.py" "$keel_port" "$redis8_port" "$list" || status=1
done
exit $status
