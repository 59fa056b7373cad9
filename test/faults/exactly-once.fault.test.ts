/**
 * Exactly once when things fail, at the engine, against a real redis-server: through a loopback
 * proxy that resets and refuses connections, with Redis paused (SIGSTOP), with the event loop
 * stalled, and with the wall clock stepped. Two engines on two connections stand for two app
 * processes.
 */
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';

import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';

import { withDeadline } from '../../src/core/deadline.js';
import {
  IdempotencyEngine,
  type Execution,
  type IdempotencyEvent,
  type IdempotencyRequest,
} from '../../src/core/idempotency/engine.js';
import {
  resolveIdempotencyPolicy,
  type IdempotencyOptions,
} from '../../src/core/idempotency/options.js';
import { MemoryStore } from '../../src/stores/memory/memory-store.js';
import { RedisStore } from '../../src/stores/redis/redis-store.js';
import { COMPLETE } from '../../src/stores/redis/scripts.js';
import { startRedis, type RedisServer } from '../helpers/redis-server.js';
import { startFaultProxy, type FaultProxy } from '../helpers/tcp-proxy.js';

let redis: RedisServer;
let proxy: FaultProxy;
/** App process A reaches Redis through the proxy; B directly. */
let storeA: RedisStore;
let storeB: RedisStore;
const events: IdempotencyEvent[] = [];

beforeAll(async () => {
  redis = await startRedis();
  proxy = await startFaultProxy({ host: redis.host, port: redis.port });
  // Reconnect quickly after a drop, as a production client would within its retry strategy.
  storeA = new RedisStore({ url: proxy.url, options: { retryStrategy: () => 20 } });
  storeB = new RedisStore({ url: redis.url });
  await Promise.all([storeA.ready(), storeB.ready()]);
});

afterEach(() => {
  proxy.heal();
  events.length = 0;
});

afterAll(async () => {
  await storeA?.close();
  await storeB?.close();
  await proxy?.close();
  await redis?.stop();
});

const engineOn = (store: RedisStore | MemoryStore): IdempotencyEngine =>
  new IdempotencyEngine(store, { onEvent: (event) => events.push(event) });

const policyOf = (options: IdempotencyOptions) =>
  resolveIdempotencyPolicy(options, undefined, { decorated: true });

function request(key: string, body: unknown = { amount: 1 }): IdempotencyRequest {
  return {
    method: 'POST',
    route: '/payments',
    scope: '["alice",null]',
    header: (name) => (name === 'idempotency-key' ? key : undefined),
    query: () => undefined,
    body,
  };
}

async function proceed(
  engine: IdempotencyEngine,
  key: string,
  options: IdempotencyOptions,
): Promise<Execution> {
  const decision = await engine.begin(request(key), policyOf(options));
  if (decision.action !== 'proceed') throw new Error(`expected to proceed, got ${decision.action}`);
  return decision.execution;
}

/** A chunk that carries the completion script, by its SHA1 or (first sent) its text. */
const isCompletion = (chunk: Buffer): boolean =>
  chunk.includes(COMPLETE.sha) || chunk.includes("'c' .. string.sub(record, 2)");

const created = {
  status: 201,
  headers: { 'content-type': 'application/json' },
  body: Buffer.from('{"id":"pay_1"}'),
};

describe('durable completion', () => {
  it('stores the result through a connection drop as the handler finishes: the retry replays it', async () => {
    const key = randomUUID();
    const options = { lease: '1500ms' } as const;
    const execution = await proceed(engineOn(storeA), key, options);
    // The connection drops for 0.7 s just as the result is written: the write never arrives.
    const drop = proxy.dropOnRequest(isCompletion, 700);
    await execution.finish(created);
    await drop;
    expect(events.map((event) => event.type)).toContain('finish-retrying');
    expect(events.map((event) => event.type)).not.toContain('finish-failed');
    // Well past the lease, another process gets the stored result, never a second run.
    await sleep(1_700);
    const retry = await engineOn(storeB).begin(request(key), policyOf(options));
    expect(retry.action).toBe('replay');
  });

  it('keeps the lease renewed while the result is retried: a duplicate meanwhile is told to wait', async () => {
    const key = randomUUID();
    const options = { lease: '900ms' } as const;
    const execution = await proceed(engineOn(storeA), key, options);
    proxy.refuse();
    proxy.reset();
    const finishing = execution.finish(created);
    await sleep(400);
    proxy.heal();
    // Past the first lease: renewed, so still held, then completed.
    await sleep(700);
    const during = await engineOn(storeB).begin(request(key), policyOf(options));
    expect(['reject', 'replay']).toContain(during.action);
    await finishing;
    const after = await engineOn(storeB).begin(request(key), policyOf(options));
    expect(after.action).toBe('replay');
  });
});

