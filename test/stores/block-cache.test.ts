/**
 * The cache of refused clients (`blockCache`), against real Redis: two stores stand for two app
 * processes on one Redis, each with its own connections, subscription and cache.
 */
import { setTimeout as sleep } from 'node:timers/promises';

import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { TollgateConfigError } from '../../src/core/errors.js';
import type { RateLimitDecision } from '../../src/core/ratelimit/decision.js';
import { RateLimitEngine } from '../../src/core/ratelimit/engine.js';
import type {
  RateLimitRequest,
  ThrottleLimits,
  ThrottlePolicy,
} from '../../src/core/ratelimit/options.js';
import { resolveThrottlePolicy } from '../../src/core/ratelimit/policy.js';
import { MemoryStore } from '../../src/stores/memory/memory-store.js';
import { RedisStore } from '../../src/stores/redis/redis-store.js';
import { roundTrips, startRedis, type RedisServer } from '../helpers/redis-server.js';
import { startFaultProxy } from '../helpers/tcp-proxy.js';
import { storeWithFeedThrough } from '../helpers/feed-through.js';

let server: RedisServer;
const stores: RedisStore[] = [];

beforeAll(async () => {
  server = await startRedis();
});

afterAll(async () => {
  await Promise.all(stores.map((store) => store.close()));
  await server?.stop();
});

/** A process: its store (with a confirmed subscription) and an engine that caches refusals. */
async function proc(): Promise<{ store: RedisStore; engine: RateLimitEngine }> {
  const store = new RedisStore({ url: server.url });
  stores.push(store);
  await store.ready();
  for (let i = 0; i < 200 && store.invalidations().epoch === 0; i++) await sleep(10);
  expect(store.invalidations().epoch).not.toBe(0);
  return { store, engine: new RateLimitEngine(store, { blockCache: true }) };
}

let clients = 0;
const freshClient = (): string => `198.51.100.${clients++ % 250}-${process.pid}-${clients}`;

function request(address: string): RateLimitRequest {
  return {
    method: 'GET',
    route: '/quotes',
    principal: undefined,
    remoteAddress: address,
    header: () => undefined,
    raw: {},
  };
}

const policy = (limits: ThrottleLimits): ThrottlePolicy =>
  resolveThrottlePolicy([{ limits, settings: { trustProxy: 0 } }]);

const outcome = (decision: RateLimitDecision): string =>
  decision.action === 'reject' ? `reject ${decision.error.status}` : 'allow';

/** The storage key and rules of `address` under `route`, as the admin API takes them. */
async function counted(engine: RateLimitEngine, route: ThrottlePolicy, address: string) {
  const key = await engine.clientKey(request(address), route);
  return { key, rules: route.rules };
}

