import {
  ExclusiveLeases,
  RedisStore,
  validateExclusiveLeaseOptions,
  waitForStore,
  type Duration,
  type ExclusiveLeaseEvent,
} from 'tollgate';
import { consumeJobs, WORKER_LEASE } from '../shared/jobs.js';

// `npm run start:worker`: start several; the one holding the lease consumes, the others stand by.
const log = (line: string): void => console.log(`worker ${process.pid}: ${line}`);
function fail(message: string): never {
  console.error(`worker: ${message}`);
  process.exit(2);
}

const redisUrl = process.env.REDIS_URL || undefined;
// In memory, each instance would hold its own lease and its own jobs: there is nothing to share.
if (!redisUrl) fail('set REDIS_URL (the worker needs Redis: its lease and its jobs live there)');
const ttl = (process.env.TOLLGATE_LEASE || '30s') as Duration;
const workMs = Number(process.env.WORK_MS || 100);
try {
  validateExclusiveLeaseOptions({ ttl });
} catch (error) {
  fail(`TOLLGATE_LEASE: ${(error as Error).message}`);
}
if (!Number.isInteger(workMs) || workMs < 0) fail('WORK_MS must be a whole number of ms');

const store = new RedisStore({ url: redisUrl });
try {
  await waitForStore(store, { timeout: '10s', required: true });
} catch (error) {
  fail((error as Error).message);
}
const leases = new ExclusiveLeases(store, {
  onEvent: (event: ExclusiveLeaseEvent) => {
    if (event.type === 'lease-acquired') log(`leading (fencing token ${event.fencingToken})`);
    // Renewals refused or unconfirmed: a standby may lead now. Not said on a release (shutdown).
    if (event.type === 'lease-lost') log('lost the lease');
    if (event.type === 'lease-store-unavailable') log(`Redis unreachable: ${event.error.message}`);
    if (event.type === 'lease-work-failed') log(`stopped leading: ${event.error.message}`);
  },
});

// SIGTERM/SIGINT: the current job stops, and the lease is released so a standby leads at its next try.
const shutdown = new AbortController();
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => shutdown.abort());
}

log(`standing by for the lease "${WORKER_LEASE}" (ttl ${ttl})`);
await leases.lead(WORKER_LEASE, (lease) => consumeJobs(store.client, lease, { workMs, log }), {
  ttl,
  signal: shutdown.signal,
});
await store.close();
log('stopped');
