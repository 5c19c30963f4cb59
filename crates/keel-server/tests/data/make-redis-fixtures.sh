#!/usr/bin/env bash
# Regenerates redis-7.0-all-types.rdb with Debian's redis-server 7.0 (the tests in persistence.rs check its
# contents against the same recipe). Every type in every encoding Redis 7.0 writes, TTLs, two databases.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
port=${PORT:-7499}
redis-server --port "$port" --dir "$work" --save "" --appendonly no --daemonize yes --logfile "$work/log"
trap 'redis-cli -p "$port" shutdown nosave >/dev/null 2>&1 || true; rm -rf "$work"' EXIT
until redis-cli -p "$port" ping >/dev/null 2>&1; do sleep 0.1; done
r() { redis-cli -p "$port" "$@" >/dev/null; }
r set str:int 12345
r set str:neg -7
r set str:i64 9223372036854775807
r set str:embstr hello
r eval "redis.call('set', 'str:raw', string.rep('abcdefgh', 40))" 0
r eval "local s = {} for i = 0, 255 do s[#s + 1] = string.char(i) end redis.call('set', 'str:binary', table.concat(s))" 0
r set str:ttl v PXAT 4102444800000
r rpush list:small a b 1 2 -3
r eval "for i = 0, 9999 do redis.call('rpush', 'list:big', i) end" 0
r eval "redis.call('rpush', 'list:long', string.rep('z', 10000), 'tail')" 0
r hset hash:small f1 v1 f2 2
r eval "for i = 0, 999 do redis.call('hset', 'hash:big', 'field:' .. i, 'value:' .. i) end" 0
r sadd set:int16 1 2 3
r sadd set:int32 100000 -100000
r sadd set:int64 1099511627776 -5
r eval "for i = 0, 999 do redis.call('sadd', 'set:big', i) end" 0
r sadd set:str a b c
r zadd zset:small 1 a 2.5 b -inf c
r eval "for i = 0, 999 do redis.call('zadd', 'zset:big', i * 1.5, 'member:' .. i) end" 0
r select 3
r -n 3 set db3:key in-db-3
r -n 3 pexpireat db3:key 4102444800000
r save
cp "$work/dump.rdb" "$here/redis-7.0-all-types.rdb"
echo "wrote $here/redis-7.0-all-types.rdb"
