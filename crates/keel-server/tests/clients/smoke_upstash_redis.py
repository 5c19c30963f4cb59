"""Smoke test of the official upstash-redis (PyPI) client against Keel's REST API: KEEL_URL and KEEL_TOKEN
point it at a Keel the Rust test started. Prints "ok" when every step matched, else raises."""
import os

from upstash_redis import Redis

redis = Redis(url=os.environ["KEEL_URL"], token=os.environ["KEEL_TOKEN"])


def check(what, got, want):
    if got != want:
        raise AssertionError(f"{what}: got {got!r}, want {want!r}")


check("set", redis.set("greeting", "hello"), True)
check("get", redis.get("greeting"), "hello")
check("incr", redis.incr("counter"), 1)
check("ping", redis.ping(), "PONG")

pipeline = redis.pipeline()
pipeline.set("p", "1")
pipeline.incr("p")
pipeline.get("p")
check("pipeline", pipeline.exec(), [True, 2, "2"])

tx = redis.multi()
tx.set("t", "a")
tx.append("t", "b")
tx.get("t")
check("multi-exec", tx.exec(), [True, 2, "ab"])

# EVAL, then EVALSHA of the loaded script.
script = "return redis.call('GET', KEYS[1]) .. ARGV[1]"
check("eval", redis.eval(script, keys=["greeting"], args=[" world"]), "hello world")
sha = redis.script_load(script)
check("evalsha", redis.evalsha(sha, keys=["greeting"], args=["!"]), "hello!")
check("publish", redis.publish("news", "fresh"), 0)
# JSON documents through the SDK's json commands.
check("json.set", redis.json.set("doc", "$", {"name": "keel", "tags": ["a"], "n": 1}), True)
check("json.get", redis.json.get("doc", "$.name"), ["keel"])
check("json.arrappend", redis.json.arrappend("doc", "$.tags", "b"), [2])
check("json.numincrby", redis.json.numincrby("doc", "$.n", 2), [3])
check("json.type", redis.json.type("doc", "$.tags"), ["array"])
check("json.del", redis.json.delete("doc", "$.tags"), 1)
# Redis 7.4-8.2 commands through the SDK's own methods: hash-field TTLs, HGETEX/HSETEX/HGETDEL, XDELEX and
# XACKDEL, the new BITOP operators, and XREADGROUP without BLOCK (an ordinary read over REST).
check("hset", redis.hset("fields", values={"a": "1", "b": "2", "c": "3"}), 3)
check("hexpire", redis.hexpire("fields", ["a", "zz"], 100), [1, -2])
ttl = redis.httl("fields", "a")[0]
check("httl", 90 < ttl <= 100, True)
check("hpexpireat", redis.hpexpireat("fields", "b", 4102444800000), [1])
check("hpexpiretime", redis.hpexpiretime("fields", ["b", "c"]), [4102444800000, -1])
check("hpersist", redis.hpersist("fields", ["a", "c"]), [1, -1])
check("hsetex", redis.hsetex("fields", values={"d": "4"}, px=100000), 1)
check("hsetex fnx", redis.hsetex("fields", "d", "5", fnx=True), 0)
check("hgetex", redis.hgetex("fields", "d", "nope", persist=True), ["4", None])
check("hpttl after persist", redis.hpttl("fields", "d"), [-1])
check("hgetdel", redis.hgetdel("fields", "a", "c"), ["1", "3"])
check("hkeys", sorted(redis.hkeys("fields")), ["b", "d"])
redis.set("bx", "a")
redis.set("by", "b")
check("bitop diff", redis.bitop("DIFF", "bdiff", "bx", "by"), 1)
check("bitop andor", redis.bitop("ANDOR", "bandor", "bx", "by"), 1)
redis.xadd("jobs", "1-0", {"n": "1"})
redis.xadd("jobs", "2-0", {"n": "2"})
check("xgroup_create", redis.xgroup_create("jobs", "workers", "0"), "OK")
read = redis.xreadgroup("workers", "w1", {"jobs": ">"}, count=10)
check("xreadgroup (no BLOCK)", read, [["jobs", [["1-0", ["n", "1"]], ["2-0", ["n", "2"]]]]])
check("xackdel", redis.xackdel("jobs", "workers", "1-0", "9-0", option="KEEPREF"), [1, -1])
check("xdelex", redis.xdelex("jobs", "2-0", option="ACKED"), [2])
check("xlen", redis.xlen("jobs"), 1)
print("ok")
