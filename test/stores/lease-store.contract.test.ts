/**
 * The lease contract (src/testing/lease-contract.ts, published as `tollgate/testing`) on every
 * store and topology: memory, a single Redis node, a Cluster and a Sentinel group. The quorum runs
 * it in quorum-store.test.ts, Valkey in valkey.contract.test.ts.
 */
import { setTimeout as sleep } from 'node:timers/promises';

import { afterAll, beforeAll } from 'vitest';

import { MemoryStore } from '../../src/stores/memory/memory-store.js';
import { RedisStore } from '../../src/stores/redis/redis-store.js';
import { FakeClock } from '../helpers/fake-clock.js';
import { startRedisCluster, type RedisClusterHandle } from '../helpers/redis-cluster.js';
import { startRedis, type RedisServer } from '../helpers/redis-server.js';
import { startRedisSentinel, type SentinelHandle } from '../helpers/redis-sentinel.js';
import { leaseStoreContract } from './store.contract.js';

const clock = new FakeClock();
const memory = new MemoryStore({ clock });
leaseStoreContract('MemoryStore', () => ({
  store: memory,
  elapse: async (ms) => clock.advance(ms),
}));

let server: RedisServer;
let cluster: RedisClusterHandle;
let sentinel: SentinelHandle;
let single: RedisStore;
let clustered: RedisStore;
let sentinelled: RedisStore;

beforeAll(async () => {
  [server, cluster, sentinel] = await Promise.all([
    startRedis(),
    startRedisCluster(),
    startRedisSentinel(),
  ]);
  single = new RedisStore({ url: server.url });
  clustered = new RedisStore({ cluster: cluster.nodes });
  sentinelled = new RedisStore({
    connection: { sentinels: sentinel.sentinels, name: sentinel.name },
  });
  await Promise.all([single.ready(), clustered.ready(), sentinelled.ready()]);
});

afterAll(async () => {
  await Promise.all([single?.close(), clustered?.close(), sentinelled?.close(), memory.close()]);
  await Promise.all([server?.stop(), cluster?.stop(), sentinel?.stop()]);
});

const real = (ms: number): Promise<void> => sleep(ms);
leaseStoreContract('RedisStore (single node)', () => ({ store: single, elapse: real }));
leaseStoreContract('RedisStore (Cluster)', () => ({ store: clustered, elapse: real }));
leaseStoreContract('RedisStore (Sentinel)', () => ({ store: sentinelled, elapse: real }));
