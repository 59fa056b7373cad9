import { createServer } from 'node:net';
import { Cluster, Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRedisCluster, type RedisClusterHandle } from '../helpers/redis-cluster.js';
import { startRedisSentinel, type SentinelHandle } from '../helpers/redis-sentinel.js';
import { REDIS_NOT_FOUND_MESSAGE, startRedis, type RedisServer } from '../helpers/redis-server.js';

/** True if nothing listens on the port any more (we can bind it ourselves). */
function portIsFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = createServer();
    probe.once('error', () => resolve(false));
    probe.listen({ port, host: '127.0.0.1', exclusive: true }, () =>
      probe.close(() => resolve(true)),
    );
  });
}

/** A client that fails fast instead of reconnecting, so a dead server shows up as an error. */
function client(port: number, extra: { commandTimeout?: number } = {}): Redis {
  const redis = new Redis({
    host: '127.0.0.1',
    port,
    retryStrategy: () => null,
    maxRetriesPerRequest: 0,
    ...extra,
  });
  redis.on('error', () => undefined);
  return redis;
}

describe('startRedis', () => {
  let server: RedisServer;

  beforeAll(async () => {
    server = await startRedis();
  });

  afterAll(async () => {
    await server?.stop();
  });

  it('answers PING on a loopback url', async () => {
    expect(server.url).toBe(`redis://127.0.0.1:${server.port}`);
    const redis = client(server.port);
    try {
      expect(await redis.ping()).toBe('PONG');
    } finally {
      redis.disconnect();
    }
  });

  it('counts only the commands of the code under test', async () => {
    const redis = client(server.port);
    try {
      // Connecting sends INFO and CLIENT SETINFO; reset afterwards so only the SET remains.
      await redis.ping();
      await server.resetStats();
      await redis.set('harness:key', 'v');
      expect(await server.commandStats()).toEqual({ set: 1 });
      // The previous commandStats() call's INFO is not reported either.
      expect(await server.commandStats()).toEqual({ set: 1 });
    } finally {
      redis.disconnect();
    }
  });

  it('pause() makes commands time out and resume() recovers', async () => {
    const redis = client(server.port, { commandTimeout: 300 });
    try {
      expect(await redis.ping()).toBe('PONG');
      server.pause();
      try {
        await expect(redis.get('harness:key')).rejects.toThrow(/timed out/i);
      } finally {
        server.resume();
      }
      expect(await redis.ping()).toBe('PONG');
    } finally {
      redis.disconnect();
    }
  });

  it('kill() and restart() come back on the same port with an empty keyspace', async () => {
    const port = server.port;
    await server.kill();
    expect(await portIsFree(port)).toBe(true);
    await server.restart();
    expect(server.port).toBe(port);
    const redis = client(port);
    try {
      expect(await redis.ping()).toBe('PONG');
      expect(await redis.dbsize()).toBe(0);
    } finally {
      redis.disconnect();
    }
  });

  it('stop() frees the port', async () => {
    const other = await startRedis({ args: ['--maxmemory', '10mb'] });
    const redis = client(other.port);
    try {
      expect(await redis.config('GET', 'maxmemory')).toEqual([
        'maxmemory',
        String(10 * 1024 * 1024),
      ]);
    } finally {
      redis.disconnect();
    }
    await other.stop();
    expect(await portIsFree(other.port)).toBe(true);
  });

  it('says how to install redis-server when the binary is missing', async () => {
    const previous = process.env.REDIS_SERVER_BIN;
    process.env.REDIS_SERVER_BIN = '/nonexistent/redis-server';
    try {
      await expect(startRedis()).rejects.toThrow(REDIS_NOT_FOUND_MESSAGE);
    } finally {
      if (previous === undefined) delete process.env.REDIS_SERVER_BIN;
      else process.env.REDIS_SERVER_BIN = previous;
    }
  });
});

describe('startRedisCluster', () => {
  let cluster: RedisClusterHandle;
  let redis: Cluster;

  beforeAll(async () => {
    cluster = await startRedisCluster();
    redis = new Cluster(cluster.nodes);
    redis.on('error', () => undefined);
  });

  afterAll(async () => {
    redis?.disconnect();
    await cluster?.stop();
  });

  it('reaches cluster_state:ok on every node', async () => {
    expect(cluster.nodes).toHaveLength(3);
    for (const node of cluster.nodes) {
      const nodeClient = client(node.port);
      try {
        expect(String(await nodeClient.call('CLUSTER', 'INFO'))).toContain('cluster_state:ok');
      } finally {
        nodeClient.disconnect();
      }
    }
  });

  it('serves SET and GET for keys in different slots across nodes', async () => {
    const keys = Array.from({ length: 12 }, (_, i) => `harness:${i}`);
    const slots = await Promise.all(keys.map((key) => redis.call('CLUSTER', 'KEYSLOT', key)));
    expect(new Set(slots).size).toBeGreaterThan(1);

    await cluster.resetStats();
    for (const key of keys) await redis.set(key, `value-${key}`);
    for (const key of keys) expect(await redis.get(key)).toBe(`value-${key}`);

    expect((await cluster.commandStats()).set).toBe(keys.length);
    const perNode = await Promise.all(cluster.servers.map((server) => server.commandStats()));
    expect(perNode.filter((stats) => (stats.set ?? 0) > 0).length).toBeGreaterThan(1);
  });
});

describe('startRedisSentinel', () => {
  let sentinel: SentinelHandle;
  let redis: Redis;

  beforeAll(async () => {
    sentinel = await startRedisSentinel();
    redis = new Redis({ sentinels: sentinel.sentinels, name: sentinel.name });
    redis.on('error', () => undefined);
  });

  afterAll(async () => {
    redis?.disconnect();
    await sentinel?.stop();
  });

  it('lets a sentinel client SET and GET on the master', async () => {
    await redis.set('harness:sentinel', 'ok');
    expect(await redis.get('harness:sentinel')).toBe('ok');
    const master = client(sentinel.master.port);
    try {
      expect(await master.get('harness:sentinel')).toBe('ok');
    } finally {
      master.disconnect();
    }
  });
});