describe('the cache of refused clients', () => {
  it('refuses a refused client locally until the store would admit it, then asks again', async () => {
    const { engine } = await proc();
    const quotes = policy({ default: { limit: 1, ttl: '400ms', algorithm: 'fixed-window' } });
    const client = freshClient();
    expect(outcome(await engine.check(request(client), quotes))).toBe('allow');
    const refused = await engine.check(request(client), quotes);
    expect(outcome(refused)).toBe('reject 429');
    let local: RateLimitDecision | undefined;
    const sent = await roundTrips(server.url, async () => {
      local = await engine.check(request(client), quotes);
    });
    expect(sent).toEqual([]);
    expect(local && outcome(local)).toBe('reject 429');
    if (local?.action !== 'reject' || refused.action !== 'reject') return;
    // The same problem, its retry counted down, never later than the store's.
    expect(Number(local.error.headers['Retry-After'])).toBeLessThanOrEqual(
      Number(refused.error.headers['Retry-After']),
    );
    expect(local.error.headers['RateLimit']).toMatch(/remaining=0|r=0/);
    await sleep(420);
    expect(outcome(await engine.check(request(client), quotes))).toBe('allow');
  });

  it('lifts a refusal on every process when any process resets the client or gives units back', async () => {
    const a = await proc();
    const b = await proc();
    const quotes = policy({ default: { limit: 1, ttl: '1m', algorithm: 'fixed-window' } });
    const client = freshClient();
    expect(outcome(await a.engine.check(request(client), quotes))).toBe('allow');
    expect(outcome(await a.engine.check(request(client), quotes))).toBe('reject 429');
    expect(outcome(await b.engine.check(request(client), quotes))).toBe('reject 429');
    const { key, rules } = await counted(a.engine, quotes, client);
    // An admin reset on process A: A itself admits at once, B once the announcement arrived.
    await a.engine.reset(key, rules);
    expect(outcome(await a.engine.check(request(client), quotes))).toBe('allow');
    await sleep(100);
    expect(outcome(await b.engine.check(request(client), quotes))).toBe('reject 429');
    // Refused again (A took the one unit); B has it cached now. A reward on A lifts it on B.
    const sent = await roundTrips(server.url, async () => {
      expect(outcome(await b.engine.check(request(client), quotes))).toBe('reject 429');
    });
    expect(sent).toEqual([]);
    await a.engine.adjust(key, rules, [-1]);
    await sleep(100);
    expect(outcome(await b.engine.check(request(client), quotes))).toBe('allow');
  });

  it('lifts a refusal at once in every engine of the process that reset the client', async () => {
    // Two limiters on one store in one process (two `throttle()` middlewares, say), and a
    // subscription whose messages arrive after the command connection's replies.
    const proxy = await startFaultProxy(server);
    try {
      proxy.delay(150);
      const store = await storeWithFeedThrough(server.url, proxy.port);
      stores.push(store);
      for (let i = 0; i < 200 && store.invalidations().epoch === 0; i++) await sleep(10);
      expect(store.invalidations().epoch).not.toBe(0);
      const admin = new RateLimitEngine(store, { blockCache: true });
      const engine = new RateLimitEngine(store, { blockCache: true });
      const quotes = policy({ default: { limit: 1, ttl: '1m', algorithm: 'fixed-window' } });
      const address = freshClient();
      expect(outcome(await engine.check(request(address), quotes))).toBe('allow');
      expect(outcome(await engine.check(request(address), quotes))).toBe('reject 429');
      const { key, rules } = await counted(admin, quotes, address);
      await admin.reset(key, rules);
      expect(outcome(await engine.check(request(address), quotes))).toBe('allow');
    } finally {
      await proxy.close();
    }
  });

  it('asks the store again once its subscription was lost', async () => {
    const { store, engine } = await proc();
    const quotes = policy({ default: { limit: 1, ttl: '1m', algorithm: 'fixed-window' } });
    const client = freshClient();
    await engine.check(request(client), quotes);
    expect(outcome(await engine.check(request(client), quotes))).toBe('reject 429');
    const epoch = store.invalidations().epoch;
    const admin = new Redis(server.url);
    await admin.call('CLIENT', 'KILL', 'TYPE', 'pubsub');
    admin.disconnect();
    for (let i = 0; i < 100 && store.invalidations().epoch === epoch; i++) await sleep(5);
    const sent = await roundTrips(server.url, async () => {
      expect(outcome(await engine.check(request(client), quotes))).toBe('reject 429');
    });
    expect(sent.length).toBeGreaterThan(0);
  });

  it('asks the store for another route with other limits', async () => {
    const { engine } = await proc();
    const strict = policy({ default: { limit: 1, ttl: '1m', algorithm: 'fixed-window' } });
    const client = freshClient();
    await engine.check(request(client), strict);
    expect(outcome(await engine.check(request(client), strict))).toBe('reject 429');
    const loose = policy({ default: { limit: 5, ttl: '1m', algorithm: 'fixed-window' } });
    const sent = await roundTrips(server.url, async () => {
      await engine.check(request(client), loose);
    });
    expect(sent.length).toBeGreaterThan(0);
  });

  it('gives the same error again while it reads the same, and a new one once a second passes', async () => {
    const { store } = await proc();
    let now = Date.now();
    const engine = new RateLimitEngine(store, { blockCache: true, clock: { now: () => now } });
    const quotes = policy({
      burst: { limit: 1, ttl: '1m', algorithm: 'fixed-window' },
      daily: { limit: 100, ttl: '1h', algorithm: 'fixed-window' },
    });
    const client = freshClient();
    await engine.check(request(client), quotes);
    const fromStore = await engine.check(request(client), quotes);
    const first = await engine.check(request(client), quotes);
    const again = await engine.check(request(client), quotes);
    if (fromStore.action !== 'reject' || first.action !== 'reject' || again.action !== 'reject') {
      throw new Error('expected three refusals');
    }
    // Within the same second the error reads the same: it is the same (immutable) object, while
    // each decision keeps its own result, counted down to its own time.
    expect(again.error).toBe(first.error);
    expect(again.result).not.toBe(first.result);
    expect(first.error.toProblem()).toMatchObject({ limits: ['burst'] });
    // A second later its Retry-After and RateLimit read one second less: a new error, as the
    // store's own refusal would read then.
    now += 1_000;
    const later = await engine.check(request(client), quotes);
    if (later.action !== 'reject') throw new Error('expected a refusal');
    expect(later.error).not.toBe(first.error);
    expect(Number(later.error.headers['Retry-After'])).toBe(
      Number(first.error.headers['Retry-After']) - 1,
    );
    expect(later.error.headers['RateLimit']).not.toBe(first.error.headers['RateLimit']);
    expect(later.error.toProblem()).toMatchObject({ limits: ['burst'], status: 429 });
  });

  it('answers a refusal from the cache after the turn that asked, as the store would', async () => {
    const { engine } = await proc();
    const quotes = policy({ default: { limit: 1, ttl: '1m', algorithm: 'fixed-window' } });
    const client = freshClient();
    await engine.check(request(client), quotes);
    expect(outcome(await engine.check(request(client), quotes))).toBe('reject 429');
    let answered = false;
    const local = engine.check(request(client), quotes).then((decision) => {
      answered = true;
      return decision;
    });
    for (let i = 0; i < 10; i++) await Promise.resolve();
    expect(answered).toBe(false);
    await new Promise((resolve) => setImmediate(resolve));
    expect(answered).toBe(true);
    expect(outcome(await local)).toBe('reject 429');
  });

  it('refuses to cache on a store that cannot announce resets', () => {
    expect(() => new RateLimitEngine(new MemoryStore(), { blockCache: true })).toThrow(
      TollgateConfigError,
    );
  });
});
