# redis-py through one node of a Keel cluster while the database's primary node is killed: writes a counter
# every 50 ms for KEEL_SECONDS, reconnecting on errors, and must be writing again at the end. Prints "ok".
import os, sys, time
import redis

client = redis.Redis(port=int(os.environ["KEEL_PORT"]), password=os.environ["KEEL_PASSWORD"], socket_timeout=2)
end = time.time() + float(os.environ["KEEL_SECONDS"])
outcomes = []
i = 0
while time.time() < end:
    i += 1
    try:
        client.set("py-counter", i)
        outcomes.append(True)
    except (redis.ConnectionError, redis.TimeoutError, redis.ResponseError):
        outcomes.append(False)
    time.sleep(0.05)
print(f"redis-py: {outcomes.count(True)} ok, {outcomes.count(False)} failed", file=sys.stderr)
assert all(outcomes[-5:]), "redis-py did not recover"
assert client.get("py-counter") is not None
print("ok")
