/**
 * `health()` on every built-in store and topology, against real redis-server processes: up while
 * the store serves, down within its bound when Redis is paused (it accepts TCP and answers
 * nothing), killed, or a Cluster master is silent; a quorum stays up while a majority answers.
 */
import { setTimeout as sleep } from 'node:timers/promises';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { checkStoreHealth } from '../../src/core/health.js';
import type { StoreHealth, TollgateStore } from '../../src/core/store.js';
import { MemoryStore } from '../../src/stores/memory/memory-store.js';
import { QuorumStore } from '../../src/stores/quorum/quorum-store.js';
import { RedisStore } from '../../src/stores/redis/redis-store.js';
import { startRedisCluster, type RedisClusterHandle } from '../helpers/redis-cluster.js';
import { startRedis, type RedisServer } from '../helpers/redis-server.js';
import { startRedisSentinel, type SentinelHandle } from '../helpers/redis-sentinel.js';

/** The check and how long it took, measured from outside. */
async function timed(check: () => Promise<StoreHealth>): Promise<StoreHealth & { tookMs: number }> {
  const started = performance.now();
  const health = await check();
  return { ...health, tookMs: performance.now() - started };
}

/** Slack for a loaded machine: the bound plus the deadline sweep plus scheduling. */
const SLACK_MS = 400;

describe('MemoryStore health', () => {
  it('is always up', async () => {
    const store = new MemoryStore();
    expect(await store.health()).toEqual({ status: 'up', latencyMs: 0 });
    await store.close();
  });
});

describe('checkStoreHealth', () => {
  const base = { kind: 'custom' } as unknown as TollgateStore;

  it('reports a store without health() up, saying it has no check', async () => {
    expect(await checkStoreHealth(base)).toMatchObject({
      status: 'up',
      detail: 'a custom store has no health check',
    });
  });

  it('reports a store whose health() hangs down, within its bound', async () => {
    const hanging = { ...base, health: () => new Promise<never>(() => undefined) };
    const health = await timed(() => checkStoreHealth(hanging, { timeoutMs: 200 }));
    expect(health.status).toBe('down');
    expect(health.tookMs).toBeLessThan(200 + 100 + SLACK_MS);
  });

  it('reports a store whose health() throws down, with the reason', async () => {
    const failing = {
      ...base,
      health: () => Promise.reject(new Error('no route to host')),
    };
    expect(await checkStoreHealth(failing)).toMatchObject({
      status: 'down',
      detail: expect.stringContaining('no route to host'),
    });
  });
});

describe('RedisStore health on a single node', () => {
  let server: RedisServer;
  let store: RedisStore;
  beforeAll(async () => {
    server = await startRedis();
    store = new RedisStore({ url: server.url, options: { retryStrategy: () => 50 } });
    await store.ready();
  });
  afterAll(async () => {
    server?.resume();
    await store?.close();
    await server?.stop();
  });

  it('is up with the PING round trip as latency', async () => {
    const health = await store.health();
    expect(health.status).toBe('up');
    expect(health.latencyMs).toBeGreaterThanOrEqual(0);
    expect(health.latencyMs).toBeLessThan(1_000);
  });

  it('is down within its bound while Redis is paused, and up again once it resumes', async () => {
    server.pause();
    try {
      const health = await timed(() => store.health({ timeoutMs: 300 }));
      expect(health.status).toBe('down');
      expect(health.detail).toMatch(/did not answer PING within 300 ms/);
      expect(health.tookMs).toBeLessThan(300 + SLACK_MS);
    } finally {
      server.resume();
    }
    expect((await store.health()).status).toBe('up');
  });

  it('is down at once while Redis is gone, and up again after it restarts', async () => {
    await server.kill();
    try {
      await sleep(100);
      const health = await timed(() => store.health({ timeoutMs: 1_000 }));
      expect(health.status).toBe('down');
      expect(health.tookMs).toBeLessThan(SLACK_MS);
    } finally {
      await server.restart();
    }
    await store.ready();
    expect((await store.health()).status).toBe('up');
  });
});

describe('RedisStore health on a Cluster', () => {
  let cluster: RedisClusterHandle;
  let store: RedisStore;
  beforeAll(async () => {
    cluster = await startRedisCluster();
    store = new RedisStore({ cluster: cluster.nodes });
    await store.ready();
  });
  afterAll(async () => {
    cluster?.servers.forEach((server) => server.resume());
    await store?.close();
    await cluster?.stop();
  });

  it('is up when every master answers, and says how many were asked', async () => {
    const health = await store.health();
    expect(health).toMatchObject({ status: 'up', detail: expect.stringMatching(/masters/) });
  });

  it('is down within its bound while one master is silent', async () => {
    cluster.servers[0]!.pause();
    try {
      const health = await timed(() => store.health({ timeoutMs: 300 }));
      expect(health.status).toBe('down');
      expect(health.tookMs).toBeLessThan(300 + SLACK_MS);
    } finally {
      cluster.servers[0]!.resume();
    }
    expect((await store.health()).status).toBe('up');
  });
});

describe('RedisStore health behind Sentinel', () => {
  let sentinel: SentinelHandle;
  let store: RedisStore;
  beforeAll(async () => {
    sentinel = await startRedisSentinel();
    store = new RedisStore({ connection: { sentinels: sentinel.sentinels, name: sentinel.name } });
    await store.ready();
  });
  afterAll(async () => {
    await store?.close();
    await sentinel?.stop();
  });

  it('is up through the master Sentinel names', async () => {
    expect((await store.health()).status).toBe('up');
  });
});

describe('QuorumStore health', () => {
  let servers: RedisServer[] = [];
  let quorum: QuorumStore;
  beforeAll(async () => {
    servers = await Promise.all([startRedis(), startRedis(), startRedis()]);
    const nodes = servers.map((server) => new RedisStore({ url: server.url }));
    quorum = new QuorumStore({ stores: nodes, nodeTimeoutMs: 300 });
    // The quorum is ready with a majority; these tests start from all three connected.
    await Promise.all(nodes.map((node) => node.ready()));
  });
  afterAll(async () => {
    servers.forEach((server) => server.resume());
    await quorum?.close();
    await Promise.all(servers.map((server) => server.stop()));
  });

  it('is up with every node up, and reports each node', async () => {
    const health = await quorum.health();
    expect(health.status).toBe('up');
    expect(health.nodes?.map((node) => node.status)).toEqual(['up', 'up', 'up']);
  });

  it('stays up while a majority answers, naming the silent node', async () => {
    servers[1]!.pause();
    try {
      const health = await timed(() => quorum.health());
      expect(health.status).toBe('up');
      expect(health.nodes?.map((node) => node.status)).toEqual(['up', 'down', 'up']);
      expect(health.detail).toBe('2 of 3 nodes up; a majority of 2 is needed');
      expect(health.tookMs).toBeLessThan(300 + SLACK_MS);
    } finally {
      servers[1]!.resume();
    }
  });

  it('is down once no majority answers, within the node timeout', async () => {
    servers[0]!.pause();
    servers[2]!.pause();
    try {
      const health = await timed(() => quorum.health());
      expect(health.status).toBe('down');
      expect(health.nodes?.map((node) => node.status)).toEqual(['down', 'up', 'down']);
      expect(health.tookMs).toBeLessThan(300 + SLACK_MS);
    } finally {
      servers[0]!.resume();
      servers[2]!.resume();
    }
    expect((await quorum.health()).status).toBe('up');
  });
});
