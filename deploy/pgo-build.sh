#!/usr/bin/env bash
# Builds the binary Keel ships, target/pgo/release/keel: the release build optimised with a profile of Keel
# serving a training load (profile-guided optimisation). The profile tells the compiler which paths are hot,
# so it lays them out together and inlines along them: a GET's path then fits the instruction cache
# (callgrind, GET at -P 1: 196 instruction-cache misses per request without, 12 with; 5.05k instructions
# per request without, 3.70k with). The source and the plain `cargo build --release` stay as they are.
#
#   deploy/pgo-build.sh            # build (again only when the source changed since the last build)
#   deploy/pgo-build.sh --train B  # only run the training load against binary B (what the tests check)
#
# Needs llvm-profdata of rustc's LLVM (`rustup component add llvm-tools`, tried when missing), and for the
# load redis-benchmark (redis-tools), wrk and python3, installed with apt-get when missing. Takes two release
# builds, in target/pgo-instrumented and target/pgo, so the plain one in target/release is left alone.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# The training load: redis-benchmark's commands pipelined and not, scripts, JSON, pub/sub, and the REST API
# (single commands and pipelines over keep-alive connections). It fails if any command of it failed (a
# profile of error paths would teach the compiler the wrong paths). Keel must exit normally for its profile
# to be written, so it is stopped with SHUTDOWN. TRAIN_REQUESTS and TRAIN_SECONDS scale it down (the tests
# run it against a debug build).
train() {
  local bin=$1 port http_port dir pid sha
  local requests=${TRAIN_REQUESTS:-40000} seconds=${TRAIN_SECONDS:-2}
  port=$(free_port); http_port=$(free_port); dir=$(mktemp -d)
  KEEL_REST_TOKEN=train-token "$bin" serve --port "$port" --http-port "$http_port" --dir "$dir" --save '' \
    --appendonly no >"$dir/keel.log" 2>&1 &
  pid=$!
  for _ in $(seq 200); do redis-cli -p "$port" ping >/dev/null 2>&1 && break; sleep 0.05; done
  local bench=(redis-benchmark -p "$port" -c 50 -r 100000 -q)
  for pipeline in 1 16; do
    "${bench[@]}" -d 16 -n "$requests" -P "$pipeline" >/dev/null
  done
  local limiter="local n = redis.call('INCR', KEYS[1]) if n == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end return n"
  sha=$(redis-cli -p "$port" SCRIPT LOAD "$limiter")
  "${bench[@]}" -n "$requests" EVALSHA "$sha" 1 "rl:__rand_int__" 60000 >/dev/null
  "${bench[@]}" -n "$requests" -P 16 EVAL "$limiter" 1 "rl:__rand_int__" 60000 >/dev/null
  # Documents picked at random twenty times each: all of them are set before the increments look for them.
  local documents=(-r $((requests / 40)) -n $((requests / 2)))
  "${bench[@]}" "${documents[@]}" JSON.SET "doc:__rand_int__" '$' '{"name":"a","tags":[1,2,3],"n":1}' >/dev/null
  "${bench[@]}" "${documents[@]}" JSON.NUMINCRBY "doc:__rand_int__" '$.n' 1 >/dev/null
  "${bench[@]}" -n $((requests / 2)) -P 16 PUBLISH news hello >/dev/null
  local path script
  for path in /set/key/value /get/key /pipeline; do
    script=()
    [ "$path" = /pipeline ] && script=(-s "$here/bench/rest-pipeline.lua")
    wrk -t1 -c20 -d"$seconds"s -H "Authorization: Bearer train-token" "${script[@]}" \
      "http://127.0.0.1:$http_port$path" >"$dir/wrk.out"
    if grep -q "Non-2xx" "$dir/wrk.out" || ! grep -q "requests in" "$dir/wrk.out"; then
      echo "REST $path failed in the training load:" >&2; cat "$dir/wrk.out" >&2; failed=1
    fi
  done
  local errors
  errors=$(redis-cli -p "$port" INFO errorstats | grep '^errorstat_' || true)
  [ -z "$errors" ] || { echo "commands failed in the training load: $errors" >&2; failed=1; }
  redis-cli -p "$port" SHUTDOWN NOSAVE >/dev/null 2>&1 || true
  wait "$pid"
  rm -rf "$dir"
  [ -z "${failed:-}" ]
}

# llvm-profdata of the LLVM rustc uses (profiles of another version do not merge).
find_profdata() {
  local sysroot host tool
  sysroot=$(rustc --print sysroot); host=$(rustc -vV | sed -n 's/^host: //p')
  tool="$sysroot/lib/rustlib/$host/bin/llvm-profdata"
  if [ ! -x "$tool" ] && command -v rustup >/dev/null; then
    rustup component add llvm-tools >&2 || true
  fi
  [ -x "$tool" ] || { echo "llvm-profdata not found: rustup component add llvm-tools" >&2; exit 1; }
  echo "$tool"
}

need_tools() {
  local missing=()
  command -v redis-benchmark >/dev/null || missing+=(redis-tools)
  command -v wrk >/dev/null || missing+=(wrk)
  command -v python3 >/dev/null || missing+=(python3)
  if [ ${#missing[@]} -gt 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  fi
}

need_tools
if [ "${1:-}" = --train ]; then
  train "$2"
  exit 0
fi

cd "$here"
out=target/pgo
# What the binary is built from, in a git checkout: the contents of the sources, the manifests and this
# script (not the commit: a commit of documentation alone needs no new build), changes not committed and
# new files included.
source_id=""
if git rev-parse HEAD >/dev/null 2>&1; then
  sources=(crates Cargo.toml Cargo.lock deploy/pgo-build.sh bench/rest-pipeline.lua)
  source_id=$(git ls-files -z --cached --others --exclude-standard -- "${sources[@]}" \
    | { xargs -0r sha1sum 2>/dev/null || true; } | sha1sum)
fi
if [ -n "$source_id" ] && [ -x "$out/release/keel" ] && [ "$(cat "$out/source-id" 2>/dev/null)" = "$source_id" ]; then
  echo "$out/release/keel is up to date"
  exit 0
fi
profdata=$(find_profdata)
profiles="$here/target/pgo-profiles"
RUSTFLAGS="-Cprofile-generate=$profiles" cargo build --release -p keel --target-dir target/pgo-instrumented
# Build scripts ran instrumented during that build: only the training run's profile counts.
rm -rf "$profiles"
train target/pgo-instrumented/release/keel
"$profdata" merge -o target/pgo-profiles.profdata "$profiles"
RUSTFLAGS="-Cprofile-use=$here/target/pgo-profiles.profdata" cargo build --release -p keel --target-dir "$out"
echo "$source_id" >"$out/source-id"
echo "built $out/release/keel"
