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
print("ok")
