"""redis-py, unchanged, over TLS: a rediss:// URL and the server's CA. Prints "ok"."""
import os

import redis

client = redis.Redis.from_url(os.environ["KEEL_REDISS_URL"], ssl_ca_certs=os.environ["KEEL_CA"])
client.set("over-tls", "from-redis-py")
assert client.get("over-tls") == b"from-redis-py"
client.close()
print("ok")
