#!/usr/bin/env bash
# Runs units of Redis 7.0.15's own Tcl test suite against Keel, one fresh Keel per unit, and prints the
# pass/fail counts per unit (see ../shared/specs/conformance.md for the method).
#
#   conformance/redis-suite.sh [UNIT ...]     e.g. conformance/redis-suite.sh unit/keyspace unit/type/string
#   conformance/redis-suite.sh unit/keel-acl unit/keel-maxmemory   (see below)
#
# Needs: Debian's redis source (fetched once into $REDIS_SRC), redis-tools, tclsh, a built Keel
# (KEEL_BIN, default target/release/keel). The `needs:repl` tests, which read the replication stream with
# SYNC, run too; SUITE_TAGS replaces the tag filter (default "-needs:debug -needs:pfdebug").
#
# Redis 8's suite: SUITE_ROOT=$(../shared/tools/redis8-reference.sh) runs the units of that tree instead, and
# SERVER=reference runs them against its redis-server rather than Keel, for the side-by-side counts:
#   SUITE_ROOT=/tmp/redis-8.0.2 conformance/redis-suite.sh unit/type/hash-field-expire
#   SUITE_ROOT=/tmp/redis-8.0.2 SERVER=reference conformance/redis-suite.sh unit/type/hash-field-expire
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
KEEL_BIN=${KEEL_BIN:-$here/target/release/keel}
REDIS_SRC=${REDIS_SRC:-/opt/redis-src}
units=("$@")
[ ${#units[@]} -gt 0 ] || units=(unit/type/string unit/type/incr unit/expire unit/keyspace unit/info-command unit/protocol unit/scan unit/quit)

if [ -z "${SUITE_ROOT:-}" ] && [ ! -d "$REDIS_SRC/redis-src/tests" ]; then
  mkdir -p "$REDIS_SRC/apt/lists/partial"
  cat > "$REDIS_SRC/apt/sources.list" <<SRC
deb-src [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian bookworm main
deb-src [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian-security bookworm-security main
SRC
  opts=(-o "Dir::Etc::SourceList=$REDIS_SRC/apt/sources.list" -o Dir::Etc::SourceParts=/dev/null -o "Dir::State::Lists=$REDIS_SRC/apt/lists")
  (cd "$REDIS_SRC" && apt-get "${opts[@]}" update -qq && apt-get "${opts[@]}" source -qq --download-only redis \
    && dpkg-source -x redis_*.dsc redis-src >/dev/null)
fi
src=${SUITE_ROOT:-$REDIS_SRC/redis-src}
if [ -z "${SUITE_ROOT:-}" ]; then
mkdir -p "$src/src"
ln -sf "$(command -v redis-cli)" "$src/src/redis-cli"
ln -sf "$(command -v redis-benchmark)" "$src/src/redis-benchmark" 2>/dev/null || true

# unit/acl and unit/maxmemory are tagged external:skip throughout. `unit/keel-acl` (acl.tcl's first block)
# and `unit/keel-maxmemory` (maxmemory.tcl without the replica-buffer tests, which start replicas) are copies
# of the parts that need no server of their own, with the tag removed, so that they run against Keel.
sed -n '1,745p' "$src/tests/unit/acl.tcl" | sed 's/"acl external:skip"/"acl"/' >"$src/tests/unit/keel-acl.tcl"
awk 'NR < 302 || NR >= 417' "$src/tests/unit/maxmemory.tcl" \
  | sed 's/ "external:skip"//; s/maxmemory external:skip/maxmemory/' >"$src/tests/unit/keel-maxmemory.tcl"
elif [ -f "$src/tests/unit/type/hash-field-expire.tcl" ]; then
# Redis 8's hash-field-expire.tcl is tagged external:skip throughout; `unit/type/keel-hash-field-expire` is
# its first block (no server of its own needed) with that tag removed, run with needs:debug allowed.
sed -n '1,1338p' "$src/tests/unit/type/hash-field-expire.tcl" | sed 's/"external:skip needs:debug"/"needs:debug"/' \
  >"$src/tests/unit/type/keel-hash-field-expire.tcl"
fi

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
total_ok=0; total_err=0
for unit in "${units[@]}"; do
  port=$(free_port)
  data=$(mktemp -d)
  if [ "${SERVER:-keel}" = reference ]; then
    "$src/src/redis-server" --port "$port" --save '' --dir "$data" --enable-debug-command yes >"$data/keel.log" 2>&1 &
  else
    "$KEEL_BIN" serve --port "$port" --http-port 0 --dir "$data" >"$data/keel.log" 2>&1 &
  fi
  pid=$!
  for _ in $(seq 50); do redis-cli -p "$port" ping >/dev/null 2>&1 && break; sleep 0.1; done
  log="$data/unit.log"
  (cd "$src" && timeout 900 tclsh tests/test_helper.tcl --host 127.0.0.1 --port "$port" --single "$unit" \
     --durable --ignore-encoding --ignore-digest --timeout 120 --baseport $((20000 + RANDOM % 20000)) \
     --tags "${SUITE_TAGS:--needs:debug -needs:pfdebug}" >"$log" 2>&1) || true
  kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true
  plain=$(sed 's/\x1b\[[0-9;]*m//g' "$log")
  ok=$(grep -c '^\[ok\]' <<<"$plain" || true)
  err=$(grep -cE '^\[(err|exception)\]' <<<"$plain" || true)
  total_ok=$((total_ok + ok)); total_err=$((total_err + err))
  printf '%-28s ok %4d  err %4d  (log: %s)\n' "$unit" "$ok" "$err" "$log"
done
printf '%-28s ok %4d  err %4d\n' "total" "$total_ok" "$total_err"
