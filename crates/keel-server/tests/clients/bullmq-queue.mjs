// BullMQ, unchanged, against Keel over RESP: a worker processes jobs added to a queue, and QueueEvents
// (which blocks in XREAD on the queue's event stream) sees them complete. Prints "ok".
import { Queue, Worker, QueueEvents } from 'bullmq';

const connection = { host: '127.0.0.1', port: Number(process.env.KEEL_PORT), maxRetriesPerRequest: null };
const name = 'keel-smoke';
const events = new QueueEvents(name, { connection });
await events.waitUntilReady();
const queue = new Queue(name, { connection });
let attempts = 0;
const worker = new Worker(name, async job => {
  if (job.name === 'flaky' && ++attempts < 2) throw new Error('first attempt fails');
  return job.data.n * 2;
}, { connection });

const doubled = await queue.add('double', { n: 21 });
if (await doubled.waitUntilFinished(events, 15000) !== 42) throw new Error('wrong result');
const flaky = await queue.add('flaky', { n: 1 }, { attempts: 3 });
if (await flaky.waitUntilFinished(events, 15000) !== 2) throw new Error('the retry did not succeed');
const counts = await queue.getJobCounts('completed', 'failed', 'waiting');
if (counts.completed !== 2 || counts.failed !== 0 || counts.waiting !== 0) throw new Error(JSON.stringify(counts));
const log = await queue.client.then(c => c.xlen(`bull:${name}:events`));
if (log < 4) throw new Error(`only ${log} events in the stream`);
await worker.close();
await queue.close();
await events.close();
console.log('ok');
