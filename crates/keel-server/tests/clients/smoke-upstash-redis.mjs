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
// Redis 7.4-8.2 commands through the SDK's own methods: hash-field TTLs, HGETEX/HSETEX/HGETDEL, XDELEX and
// XACKDEL, the new BITOP operators, and XREADGROUP without BLOCK (an ordinary read over REST).
check("hset", await redis.hset("fields", { a: "1", b: "2", c: "3" }), 3);
check("hexpire", await redis.hexpire("fields", ["a", "zz"], 100), [1, -2]);
const [ttl] = await redis.httl("fields", ["a"]);
check("httl", ttl > 90 && ttl <= 100, true);
check("hpexpireat", await redis.hpexpireat("fields", "b", 4102444800000), [1]);
check("hpexpiretime", await redis.hpexpiretime("fields", ["b", "c"]), [4102444800000, -1]);
check("hpersist", await redis.hpersist("fields", ["a", "c"]), [1, -1]);
check("hsetex", await redis.hsetex("fields", { expiration: { px: 100000 } }, { d: "4" }), 1);
check("hsetex fnx", await redis.hsetex("fields", { conditional: "FNX" }, { d: "5" }), 0);
check("hgetex", await redis.hgetex("fields", { persist: true }, "d", "nope"), { d: 4, nope: null });
check("hpttl after persist", await redis.hpttl("fields", ["d"]), [-1]);
check("hgetdel", await redis.hgetdel("fields", "a", "c"), { a: 1, c: 3 });
check("hkeys", (await redis.hkeys("fields")).sort(), ["b", "d"]);
await redis.set("bx", "a");
await redis.set("by", "b");
check("bitop diff", await redis.bitop("diff", "bdiff", "bx", "by"), 1);
check("bitop one", await redis.bitop("one", "bone", "bx", "by"), 1);
await redis.xadd("jobs", "1-0", { n: "1" });
await redis.xadd("jobs", "2-0", { n: "2" });
check("xgroup", await redis.xgroup("jobs", { type: "CREATE", group: "workers", id: "0" }), "OK");
const read = await redis.xreadgroup("workers", "w1", "jobs", ">", { count: 10 });
check("xreadgroup (no BLOCK)", read, [["jobs", [["1-0", ["n", 1]], ["2-0", ["n", 2]]]]]);
check("xackdel", await redis.xackdel("jobs", "workers", "KEEPREF", "1-0", "9-0"), [1, -1]);
check("xdelex", await redis.xdelex("jobs", "ACKED", "2-0"), [2]);
check("xlen", await redis.xlen("jobs"), 1);
console.log("ok");
