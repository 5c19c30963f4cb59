"""redis-py's JSON commands (`r.json()`) against Keel over RESP: KEEL_PORT points it at a Keel the Rust test
started. Prints "ok" when every step matched, else raises."""
import os

import redis

r = redis.Redis(port=int(os.environ["KEEL_PORT"]), decode_responses=True)


def check(what, got, want):
    if got != want:
        raise AssertionError(f"{what}: got {got!r}, want {want!r}")


j = r.json()
check("set", j.set("session", "$", {"user": "ada", "visits": 1, "tags": ["new"]}), True)
check("get", j.get("session", "$.user"), ["ada"])
check("get legacy", j.get("session", ".visits"), 1)
check("numincrby", j.numincrby("session", "$.visits", 2), [3])
check("arrappend", j.arrappend("session", "$.tags", "vip"), [2])
check("strlen", j.strlen("session", "$.user"), [3])
check("objlen", j.objlen("session", "$"), [3])
check("merge", j.merge("session", "$", {"visits": None, "plan": "pro"}), True)
check("get all", j.get("session"), {"user": "ada", "tags": ["new", "vip"], "plan": "pro"})
check("type", j.type("session", "$.tags"), "array")  # redis-py unwraps the one match
check("arrpop", j.arrpop("session", "$.tags"), ['"vip"'])  # each match is its JSON text
check("clear", j.clear("session", "$.tags"), 1)
check("delete", j.delete("session"), 1)
check("gone", r.exists("session"), 0)
print("ok")
