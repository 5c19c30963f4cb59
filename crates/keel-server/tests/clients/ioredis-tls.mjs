// ioredis (BullMQ's client), unchanged, over TLS: a rediss:// URL and the server's CA. Prints "ok".
import Redis from 'ioredis';
import { readFileSync } from 'node:fs';

const redis = new Redis(process.env.KEEL_REDISS_URL, { tls: { ca: readFileSync(process.env.KEEL_CA) } });
await redis.set('over-tls', 'from-ioredis');
if (await redis.get('over-tls') !== 'from-ioredis') throw new Error('wrong value');
await redis.quit();
console.log('ok');