describe('a lease the handler can act on', () => {
  it('aborts the signal before another process can take the key when renewals cannot reach Redis', async () => {
    const key = randomUUID();
    const options = { lease: '1200ms' } as const;
    const execution = await proceed(engineOn(storeA), key, options);
    const { lease } = execution;
    let abortedAt: number | undefined;
    lease.signal.addEventListener('abort', () => (abortedAt = performance.now()));
    expect(lease.held).toBe(true);
    // Renewals from A are cut off; B keeps trying to take the key.
    proxy.refuse();
    proxy.reset();
    const started = performance.now();
    let takenAt: number | undefined;
    let tokenB = 0;
    while (takenAt === undefined && performance.now() - started < 4_000) {
      const decision = await engineOn(storeB).begin(request(key), policyOf(options));
      if (decision.action === 'proceed') {
        takenAt = performance.now();
        tokenB = decision.execution.lease.fencingToken;
        await decision.execution.finish(created);
      } else await sleep(20);
    }
    expect(takenAt).toBeDefined();
    expect(abortedAt).toBeDefined();
    expect(abortedAt as number).toBeLessThan(takenAt as number);
    expect(lease.held).toBe(false);
    expect(() => lease.throwIfLost()).toThrow(
      expect.objectContaining({ code: 'TOLLGATE_LEASE_LOST', status: 409 }),
    );
    expect(lease.signal.reason).toMatchObject({ code: 'TOLLGATE_LEASE_LOST' });
    // The later holder's token is greater: a fenced write refuses the stale one.
    expect(tokenB).toBeGreaterThan(lease.fencingToken);
    proxy.heal();
    // The stale holder's result never overwrites the new one.
    await execution.finish({ ...created, body: Buffer.from('{"id":"stale"}') });
    const replay = await engineOn(storeB).begin(request(key), policyOf(options));
    expect(replay.action === 'replay' && Buffer.from(replay.response.body).toString()).toBe(
      '{"id":"pay_1"}',
    );
  });

  it('tells a handler whose process stalled past its lease, before anything else runs', async () => {
    const key = randomUUID();
    const options = { lease: '500ms' } as const;
    const execution = await proceed(engineOn(storeB), key, options);
    const { lease } = execution;
    const { signal } = lease;
    // A synchronous stall longer than the lease: a long GC, a frozen VM.
    const until = performance.now() + 800;
    while (performance.now() < until) {
      /* stalled */
    }
    // The first thing the handler can check already says so, whatever timer would run first.
    expect(lease.held).toBe(false);
    expect(signal.aborted).toBe(true);
    // Redis let the lease run out meanwhile: another process takes the key with a greater token.
    const other = await engineOn(storeB).begin(request(key), policyOf(options));
    expect(other.action).toBe('proceed');
    if (other.action === 'proceed') {
      expect(other.execution.lease.fencingToken).toBeGreaterThan(lease.fencingToken);
      await other.execution.finish(created);
    }
    await execution.finish(created);
  });

  it('gives a lock strategy handler a lease and a token too', async () => {
    const options = { strategy: 'lock', window: '2s' } as const;
    const decision = await engineOn(storeB).begin(request(randomUUID()), policyOf(options));
    expect(decision.action).toBe('proceed');
    if (decision.action !== 'proceed') return;
    expect(decision.execution.lease.held).toBe(true);
    expect(Number.isSafeInteger(decision.execution.lease.fencingToken)).toBe(true);
  });
});

