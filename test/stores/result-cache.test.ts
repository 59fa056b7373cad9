/**
 * The cache of completed results (`resultCache`), against real Redis: two stores stand for two
 * app processes on one Redis, each with its own connections, subscription and cache.
 */
import { setTimeout as sleep } from 'node:timers/promises';

import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { TollgateConfigError } from '../../src/core/errors.js';
import {
  IdempotencyEngine,
  type IdempotencyDecision,
  type IdempotencyRequest,
} from '../../src/core/idempotency/engine.js';
import {
  resolveIdempotencyPolicy,
  type IdempotencyOptions,
} from '../../src/core/idempotency/options.js';
import { MemoryStore } from '../../src/stores/memory/memory-store.js';
import { QuorumStore } from '../../src/stores/quorum/quorum-store.js';
import { RedisStore } from '../../src/stores/redis/redis-store.js';
import { roundTrips, startRedis, type RedisServer } from '../helpers/redis-server.js';
import { startFaultProxy, type FaultProxy } from '../helpers/tcp-proxy.js';
import { storeWithFeedThrough } from '../helpers/feed-through.js';
import { orderRequest } from '../helpers/order-request.js';

let server: RedisServer;
let quorumServers: RedisServer[] = [];
const stores: Array<RedisStore | QuorumStore> = [];
let admin: Redis;

beforeAll(async () => {
  [server, ...quorumServers] = await Promise.all([
    startRedis(),
    startRedis(),
    startRedis(),
    startRedis(),
  ]);
  admin = new Redis(server.url);
});

afterAll(async () => {
  admin?.disconnect();
  await Promise.all(stores.map((store) => store.close()));
  await Promise.all([server, ...quorumServers].map((s) => s?.stop()));
});

async function redisStore(url = server.url): Promise<RedisStore> {
  const store = new RedisStore({ url });
  stores.push(store);
  await store.ready();
  return store;
}

/** A process: its store, and an engine that caches results. */
async function proc(store?: RedisStore | QuorumStore): Promise<{
  store: RedisStore | QuorumStore;
  engine: IdempotencyEngine;
}> {
  const own = store ?? (await redisStore());
  const engine = new IdempotencyEngine(own, { resultCache: { maxEntries: 100 } });
  await trusted(own);
  return { store: own, engine };
}

/** Waits until the store's subscription is confirmed (its first stretch). */
async function trusted(store: RedisStore | QuorumStore): Promise<void> {
  const feed = store.invalidations();
  for (let i = 0; i < 200 && feed.epoch === 0; i++) await sleep(10);
  expect(feed.epoch).not.toBe(0);
}

let sequence = 0;
const freshKey = (): string => `order-${process.pid}-${sequence++}`;

function request(key: string, body: unknown = { item: 'book', amount: 1 }): IdempotencyRequest {
  return orderRequest(key, body);
}

const policy = (options: IdempotencyOptions = {}) =>
  resolveIdempotencyPolicy(options, undefined, { decorated: true });

const RESPONSE = {
  status: 201,
  headers: { 'content-type': 'application/json; charset=utf-8' },
  body: Buffer.from('{"id":"ord_1"}'),
};

/** Runs the request once on `engine`; returns its storage key. */
async function runOnce(engine: IdempotencyEngine, key: string, options?: IdempotencyOptions) {
  const decision = await engine.begin(request(key), policy(options));
  if (decision.action !== 'proceed') throw new Error(`expected proceed, got ${decision.action}`);
  await decision.execution.finish(RESPONSE);
  return decision.execution.key;
}

function action(decision: IdempotencyDecision): string {
  return decision.action === 'reject' ? `reject ${decision.error.status}` : decision.action;
}

