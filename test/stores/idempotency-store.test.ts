import { setTimeout as sleep } from 'node:timers/promises';

import { Cluster, Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';

import { MemoryStore } from '../../src/stores/memory/memory-store.js';
import { RedisStore } from '../../src/stores/redis/redis-store.js';
import { FakeClock } from '../helpers/fake-clock.js';
import { startRedisCluster, type RedisClusterHandle } from '../helpers/redis-cluster.js';
import { roundTrips, startRedis, type RedisServer } from '../helpers/redis-server.js';
import { startRedisSentinel, type SentinelHandle } from '../helpers/redis-sentinel.js';
import { idempotencyStoreContract } from './idempotency-store.contract.js';

const clock = new FakeClock();
const memory = new MemoryStore({ clock });
idempotencyStoreContract('MemoryStore', () => ({
  store: memory,
  elapse: async (ms) => clock.advance(ms),
}));

let server: RedisServer;
let redisStore: RedisStore;
let cluster: RedisClusterHandle;
let clusterStore: RedisStore;
let sentinel: SentinelHandle;
let sentinelStore: RedisStore;

beforeAll(async () => {
  [server, cluster, sentinel] = await Promise.all([
    startRedis(),
    startRedisCluster(),
    startRedisSentinel(),
  ]);
  sentinelStore = new RedisStore({
    connection: { sentinels: sentinel.sentinels, name: sentinel.name },
  });
  redisStore = new RedisStore({ url: server.url });
  const nodes = cluster.nodes.map(({ host, port }) => ({ host, port }));
  clusterStore = new RedisStore({ cluster: nodes });
  await Promise.all([redisStore.ready(), clusterStore.ready(), sentinelStore.ready()]);
});

afterAll(async () => {
  await Promise.all([
    redisStore?.close(),
    clusterStore?.close(),
    sentinelStore?.close(),
    memory.close(),
  ]);
  await Promise.all([server?.stop(), cluster?.stop(), sentinel?.stop()]);
});

idempotencyStoreContract('RedisStore (single node)', () => ({
  store: redisStore,
  elapse: (ms) => sleep(ms),
}));
idempotencyStoreContract('RedisStore (Cluster)', () => ({
  store: clusterStore,
  elapse: (ms) => sleep(ms),
}));
idempotencyStoreContract('RedisStore (Sentinel)', () => ({
  store: sentinelStore,
  elapse: (ms) => sleep(ms),
}));

describe('RedisStore', () => {
  it('costs one round trip to take a key, one to complete it and one to replay it', async () => {
    const first = await roundTrips(server.url, async () => {
      await redisStore.begin('cost:{a}', 'o', 'fp', 5_000);
      await redisStore.complete(
        'cost:{a}',
        'o',
        { status: 200, headers: [], body: Buffer.from('x') },
        5_000,
      );
    });
    // Taking a free key (with its fencing token) is one script; completing it, another.
    expect(first).toEqual([
      expect.stringMatching(/^eval(sha)?$/),
      expect.stringMatching(/^eval(sha)?$/),
    ]);
    const replay = await roundTrips(server.url, () =>
      redisStore.begin('cost:{a}', 'p', 'fp', 5_000),
    );
    expect(replay).toEqual([expect.stringMatching(/^eval(sha)?$/)]);
  });

  it('keeps a record and its fencing token under one key: a take and its completion write nothing else', async () => {
    const client = new Redis(server.url);
    try {
      await redisStore.begin('one:{a}', 'o', 'fp', 5_000);
      expect(await client.keys('one:*')).toEqual(['one:{a}']);
      await redisStore.complete(
        'one:{a}',
        'o',
        { status: 200, headers: [], body: Buffer.from('x') },
        5_000,
      );
      expect(await client.keys('one:*')).toEqual(['one:{a}']);
    } finally {
      client.disconnect();
    }
  });

  it('issues a greater token after a release or a forget, even when the last one is ahead of the server clock', async () => {
    const client = new Redis(server.url);
    try {
      // As if the server's clock had been stepped back an hour since the last take.
      const ahead = Date.now() * 1_000 + 3_600_000_000;
      await client.set('ahead:{a}', `p\no\nfp\n${ahead}\n`, 'PX', 5_000);
      expect(await redisStore.release('ahead:{a}', 'o')).toBe(true);
      // What is left keeps the lease's expiry: the token outlives the release for as long as
      // the lease could have been held.
      const left = await client.pttl('ahead:{a}');
      expect(left).toBeGreaterThan(0);
      expect(left).toBeLessThanOrEqual(5_000);
      const next = await redisStore.begin('ahead:{a}', 'b', 'fp', 5_000);
      expect(next).toEqual({ state: 'acquired', fencingToken: ahead + 1 });
      await redisStore.release('ahead:{a}', 'b');
      const lock = await redisStore.lock('ahead:{a}', 'c', 5_000);
      expect(lock).toEqual({ acquired: true, fencingToken: ahead + 2 });
      // A re-sent lock repeats its token.
      expect(await redisStore.lock('ahead:{a}', 'c', 5_000)).toEqual(lock);
      await client.set('ahead:{b}', `c\no\nfp\n${ahead}\n200\n[]\nbody`, 'PX', 60_000);
      expect(await redisStore.forget('ahead:{b}')).toBe(true);
      expect(await redisStore.forget('ahead:{b}')).toBe(false);
      expect(await redisStore.begin('ahead:{b}', 'd', 'fp', 5_000)).toEqual({
        state: 'acquired',
        fencingToken: ahead + 1,
      });
    } finally {
      client.disconnect();
    }
  });

  it('writes every record with an expiry', async () => {
    const client = new Redis(server.url);
    try {
      await redisStore.begin('ttl:{a}', 'o', 'fp', 5_000);
      await redisStore.begin('ttl:{b}', 'o', 'fp', 5_000);
      await redisStore.complete(
        'ttl:{b}',
        'o',
        { status: 200, headers: [], body: Buffer.alloc(0) },
        60_000,
      );
      await redisStore.begin('ttl:{c}', 'o', 'fp', 5_000);
      await redisStore.markUnstorable('ttl:{c}', 'o', 'streamed', 60_000);
      await redisStore.lock('ttl:{d}', 'o', 5_000);
      await redisStore.begin('ttl:{e}', 'o', 'fp', 5_000);
      await redisStore.release('ttl:{e}', 'o');
      await redisStore.lock('ttl:{f}', 'o', 5_000);
      await redisStore.release('ttl:{f}', 'o');
      await redisStore.forget('ttl:{b}');
      // Every key the store writes, the tokens a release or a forget leaves behind included,
      // expires on its own.
      const keys = await client.keys('ttl:*');
      expect(keys.length).toBe(6);
      for (const key of keys) {
        expect(await client.pttl(key), key).toBeGreaterThan(0);
      }
    } finally {
      client.disconnect();
    }
  });

  it('fails fast rather than queueing while Redis is down', async () => {
    const down = new RedisStore({
      url: 'redis://127.0.0.1:1',
      options: { retryStrategy: () => null },
    });
    const started = Date.now();
    await expect(down.begin('k', 'o', 'fp', 1_000)).rejects.toThrow();
    expect(Date.now() - started).toBeLessThan(3_000);
    await down.close();
  });

  it('closes within a second while its server is silent, so an app can still shut down', async () => {
    const silent = await startRedis();
    const store = new RedisStore({ url: silent.url });
    try {
      await store.ready();
      silent.pause();
      const started = Date.now();
      await store.close();
      expect(Date.now() - started).toBeLessThan(2_000);
      // Its socket is gone too, not left half-closed to keep the process alive.
      await vi.waitFor(() => expect(store.client.status).toBe('end'), { timeout: 500 });
      expect((store.client as unknown as { stream: { destroyed: boolean } }).stream.destroyed).toBe(
        true,
      );
    } finally {
      silent.resume();
      await silent.stop();
    }
  });

  it('closes a Sentinel connection within a second while its master is silent', async () => {
    const group = await startRedisSentinel();
    const store = new RedisStore({ connection: { sentinels: group.sentinels, name: group.name } });
    try {
      await store.ready();
      group.master.pause();
      const started = Date.now();
      await store.close();
      expect(Date.now() - started).toBeLessThan(2_000);
      expect((store.client as unknown as { stream: { destroyed: boolean } }).stream.destroyed).toBe(
        true,
      );
    } finally {
      group.master.resume();
      await group.stop();
    }
  });

  it('closes a Cluster connection within a second while every node is silent', async () => {
    const silent = await startRedisCluster();
    const store = new RedisStore({
      cluster: silent.nodes.map(({ host, port }) => ({ host, port })),
    });
    try {
      await store.ready();
      expect(await store.begin('close:{c}', 'o', 'fp', 5_000)).toMatchObject({ state: 'acquired' });
      const connections = (store.client as Cluster).nodes();
      expect(connections.length).toBeGreaterThan(0);
      for (const server of silent.servers) server.pause();
      const started = Date.now();
      await store.close();
      expect(Date.now() - started).toBeLessThan(2_000);
      // Every node's socket is gone, not left half-closed to keep the process alive (a node
      // the store never used may have no socket at all: ioredis connects Cluster nodes lazily).
      const sockets = connections
        .map((connection) => (connection as unknown as { stream?: { destroyed: boolean } }).stream)
        .filter((stream) => stream !== undefined);
      expect(sockets.length).toBeGreaterThan(0);
      for (const socket of sockets) expect(socket.destroyed).toBe(true);
    } finally {
      for (const server of silent.servers) server.resume();
      await silent.stop();
    }
  });

  it('accepts a Cluster client the application already has, and leaves it open', async () => {
    const nodes = cluster.nodes.map(({ host, port }) => ({ host, port }));
    const client = new Cluster(nodes, { enableOfflineQueue: true });
    const warnings: string[] = [];
    const store = new RedisStore({ client, logger: { warn: (message) => warnings.push(message) } });
    await store.ready();
    expect(await store.begin('own:{x}', 'o', 'fp', 5_000)).toMatchObject({ state: 'acquired' });
    await store.close();
    expect(client.status).toBe('ready');
    expect(warnings.join()).toMatch(/enableOfflineQueue/);
    client.disconnect();
  });
});
