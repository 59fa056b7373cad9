import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';

import { Cluster, Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { storageKey } from '../../src/core/keys.js';
import { RateLimitEngine } from '../../src/core/ratelimit/engine.js';
import type { RateLimitRequest } from '../../src/core/ratelimit/options.js';
import { resolveThrottlePolicy } from '../../src/core/ratelimit/policy.js';
import { MemoryStore } from '../../src/stores/memory/memory-store.js';
import { RedisStore } from '../../src/stores/redis/redis-store.js';
import type { RateLimitAlgorithm, RateLimitRule } from '../../src/core/store.js';
import { FakeClock } from '../helpers/fake-clock.js';
import { startRedisCluster, type RedisClusterHandle } from '../helpers/redis-cluster.js';
import { startRedis, type RedisServer } from '../helpers/redis-server.js';
import { startRedisSentinel, type SentinelHandle } from '../helpers/redis-sentinel.js';
import { rateLimitStoreContract } from './store.contract.js';

const freshKey = (): string => storageKey('contract', 'rl', [randomUUID()]);

const rule = (
  name: string,
  limit: number,
  windowMs: number,
  algorithm: RateLimitAlgorithm,
  extra: Partial<RateLimitRule> = {},
): RateLimitRule => ({ name, limit, windowMs, algorithm, cost: 1, blockMs: 0, ...extra });

const ALGORITHMS: RateLimitAlgorithm[] = ['fixed-window', 'sliding-window', 'token-bucket'];

// The rate-limit contract (src/testing/rate-limit-contract.ts, published as `tollgate/testing`)
// runs on every store and topology below, beside the Redis-specific checks of the script.

/** The commands the rate-limit script itself runs: INFO commandstats counts them too. */
const SCRIPT_INTERNAL = new Set([
  'time',
  'get',
  'set',
  'incrby',
  'decrby',
  'del',
  'pttl',
  'pexpire',
  'hget',
  'hset',
  'zremrangebyscore',
  'zcard',
  'zrange',
  'zadd',
  'zpopmin',
  'zrem',
  'pexpiretime',
]);

/** `decisions` EVALSHA calls; everything else counted ran inside those scripts. */
function expectOnlyScriptCalls(stats: Record<string, number>, decisions: number): void {
  expect(stats.evalsha).toBe(decisions);
  expect(stats.eval).toBeUndefined();
  for (const command of Object.keys(stats)) {
    if (command !== 'evalsha') expect(SCRIPT_INTERNAL.has(command), command).toBe(true);
  }
  // TIME runs once per script: one more proof that each decision was exactly one script.
  expect(stats.time).toBe(decisions);
}

describe('MemoryStore', () => {
  const clock = new FakeClock();
  const store = new MemoryStore({ clock });
  afterAll(() => store.close());
  rateLimitStoreContract('MemoryStore', () => ({
    store,
    elapse: async (ms) => clock.advance(ms),
  }));
});

describe('RedisStore on a real redis-server', () => {
  let server: RedisServer;
  let store: RedisStore;
  beforeAll(async () => {
    server = await startRedis();
    store = new RedisStore({ url: server.url });
    await store.ready();
  });
  afterAll(async () => {
    await store?.close();
    await server?.stop();
  });

  rateLimitStoreContract('RedisStore', () => ({ store, elapse: (ms) => sleep(ms) }));

  it('makes one script call per decision, however many limits, and nothing else', async () => {
    const rules = ALGORITHMS.flatMap((algorithm, index) => [
      rule(`a${index}`, 3, 10_000, algorithm),
      rule(`b${index}`, 100, 60_000, algorithm, { blockMs: 5_000 }),
    ]);
    // Warm up: the first call after start loads the script (EVALSHA, NOSCRIPT, EVAL).
    await store.consume(freshKey(), rules);
    await server.resetStats();
    const key = freshKey();
    for (let i = 0; i < 10; i++) await store.consume(key, rules);
    // Rejected decisions (with blocks started) cost one call too.
    expect((await store.consume(key, rules)).allowed).toBe(false);
    expectOnlyScriptCalls(await server.commandStats(), 11);
  });

  it('decides limits that are functions of the request in one script call, and gives back in one', async () => {
    const engine = new RateLimitEngine(store, { onEvent: () => undefined });
    const policy = resolveThrottlePolicy([
      {
        limits: {
          plan: { limit: async () => 50, ttl: () => '1m', algorithm: 'fixed-window' },
          cost: { limit: 100, ttl: '1h', cost: async () => 2 },
          bucket: { limit: async () => 20, ttl: '1m', algorithm: 'token-bucket' },
        },
        settings: { skipSuccessfulRequests: true },
      },
    ]);
    const request: RateLimitRequest = {
      method: 'GET',
      route: '/r',
      principal: randomUUID(),
      remoteAddress: undefined,
      header: () => undefined,
      raw: {},
    };
    // Warm up: the first call of each script loads it (EVALSHA, NOSCRIPT, EVAL).
    const first = await engine.check(request, policy);
    if (first.action === 'allow' && first.charge) await engine.settle(first.charge, 200);
    await server.resetStats();
    const charges = [];
    for (let i = 0; i < 5; i++) {
      const decision = await engine.check(request, policy);
      expect(decision.action).toBe('allow');
      if (decision.action === 'allow' && decision.charge) charges.push(decision.charge);
    }
    for (const charge of charges) await engine.settle(charge, 200);
    const stats = await server.commandStats();
    // Five decisions and five give-backs: one script call each. Each give-back is announced
    // (units given back may admit a client another process refuses locally), in the same write.
    expect(stats.evalsha).toBe(10);
    expect(stats.eval).toBeUndefined();
    expect(stats.publish).toBe(5);
    for (const command of Object.keys(stats)) {
      if (command !== 'evalsha' && command !== 'publish') {
        expect(SCRIPT_INTERNAL.has(command), command).toBe(true);
      }
    }
    // Every success was given back, on every limit.
    const rules = charges[0]?.rules ?? [];
    const state = await engine.peek(await engine.clientKey(request, policy), rules);
    expect(state.limits.map((limit) => limit.remaining)).toEqual([50, 100, 20]);
  });

  it('writes every key with an expiry', async () => {
    const key = freshKey();
    const rules = ALGORITHMS.map((algorithm) =>
      rule(algorithm, 1, 10_000, algorithm, { blockMs: 60_000 }),
    );
    await store.consume(key, rules);
    await store.consume(key, rules);
    const inspector = new Redis(server.url);
    try {
      const keys = await inspector.keys(`${key}*`);
      // One state key per limit, plus the block record.
      expect(keys).toHaveLength(4);
      for (const written of keys) {
        const ttl = await inspector.pttl(written);
        expect(ttl, written).toBeGreaterThan(0);
        expect(ttl, written).toBeLessThanOrEqual(60_000);
      }
    } finally {
      inspector.disconnect();
    }
  });

  describe('a fixed window charged at once, taken back when refused', () => {
    let inspector: Redis;
    beforeAll(() => {
      inspector = new Redis(server.url);
    });
    afterAll(() => inspector.disconnect());

    it('leaves no counter behind for a request refused on a new window', async () => {
      const key = freshKey();
      const tooBig = rule('default', 3, 10_000, 'fixed-window', { cost: 5 });
      expect((await store.consume(key, [tooBig])).allowed).toBe(false);
      expect(await inspector.keys(`${key}*`)).toEqual([]);
    });

    it('restores a running window’s count and keeps its expiry when another limit refuses', async () => {
      const key = freshKey();
      const window = rule('window', 10, 10_000, 'fixed-window');
      const tight = rule('tight', 1, 10_000, 'sliding-window');
      expect((await store.consume(key, [window, tight])).allowed).toBe(true);
      const [counter] = await inspector.keys(`${key}*window*`);
      expect(counter).toBeDefined();
      const ttlBefore = await inspector.pttl(counter as string);
      expect((await store.consume(key, [window, tight])).allowed).toBe(false);
      expect(await inspector.get(counter as string)).toBe('1');
      const ttlAfter = await inspector.pttl(counter as string);
      expect(ttlAfter).toBeGreaterThan(0);
      expect(ttlAfter).toBeLessThanOrEqual(ttlBefore);
    });

    it('takes back every charge when one of several fixed windows refuses (the lean script)', async () => {
      const key = freshKey();
      const wide = rule('wide', 10, 10_000, 'fixed-window');
      const narrow = rule('narrow', 2, 10_000, 'fixed-window', { cost: 2 });
      expect((await store.consume(key, [wide, narrow])).allowed).toBe(true);
      const refused = await store.consume(key, [wide, narrow]);
      expect(refused.allowed).toBe(false);
      expect(refused.limits.map((state) => [state.name, state.allowed, state.remaining])).toEqual([
        ['wide', true, 9],
        ['narrow', false, 0],
      ]);
      expect(refused.retryAfterMs).toBeGreaterThan(9_000);
      expect(refused.retryAfterMs).toBeLessThanOrEqual(10_000);
      expect((await store.consume(key, [wide])).limits[0]?.remaining).toBe(8);
    });

    // Redis keeps a key through the millisecond its expiry falls due (PTTL 0); the memory store
    // has ended the window by then. Thousands of calls in one pipeline land in such milliseconds.
    it.each([
      ['the lean script', [] as RateLimitRule[]],
      ['the general script', [rule('bucket', 1_000_000, 60_000, 'token-bucket')]],
    ])(
      'starts a new window in the millisecond the last one falls due, as the memory store does (%s)',
      async (_script, others) => {
        const key = freshKey();
        const rules = [rule('tiny', 1_000_000, 2, 'fixed-window'), ...others];
        const results = await Promise.all(
          Array.from({ length: 4_000 }, () => store.consume(key, rules)),
        );
        const window = results.map((result) => result.limits[0]);
        expect(window.every((state) => state?.allowed)).toBe(true);
        expect(window.filter((state) => state !== undefined && state.resetMs < 1)).toEqual([]);
      },
    );

    it('decides running fixed windows that never block with INCRBY and PTTL per limit, and nothing else', async () => {
      const key = freshKey();
      const rules = [
        rule('ten-seconds', 100, 10_000, 'fixed-window'),
        rule('minute', 100, 60_000, 'fixed-window'),
        rule('hour', 100, 3_600_000, 'fixed-window'),
      ];
      await store.consume(key, rules);
      await server.resetStats();
      for (let i = 0; i < 5; i++) expect((await store.consume(key, rules)).allowed).toBe(true);
      const stats = await server.commandStats();
      expect(stats).toEqual({ evalsha: 5, incrby: 15, pttl: 15 });
    });
  });
});

describe('RedisStore on a Redis Cluster', () => {
  let cluster: RedisClusterHandle;
  let store: RedisStore;
  beforeAll(async () => {
    cluster = await startRedisCluster();
    store = new RedisStore({ cluster: cluster.nodes });
    await store.ready();
  });
  afterAll(async () => {
    await store?.close();
    await cluster?.stop();
  });

  rateLimitStoreContract('RedisStore (Cluster)', () => ({ store, elapse: (ms) => sleep(ms) }));

  it('decides several limits in one script call on the node that owns their slot', async () => {
    const rules = ALGORITHMS.map((algorithm) => rule(algorithm, 5, 10_000, algorithm));
    for (let i = 0; i < 20; i++) await store.consume(freshKey(), rules);
    await cluster.resetStats();
    for (let i = 0; i < 10; i++) await store.consume(freshKey(), rules);
    expectOnlyScriptCalls(await cluster.commandStats(), 10);
  });

  it('keeps every key of one decision in one slot', async () => {
    const key = freshKey();
    await store.consume(
      key,
      ALGORITHMS.map((algorithm) => rule(algorithm, 5, 10_000, algorithm)),
    );
    const client = store.client as Cluster;
    const slots = new Set<number>();
    for (const node of client.nodes('master')) {
      for (const found of await node.keys(`${key}*`)) {
        slots.add(Number(await node.call('CLUSTER', 'KEYSLOT', found)));
      }
    }
    expect(slots.size).toBe(1);
  });
});

describe('RedisStore on a Sentinel group', () => {
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

  rateLimitStoreContract('RedisStore (Sentinel)', () => ({ store, elapse: (ms) => sleep(ms) }));
});