describe('the cache of completed results', () => {
  it('replays a completed result from the process, without a store call, byte for byte', async () => {
    const { engine } = await proc();
    const key = freshKey();
    await runOnce(engine, key);
    let decision: IdempotencyDecision | undefined;
    const sent = await roundTrips(server.url, async () => {
      decision = await engine.begin(request(key), policy());
    });
    expect(sent).toEqual([]);
    expect(decision?.action).toBe('replay');
    if (decision?.action !== 'replay') return;
    expect(decision.response.status).toBe(201);
    expect(Buffer.from(decision.response.body).equals(RESPONSE.body)).toBe(true);
    expect(decision.response.headers).toEqual([
      ['content-type', 'application/json; charset=utf-8'],
    ]);
  });

  it('replays the bytes that were stored, even when the handler reuses its buffer afterwards', async () => {
    const { engine } = await proc();
    const key = freshKey();
    const decision = await engine.begin(request(key), policy());
    if (decision.action !== 'proceed') throw new Error(decision.action);
    const body = Buffer.from('{"id":"ord_2"}');
    await decision.execution.finish({ ...RESPONSE, body });
    body.fill(0);
    const replay = await engine.begin(request(key), policy());
    expect(replay.action === 'replay' && Buffer.from(replay.response.body).toString()).toBe(
      '{"id":"ord_2"}',
    );
  });

  it('still refuses another request under a cached key (422), without a store call', async () => {
    const { engine } = await proc();
    const key = freshKey();
    await runOnce(engine, key);
    let decision: IdempotencyDecision | undefined;
    const sent = await roundTrips(server.url, async () => {
      decision = await engine.begin(request(key, { item: 'pen', amount: 2 }), policy());
    });
    expect(sent).toEqual([]);
    expect(decision && action(decision)).toBe('reject 422');
  });

  it('caches a replay another process stored, and never a lease in progress', async () => {
    const a = await proc();
    const b = await proc();
    const key = freshKey();
    const first = await a.engine.begin(request(key), policy({ waitForInFlight: 0 }));
    expect(first.action).toBe('proceed');
    // In progress: refused, and asked again next time.
    expect(action(await b.engine.begin(request(key), policy({ waitForInFlight: 0 })))).toBe(
      'reject 409',
    );
    if (first.action === 'proceed') await first.execution.finish(RESPONSE);
    expect(action(await b.engine.begin(request(key), policy()))).toBe('replay');
    const sent = await roundTrips(server.url, async () => {
      expect(action(await b.engine.begin(request(key), policy()))).toBe('replay');
    });
    expect(sent).toEqual([]);
  });

  it('holds no more memory for a cached replay than it counts, whatever else its read brought', async () => {
    const a = await proc();
    const store = await redisStore();
    const b = await proc(store);
    const key = freshKey();
    await runOnce(a.engine, key);
    const big = `big-${freshKey()}`;
    await admin.set(big, Buffer.alloc(256 * 1024, 1));
    // B asks for the result in the same turn as for a large value on the same connection: the
    // replies come back in the same socket reads.
    const [, decision] = await Promise.all([
      (store.client as Redis).getBuffer(big),
      b.engine.begin(request(key), policy()),
    ]);
    expect(decision.action).toBe('replay');
    const cached = await b.engine.begin(request(key), policy());
    if (cached.action !== 'replay') throw new Error(`expected replay, got ${cached.action}`);
    // The cache counts the body's bytes (and a fixed overhead): the memory it keeps alive must be
    // those, not the socket read the body came in.
    const { body } = cached.response;
    expect(Buffer.from(body).equals(RESPONSE.body)).toBe(true);
    expect(body.buffer.byteLength).toBeLessThan(1_024);
  });

  it('never replays a result another process forgot: every process hears of it', async () => {
    const a = await proc();
    const b = await proc();
    const key = freshKey();
    const storageKey = await runOnce(a.engine, key);
    expect(action(await b.engine.begin(request(key), policy()))).toBe('replay');
    expect(await a.store.forget(storageKey)).toBe(true);
    // The announcement is on its way to both subscriptions; neither process replays it once it
    // arrived, and it arrives within the time a message takes.
    await sleep(100);
    const again = await b.engine.begin(request(key), policy());
    expect(again.action).toBe('proceed');
    if (again.action === 'proceed') await again.execution.finish(RESPONSE);
    // The other process runs into the new lease's result, never the forgotten one.
    const other = await a.engine.begin(request(key), policy());
    expect(action(other)).toBe('replay');
  });

  it('never replays a result it forgot itself, though its own announcement is still on its way', async () => {
    // The subscription's messages arrive after the command connection's replies (its own route
    // to Redis is slower): the process that forgot must not wait for its own announcement.
    const proxy: FaultProxy = await startFaultProxy(server);
    try {
      proxy.delay(150);
      const store = await storeWithFeedThrough(server.url, proxy.port);
      stores.push(store);
      const { engine } = await proc(store);
      const key = freshKey();
      const storageKey = await runOnce(engine, key);
      expect(action(await engine.begin(request(key), policy()))).toBe('replay');
      expect(await store.forget(storageKey)).toBe(true);
      expect((await engine.begin(request(key), policy())).action).toBe('proceed');
    } finally {
      await proxy.close();
    }
  });

  it('trusts nothing it cached before its subscription was lost', async () => {
    const a = await proc();
    const key = freshKey();
    const storageKey = await runOnce(a.engine, key);
    const epoch = a.store.invalidations().epoch;
    // The subscription goes; meanwhile the record is deleted behind Tollgate's back, unannounced.
    await admin.call('CLIENT', 'KILL', 'TYPE', 'pubsub');
    await admin.del(storageKey);
    for (let i = 0; i < 100 && a.store.invalidations().epoch === epoch; i++) await sleep(5);
    expect(a.store.invalidations().epoch).not.toBe(epoch);
    expect((await a.engine.begin(request(key), policy())).action).toBe('proceed');
  });

  it('never keeps a result past its retention on the store', async () => {
    const { engine } = await proc();
    const key = freshKey();
    await runOnce(engine, key, { retention: '300ms' });
    expect(action(await engine.begin(request(key), policy({ retention: '300ms' })))).toBe('replay');
    await sleep(320);
    expect((await engine.begin(request(key), policy({ retention: '300ms' }))).action).toBe(
      'proceed',
    );
  });

  it('on a quorum, caches only what a majority confirmed', async () => {
    const quorum = () =>
      new QuorumStore({ stores: quorumServers.map((s) => new RedisStore({ url: s.url })) });
    const a = await proc(quorum());
    const b = await proc(quorum());
    stores.push(a.store, b.store);
    const key = freshKey();
    await runOnce(a.engine, key);
    // Its own completion, confirmed by a majority: from the cache.
    const quiet = await Promise.all(
      quorumServers.map((s) =>
        roundTrips(s.url, async () => {
          expect(action(await a.engine.begin(request(key), policy()))).toBe('replay');
        }),
      ),
    );
    expect(quiet.flat()).toEqual([]);
    // A replay decided by the first node that answered: asked of the store every time.
    expect(action(await b.engine.begin(request(key), policy()))).toBe('replay');
    const asked = await roundTrips(quorumServers[0]?.url ?? '', async () => {
      expect(action(await b.engine.begin(request(key), policy()))).toBe('replay');
    });
    expect(asked.length).toBeGreaterThan(0);
  });

  it('refuses to cache on a store that cannot announce removed records', () => {
    expect(() => new IdempotencyEngine(new MemoryStore(), { resultCache: true })).toThrow(
      TollgateConfigError,
    );
  });
});
