// Smoke test of the official @upstash/redis client against Keel's REST API: KEEL_URL and KEEL_TOKEN
// point it at a Keel the Rust test started. Prints "ok" when every step matched, else throws.
import { Redis } from "@upstash/redis";

const redis = new Redis({ url: process.env.KEEL_URL, token: process.env.KEEL_TOKEN });
const check = (what, got, want) => {
  if (JSON.stringify(got) !== JSON.stringify(want)) {
    throw new Error(`${what}: got ${JSON.stringify(got)}, want ${JSON.stringify(want)}`);
  }
};

check("set", await redis.set("greeting", "hello"), "OK");
check("get", await redis.get("greeting"), "hello");
await redis.set("user", { name: "ada", visits: 1 });
check("get json", await redis.get("user"), { name: "ada", visits: 1 });
check("incr", await redis.incr("counter"), 1);

const pipeline = redis.pipeline();
pipeline.set("p", "1");
pipeline.incr("p");
pipeline.get("p");
check("pipeline", await pipeline.exec(), ["OK", 2, 2]);

const tx = redis.multi();
tx.set("t", "a");
tx.append("t", "b");
tx.get("t");
check("multi-exec", await tx.exec(), ["OK", 2, "ab"]);

// A script: the client tries EVALSHA first and falls back to EVAL on NOSCRIPT.
const script = redis.createScript("return redis.call('GET', KEYS[1]) .. ARGV[1]");
check("script", await script.exec(["greeting"], [" world"]), "hello world");
check("script again (EVALSHA)", await script.exec(["greeting"], ["!"]), "hello!");

// Subscribe over SSE, publish, receive.
const received = new Promise((resolve, reject) => {
  const subscriber = redis.subscribe(["news"]);
  subscriber.on("message", ({ channel, message }) => {
    subscriber.unsubscribe().then(() => resolve({ channel, message }), reject);
  });
  subscriber.on("error", reject);
  setTimeout(async () => {
    try {
      await redis.publish("news", "fresh");
    } catch (e) {
      reject(e);
    }
  }, 300);
});
check("subscribe", await received, { channel: "news", message: "fresh" });
// JSON documents through the SDK's json commands.
check("json.set", await redis.json.set("doc", "$", { name: "keel", tags: ["a"], n: 1 }), "OK");
check("json.get", await redis.json.get("doc", "$.name"), ["keel"]);
check("json.arrappend", await redis.json.arrappend("doc", "$.tags", JSON.stringify("b")), [2]);
check("json.numincrby", await redis.json.numincrby("doc", "$.n", 2), [3]);
check("json.get whole", await redis.json.get("doc"), { name: "keel", tags: ["a", "b"], n: 3 });
check("json.type", await redis.json.type("doc", "$.tags"), ["array"]);
check("json.del", await redis.json.del("doc", "$.tags"), 1);
console.log("ok");
