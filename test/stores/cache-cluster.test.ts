/**
 * The local caches' feed of announcements on Redis Cluster: the subscription is one connection of
 * the Cluster client to one node, which ioredis replaces on its own when it drops.
 */
import { setTimeout as sleep } from 'node:timers/promises';

import { Cluster } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { IdempotencyEngine } from '../../src/core/idempotency/engine.js';
import { RedisStore } from '../../src/stores/redis/redis-store.js';
import { startRedisCluster, type RedisClusterHandle } from '../helpers/redis-cluster.js';
import { ORDER_CREATED, orderPolicy, orderRequest } from '../helpers/order-request.js';
import { withClient } from '../helpers/redis-server.js';

let cluster: RedisClusterHandle;
let store: RedisStore;

beforeAll(async () => {
  cluster = await startRedisCluster();
  store = new RedisStore({ cluster: cluster.nodes.map(({ host, port }) => ({ host, port })) });
  await store.ready();
});

afterAll(async () => {
  await store?.close();
  await cluster?.stop();
});

describe('the result cache on Redis Cluster', () => {
  it('trusts nothing it cached before its subscription was lost', async () => {
    const engine = new IdempotencyEngine(store, { resultCache: true });
    const feed = store.invalidations();
    for (let i = 0; i < 300 && feed.epoch === 0; i++) await sleep(10);
    expect(feed.epoch).not.toBe(0);
    const first = await engine.begin(orderRequest('k-cluster'), orderPolicy);
    if (first.action !== 'proceed') throw new Error(`expected proceed, got ${first.action}`);
    await first.execution.finish(ORDER_CREATED);
    expect((await engine.begin(orderRequest('k-cluster'), orderPolicy)).action).toBe('replay');
    const epoch = feed.epoch;
    // The subscription goes (ioredis picks a node again and subscribes there); meanwhile the
    // record is deleted, unannounced to this process.
    await Promise.all(
      cluster.servers.map((server) =>
        withClient(server.port, (admin) => admin.call('CLIENT', 'KILL', 'TYPE', 'pubsub')),
      ),
    );
    const admin = new Cluster(cluster.nodes);
    try {
      await admin.del(first.execution.key);
    } finally {
      admin.disconnect();
    }
    // Two heartbeats at most.
    for (let i = 0; i < 250 && feed.epoch === epoch; i++) await sleep(10);
    expect(feed.epoch).not.toBe(epoch);
    const again = await engine.begin(orderRequest('k-cluster'), orderPolicy);
    expect(again.action).toBe('proceed');
    if (again.action === 'proceed') await again.execution.finish(ORDER_CREATED);
    // Subscribed again, on whichever node: trusted again, in a new stretch.
    for (let i = 0; i < 300 && feed.epoch === 0; i++) await sleep(10);
    expect(feed.epoch).not.toBe(0);
  });
});
