// ioredis (RESP) and @upstash/redis (REST) through one node of a Keel cluster while the database's primary
// node is killed: each writes a counter every 50 ms for KEEL_SECONDS, retrying what fails, and both must be
// writing again at the end. Prints a summary and "ok".
import Redis from "ioredis";
import { Redis as Upstash } from "@upstash/redis";

const { KEEL_PORT, KEEL_PASSWORD, KEEL_URL, KEEL_TOKEN, KEEL_SECONDS } = process.env;
const resp = new Redis({ port: Number(KEEL_PORT), password: KEEL_PASSWORD, retryStrategy: () => 100, maxRetriesPerRequest: 1 });
resp.on("error", () => {});
const rest = new Upstash({ url: KEEL_URL, token: KEEL_TOKEN, retry: { retries: 0 } });
const end = Date.now() + Number(KEEL_SECONDS) * 1000;
const outcome = { resp: [], rest: [] };
let i = 0;
console.log("ready");
while (Date.now() < end) {
  i += 1;
  const [a, b] = await Promise.allSettled([resp.set("resp-counter", i), rest.set("rest-counter", i)]);
  outcome.resp.push(a.status === "fulfilled");
  outcome.rest.push(b.status === "fulfilled");
  await new Promise((r) => setTimeout(r, 50));
}
const summary = (list) => ({ ok: list.filter(Boolean).length, failed: list.filter((x) => !x).length, last: list.slice(-5).every(Boolean) });
const result = { resp: summary(outcome.resp), rest: summary(outcome.rest) };
console.error(JSON.stringify(result));
if (!result.resp.last || !result.rest.last) throw new Error("a client did not recover: " + JSON.stringify(result));
const [r1, r2] = [await resp.get("resp-counter"), await rest.get("rest-counter")];
if (!r1 || !r2) throw new Error("the counters are missing after the failover");
resp.disconnect();
console.log("ok");
