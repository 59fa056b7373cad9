/**
 * Every store contract (idempotency, leases, rate limiting) on Valkey 8, the Redis fork: the
 * RedisStore's scripts and commands must work on both. Needs `valkey-server` (and `valkey-cli` for
 * the Cluster) on PATH or VALKEY_SERVER_BIN; without it these tests fail with
 * VALKEY_NOT_FOUND_MESSAGE, as the Redis ones do without redis-server. `.ci/run` installs it.
 */
import { setTimeout as sleep } from 'node:timers/promises';

import { afterAll, beforeAll } from 'vitest';

import { RedisStore } from '../../src/stores/redis/redis-store.js';
import { startValkey, type RedisServer } from '../helpers/redis-server.js';
import { storeContract } from './store.contract.js';

let server: RedisServer;
let single: RedisStore;

beforeAll(async () => {
  server = await startValkey();
  single = new RedisStore({ url: server.url });
  await single.ready();
});

afterAll(async () => {
  await single?.close();
  await server?.stop();
});

const real = (ms: number): Promise<void> => sleep(ms);
storeContract('RedisStore on Valkey (single node)', () => ({ store: single, elapse: real }));
