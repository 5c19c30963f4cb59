// node-redis's JSON commands (@redis/json) against Keel over RESP: KEEL_PORT points it at a Keel the Rust
// test started. Prints "ok" when every step matched, else throws.
import { createClient } from "redis";

const client = await createClient({ url: `redis://127.0.0.1:${process.env.KEEL_PORT}` }).connect();
const check = (what, got, want) => {
  if (JSON.stringify(got) !== JSON.stringify(want)) {
    throw new Error(`${what}: got ${JSON.stringify(got)}, want ${JSON.stringify(want)}`);
  }
};

check("set", await client.json.set("cart", "$", { user: "ada", items: [{ sku: "a", qty: 1 }], paid: false }), "OK");
check("get path", await client.json.get("cart", { path: "$.items[0].sku" }), ["a"]);
check("arrAppend", await client.json.arrAppend("cart", "$.items", { sku: "b", qty: 2 }), [2]);
check("numIncrBy", await client.json.numIncrBy("cart", "$.items[*].qty", 1), [2, 3]);
check("filter", await client.json.get("cart", { path: "$.items[?(@.qty > 2)].sku" }), ["b"]);
check("toggle", await client.json.toggle("cart", "$.paid"), [1]);
check("objKeys", await client.json.objKeys("cart", { path: "$" }), [["user", "items", "paid"]]);
check("type", await client.json.type("cart", { path: "$.user" }), ["string"]);
check("mGet", await client.json.mGet(["cart", "nothing"], "$.user"), [["ada"], null]);
check("del", await client.json.del("cart", { path: "$.items[0]" }), 1);
check("get", await client.json.get("cart"), { user: "ada", items: [{ sku: "b", qty: 3 }], paid: true });
await client.quit();
console.log("ok");