describe('what the reliability review broke', () => {
  it('aborts the signal a margin before the lease runs out even when the store is silent, not when a renewal times out', async () => {
    // A link that swallows everything: renewals neither succeed nor fail before their timeout.
    const silentProxy = await startFaultProxy({ host: redis.host, port: redis.port });
    const silentStore = new RedisStore({ url: silentProxy.url });
    await silentStore.ready();
    try {
      const key = randomUUID();
      const options = { lease: '1200ms' } as const;
      const started = performance.now();
      const execution = await proceed(engineOn(silentStore), key, options);
      let abortedAt = Number.POSITIVE_INFINITY;
      execution.lease.signal.addEventListener('abort', () => (abortedAt = performance.now()));
      silentProxy.blackhole();
      let takenAt = Number.POSITIVE_INFINITY;
      while (takenAt === Number.POSITIVE_INFINITY && performance.now() - started < 4_000) {
        const decision = await engineOn(storeB).begin(request(key), policyOf(options));
        if (decision.action === 'proceed') {
          takenAt = performance.now();
          await decision.execution.finish(created);
        } else await sleep(10);
      }
      expect(abortedAt).toBeLessThan(takenAt);
      // The margin is a tenth of the lease: told by about 1080 ms, well before 1200.
      expect(abortedAt - started).toBeLessThan(1_150);
    } finally {
      await silentStore.close();
      await silentProxy.close();
    }
  });

  it('a reporter that throws changes nothing: the result is still stored through a blip', async () => {
    const key = randomUUID();
    const options = { lease: '900ms' } as const;
    const engine = new IdempotencyEngine(storeA, {
      onEvent: () => {
        throw new Error('the logger broke');
      },
    });
    const execution = await proceed(engine, key, options);
    const drop = proxy.dropOnRequest(isCompletion, 200);
    await expect(execution.finish(created)).resolves.toBeUndefined();
    await drop;
    await sleep(1_100);
    const retry = await engineOn(storeB).begin(request(key), policyOf(options));
    expect(retry.action).toBe('replay');
  });

  it('gives up a write the store keeps refusing after two leases, and says so', async () => {
    const key = randomUUID();
    const options = { lease: '500ms', storeTimeout: '200ms' } as const;
    const execution = await proceed(engineOn(storeB), key, options);
    // Out of memory: the completion's SET is refused, while renewals (PEXPIRE) still pass.
    await storeB.client.config('SET', 'maxmemory', '1');
    try {
      const started = performance.now();
      await execution.finish(created);
      expect(performance.now() - started).toBeLessThan(1_600);
      expect(events.map((event) => event.type).filter((type) => type !== 'store-call')).toEqual([
        'decision',
        'finish-retrying',
        'finish-failed',
      ]);
    } finally {
      await storeB.client.config('SET', 'maxmemory', '0');
    }
    // No longer renewed: the key is free again after its lease.
    await sleep(600);
    const retry = await engineOn(storeB).begin(request(key), policyOf(options));
    expect(retry.action).toBe('proceed');
    if (retry.action === 'proceed') await retry.execution.finish(created);
  });
});

describe('a take that Redis runs after its request gave up', () => {
  it.each(['key', 'lock'] as const)(
    '%s: is given back, so the client retry runs rather than being refused as a duplicate',
    async (strategy) => {
      const key = randomUUID();
      const options = { strategy, window: '30s', lease: '30s', storeTimeout: '300ms' } as const;
      redis.pause();
      let first;
      try {
        first = await engineOn(storeB).begin(request(key), policyOf(options));
      } finally {
        redis.resume();
      }
      expect(first).toMatchObject({ action: 'reject', error: { status: 503 } });
      // Redis ran the queued take once it resumed; the give-back behind it frees the key.
      await sleep(100);
      const retry = await engineOn(storeB).begin(request(key), policyOf(options));
      expect(retry.action).toBe('proceed');
      if (retry.action === 'proceed') await retry.execution.finish(created);
    },
  );
});

describe('deadlines after a stalled event loop', () => {
  it('keeps an answer that arrived during the stall instead of giving it up as late', async () => {
    const answered = withDeadline('ping', 50, () => storeB.client.ping());
    // The reply lands in the socket while the loop is stalled past the deadline; timers run
    // before sockets are read when the loop resumes.
    const until = performance.now() + 200;
    while (performance.now() < until) {
      /* stalled */
    }
    await expect(answered).resolves.toBe('PONG');
  });
});

describe('deadlines on a monotonic clock', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('gives up a silent store call on time when the wall clock is stepped back', async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    const started = performance.now();
    const silent = withDeadline('begin', 200, () => new Promise<never>(() => undefined));
    // NTP steps the clock back an hour while the call waits.
    vi.setSystemTime(Date.now() - 3_600_000);
    await expect(silent).rejects.toThrow(/did not answer begin within 200 ms/);
    expect(performance.now() - started).toBeLessThan(1_000);
  });

  it('ends an in-memory lease on time when the wall clock is stepped back', async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    const store = new MemoryStore();
    const key = `clock:{${randomUUID()}}`;
    expect((await store.begin(key, 'crashed', 'fp', 200)).state).toBe('acquired');
    vi.setSystemTime(Date.now() - 3_600_000);
    await sleep(300);
    expect((await store.begin(key, 'retry', 'fp', 200)).state).toBe('acquired');
    await store.close();
  });

  it('waits for an in-flight duplicate no longer than asked when the wall clock is stepped back', async () => {
    const store = new MemoryStore();
    const engine = engineOn(store);
    const options = { waitForInFlight: '300ms' } as const;
    const key = randomUUID();
    const first = await proceed(engine, key, options);
    vi.useFakeTimers({ toFake: ['Date'] });
    const started = performance.now();
    const waiting = engine.begin(request(key), policyOf(options));
    vi.setSystemTime(Date.now() - 3_600_000);
    const decision = await waiting;
    expect(decision).toMatchObject({ action: 'reject', error: { status: 409 } });
    expect(performance.now() - started).toBeLessThan(1_500);
    await first.finish(created);
    await store.close();
  });
});
